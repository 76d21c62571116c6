"""Failure behaviour: a killed training resumes, nothing unpickles, bad input is one line (a
second run's byte-identical outputs are checked with the kills, in test_kill.py; a killed
search resumes in test_nas.py)."""

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import hypothesis
import numpy as np
import pytest
import yaml
from conftest import BAD_PARAMS, REPO, SMALL, new_project, run, scratch_project, set_params, start
from hypothesis import strategies


def start_repro(root: Path, stage: str = "train@mlp") -> subprocess.Popen:
    """`dvc repro stage` in the background, in its own process group (to SIGKILL it whole)."""
    return start(["dvc", "repro", stage], root)


@pytest.fixture(scope="module")
def killed_training(tmp_path_factory) -> Path:
    """A scratch project whose mlp trains 10 short epochs, its `dvc repro` SIGKILLed once the
    first epoch's backup is whole (in the second epoch, or in its backup). Tests resume
    copies of it."""
    root = scratch_project(tmp_path_factory.mktemp("killed"), mlp__epochs=10, train__patience=10)
    process = start_repro(root)
    deadline = time.monotonic() + 180
    while not first_backup_whole(root):
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < deadline, "no epoch finished in 3 minutes"
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (root / "models" / "trained" / "mlp" / "model.keras").exists()
    return root


def first_backup_whole(root: Path) -> bool:
    """Whether mlp's backup records a finished epoch. Keras writes the weights, then opens
    training_metadata.json and writes it. A kill after the opening and before the writing (the
    file there, still empty) leaves no epoch to resume from, and the rerun rightly starts
    afresh; waiting only for the file to exist let one CI run kill there."""
    from mnist_nas.training.resume import METADATA

    for metadata in (root / ".dvc" / "tmp" / "train").glob(f"mlp-*/backup/{METADATA}"):
        with contextlib.suppress(OSError, ValueError):
            return isinstance(json.loads(metadata.read_text()).get("epoch"), int)
    return False


@pytest.fixture
def killed_copy(killed_training, tmp_path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(killed_training, root, symlinks=True)
    return root


def test_killed_training_resumes_from_its_backup(killed_copy):
    root = killed_copy
    rerun = run(["dvc", "repro", "train@mlp"], root)
    resumed_at = re.search(r"train: resuming mlp from (\S+) after epoch (\d+)", rerun.stdout)
    assert resumed_at and 1 <= int(resumed_at[2]) < 10, rerun.stdout
    assert "10/10" in rerun.stderr  # tqdm's bar of the epochs, to the end
    metrics = (root / "metrics" / "train" / "mlp" / "metrics.json").read_text()
    assert '"step": 9' in metrics  # DVCLive's history continued to the last epoch
    run(
        [
            "python",
            "-c",
            "from mnist_nas.files import load_model as m; m('models/trained/mlp/model.keras')",
        ],
        root,
    )
    assert "up to date" in run(["dvc", "status", "train@mlp"], root).stdout
    assert not list((root / ".dvc" / "tmp" / "train").glob("mlp-*"))  # cleaned up when done


def test_changed_params_do_not_resume_a_stale_backup(killed_copy):
    root = killed_copy
    set_params(root, **{**SMALL, "data__limit": 2000, "mlp__epochs": 3, "train__patience": 10})
    rerun = run(["dvc", "repro", "train@mlp"], root)
    assert "resuming" not in rerun.stdout
    metrics = json.loads((root / "metrics" / "train" / "mlp" / "metrics.json").read_text())
    assert metrics["step"] == 2  # three epochs from the start: steps 0, 1 and 2


@pytest.fixture(scope="module")
def keras_backups(tmp_path_factory) -> list[dict[str, bytes]]:
    """The files of Keras' BackupAndRestore after each of two real epochs of a tiny fit."""
    import keras

    backup = tmp_path_factory.mktemp("fit") / "backup"
    snapshots = []
    keep = keras.callbacks.LambdaCallback(on_epoch_end=lambda *_: snapshots.append(
        {path.name: path.read_bytes() for path in backup.iterdir()}))  # fmt: skip
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((8, 4)), np.ones((8, 2)), epochs=2, verbose=0, callbacks=[
        keras.callbacks.BackupAndRestore(backup, double_checkpoint=True), keep])  # fmt: skip
    return snapshots


