"""The ensemble: one Keras model averaging the best top_k models by validation accuracy."""

import json

import numpy as np
import pytest
import yaml
from conftest import run, set_params


def test_members_are_the_best_by_validation_accuracy(project):
    chosen = json.loads((project / "metrics/ensemble.json").read_text())
    leaderboard = json.loads((project / "metrics/eval/leaderboard.json").read_text())
    accuracy = chosen["val_accuracy"]
    assert sorted(accuracy) == sorted(name for name in leaderboard if name != "ensemble")
    for name, value in accuracy.items():  # the same validation scores evaluate reports
        assert value == pytest.approx(leaderboard[name]["val_accuracy"])
    ranked = sorted(accuracy, key=lambda name: (-accuracy[name], leaderboard[name]["params"]))
    top_k = yaml.safe_load((project / "params.yaml").read_text())["ensemble"]["top_k"]
    assert top_k > 1 and chosen["members"] == ranked[:top_k]


def test_probabilities_are_the_mean_of_the_members(project, tmp_path):
    script = (
        "import json, sys, numpy as np\n"
        "from mnist_nas.files import load_model\n"
        "from mnist_nas.data.splits import load_split\n"
        "from mnist_nas.paths import model_file as model_path\n"
        "x, _ = load_split('val')\n"
        "members = json.load(open('metrics/ensemble.json'))['members']\n"
        "ensemble = load_model(model_path('ensemble')).predict(x, verbose=0)\n"
        "each = [load_model(model_path(name)).predict(x, verbose=0) for name in members]\n"
        "np.savez(sys.argv[1], ensemble=ensemble, mean=np.mean(each, axis=0))\n"
    )
    out = tmp_path / "probs.npz"
    run(["python", "-c", script, str(out)], project)
    probs = np.load(out)
    assert probs["ensemble"].shape == (len(probs["ensemble"]), 10)
    np.testing.assert_allclose(probs["ensemble"], probs["mean"], atol=1e-6)
    np.testing.assert_allclose(probs["ensemble"].sum(axis=1), 1, atol=1e-5)


def test_saved_model_gives_the_keras_predictions_without_the_project(project, tmp_path):
    images = np.load(project / "data/prepared/test.npz")["x"][:64]
    np.save(tmp_path / "images.npy", images)
    script = (
        "import sys, numpy as np\n"
        "from mnist_nas.files import load_model\n"
        "from mnist_nas.paths import model_file as model_path\n"
        "from mnist_nas.serving import export_saved_model\n"
        "model = load_model(model_path('ensemble'))\n"
        "np.save(sys.argv[2], model.predict(np.load(sys.argv[1]), verbose=0))\n"
        "export_saved_model(model, sys.argv[3], temperature=2.0)\n"
    )
    expected, saved_model = tmp_path / "keras.npy", tmp_path / "saved_model"
    run(["python", "-c", script, str(tmp_path / "images.npy"), str(expected), str(saved_model)],
        project)  # fmt: skip

    # A fresh, isolated process elsewhere that imports neither autokeras nor this project.
    serve = (
        "import sys, numpy as np, tensorflow as tf\n"
        "serve = tf.saved_model.load(sys.argv[1]).signatures['serving_default']\n"
        "probs = serve(images=tf.constant(np.load(sys.argv[2])))['probabilities'].numpy()\n"
        "assert 'autokeras' not in sys.modules and 'stages' not in sys.modules\n"
        "np.save(sys.argv[3], probs)\n"
    )
    served = tmp_path / "served.npy"
    run(["python", "-I", "-c", serve, str(saved_model), str(tmp_path / "images.npy"), str(served)],
        tmp_path)  # fmt: skip
    from mnist_nas.scoring.calibration import scale

    np.testing.assert_allclose(np.load(served), scale(np.load(expected), 2.0), atol=1e-5)


def test_more_members_than_models_fails_in_one_line(tmp_path):
    set_params(tmp_path, ensemble__top_k=6)
    result = run(["python", "-m", "stages.ensemble"], tmp_path, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: ensemble.top_k: 6 is more than the 4 models "
        "['mlp', 'convnet', 'deep_convnet', 'nas']"
    ]
