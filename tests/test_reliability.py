"""Failure behaviour: a killed training resumes, reruns are byte-identical, nothing unpickles."""

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import BIN, REPO, SMALL, new_project, run, set_params
from test_params import BAD_PARAMS

# Timings vary from run to run by nature; every other metrics file must be byte-identical.
TIMINGS = {"latency.json", "time.json"}


def metrics_files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted((root / "metrics").rglob("*"))
        if path.is_file() and path.suffix in {".json", ".csv", ".tsv"} and path.name not in TIMINGS
    }


def test_same_params_give_byte_identical_metrics(project, tmp_path):
    again = tmp_path / "again"
    shutil.copytree(project, again, symlinks=True)
    shutil.rmtree(again / "metrics")
    shutil.rmtree(again / ".dvc" / "cache")
    run(["dvc", "repro", "--force"], again)
    first, second = metrics_files(project), metrics_files(again)
    assert len(first) > 20 and first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []


@pytest.fixture
def slow_training(tmp_path):
    """A scratch DVC project whose mlp trains 30 short epochs on 2,000 digits."""
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "stages", tmp_path / "stages")
    (tmp_path / "data").mkdir()
    shutil.copy(REPO / "data" / "mnist.npz", tmp_path / "data" / "mnist.npz")
    set_params(tmp_path, **{**SMALL, "data__limit": 2000, "mlp__epochs": 30, "train__patience": 30})
    run(["git", "init", "-q"], tmp_path)
    run(["dvc", "init", "-q"], tmp_path)
    run(["git", "add", "-A"], tmp_path)  # DVCLive needs a commit to exist
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], tmp_path)
    run(["dvc", "repro", "prepare"], tmp_path)
    return tmp_path


def start(root: Path) -> subprocess.Popen:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.Popen(
        ["dvc", "repro", "train@mlp"], cwd=root, env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def test_killed_training_resumes_from_its_backup(slow_training):
    root = slow_training
    process = start(root)
    deadline = time.monotonic() + 180
    while not list((root / ".dvc" / "tmp" / "backup").glob("mlp-*/training_metadata.json")):
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < deadline, "no epoch finished in 3 minutes"
        time.sleep(0.1)
    time.sleep(0.3)  # into the next epoch
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    killed_log = process.stdout.read()
    assert "Epoch 30/30" not in killed_log
    assert not (root / "models" / "trained" / "mlp" / "model.keras").exists()

    rerun = run(["dvc", "repro", "train@mlp"], root)
    resumed_at = re.search(r"train: resuming mlp from (\S+)", rerun.stdout)
    assert resumed_at, rerun.stdout
    first_epoch = int(re.search(r"Epoch (\d+)/30", rerun.stdout).group(1))
    assert first_epoch > 1, "the rerun started again from epoch 1"
    assert "Epoch 30/30" in rerun.stdout
    metrics = (root / "metrics" / "train" / "mlp" / "metrics.json").read_text()
    assert '"step": 29' in metrics  # DVCLive's history continued to the last epoch
    run(
        [
            "python",
            "-c",
            "from stages.common import load_model as m; m('models/trained/mlp/model.keras')",
        ],
        root,
    )
    assert "up to date" in run(["dvc", "status", "train@mlp"], root).stdout
    assert not list((root / ".dvc" / "tmp" / "backup").glob("mlp-*/*"))  # cleaned up when done


def test_changed_params_do_not_resume_a_stale_backup(slow_training):
    root = slow_training
    process = start(root)
    deadline = time.monotonic() + 180
    while not list((root / ".dvc" / "tmp" / "backup").glob("mlp-*/training_metadata.json")):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    set_params(root, **{**SMALL, "data__limit": 2000, "mlp__epochs": 3, "train__patience": 30})
    rerun = run(["dvc", "repro", "train@mlp"], root)
    assert "resuming" not in rerun.stdout and "Epoch 1/3" in rerun.stdout


def test_no_pickle_and_safe_mode_everywhere():
    code = "\n".join(path.read_text() for path in sorted((REPO / "stages").glob("*.py")))
    assert not re.search(r"allow_pickle=True|pickle\.load|read_pickle|joblib", code)
    loads = re.findall(r"np\.load\([^)]*\)", code)
    assert loads and all("allow_pickle=False" in call for call in loads)
    assert "safe_mode=False" not in code
    assert "load_model(path, compile=False, safe_mode=True)" in code


@pytest.fixture(scope="module")
def produced(tmp_path_factory):
    """A project whose fetch and prepare outputs exist, with a snapshot of every file in it."""
    root = new_project(tmp_path_factory.mktemp("produced"), ("fetch", "prepare"), data__limit=200)
    snapshot = {path: path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}
    return root, snapshot


BAD_INPUT = [(override, key) for override, key, _ in BAD_PARAMS] + [
    ({"data__source": "npz", "data__path": "nowhere.npz"}, "data.path: no such file"),
    ({"data__source": "idx", "data__path": "data/mnist.npz"}, "data.path: data/mnist.npz is not a"),
]


@pytest.mark.parametrize(("override", "key"), BAD_INPUT)
def test_bad_input_fails_in_one_line_and_changes_nothing(produced, override, key):
    root, snapshot = produced
    set_params(root, **{"data__limit": 200, **override})
    try:
        result = run(["python", "-m", "stages.fetch"], root, check=False)
    finally:
        set_params(root, data__limit=200)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and key in lines[0], result.stderr
    after = {path: path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}
    assert after == snapshot  # nothing written, nothing half-written, nothing lost
