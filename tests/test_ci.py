"""The CI pieces: the pull-request workflow is a valid GitHub workflow that lints, tests and
comments, its report shows what changed, the output check that follows `make small` catches a
missing output, and `make queue` shares the cores between jobs."""

import re
import shutil

import pytest
import yaml
from conftest import GIT, REPO, run


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
    from mnist_nas.study.declaration import apply

    dry_run = run(["make", "--dry-run", "--no-print-directory", "small"], REPO).stdout
    command = next(line for line in dry_run.splitlines() if line.startswith("dvc exp run"))
    settings = dict(pair.split("=", 1) for pair in re.findall(r"-S (\S+)", command))
    assert {"data.limit", "epochs", "nas.max_trials"} <= settings.keys()
    values = {key: yaml.safe_load(value) for key, value in settings.items()}
    params = Params.model_validate(apply(read_yaml(REPO / "params.yaml"), values))
    assert params.data.limit == 2000 and params.nas.max_trials == 1


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


@pytest.mark.parametrize(
    ("settings", "env"),
    [
        (["JOBS=2", "CORES=2"], "TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1"),
        (["JOBS=4", "CORES=16"], "TF_NUM_INTRAOP_THREADS=4 TF_NUM_INTEROP_THREADS=1"),
        (["JOBS=3", "CORES=2"], "TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1"),
        (["JOBS=8", "CORES=16", "THREADS=1"], "TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1"),
        (["JOBS=1", "CORES=2"], ""),  # one job keeps TensorFlow's own defaults
    ],
)
def test_make_queue_gives_each_job_its_share_of_the_cores(settings, env):
    dry_run = run(["make", "--dry-run", "--no-print-directory", "queue", *settings], REPO).stdout
    last_command = " ".join(dry_run.replace("\\\n", " ").strip().splitlines()[-1].split())
    jobs = settings[0].split("=")[1]
    assert last_command == f"{env} dvc queue start --jobs {jobs}".strip(), dry_run
