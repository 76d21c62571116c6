"""The ensemble: one Keras model averaging members chosen by their validation log loss."""

import json

import numpy as np
import pytest
import yaml
from conftest import run, set_params
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mnist_nas.scoring.selection import ensemble_members, log_loss

VAL_PROBS = (
    "import sys, numpy as np\n"
    "from mnist_nas.files import load_model\n"
    "from mnist_nas.data.splits import load_split\n"
    "from mnist_nas.paths import model_file\n"
    "x, y = load_split('val')\n"
    "names = sys.argv[2:]\n"
    "np.savez(sys.argv[1], y=y, **{n: load_model(model_file(n)).predict(x, verbose=0) "
    "for n in names})\n"
)


def test_members_lower_the_validation_log_loss_and_no_other_model_would(project, tmp_path):
    from sklearn.metrics import log_loss

    chosen = json.loads((project / "metrics/ensemble.json").read_text())
    leaderboard = json.loads((project / "metrics/eval/leaderboard.json").read_text())
    pool = sorted(name for name in leaderboard if name != "ensemble")
    assert sorted(chosen["val_loss"]) == pool
    out = tmp_path / "val.npz"
    run(["python", "-c", VAL_PROBS, str(out), *pool], project)
    probs = dict(np.load(out))
    y = probs.pop("y")

    def loss(names):
        return log_loss(y, np.mean([probs[name] for name in names], axis=0), labels=range(10))

    members = chosen["members"]
    assert members[0] == min(pool, key=lambda name: loss([name]))  # the best single model first
    after_each = [loss(members[: k + 1]) for k in range(len(members))]
    assert after_each == pytest.approx(chosen["val_loss_after_each"], abs=1e-5)
    assert all(later < earlier for earlier, later in zip(after_each, after_each[1:], strict=False))
    limit = yaml.safe_load((project / "params.yaml").read_text())["ensemble"]["max_members"]
    if len(members) < limit:  # it stopped because no other model lowers the loss
        assert all(loss([*members, name]) >= after_each[-1] for name in pool if name not in members)


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
    set_params(tmp_path, ensemble__max_members=6)
    result = run(["python", "-m", "stages.ensemble"], tmp_path, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: ensemble.max_members: 6 is more than the 4 models "
        "['mlp', 'convnet', 'deep_convnet', 'nas']"
    ]


@settings(max_examples=60, deadline=None)
@given(
    logits=hnp.arrays(np.float64, st.tuples(st.integers(1, 5), st.just(40), st.just(10)),
                      elements=st.floats(-6, 6)),
    y=hnp.arrays(np.int64, 40, elements=st.integers(0, 9)),
    max_members=st.integers(1, 6),
)  # fmt: skip
def test_ensemble_selection_properties(logits, y, max_members):
    probs = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    val_probs = {f"m{i}": p for i, p in enumerate(probs)}
    sizes = {name: 1000 - i for i, name in enumerate(val_probs)}
    members, losses = ensemble_members(val_probs, y, sizes, max_members)

    def loss(names):
        return log_loss(y, np.mean([val_probs[name] for name in names], axis=0))

    assert 1 <= len(members) <= max_members and len(set(members)) == len(members)
    assert loss(members[:1]) == min(loss([name]) for name in val_probs)
    assert losses == pytest.approx([loss(members[: k + 1]) for k in range(len(members))])
    assert all(later < earlier for earlier, later in zip(losses, losses[1:], strict=False))
    rest = [name for name in val_probs if name not in members]
    if len(members) < max_members:  # stopped: no model left, or none lowers the loss
        assert all(loss([*members, name]) >= losses[-1] for name in rest)