@hypothesis.given(step=strategies.integers(0, 5), cut=strategies.floats(0, 1))
@hypothesis.settings(
    max_examples=60, deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)  # fmt: skip
def test_a_backup_killed_at_any_byte_resumes_a_saved_epoch_or_starts_afresh(
    keras_backups, tmp_path, step, cut
):
    """The files as a SIGKILL leaves them anywhere in BackupAndRestore's two saves (the first:
    weights, metadata; the second: weights and metadata copied to .bkp, then written anew),
    the file being written cut at `cut` of its bytes."""
    from mnist_nas.training.resume import METADATA, WEIGHTS, backup_epoch, repair_backup

    first, second = keras_backups
    bkp = {f"{name}.bkp": first[name] for name in (WEIGHTS, METADATA)}
    states = [  # (the files whole before the write, the file being written, its full bytes)
        ({}, WEIGHTS, first[WEIGHTS]),
        ({WEIGHTS: first[WEIGHTS]}, METADATA, first[METADATA]),
        (dict(first), f"{WEIGHTS}.bkp", first[WEIGHTS]),
        (dict(first) | {f"{WEIGHTS}.bkp": first[WEIGHTS]}, f"{METADATA}.bkp", first[METADATA]),
        (dict(first) | bkp, WEIGHTS, second[WEIGHTS]),
        (dict(first) | bkp | {WEIGHTS: second[WEIGHTS]}, METADATA, second[METADATA]),
    ]
    whole, writing, data = states[step]
    backup = tmp_path / f"backup-{step}-{cut}"
    backup.mkdir()
    for name, content in {**whole, writing: data[: int(len(data) * cut)]}.items():
        (backup / name).write_bytes(content)

    repair_backup(backup)
    if backup.exists():
        epoch = backup_epoch(backup, "")
        saved = {1: first, 2: second}[epoch]  # a whole pair, of an epoch that was saved
        assert (backup / WEIGHTS).read_bytes() == saved[WEIGHTS]


KILLED_MID_WRITE = """
import os, signal
from mnist_nas.files import atomic_path
with atomic_path("models/best") as tmp:
    tmp.mkdir()
    (tmp / "model.keras").write_bytes(b"half")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_write_killed_halfway_leaves_nothing_among_the_outputs(tmp_path, monkeypatch):
    (tmp_path / ".dvc" / "tmp").mkdir(parents=True)
    (tmp_path / "models" / "best").mkdir(parents=True)
    (tmp_path / "models" / "best" / "model.keras").write_bytes(b"previous")
    killed = run(["python", "-c", KILLED_MID_WRITE], tmp_path, check=False)
    assert killed.returncode == -signal.SIGKILL
    assert [path.name for path in (tmp_path / "models").iterdir()] == ["best"]
    assert (tmp_path / "models" / "best" / "model.keras").read_bytes() == b"previous"
    writes = tmp_path / ".dvc" / "tmp" / "writes"
    assert len(list(writes.iterdir())) == 1  # the killed writer's copy, outside the outputs

    from mnist_nas.files import write_json

    monkeypatch.chdir(tmp_path)
    write_json("metrics/export.json", {"model": "mlp"})  # the next write clears it away
    assert list(writes.iterdir()) == []
    assert json.loads(Path("metrics/export.json").read_text()) == {"model": "mlp"}


# A folder output replaced by atomic_path, the process SIGKILLed at its `n`-th os.replace call.
KILLED_IN_FOLDER_SWAP = """
import os, signal, sys
from mnist_nas.files import atomic_path
n, calls = int(sys.argv[1]), 0
def kill_at_nth_replace(frame, event, call):
    global calls
    if event == "c_call" and call.__name__ == "replace" and call.__module__ == "posix":
        calls += 1
        if calls == n:
            os.kill(os.getpid(), signal.SIGKILL)
