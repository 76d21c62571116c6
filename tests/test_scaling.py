"""Scaling out: distributed NAS with Keras Tuner's chief and workers (the shared DVC cache, a
real SSH remote, is in test_remote.py)."""

import csv
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import BIN, SMALL, free_port, new_project

from mnist_nas.errors import UserError


def start_nas(folder, tuner_id: str, port: int, search_dir) -> subprocess.Popen:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "KERASTUNER_TUNER_ID": tuner_id,
        "KERASTUNER_ORACLE_IP": "127.0.0.1",
        "KERASTUNER_ORACLE_PORT": str(port),
        "NAS_SEARCH_DIR": str(search_dir),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "stages.nas"], cwd=folder, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


@pytest.fixture(scope="module")
def distributed(tmp_path_factory):
    """A chief and two workers, each in its own project folder, sharing one search folder."""
    root = tmp_path_factory.mktemp("distributed")
    chief = root / "chief"
    chief.mkdir()
    new_project(chief, ("fetch", "prepare"), **{**SMALL, "nas__max_trials": 4})
    workers = {}
    for tuner_id in ("worker1", "worker2"):
        workers[tuner_id] = root / tuner_id
        workers[tuner_id].mkdir()
        shutil.copy(chief / "params.yaml", workers[tuner_id])
        shutil.copytree(chief / "data/prepared", workers[tuner_id] / "data/prepared")
    port, search_dir = free_port(), root / "shared-search"
    processes = {"chief": start_nas(chief, "chief", port, search_dir)}
    for tuner_id, folder in workers.items():
        processes[tuner_id] = start_nas(folder, tuner_id, port, search_dir)
    logs = {}
    try:
        for name, process in processes.items():
            logs[name], _ = process.communicate(timeout=600)
    finally:
        for process in processes.values():
            process.kill()
    for name, process in processes.items():
        assert process.returncode == 0, f"{name} failed:\n{logs[name]}"
    return {"chief": chief, "workers": workers, "logs": logs, "search_dir": search_dir}


def test_every_trial_runs_exactly_once_and_the_table_names_its_worker(distributed):
    with (distributed["chief"] / "metrics/nas/trials.csv").open() as table:
        trials = list(csv.DictReader(table))
    assert [int(row["trial"]) for row in trials] == [0, 1, 2, 3]
    assert {row["status"] for row in trials} == {"COMPLETED"}
    ran_by = {int(row["trial"]): row["worker"] for row in trials}
    assert set(ran_by.values()) == {"worker1", "worker2"}, ran_by
    # each worker's own account of what it ran agrees with the table, with no trial twice
    reported = {}
    for tuner_id in distributed["workers"]:
        line = re.search(rf"nas worker {tuner_id}: ran trials (.+)", distributed["logs"][tuner_id])
        assert line, distributed["logs"][tuner_id]
        for trial in line.group(1).split(", "):
            assert int(trial) not in reported
            reported[int(trial)] = tuner_id
    assert reported == ran_by


def test_only_the_chief_writes_the_model_and_metrics(distributed):
    chief = distributed["chief"]
    metrics = json.loads((chief / "metrics/nas/metrics.json").read_text())
    assert metrics["trials_completed"] == 4
    assert (chief / "models/trained/nas/model.keras").stat().st_size > 0
    for folder in distributed["workers"].values():
        assert not (folder / "models").exists() and not (folder / "metrics").exists()
    assert "serving 4 trials on 127.0.0.1" in distributed["logs"]["chief"]
    # the chief removes the shared search folder once the model is written
    assert list(distributed["search_dir"].iterdir()) == []


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_TUNER_ID": "worker1"},
         "error: KERASTUNER_ORACLE_IP is set but KERASTUNER_ORACLE_PORT is not"),
        ({"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": "8000"},
         "error: KERASTUNER_ORACLE_IP is set but KERASTUNER_TUNER_ID is not"),
        ({"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": "http",
          "KERASTUNER_TUNER_ID": "chief"},
         "error: KERASTUNER_ORACLE_PORT: 'http' is not a port number"),
    ],
)  # fmt: skip
def test_incomplete_distributed_settings_fail_at_once(tmp_path, env, error):
    new_project(tmp_path)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KERASTUNER_")}
    result = subprocess.run(
        [sys.executable, "-m", "stages.nas"], cwd=tmp_path, env={**clean, **env},
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(error), result.stderr


@pytest.mark.parametrize("value", ["two", "0"])
def test_a_bad_thread_setting_fails_with_its_name(tmp_path, value):
    new_project(tmp_path)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_NUM_INTRAOP_THREADS": value}
    result = subprocess.run(
        [sys.executable, "-m", "stages.train", "mlp"], cwd=tmp_path, env=env,
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: TF_NUM_INTRAOP_THREADS: {value!r} is not a positive whole number of threads"
    ], result.stderr


def test_a_worker_without_its_chiefs_search_folder_says_so(tmp_path):
    from mnist_nas.search.trials import wait_for_chief

    with pytest.raises(UserError, match=r"no search folder .*search-x from a chief after 0s"):
        wait_for_chief(tmp_path / "search-x", seconds=0.2)
