"""A real `dvc repro` of the pipeline in a temporary git repository."""

import json
import re
import shutil
import subprocess

import pytest
import yaml
from conftest import REPO, SMALL, run, set_params


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
    shutil.rmtree(root / "metrics")
    set_params(root, **SMALL)
    run(["git", "init", "-q"], root)
    run(["git", "add", "-A"], root)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], root)
    run(["dvc", "repro"], root)
    return root


def stale_stages(root) -> set[str]:
    """The stages whose own code, params or data changed: what `dvc repro` reruns first (the
    stages below them rerun too if their outputs then change)."""
    dry_run = run(["dvc", "repro", "--dry"], root).stdout
    return set(re.findall(r"^Running stage '(.+)':", dry_run, flags=re.MULTILINE))


def edit_params(root, section, key, value):
    path = root / "params.yaml"
    params = yaml.safe_load(path.read_text())
    (params[section] if section else params)[key] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def test_repro_outputs_and_clean_status(project):
    assert (project / "data" / "raw" / "mnist.npz").is_file()
    for name in ("train", "val", "test"):
        assert (project / "data" / "prepared" / f"{name}.npz").is_file()
    assert json.loads((project / "metrics" / "data.json").read_text())["val"]["total"] == 200
    for name in ("mlp", "convnet", "deep_convnet", "nas"):
        assert (project / "models" / name / "model.keras").is_file()
    for name in ("train/mlp", "train/convnet", "train/deep_convnet", "nas"):
        assert (project / "metrics" / name / "metrics.json").is_file()
    assert "Data and pipelines are up to date" in run(["dvc", "status"], project).stdout
    assert stale_stages(project) == set()
    assert "data/raw" not in run(["git", "status", "--porcelain"], project).stdout


TRAIN = {"train@mlp", "train@convnet", "train@deep_convnet"}


def test_each_change_reruns_only_what_it_affects(project):
    backup = (project / "params.yaml").read_text()
    try:
        edit_params(project, "deep_convnet", "dropout", 0.25)
        assert stale_stages(project) == {"train@deep_convnet"}
        edit_params(project, "mlp", "lr", 0.01)  # an override of its own
        assert stale_stages(project) == {"train@deep_convnet", "train@mlp"}
        (project / "params.yaml").write_text(backup)
        edit_params(project, None, "lr", 0.0003)
        assert stale_stages(project) == TRAIN
        (project / "params.yaml").write_text(backup)
        edit_params(project, "nas", "max_trials", 2)
        assert stale_stages(project) == {"nas"}
        (project / "params.yaml").write_text(backup)
        edit_params(project, "prepare", "val_fraction", 0.2)
        assert stale_stages(project) == {"prepare"}
        edit_params(project, "data", "verify_hashes", False)
        assert stale_stages(project) == {"fetch", "prepare"}
    finally:
        (project / "params.yaml").write_text(backup)
    assert stale_stages(project) == set()