with atomic_path("models/best") as tmp:
    tmp.mkdir()
    (tmp / "model.keras").write_bytes(b"new")
    sys.setprofile(kill_at_nth_replace)
"""


@pytest.mark.parametrize("n", [1, 2, 3])
def test_a_folder_is_replaced_whole_or_not_at_all(tmp_path, n):
    """atomic_path's promise for a folder: the previous one moved aside in one rename, the new
    one moved in with another. Killed at the first, the previous folder is whole where it was;
    at the second, there is no folder (never a half-deleted or half-written one); not killed
    (n = 3), the new one."""
    (tmp_path / ".dvc" / "tmp").mkdir(parents=True)
    (tmp_path / "models" / "best").mkdir(parents=True)
    (tmp_path / "models" / "best" / "model.keras").write_bytes(b"previous")
    (tmp_path / "models" / "best" / "card.md").write_bytes(b"previous card")
    swap = run(["python", "-c", KILLED_IN_FOLDER_SWAP, str(n)], tmp_path, check=False)
    best = tmp_path / "models" / "best"
    found = {path.name: path.read_bytes() for path in best.iterdir()} if best.exists() else None
    expected = {
        1: {"model.keras": b"previous", "card.md": b"previous card"},
        2: None,
        3: {"model.keras": b"new"},
    }[n]
    assert swap.returncode == (0 if n == 3 else -signal.SIGKILL), swap.stderr
    assert found == expected
    assert [path.name for path in (tmp_path / "models").iterdir()] == (["best"] if found else [])


# One trial's life in Keras Tuner's oracle, in a forked child SIGKILLed at its `n`-th write (a
# profile hook kills it at the n-th write or append call on a file object), for n = 1, 2, ...
# until a child runs through; after each kill, whether a fresh oracle resumes the state: reloads
# it and then completes the search's one trial.
KILLED_IN_SEARCH_STATE = """
import json, os, shutil, signal, sys
import keras_tuner as kt
from keras_tuner.src import utils
from mnist_nas.search import state
library_save_json = utils.save_json

def oracle():
    oracle = kt.oracles.RandomSearchOracle(kt.Objective("val_accuracy", "max"), max_trials=1)
    hp = kt.HyperParameters()
    hp.Choice("units", [8, 16, 32])
    oracle.update_space(hp)
    oracle._set_project_dir("search", "p")
    return oracle

def run_trials(searching):
    while (trial := searching.create_trial("tuner0")).status == "RUNNING":
        searching.update_trial(trial.trial_id, {"val_accuracy": 0.5})
        trial.status = "COMPLETED"  # as the tuner marks a trial that trained
        searching.end_trial(trial)

def one_trial_killed_at(n):
    searching = oracle()
    searching.save()
    writes = 0
    def kill_at_nth_write(frame, event, call):
        nonlocal writes
        if event == "c_call" and call.__name__ in ("write", "append"):
            if not isinstance(getattr(call, "__self__", None), list):
                writes += 1
                if writes == n:
                    os.kill(os.getpid(), signal.SIGKILL)
    sys.setprofile(kill_at_nth_write)
    run_trials(searching)

def resumes(mode):
    resumed = oracle()
    try:
        resumed.reload()
    except ValueError:  # json.JSONDecodeError
        return "unreadable"
    if mode == "project":
        state.retry_orphaned_trials(resumed)
    run_trials(resumed)
    done = [trial.status for trial in resumed.trials.values()]
    return "resumed" if done == ["COMPLETED"] else f"ended with {done}"

outcomes = {}
for mode in ("library", "atomic writes", "project"):
    utils.save_json = library_save_json
    if mode != "library":
        state.atomic_state_files()
    outcomes[mode] = []
    for n in range(1, 30):
        shutil.rmtree("search", ignore_errors=True)
        if not (child := os.fork()):
            one_trial_killed_at(n)
            os._exit(0)
        if os.waitpid(child, 0)[1] == 0:
            break  # past the last write
        outcomes[mode].append(resumes(mode))
