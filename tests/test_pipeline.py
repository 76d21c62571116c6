"""A real `dvc repro` of the pipeline in a temporary git repository."""

import json

import yaml
from conftest import run, stale_stages


def edit_params(root, section, key, value):
    path = root / "params.yaml"
    params = yaml.safe_load(path.read_text())
    (params[section] if section else params)[key] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def test_repro_outputs_and_clean_status(project):
    assert (project / "data" / "raw" / "mnist.npz").is_file()
    for name in ("train", "val", "test"):
        assert (project / "data" / "prepared" / f"{name}.npz").is_file()
    assert json.loads((project / "metrics" / "data.json").read_text())["val"] == 200
    for name in ("mlp", "convnet", "deep_convnet", "nas"):
        assert (project / "models" / "trained" / name / "model.keras").is_file()
    assert (project / "models" / "ensemble" / "model.keras").is_file()
    assert (project / "models" / "best" / "saved_model" / "saved_model.pb").is_file()
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
        edit_params(project, "ensemble", "top_k", 3)
        assert stale_stages(project) == {"nas", "ensemble"}
        edit_params(project, "export", "select_by", "val_loss")
        assert stale_stages(project) == {"nas", "ensemble", "export"}
        (project / "params.yaml").write_text(backup)
        edit_params(project, "prepare", "val_fraction", 0.2)
        assert stale_stages(project) == {"prepare"}
        edit_params(project, "data", "verify_hashes", False)
        assert stale_stages(project) == {"fetch", "prepare"}
    finally:
        (project / "params.yaml").write_text(backup)
    assert stale_stages(project) == set()
