"""The CI pieces: the pull-request workflow is a valid GitHub workflow, and the output check
that follows `make small` catches a missing output."""

import shutil

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