print(json.dumps(outcomes))
"""


def test_a_search_killed_in_any_state_write_resumes(tmp_path):
    """Keras Tuner and AutoKeras write their state files in place (a kill inside a write left
    an empty oracle.json, and the resumed nas stage failed on it), and Keras Tuner writes a new
    trial's trial.json before oracle.json lists it (a kill between the two left the trial begun
    but never run); the nas stage makes the writes atomic and retries such a trial. Killed at
    each write of a trial's start and end in turn, the search resumes and completes its trial;
    with the library alone, or atomic writes alone, it does not (which shows the kills land
    inside and between writes).
    """
    (tmp_path / ".dvc" / "tmp").mkdir(parents=True)
    killed = run(["python", "-c", KILLED_IN_SEARCH_STATE], tmp_path)
    outcomes = json.loads(killed.stdout.splitlines()[-1])
    assert len(outcomes["project"]) >= 4, outcomes
    assert set(outcomes["project"]) == {"resumed"}, outcomes
    assert "unreadable" in outcomes["library"], outcomes
    assert "ended with ['RUNNING']" in outcomes["atomic writes"], outcomes


def test_no_pickle_and_safe_mode_everywhere():
    files = [*(REPO / "stages").glob("*.py"), *(REPO / "mnist_nas").rglob("*.py")]
    code = "\n".join(path.read_text() for path in sorted(files))
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


# --- Every value that passes the schema runs, or fails in one line naming its key -------------
#
# Hypothesis draws a value for one key at a time (extremes, non-finite floats, boundary
# fractions, wrong types, the key's own choices), writes it into params.yaml, and runs what
# the stages that declare the key in dvc.yaml run first: validation, then the stage's first
# real step on real MNIST, in process. Anything but success or a UserError naming the key
# is a hole. The holes found so far are in BAD_PARAMS (conftest.py) and the table above.

STAGE_KEYS = {  # the params each stage declares in dvc.yaml, as leaf keys of params.yaml
    stage: [key for key in declared if key != "models"]
    for stage, declared in {
        "fetch": ["data.source", "data.path", "data.url", "data.sha256", "data.tfds_download",
                  "data.verify_hashes"],
        "prepare": ["seed", "data.limit", "prepare.val_fraction", "prepare.train_fraction",
                    "prepare.per_class"],
        "train": ["seed", "lr", "epochs", "batch_size", "train.patience", "train.optimizer",
                  "train.lr_schedule", "train.steps_per_epoch", "train.mixed_precision",
                  "train.jit_compile", "train.input_size",
                  *[f"{name}.{key}" for name in ("mlp", "convnet", "deep_convnet")
                    for key in yaml.safe_load((REPO / "params.yaml").read_text())[name]]],
        "nas": ["seed", "nas.trial_fraction", "nas.tuner", "nas.objective", "nas.max_trials",
                "nas.batch_size", "nas.max_model_size", "nas.max_mflops"],
        "ensemble": ["models", "ensemble.max_members"],
        "export": ["export.select_by", "export.max_wrong_accepted"],
        "reader": ["seed", *[f"reader.{key}" for key in
                             yaml.safe_load((REPO / "params.yaml").read_text())["reader"]],
                   "numbers.digits", "numbers.max_wrong_accepted"],
        "material": ["seed", "refusal.nondigits", "refusal.val_nondigits"],
        "detector": ["seed", "refusal.epochs", "refusal.batch_size", "train.mixed_precision"],
        "refusal": ["refusal.max_sent", "refusal.max_refused"],
        "numbers": ["seed", "numbers.count", "numbers.digits", "numbers.nondigits"],
        "plot": ["plot.errors", "plot.saliency", "plot.dpi"],
    }.items()
}  # fmt: skip
EDGES = [0, 1, 2, 9, 10, 11, 180, 2**31, 2**32, 2**63, -1, 0.0, 1e-12, 1e-4, 0.5, 0.9999, 1.0,
         1.0001, 1e300, -0.0]  # fmt: skip


def values(key: str):
    from hypothesis import strategies as st

    from mnist_nas.params import Params

    default = yaml.safe_load((REPO / "params.yaml").read_text())
    for part in key.split("."):
        default = default[part]
    numbers = st.one_of(
        st.sampled_from(EDGES),
        st.integers(min_value=-(2**40), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
    )
    section, _, leaf = key.rpartition(".")
    model = Params.model_fields[section].annotation if section else Params
    annotation = str(model.model_fields[leaf].annotation)
    choices = re.findall(r"'([^']+)'", annotation)  # a Literal's choices
    if isinstance(default, list):
        return st.lists(st.sampled_from(choices) if choices else numbers, max_size=4)
    return st.one_of(
        numbers, st.booleans(), st.none(), st.text(max_size=12), st.sampled_from(choices or [None])
    )


@pytest.fixture(scope="module")
def stage_inputs(tmp_path_factory):
    """Real MNIST for the first steps: the bundled arrays and a small prepared training split."""
    root = tmp_path_factory.mktemp("steps")
    return new_project(root, ("fetch", "prepare"), **base_params(root))


def base_params(root: Path) -> dict:
    """Small data; source keras "downloads" the bundled file, so no draw waits on a network."""
    digest = hashlib.sha256((REPO / "data" / "mnist.npz").read_bytes()).hexdigest()
    url = f"file://{root}/data/mnist.npz"
    return {"data__limit": 200, "data__url": url, "data__sha256": digest}


def fetch_step(params, root: Path, key: str) -> None:
    from stages import fetch

    fetch.main.__wrapped__([])


def prepare_step(params, root: Path, key: str) -> None:
    from mnist_nas.data import sources, splits
    from mnist_nas.files import load_npz

    arrays = load_npz(root / "data/mnist.npz", sources.SPLITS)
    p = params.prepare
    splits.split(arrays, p.val_fraction, p.train_fraction, params.data.limit, params.seed)


def train_step(params, root: Path, key: str) -> None:
    """A key of one candidate's section trains that candidate only: the only one that reads it."""
    import keras

    from mnist_nas.data import splits
    from mnist_nas.training import candidates, runtime

    x, y = splits.load_split("train")
    keras.utils.set_random_seed(params.seed)
    section = key.partition(".")[0]
    for name in [section] if section in params.models else params.models:
        lr, epochs, batch_size = params.fit_settings(name)
        model = candidates.build(name, params)
        runtime.compile_model(model, lr, epochs * 3, params.train.lr_schedule, False)
        history = model.fit(x[:96], y[:96], batch_size=32, epochs=1, verbose=0,
                            callbacks=[keras.callbacks.TerminateOnNaN()])  # fmt: skip
        runtime.check_converged(history, f"{name}.lr" if getattr(params, name).lr else "lr", lr)


