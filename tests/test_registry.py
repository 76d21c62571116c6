"""The exported model as a DVC model-registry artifact: `dvc artifacts get` from a clone."""

import shutil

import numpy as np
import yaml
from conftest import REPO, run
from PIL import Image


def test_dvc_yaml_declares_the_exported_model_as_an_artifact():
    artifact = yaml.safe_load((REPO / "dvc.yaml").read_text())["artifacts"]["mnist-classifier"]
    assert artifact["type"] == "model" and artifact["path"] == "models/best"
    assert artifact["desc"] and "mnist" in artifact["labels"]


def test_artifacts_get_fetches_the_model_from_a_clone_with_a_local_remote(project, tmp_path):
    origin = tmp_path / "origin"
    shutil.copytree(project, origin, symlinks=True)
    run(["dvc", "remote", "add", "-d", "storage", str(tmp_path / "storage")], origin)
    run(["dvc", "push", "export"], origin)
    run(["git", "add", "-A"], origin)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    run([*git, "commit", "-qm", "model"], origin)
    # a version in the registry: a GTO tag, as `gto register mnist-classifier` writes it
    run([*git, "tag", "-a", "mnist-classifier@v1.0.0", "-m", "Registering v1.0.0"], origin)
    run(["git", "clone", "-q", str(origin), str(tmp_path / "clone")], tmp_path)

    clone = str(tmp_path / "clone")
    shown = run(["dvc", "artifacts", "get", clone, "mnist-classifier", "--show-url"], tmp_path)
    assert str(tmp_path / "storage") in shown.stdout
    run(["dvc", "artifacts", "get", clone, "mnist-classifier", "--rev", "v1.0.0", "-o", "model"],
        tmp_path)  # fmt: skip
    fetched = tmp_path / "model"
    exported = project / "models" / "best"
    assert (fetched / "model.keras").read_bytes() == (exported / "model.keras").read_bytes()
    assert (fetched / "MODEL_CARD.md").read_text() == (exported / "MODEL_CARD.md").read_text()

    # and the fetched SavedModel answers like the exported one
    with np.load(REPO / "data" / "mnist.npz", allow_pickle=False) as mnist:
        Image.fromarray(mnist["x_test"][0]).save(tmp_path / "digit.png")
    answers = [
        run(
            ["mnist-predict", str(tmp_path / "digit.png"), "--model", str(model)],
            REPO,
        ).stdout  # fmt: skip
        for model in (fetched / "saved_model", exported / "saved_model")
    ]
    assert answers[0] == answers[1] and answers[0].startswith(f"{tmp_path / 'digit.png'}: ")
