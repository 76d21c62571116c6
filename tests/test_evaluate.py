"""The evaluate stage's leaderboard, and the rule that picks the model to export."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import run

from stages.export import select_best

MODELS = ["mlp", "convnet", "deep_convnet", "nas"]


def test_leaderboard_scores_every_model_on_the_test_set(project):
    evaluation = project / "metrics" / "eval"
    leaderboard = json.loads((evaluation / "leaderboard.json").read_text())
    latency = json.loads((evaluation / "latency.json").read_text())
    assert sorted(leaderboard) == sorted(latency) == sorted(MODELS)
    test_labels = np.load(project / "data" / "prepared" / "test.npz")["y"]
    for name in MODELS:
        scores = leaderboard[name]
        confusion = pd.read_csv(evaluation / "confusion" / f"{name}.csv")
        assert list(confusion.columns) == ["actual", "predicted"]
        assert np.array_equal(confusion["actual"], test_labels)
        assert scores["accuracy"] == pytest.approx((confusion.actual == confusion.predicted).mean())
        assert scores["loss"] > 0 and 0 <= scores["macro_f1"] <= 1
        model_file = project / "models" / "trained" / name / "model.keras"
        assert scores["size_mb"] == pytest.approx(model_file.stat().st_size / 1e6, abs=1e-3)
        classes = pd.read_csv(evaluation / "classes" / f"{name}.csv")
        assert list(classes.digit) == list(range(10))
        assert classes[["precision", "recall"]].stack().between(0, 1).all()
        assert 0 < latency[name]["batch1_ms"] < latency[name]["batch256_ms"]


def test_leaderboard_matches_the_models_own_predictions(project):
    leaderboard = json.loads((project / "metrics" / "eval" / "leaderboard.json").read_text())
    script = (
        "import json, numpy as np\n"
        "from stages.common import load_model, load_split\n"
        "x, y = load_split('test')\n"
        "model = load_model('models/trained/convnet/model.keras')\n"
        "probs = model.predict(x, verbose=0)\n"
        "print(json.dumps([float((probs.argmax(1) == y).mean()), model.count_params()]))\n"
    )
    accuracy, params = json.loads(run(["python", "-c", script], project).stdout.splitlines()[-1])
    assert leaderboard["convnet"]["accuracy"] == pytest.approx(accuracy)
    assert leaderboard["convnet"]["params"] == params


BOARD = {
    "big": {"accuracy": 0.99, "macro_f1": 0.98, "loss": 0.05, "params": 900},
    "small": {"accuracy": 0.99, "macro_f1": 0.97, "loss": 0.04, "params": 100},
    "weak": {"accuracy": 0.90, "macro_f1": 0.99, "loss": 0.30, "params": 10},
}


@pytest.mark.parametrize(
    ("select_by", "expected"),
    [("accuracy", "small"), ("macro_f1", "weak"), ("loss", "small")],
)
def test_selection_rule(select_by, expected):
    # accuracy ties between big and small: the smaller model wins; loss: lower is better
    assert select_best(BOARD, select_by) == expected
