"""The exported model: .keras, a SavedModel any TensorFlow runs, and the model card."""

import json

import numpy as np
from conftest import run

from stages.export import select_best


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
    revision = run(["git", "rev-parse", "HEAD"], project).stdout.strip()
    assert f"Git revision: {revision}" in card


def keras_predictions(project, images_file):
    script = (
        "import sys, numpy as np\n"
        "from stages.common import load_model\n"
        "model = load_model('models/best/model.keras')\n"
        "np.save(sys.argv[2], model.predict(np.load(sys.argv[1]), verbose=0))\n"
    )
    out = images_file.with_name("keras.npy")
    run(["python", "-c", script, str(images_file), str(out)], project)
    return np.load(out)


def test_saved_model_gives_the_keras_predictions_without_the_project(project, tmp_path):
    images = np.load(project / "data" / "prepared" / "test.npz")["x"][:64]
    images_file = tmp_path / "images.npy"
    np.save(images_file, images)
    expected = keras_predictions(project, images_file)

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