def nas_step(params, root: Path, key: str) -> None:
    from autokeras.auto_model import get_tuner_class

    from mnist_nas.data import splits
    from mnist_nas.search.trials import trial_subset

    x, y = splits.load_split("train")
    trial_subset(x, y, params.nas.trial_fraction, params.seed)
    get_tuner_class(params.nas.tuner)


def ensemble_step(params, root: Path, key: str) -> None:
    from mnist_nas.scoring.selection import ensemble_pool

    ensemble_pool(params.compared(ensemble=False), params.ensemble.max_members)


def export_step(params, root: Path, key: str) -> None:
    from mnist_nas.data import splits
    from mnist_nas.scoring import calibration

    x, y = splits.load_split("val")
    probs = np.full((len(y), 10), 0.05)
    probs[np.arange(len(y)), (y + np.arange(len(y)) % 3 // 2) % 10] = 0.55  # a third wrong
    temperature = calibration.fit_temperature(y, probs)
    scaled = calibration.scale(probs, temperature)
    calibration.choose_threshold(y, scaled, params.export.max_wrong_accepted)


def reader_step(params, root: Path, key: str) -> None:
    from mnist_nas.data import splits
    from mnist_nas.reading.pieces import chunk_examples
    from mnist_nas.scoring.calibration import lowest_safe_threshold

    x, y = splits.load_split("train")
    rng = np.random.default_rng(params.seed)
    picked = np.stack([rng.choice(len(y), params.numbers.digits, replace=False)] * 2)
    chunk_examples(x[picked], y[picked], 0, params.seed)  # two rows: written, cut, labelled
    wrong = np.arange(20) % 4 == 0
    lowest_safe_threshold(np.linspace(0, 1, 20), wrong, params.numbers.max_wrong_accepted)


def nondigits_step(params, root: Path, key: str) -> None:
    """material, detector and refusal: a non-digit made, a threshold chosen."""
    from mnist_nas.data import splits
    from mnist_nas.reading import nondigits
    from mnist_nas.reading.refusal import threshold

    x, _ = splits.load_split("train")
    made = nondigits.chunk("letter", 2, x, "fit", [params.seed, 0, 7])
    kinds = np.repeat(np.array(nondigits.KINDS), 2)
    scores, passing = np.linspace(0, 1, len(kinds)), np.arange(len(kinds)) % 2 == 0
    p = params.refusal
    threshold((scores, kinds, passing), (scores, passing), p.max_sent, p.max_refused)
    assert made.shape == (2, 28, 28)


def numbers_step(params, root: Path, key: str) -> None:
    from mnist_nas.data import splits
    from mnist_nas.reading.synthetic import number_image

    x, y = splits.load_split("test")
    rng = np.random.default_rng(params.seed)
    picked = rng.choice(len(y), params.numbers.digits, replace=False)
    number_image(list(x[picked]), touching=True, rng=rng)


def plot_step(params, root: Path, key: str) -> None:
    import io

    import matplotlib.pyplot as plt

    from mnist_nas import figures
    from mnist_nas.data import splits
    from mnist_nas.training import candidates

    x, y = splits.load_split("test")
    y = y.astype(np.int64)  # as plot reads them from the confusion CSV
    wrong = (y + (np.arange(len(y)) % 2)) % 10  # every other digit "misclassified"
    model = candidates.build("mlp", params)
    count = params.plot.saliency
    for fig in (figures.errors(x, y, wrong, params.plot.errors),
                figures.saliency(model, x[:count], y[:count])):  # fmt: skip
        fig.savefig(io.BytesIO(), dpi=params.plot.dpi)
        plt.close(fig)


# What each stage does first after validating params, on real data, in process.
FIRST_STEPS = {"fetch": fetch_step, "prepare": prepare_step, "train": train_step,
               "nas": nas_step, "ensemble": ensemble_step, "export": export_step,
               "reader": reader_step, "material": nondigits_step, "detector": nondigits_step,
               "refusal": nondigits_step, "numbers": numbers_step, "plot": plot_step}  # fmt: skip


@pytest.mark.parametrize("stage", list(STAGE_KEYS))
def test_every_value_runs_or_fails_naming_its_key(stage, stage_inputs, monkeypatch):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from mnist_nas.errors import UserError
    from mnist_nas.params import load_params

    root = stage_inputs
    monkeypatch.chdir(root)
    keys = STAGE_KEYS[stage]
    draws = st.sampled_from(keys).flatmap(lambda key: st.tuples(st.just(key), values(key)))
    budget = {"fetch": 30, "train": 40}.get(stage, 60)

    @settings(max_examples=budget, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(draws)
    def check(drawn):
        key, value = drawn
        set_params(root, **{**base_params(root), key.replace(".", "__"): value})
        try:
            params = load_params()
            FIRST_STEPS[stage](params, root, key)
        except UserError as err:
            message = str(err)
            # a choice can make another key of its section wrong: source idx, path a file
            named = key if "." not in key else f"{key.rpartition('.')[0]}."
            assert "\n" not in message and named in message, f"{key}={value!r}: {message}"

    check()
