"""The CI pieces: the pull-request workflow is a valid GitHub workflow, the output check that
follows `make small` catches a missing output, and `make queue` shares the cores between jobs."""

import shutil

import pytest
from conftest import REPO, run


def test_workflow_is_a_valid_github_workflow():
    workflows = sorted((REPO / ".github" / "workflows").glob("*.yml"))
    assert workflows
    result = run(
        ["check-jsonschema", "--builtin-schema", "vendor.github-workflows", *map(str, workflows)],
        REPO,
    )
    assert "validation done" in result.stdout


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
