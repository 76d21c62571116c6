"""A real `dvc repro` of the pipeline in a temporary git repository."""

import json
import shutil
import subprocess

import pytest
import yaml
from conftest import REPO, run


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A fresh git clone of the working tree (tracked and new files), after one `dvc repro`."""
    root = tmp_path_factory.mktemp("project")
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    (root / "dvc.lock").unlink(missing_ok=True)
    run(["git", "init", "-q"], root)
    run(["git", "add", "-A"], root)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], root)
    run(["dvc", "repro", "fetch", "prepare"], root)
    return root


def stale_stages(root) -> set[str]:
    status = json.loads(run(["dvc", "status", "--json", "fetch", "prepare"], root).stdout)
    return set(status)


def edit_params(root, section, key, value):
    path = root / "params.yaml"
    params = yaml.safe_load(path.read_text())
    (params[section] if section else params)[key] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def test_repro_outputs_and_clean_status(project):
    assert (project / "data" / "raw" / "mnist.npz").is_file()
    for name in ("train", "val", "test"):
        assert (project / "data" / "prepared" / f"{name}.npz").is_file()
    assert json.loads((project / "metrics" / "data.json").read_text())["val"]["total"] == 6000
    assert "Data and pipelines are up to date" in run(["dvc", "status"], project).stdout
    assert "data/raw" not in run(["git", "status", "--porcelain"], project).stdout


def test_unrelated_param_leaves_data_stages_cached(project):
    backup = (project / "params.yaml").read_text()
    try:
        edit_params(project, None, "lr", 0.0003)
        assert stale_stages(project) == set()
        edit_params(project, "prepare", "val_fraction", 0.2)
        assert stale_stages(project) == {"prepare"}
        edit_params(project, "data", "verify_hashes", False)
        assert stale_stages(project) == {"fetch", "prepare"}
    finally:
        (project / "params.yaml").write_text(backup)
    assert stale_stages(project) == set()
