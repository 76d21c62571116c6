"""The nas stage: proxy trials on a share of a few hundred real digits, then the winner's final
training on all of them; a search killed halfway resumes without rerunning a finished trial."""

import csv
import json
import os
import re
import signal
import time
from pathlib import Path

import pytest
from conftest import SMALL, new_project, run, scratch_project, set_params, start

TRIALS = {**SMALL, "nas__max_trials": 3, "nas__trial_fraction": 0.5, "nas__epochs": 2}


def trial_states(root: Path) -> dict[str, str]:
    """Each trial the search has begun, by id: its status (RUNNING, COMPLETED, ...)."""
    states = {}
    for path in (root / ".dvc" / "tmp" / "nas").glob("search-*/trial_*/trial.json"):
        trial = json.loads(path.read_text())  # whole: written atomically
        states[trial["trial_id"]] = trial["status"]
    return states


@pytest.fixture(scope="module")
def resumed(tmp_path_factory) -> dict:
    """`dvc repro nas` of a 3-trial search (TRIALS), SIGKILLed as its third trial begins, then
    `dvc repro nas` again: {"root", "output": the second run's, "finished": the trials
    COMPLETED before the kill}. Keras Tuner writes the third trial's trial.json as RUNNING,
    then oracle.json (test_a_search_killed_in_any_state_write_resumes kills inside and between
    those writes)."""
    root = scratch_project(tmp_path_factory.mktemp("nas"), **TRIALS)
    process = start(["dvc", "repro", "nas"], root)
    deadline = time.monotonic() + 300
    while sorted(trial_states(root).values()) != ["COMPLETED", "COMPLETED", "RUNNING"]:
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < deadline, "two trials did not finish in 5 minutes"
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = {trial for trial, status in trial_states(root).items() if status == "COMPLETED"}
    assert len(finished) == 2 and not (root / "models/trained/nas/model.keras").exists()
    return {"root": root, "output": run(["dvc", "repro", "nas"], root).stdout, "finished": finished}


@pytest.fixture(scope="module")
def searched(resumed) -> Path:
    return resumed["root"]


def test_a_killed_search_resumes_without_rerunning_finished_trials(resumed):
    root, output = resumed["root"], resumed["output"]
    assert "nas: resuming the search in" in output
    started = set(re.findall(r"Running Trial #(\d+)", output))
    assert started and not started & {str(int(t) + 1) for t in resumed["finished"]}, output
    assert "up to date" in run(["dvc", "status", "nas"], root).stdout


def read_trials(project) -> list[dict]:
    with (project / "metrics/nas/trials.csv").open() as table:
        return list(csv.DictReader(table))


def test_a_killed_search_ends_as_an_uninterrupted_one(resumed, tmp_path):
    """The trial the kill interrupted is retried alone in a new process, and still trains as
    it did after the trials before it: each trial is seeded from its own id."""
    root = scratch_project(tmp_path, **TRIALS)
    run(["python", "-m", "stages.nas"], root)
    assert read_trials(resumed["root"]) == read_trials(root)
    metrics = "metrics/nas/metrics.json"
    assert (resumed["root"] / metrics).read_bytes() == (root / metrics).read_bytes()


def test_search_and_final_training_write_every_output(searched):
    metrics = json.loads((searched / "metrics/nas/metrics.json").read_text())
    assert metrics["trials_completed"] == 3 and 0 < metrics["trial_val_accuracy"] <= 1
    assert 0 < metrics["val_accuracy"] <= 1 and metrics["best_epoch"] in (1, 2)
    timing = json.loads((searched / "metrics/nas/time.json").read_text())
    assert timing["search_time_s"] > 0 and timing["final_training_s"] > 0
    assert timing["final_epochs_run"] == 2
    assert len(timing["trial_seconds"]) == 3
    trials = read_trials(searched)
    assert [row["status"] for row in trials] == ["COMPLETED"] * 3
    # the proxy score of every trial; the final score only for the winner, which trained anew
    winner = max(trials, key=lambda row: float(row["score"]))
    assert int(winner["trial"]) == metrics["best_trial"]
    assert float(winner["score"]) == pytest.approx(metrics["trial_val_accuracy"])
    assert float(winner["final_score"]) == pytest.approx(metrics["val_accuracy"])
    assert [row["final_score"] for row in trials if row is not winner] == ["", ""]
    assert int(winner["params"]) == metrics["params"]
    assert not list((searched / ".dvc/tmp/nas").glob("*"))  # search directory cleaned up


def test_trials_explore_architectures_from_a_narrower_deep_convnet(searched):
    trials = read_trials(searched)
    first = json.loads(trials[0]["hyperparameters"])
    # the greedy tuner's first trial is the warm start: every default, Adam at 1e-3
    assert first["digit_block_1/body/filters"] == 24 and first["digit_block_1/body/blocks"] == 3
    assert first["optimizer"] == "adam" and first["learning_rate"] == 0.001
    assert trials[0]["architecture"].startswith("3x1 24-48-96 k3 strided bn-last flatten d128")
    assert len({row["hyperparameters"] for row in trials}) == 3  # three different points
    for row in trials:
        assert int(row["params"]) > 0 and float(row["mflops"]) > 0 and row["worker"] == "tuner0"


def test_the_nas_model_is_plain_keras_with_the_uint8_input(searched):
    script = (
        "import sys, keras, numpy as np\n"
        "model = keras.saving.load_model('models/trained/nas/model.keras', safe_mode=True)\n"
        "assert 'autokeras' not in sys.modules\n"
        "assert model.inputs[0].dtype == 'uint8' and model.inputs[0].shape == (None, 28, 28)\n"
        "x = np.load('data/prepared/val.npz')['x']\n"
        "y = np.load('data/prepared/val.npz')['y']\n"
        "print((model.predict(x, verbose=0).argmax(1) == y).mean())\n"
    )
    accuracy = float(run(["python", "-c", script], searched).stdout.strip().splitlines()[-1])
    metrics = json.loads((searched / "metrics/nas/metrics.json").read_text())
    assert accuracy == pytest.approx(metrics["val_accuracy"], abs=1e-6)  # best epoch restored


def test_costly_points_are_skipped_not_trained(tmp_path):
    project = new_project(tmp_path, ("fetch", "prepare"), **{**TRIALS, "nas__max_mflops": 1})
    result = run(["python", "-m", "stages.nas"], project, check=False)
    # nothing in the space fits 1 MFLOP: each trial is skipped, and keras-tuner gives up
    assert result.returncode == 1 and "Oversized model" in result.stderr  # keras-tuner's report
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: nas: the search stopped: nas.max_mflops: "), line
    assert not (project / "models").exists()


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"nas__tuner": "evolution"}, "error: params.yaml: nas.tuner: Input should be"),
        ({"nas__max_trials": 0}, "error: params.yaml: nas.max_trials: Input should be greater"),
        ({"nas__trial_fraction": 0}, "error: params.yaml: nas.trial_fraction: Input should be"),
        ({"nas__max_mflops": -1}, "error: params.yaml: nas.max_mflops: Input should be greater"),
    ],
)
def test_bad_nas_params_fail_at_once(tmp_path, override, error):
    set_params(tmp_path, **override)
    result = run(["python", "-m", "stages.nas"], tmp_path, check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(error), result.stderr
