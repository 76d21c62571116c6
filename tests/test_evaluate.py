"""The evaluate stage's leaderboard (validation and test), and the rule that picks the model to
export: by validation, never by test."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import run

from mnist_nas.scoring.metrics import wilson_interval
from mnist_nas.scoring.selection import select_best


def model_path(project, name):
    folder = "models/ensemble" if name == "ensemble" else f"models/trained/{name}"
    return project / folder / "model.keras"


MODELS = ["mlp", "convnet", "deep_convnet", "nas", "ensemble"]


def test_leaderboard_scores_every_model_on_validation_and_test(project):
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
        accuracy = (confusion.actual == confusion.predicted).mean()
        assert scores["test_accuracy"] == pytest.approx(accuracy)
        assert scores["test_accuracy_ci95_low"] < accuracy < scores["test_accuracy_ci95_high"]
        for split in ("val", "test"):
            assert scores[f"{split}_loss"] > 0 and 0 <= scores[f"{split}_macro_f1"] <= 1
            assert 0 <= scores[f"{split}_accuracy"] <= 1
        model_file = model_path(project, name)
        assert scores["size_mb"] == pytest.approx(model_file.stat().st_size / 1e6, abs=1e-3)
        classes = pd.read_csv(evaluation / "classes" / f"{name}.csv")
        assert list(classes.digit) == list(range(10))
        assert classes[["precision", "recall"]].stack().between(0, 1).all()
        assert 0 < latency[name]["batch1_ms"] < latency[name]["batch256_ms"]


def test_leaderboard_matches_the_models_own_predictions(project):
    leaderboard = json.loads((project / "metrics" / "eval" / "leaderboard.json").read_text())
    script = (
        "import json, numpy as np\n"
        "from mnist_nas.files import load_model\n"
        "from mnist_nas.data.splits import load_split\n"
        "x, y = load_split('test')\n"
        "model = load_model('models/trained/convnet/model.keras')\n"
        "probs = model.predict(x, verbose=0)\n"
        "print(json.dumps([float((probs.argmax(1) == y).mean()), model.count_params()]))\n"
    )
    accuracy, params = json.loads(run(["python", "-c", script], project).stdout.splitlines()[-1])
    assert leaderboard["convnet"]["test_accuracy"] == pytest.approx(accuracy)
    assert leaderboard["convnet"]["params"] == params


BOARD = {
    "big": {"val_accuracy": 0.99, "val_macro_f1": 0.98, "val_loss": 0.05, "params": 900},
    "small": {"val_accuracy": 0.99, "val_macro_f1": 0.97, "val_loss": 0.04, "params": 100},
    "weak": {"val_accuracy": 0.90, "val_macro_f1": 0.99, "val_loss": 0.30, "params": 10},
}


@pytest.mark.parametrize(
    ("select_by", "expected"),
    [("val_accuracy", "small"), ("val_macro_f1", "weak"), ("val_loss", "small")],
)
def test_selection_rule(select_by, expected):
    # accuracy ties between big and small: the smaller model wins; loss: lower is better
    assert select_best(BOARD, select_by) == expected


def test_tied_accuracy_is_decided_by_the_log_loss_not_by_size():
    board = {
        "ensemble": {"val_accuracy": 0.9955, "val_loss": 0.0161, "params": 900_000},
        "single": {"val_accuracy": 0.9955, "val_loss": 0.0170, "params": 300_000},
    }
    assert select_best(board, "val_accuracy") == "single"  # a tie: fewer params
    assert select_best(board, "val_loss") == "ensemble"  # the rule decides


def test_shuffled_test_labels_change_no_choice(project, tmp_path):
    """Shuffle the test set's labels, score and export again with the real stages: the same
    model is exported, byte for byte, while its reported test accuracy collapses; the reader
    and the refusal are not even stale."""
    root = tmp_path / "p"
    shutil.copytree(project, root, symlinks=True)
    before = json.loads((project / "models/best/best.json").read_text())
    test_file = root / "data/prepared/test.npz"
    with np.load(test_file) as test:
        x, y = test["x"], test["y"]
    test_file.unlink()  # a DVC output may be a link into the cache: never write through it
    np.savez(test_file, x=x, y=np.random.default_rng(0).permutation(y))
    # no reader or refusal is chosen on the test set: neither is stale (models/best is not
    # either: export's test figures change, its model and thresholds stay, asserted below)
    status = run(["dvc", "status", "reader", "refusal", "--json"], root).stdout
    assert json.loads(status) == {}
    run(["python", "-m", "stages.evaluate"], root)
    run(["python", "-m", "stages.export"], root)
    after = json.loads((root / "models/best/best.json").read_text())
    assert after["model"] == before["model"] and after["select_by"] == before["select_by"]
    assert after["test_accuracy"] < 0.2 < before["test_accuracy"]
    for name in ("model.keras", "calibration.json"):
        assert (root / "models/best" / name).read_bytes() == (
            project / "models/best" / name
        ).read_bytes()


def test_export_takes_the_validation_winner_when_test_disagrees(project, tmp_path):
    """Rewrite the real leaderboard so that the validation ranking is the reverse of the test
    ranking, run the real export stage, and check it exported the validation winner."""
    root = tmp_path / "p"
    shutil.copytree(project, root, symlinks=True)
    board_file = root / "metrics" / "eval" / "leaderboard.json"
    board = json.loads(board_file.read_text())
    by_test = sorted(board)  # from worst to best on test, and from best to worst on val:
    for rank, name in enumerate(by_test):
        board[name]["test_accuracy"] = 0.90 + rank / 100
        board[name]["test_loss"] = 0.30 - rank / 100
        board[name]["val_accuracy"] = 0.90 - rank / 100
        board[name]["val_loss"] = 0.10 + rank / 100
    board_file.write_text(json.dumps(board))
    run(["python", "-m", "stages.export"], root)
    chosen = json.loads((root / "models" / "best" / "best.json").read_text())
    assert chosen["model"] == by_test[0] and chosen["test_accuracy"] == 0.90
    exported = (root / "models/best/model.keras").read_bytes()
    assert exported == model_path(root, by_test[0]).read_bytes()


@pytest.mark.parametrize(("correct", "total"), [(9960, 10000), (10000, 10000), (0, 50), (17, 20)])
def test_wilson_interval(correct, total):
    low, high = wilson_interval(correct, total)
    assert 0 <= low <= correct / total <= high <= 1
    if correct == 9960:  # the issue's own example: 99.6% of 10k is about +-0.12 points
        assert (low, high) == pytest.approx((0.99456, 0.99706), abs=1e-5)
