"""The exported model: .keras, a SavedModel any TensorFlow runs, and the model card."""

import hashlib
import json
import re
import socket

import numpy as np
import pytest
from conftest import run

from mnist_nas.scoring.selection import select_best


def test_best_model_is_the_leaderboard_choice(project):
    best = project / "models" / "best"
    leaderboard = json.loads((project / "metrics" / "eval" / "leaderboard.json").read_text())
    chosen = json.loads((best / "best.json").read_text())
    assert chosen["model"] == select_best(leaderboard, "val_accuracy")
    folder = "ensemble" if chosen["model"] == "ensemble" else f"trained/{chosen['model']}"
    source = project / "models" / folder / "model.keras"
    assert (best / "model.keras").read_bytes() == source.read_bytes()
    card = (best / "MODEL_CARD.md").read_text()
    assert f"# Model card: `{chosen['model']}`" in card
    for name in leaderboard:
        assert f"| {name} |" in card or f"| **{name}** |" in card
    sha256 = hashlib.sha256(source.read_bytes()).hexdigest()
    assert f"Model file sha256: {sha256}." in card
    # a function of the export's inputs alone: no time, host or git state in it
    assert not re.search(
        r"\b20\d\d-\d\d-\d\d|Git revision|" + re.escape(socket.gethostname()), card
    )


def keras_predictions(project, images_file):
    script = (
        "import sys, numpy as np\n"
        "from mnist_nas.files import load_model\n"
        "model = load_model('models/best/model.keras')\n"
        "np.save(sys.argv[2], model.predict(np.load(sys.argv[1]), verbose=0))\n"
    )
    out = images_file.with_name("keras.npy")
    run(["python", "-c", script, str(images_file), str(out)], project)
    return np.load(out)


def test_saved_model_gives_the_calibrated_keras_predictions_without_the_project(project, tmp_path):
    images = np.load(project / "data" / "prepared" / "test.npz")["x"][:64]
    images_file = tmp_path / "images.npy"
    np.save(images_file, images)
    from mnist_nas.scoring.calibration import scale

    temperature = json.loads((project / "models/best/calibration.json").read_text())["temperature"]
    expected = scale(keras_predictions(project, images_file), temperature)  # calibrated

    # A fresh, isolated process elsewhere that imports neither autokeras nor this project.
    script = (
        "import sys, numpy as np, tensorflow as tf\n"
        "serve = tf.saved_model.load(sys.argv[1]).signatures['serving_default']\n"
        "probs = serve(images=tf.constant(np.load(sys.argv[2])))['probabilities'].numpy()\n"
        "assert 'autokeras' not in sys.modules and 'stages' not in sys.modules\n"
        "np.save(sys.argv[3], probs)\n"
    )
    saved_model = project / "models" / "best" / "saved_model"
    served = tmp_path / "served.npy"
    run(["python", "-I", "-c", script, str(saved_model), str(images_file), str(served)], tmp_path)
    np.testing.assert_allclose(np.load(served), expected, atol=1e-5)

    # The command line TF Serving users reach for.
    cli_out = tmp_path / "cli"
    run(
        [
            "saved_model_cli", "run", "--dir", str(saved_model), "--tag_set", "serve",
            "--signature_def", "serving_default", "--inputs", f"images={images_file}",
            "--outdir", str(cli_out),
        ],
        tmp_path,
    )  # fmt: skip
    np.testing.assert_allclose(np.load(cli_out / "probabilities.npy"), expected, atol=1e-5)


def test_calibration_is_fitted_on_validation_stored_and_served(project, tmp_path):
    """The temperature lowers the validation log loss, is kept in calibration.json and is what
    the SavedModel applies; the threshold is the one calibration chooses on validation."""
    from mnist_nas.scoring import calibration

    best = project / "models" / "best"
    fitted = json.loads((best / "calibration.json").read_text())
    metrics = json.loads((project / "metrics" / "calibration" / "calibration.json").read_text())
    assert metrics["val_log_loss_after"] <= metrics["val_log_loss_before"]
    assert fitted["temperature"] == pytest.approx(metrics["temperature"], abs=1e-6)

    val = np.load(project / "data" / "prepared" / "val.npz")
    images_file = tmp_path / "val.npy"
    np.save(images_file, val["x"])
    raw = keras_predictions(project, images_file)
    assert fitted["temperature"] == pytest.approx(
        calibration.fit_temperature(val["y"], raw), rel=1e-3
    )
    scaled = calibration.scale(raw, fitted["temperature"])
    threshold = calibration.choose_threshold(val["y"], scaled, fitted["max_wrong_accepted"])
    assert fitted["threshold"] == pytest.approx(threshold, abs=1e-6)

    script = (
        "import sys, pathlib, numpy as np\n"
        "from mnist_nas.serving import load_classifier\n"
        "classify = load_classifier(pathlib.Path(sys.argv[3]))\n"
        "np.save(sys.argv[2], classify(np.load(sys.argv[1])))\n"
    )
    served = tmp_path / "served.npy"
    run(["python", "-c", script, str(images_file), str(served), str(best / "saved_model")], project)
    np.testing.assert_allclose(np.load(served), scaled, atol=2e-5)


def test_the_test_set_decides_nothing_in_the_export(project, tmp_path):
    """Export again with the test labels shuffled: the same temperature, threshold and model."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(project, copy, symlinks=True)
    test = dict(np.load(copy / "data" / "prepared" / "test.npz"))
    test["y"] = np.random.default_rng(0).permutation(test["y"])
    from mnist_nas.files import save_npz

    (copy / "data" / "prepared" / "test.npz").unlink()
    save_npz(copy / "data" / "prepared" / "test.npz", **test)
    run(["python", "-m", "stages.export"], copy)
    # the same model and calibration give the same SavedModel, byte for byte
    saved = ["saved_model/saved_model.pb", "saved_model/fingerprint.pb",
             "saved_model/variables/variables.index"]  # fmt: skip
    for name in ("calibration.json", "model.keras", *saved):
        assert (copy / "models/best" / name).read_bytes() == (
            project / "models/best" / name
        ).read_bytes()
    before = json.loads((project / "metrics/calibration/calibration.json").read_text())
    after = json.loads((copy / "metrics/calibration/calibration.json").read_text())
    assert after["test_ece_before"] != before["test_ece_before"]  # the test set was really changed
