"""The CI pieces: the pull-request workflow is a valid GitHub workflow that lints, tests and
comments, its report shows what changed, the output check that follows `make small` catches a
missing output, and `make queue` shares the cores between jobs."""

import re
import shutil

import hypothesis
import yaml
from conftest import GIT, REPO, run
from hypothesis import strategies

from mnist_nas.study.runs import thread_settings


def test_workflow_is_a_valid_github_workflow():
    workflows = sorted((REPO / ".github" / "workflows").glob("*.yml"))
    assert workflows
    result = run(
        ["check-jsonschema", "--builtin-schema", "vendor.github-workflows", *map(str, workflows)],
        REPO,
    )
    assert "validation done" in result.stdout

    jobs = yaml.safe_load((REPO / ".github" / "workflows" / "pull-request.yml").read_text())["jobs"]
    checks = [step.get("run", "") for step in jobs["checks"]["steps"]]
    assert any("make lint" in step for step in checks) and "bash .ci/run" in checks
    report = jobs["report"]["steps"]
    assert {"actions/checkout@v4", "iterative/setup-cml@v2"} <= {
        step.get("uses") for step in report
    }
    script = "\n".join(step.get("run", "") for step in report)
    for command in ("dvc exp run --pull --allow-missing", "make push", "make small",
                    ".ci/pr_report.py", "cml comment update --pr"):  # fmt: skip
        assert command in script, command


def test_pr_report_tables_the_changes_and_draws_only_the_plots_that_changed(project, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(project, repo, symlinks=True)
    run(["git", "add", "-A"], repo)
    run([*GIT, "commit", "-qm", "base"], repo)
    run(["dvc", "exp", "run", "-S", "numbers.digits=2", "--name", "two-digits"], repo)
    report = run(["python", str(REPO / ".ci" / "pr_report.py"), "HEAD", "two-digits"], repo).stdout

    headers = [line for line in report.splitlines() if line.startswith("| Path")]
    assert headers and all("| base |" in line and "| pull request |" in line for line in headers)
    rows = [line.split("|")[2].strip() for line in report.splitlines() if line.startswith("| ")]
    assert "numbers.digits" in rows and "separated.read" in rows  # the param, a metric
    assert not any(row.startswith(("mlp.", "deep_convnet.")) for row in rows), rows  # unchanged
    drawn = [line.strip("*") for line in report.splitlines() if line.startswith("**")]
    assert "metrics/numbers/risk_coverage.csv" in drawn  # a vega plot, drawn as PNG
    assert "metrics/figures/risk_coverage.png" in drawn  # an image plot, both revisions
    assert not [plot for plot in drawn if "confusion" in plot or "train/" in plot], drawn
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    assert len(images) == len(drawn) + sum("figures/" in plot for plot in drawn)  # base and PR
    assert all((repo / image).read_bytes()[:4] == b"\x89PNG" for image in images), images


def test_make_small_sets_known_keys_to_values_the_schema_accepts():
    """`make small` (the pull request's fallback, a README command) on 2,000 digits: its
    `-S` settings name keys of params.yaml and pass the schema every stage checks. The suite
    runs the same pipeline, end to end, on smaller params still (conftest's `project`)."""
    from mnist_nas.params import Params, read_yaml
    from mnist_nas.reading.nondigits import KINDS
    from mnist_nas.study.declaration import apply

    dry_run = run(["make", "--dry-run", "--no-print-directory", "small"], REPO).stdout
    command = next(line for line in dry_run.splitlines() if line.startswith("dvc exp run"))
    settings = dict(pair.split("=", 1) for pair in re.findall(r"-S (\S+)", command))
    assert {"data.limit", "epochs", "nas.max_trials"} <= settings.keys()
    # every stage small, the non-digit detector and its material included
    assert {"refusal.nondigits", "refusal.epochs", "numbers.nondigits"} <= settings.keys()
    values = {key: yaml.safe_load(value) for key, value in settings.items()}
    params = Params.model_validate(apply(read_yaml(REPO / "params.yaml"), values))
    assert params.data.limit == 2000 and params.nas.max_trials == 1
    assert params.refusal.nondigits * len(KINDS) <= params.data.limit and params.refusal.epochs == 1


def test_output_check_passes_on_a_complete_run_and_names_what_is_missing(project, tmp_path):
    check = ["python", str(REPO / ".ci" / "check_outputs.py")]
    assert "are present" in run(check, project).stdout
    copy = tmp_path / "repo"
    shutil.copytree(project, copy, symlinks=True)
    (copy / "metrics" / "figures" / "errors.png").unlink()
    shutil.rmtree(copy / "models" / "best")
    result = run(check, copy, check=False)
    assert result.returncode == 1
    assert "check_outputs: missing: " in result.stderr and "models/best" in result.stderr
    assert "not up to date: " in result.stderr and "plot" in result.stderr


@hypothesis.given(jobs=strategies.integers(1, 64), cores=strategies.integers(1, 256))
def test_parallel_jobs_share_the_cores(jobs, cores):
    """What `make queue` and mnist-study give each job: its share of the cores, at least one
    thread, one inter-op thread; a single job keeps TensorFlow's own defaults."""
    settings = thread_settings(jobs, cores=cores)
    if jobs == 1:
        assert settings == {}
        return
    threads = int(settings["TF_NUM_INTRAOP_THREADS"])
    assert settings["TF_NUM_INTEROP_THREADS"] == "1" and threads >= 1
    assert threads * jobs <= cores or threads == 1
    assert (threads + 1) * jobs > cores  # no core left idle that a job could have had
    assert thread_settings(jobs, "3", cores)["TF_NUM_INTRAOP_THREADS"] == "3"  # THREADS=3


def test_make_queue_starts_the_workers_as_mnist_study_does():
    dry_run = run(["make", "--dry-run", "--no-print-directory", "queue", "JOBS=3", "THREADS=2"],
                  REPO).stdout  # fmt: skip
    assert 'start_workers(int(sys.argv[1]), sys.argv[2] or None)\' "3" "2"' in dry_run
