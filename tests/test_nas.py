"""The nas stage: a one-trial, one-epoch AutoKeras search on a few hundred real digits."""

import csv
import json

import pytest
from conftest import SMALL, new_project, run, set_params


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    return new_project(tmp_path_factory.mktemp("nas"), ("fetch", "prepare", "nas"), **SMALL)


def test_search_writes_every_output(searched):
    metrics = json.loads((searched / "metrics/nas/metrics.json").read_text())
    assert metrics["trials_completed"] == 1 and 0 < metrics["best_val_accuracy"] <= 1
    assert metrics["params"] > 0
    timing = json.loads((searched / "metrics/nas/time.json").read_text())
    assert timing["search_time_s"] > 0
    assert [seconds > 0 for seconds in timing["trial_seconds"].values()] == [True]
    with (searched / "metrics/nas/trials.csv").open() as table:
        (trial,) = list(csv.DictReader(table))
    assert trial["status"] == "COMPLETED" and float(trial["score"]) == pytest.approx(
        metrics["best_val_accuracy"]
    )
    assert int(trial["params"]) == metrics["params"] and trial["worker"] == "tuner0"
    hyperparameters = json.loads(trial["hyperparameters"])
    conv = "offline_image_block_1/conv_block_1"
    # the greedy tuner's first trial is the warm start: the conv block's defaults with Adam
    assert hyperparameters[f"{conv}/num_layers"] == 2 and hyperparameters[f"{conv}/dropout"] == 0.25
    assert hyperparameters["optimizer"] == "adam" and hyperparameters["learning_rate"] == 0.001
    assert not list((searched / ".dvc/tmp/nas").glob("*"))  # search directory cleaned up


def test_exported_model_loads_in_a_fresh_process(searched):
    script = (
        "import autokeras, keras, numpy as np\n"
        "model = keras.saving.load_model('models/trained/nas/model.keras')\n"
        "x = np.load('data/prepared/test.npz')['x'][:50]\n"
        "probs = model.predict(x, verbose=0)\n"
        "assert probs.shape == (50, 10), probs.shape\n"
        "print((probs.argmax(1) == np.load('data/prepared/test.npz')['y'][:50]).mean())\n"
    )
    result = run(["python", "-c", script], searched)
    assert 0 <= float(result.stdout.strip().splitlines()[-1]) <= 1


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"nas__tuner": "evolution"}, "error: params.yaml: nas.tuner: Input should be"),
        ({"nas__max_trials": 0}, "error: params.yaml: nas.max_trials: Input should be greater"),
        ({"nas__block_types": ["efficientnet"]}, "error: params.yaml: nas.block_types.0:"),
    ],
)
def test_bad_nas_params_fail_at_once(tmp_path, override, error):
    set_params(tmp_path, **override)
    result = run(["python", "-m", "stages.nas"], tmp_path, check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(error), result.stderr
