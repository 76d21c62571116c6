"""Shared fixtures: the real bundled MNIST, and scratch project folders to run stages in."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import hypothesis
import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]  # commits in scratch repos
STAGE_LINE = re.compile(r"^Running stage '(.+)':", flags=re.MULTILINE)  # in dvc repro's output

# In CI the property-based tests draw the same examples on every run, so that a run passes or
# fails for a reason in the commit, never by the draw; elsewhere each run explores new ones
# (and Hypothesis keeps a failure's example in .hypothesis/ until it passes).
hypothesis.settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    hypothesis.settings.load_profile("ci")


def pytest_addoption(parser: pytest.Parser) -> None:
    sweep = parser.getgroup("kill-anywhere sweep (tests/test_kill.py)")
    sweep.addoption(
        "--kills",
        type=int,
        default=2,
        help="SIGKILLs of dvc repro (default 2; bench/kill_anywhere.py runs many)",
    )
    sweep.addoption("--kill-seed", type=int, default=0, help="seeds the kills' stages and moments")
    sweep.addoption("--kill-report", help="a JSON file to append each kill to, with what it hit")
    parser.addoption(
        "--repeat",
        type=int,
        default=1,
        help="run each selected test N times in one session (flakiness loops)",
    )


# The longest test modules, longest first (pytest --durations, 2026-12-04), alternating between
# those that need the shared `project` run and those that do not. `make test` hands whole
# modules to its two workers in this order (--dist loadscope --no-loadscope-reorder): the
# longest go first so that both workers end together, and the second worker has work of its own
# while the first builds the project. The other modules follow in their usual order.
LONGEST_FIRST = ["test_experiments", "test_reliability", "test_studies", "test_demo",
                 "test_kill", "test_remote", "test_scaling", "test_ci", "test_nas"]  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.stem
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: each module's tests keep their order


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if (count := metafunc.config.getoption("--repeat")) > 1:
        metafunc.fixturenames.append("repeat_round")
        metafunc.parametrize("repeat_round", range(count), indirect=True)


@pytest.fixture
def repeat_round(request: pytest.FixtureRequest) -> int:
    """Which of the --repeat rounds this is."""
    return request.param


# Params for real runs of the whole pipeline in seconds: a few hundred digits, one epoch.
SMALL = {
    "data__limit": 200,
    "epochs": 1,
    "batch_size": 64,
    "convnet__epochs": None,
    "deep_convnet__epochs": None,
    "nas__max_trials": 1,
    "nas__trial_epochs": 1,
    "nas__epochs": 1,
    "nas__batch_size": 64,
    "nas__max_mflops": 100,  # no trial skipped as too costly: they all take seconds here
    "evaluate__latency_runs": 3,
    "reader__rows": 40,
    "reader__val_rows": 8,
    "reader__epochs": 1,
    "reader__pair_epochs": 1,
    "reader__val_numbers": 6,
    "numbers__count": 10,
    "numbers__nondigits": 3,
    "refusal__nondigits": 20,
    "refusal__val_nondigits": 10,
    "refusal__epochs": 1,
    "transfer__base_epochs": 1,
    "transfer__epochs": 2,
    "transfer__steps_per_epoch": 5,
}


# Bad values of params.yaml, each with what its one-line error must name; shared by the schema
# tests (test_params.py) and the stage-level ones (test_reliability.py).
BAD_PARAMS = [
    # (override, key named in the error, value named in the error)
    ({"lr_rate": 0.01}, "lr_rate: unknown key", "0.01"),
    ({"data__sourc": "npz"}, "data.sourc: unknown key", "'npz'"),
    ({"lr": "fast"}, "lr:", "'fast'"),
    ({"epochs": "5"}, "epochs:", "'5'"),
    ({"lr": -0.1}, "lr:", "-0.1"),
    ({"batch_size": 0}, "batch_size:", "0"),
    ({"seed": 1.5}, "seed:", "1.5"),
    ({"prepare__val_fraction": 0.0}, "prepare.val_fraction:", "0.0"),
    ({"prepare__val_fraction": 1.0}, "prepare.val_fraction:", "1.0"),
    ({"prepare__val_fraction": 1.5}, "prepare.val_fraction:", "1.5"),
    ({"data__source": "web"}, "data.source:", "'web'"),
    ({"data__limit": 5}, "data.limit:", "5"),
    ({"data__verify_hashes": "yes"}, "data.verify_hashes:", "'yes'"),
    ({"data__sha256": "abc"}, "data.sha256:", "'abc'"),
    ({"data__url": "ftp://example.org/mnist.npz"}, "data.url:", "'ftp://example.org/mnist.npz'"),
    ({"data__path": ""}, "data.path:", "''"),
    ({"models": []}, "models:", "[]"),
    ({"models": ["mlp", "resnet"]}, "models.1:", "'resnet'"),
    ({"mlp__units": [512, -1]}, "mlp.units.1:", "-1"),
    ({"nas__tuner": "evolution"}, "nas.tuner:", "'evolution'"),
    ({"nas__max_trials": 0}, "nas.max_trials:", "0"),
    ({"train__input_size": 32}, "train.input_size:", "32"),
    ({"prepare__train_fraction": 0.0}, "prepare.train_fraction:", "0.0"),
    ({"export__select_by": "speed"}, "export.select_by:", "'speed'"),
    ({"plot__dpi": 0}, "plot.dpi:", "0"),
    ({"export__max_wrong_accepted": 0}, "export.max_wrong_accepted:", "0"),
    ({"export__max_wrong_accepted": 1.0}, "export.max_wrong_accepted:", "1.0"),
    ({"numbers__count": 0}, "numbers.count:", "0"),
    ({"numbers__digits": 0}, "numbers.digits:", "0"),
    ({"numbers__digits": 41}, "numbers.digits:", "41"),
    ({"train__mixed_precision": "bf16"}, "train.mixed_precision:", "'bf16'"),
    ({"deep_convnet__batch_norm": "some"}, "deep_convnet.batch_norm:", "'some'"),
    ({"deep_convnet__kernel_size": 4}, "deep_convnet.kernel_size:", "4"),
    ({"deep_convnet__zoom": 1.0}, "deep_convnet.zoom:", "1.0"),
    ({"ensemble__max_members": 0}, "ensemble.max_members:", "0"),
    ({"train__optimizer": "lion"}, "train.optimizer:", "'lion'"),
    ({"train__steps_per_epoch": 0}, "train.steps_per_epoch:", "0"),
    ({"prepare__per_class": 0}, "prepare.per_class:", "0"),
    ({"convnet__pool": "yes"}, "convnet.pool:", "'yes'"),
    ({"transfer__method": "distill"}, "transfer.method:", "'distill'"),
    ({"transfer__finetune_layers": 0}, "transfer.finetune_layers:", "0"),
    ({"reader__rows": 0}, "reader.rows:", "0"),
    ({"reader__lr": "slow"}, "reader.lr:", "'slow'"),
    ({"reader__pair_units": 10**6}, "reader.pair_units:", "1000000"),
    ({"numbers__max_wrong_accepted": 0}, "numbers.max_wrong_accepted:", "0"),
    # found by the property-based test (test_reliability.py): values that passed the schema and
    # then crashed or hung a stage
    ({"seed": 2**32}, "seed:", "4294967296"),
    ({"plot__dpi": 100_000}, "plot.dpi:", "100000"),
    ({"mlp__units": [10**9]}, "mlp.units.0:", "1000000000"),
    ({"lr": math.inf}, "lr: Input should be a finite number", "inf"),
    ({"nas__max_mflops": math.nan}, "nas.max_mflops: Input should be a finite number", "nan"),
    ({"plot__dpi": 1}, "plot.dpi:", "1"),  # in CI: FreeType cannot size a font at 1 dpi
]


def run(
    cmd: list[str], cwd: Path, check: bool = True, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run a command with the project's virtual environment first on PATH (and `env` set)."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **(env or {})}
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{cmd} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def start(
    cmd: list[str], cwd: Path, env: dict | None = None, output=subprocess.PIPE
) -> subprocess.Popen:
    """Start a command in the background, in its own process group (to SIGKILL it whole), with
    the virtual environment first on PATH; stdout and stderr go together to `output`."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **(env or {})}
    return subprocess.Popen(cmd, cwd=cwd, env=env, start_new_session=True, text=True,
                            stdout=output, stderr=subprocess.STDOUT)  # fmt: skip


def free_port() -> int:
    """A TCP port nothing listens on, on the loopback address."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def read_line(line: str) -> tuple[str, list[float], str]:
    """`path: 01[2]3 (99.0% 98.0% 41.0% 97.0%) needs a person` -> (digits as printed, the
    probabilities, what follows them)."""
    match = re.fullmatch(r".+?: (\S+) \(([^)]*)\)(.*)", line.strip())
    assert match, line
    probabilities = [float(p.rstrip("%")) / 100 for p in match[2].split()]
    return match[1], probabilities, match[3].strip()


def set_params(folder: Path, **overrides) -> None:
    """Write folder/params.yaml: the repo's params with dotted-key overrides (`data__limit=`)."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split("__")
        section = params
        for key in parents:
            section = section[key]
        section[leaf] = value
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def new_project(root: Path, stages: tuple[str, ...] = (), **overrides) -> Path:
    """A project folder with the bundled data and params.yaml, after running `stages` in it."""
    (root / "data").mkdir()
    shutil.copy(REPO / "data" / "mnist.npz", root / "data" / "mnist.npz")
    set_params(root, **overrides)
    for stage in stages:
        run(["python", "-m", f"stages.{stage}"], root)
    return root


def scratch_project(root: Path, **overrides) -> Path:
    """A scratch DVC project (a git repo with dvc.yaml, the stages and the bundled data) on
    SMALL params with 2,000 digits (and `overrides`), prepared."""
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(REPO / name, root / name)
    for package in ("stages", "mnist_nas"):
        shutil.copytree(
            REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    (root / "data").mkdir()
    shutil.copy(REPO / "data" / "mnist.npz", root / "data" / "mnist.npz")
    set_params(root, **{**SMALL, "data__limit": 2000, **overrides})
    run(["git", "init", "-q"], root)
    run(["dvc", "init", "-q"], root)
    run(["git", "add", "-A"], root)  # DVCLive needs a commit to exist
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], root)
    run(["dvc", "repro", "prepare"], root)
    return root


@pytest.fixture(scope="session")
def mnist() -> dict[str, np.ndarray]:
    with np.load(REPO / "data" / "mnist.npz", allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def session_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of what the session's workers share (MNIST_NAS_TEST_SHARED, when set)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the folder all the workers' own temporary folders are in
    if kept := os.environ.get("MNIST_NAS_TEST_SHARED"):  # to keep them across sessions (loops)
        root = Path(kept)
        root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture(scope="session", autouse=True)
def jax_compilation_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """One JAX compilation cache for every stage the session runs on JAX, on either worker
    (mnist_nas.training.backend.compilation_cache_dir), instead of the user's."""
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(session_root(tmp_path_factory) / "jax-cache")


def shared(tmp_path_factory: pytest.TempPathFactory, name: str, build) -> Path:
    """A folder made once a test session by `build(folder)`, even when pytest-xdist's workers
    share the session: the first to ask builds it under a lock, the others wait and read it.
    Nothing may change it afterwards; a test that runs DVC or writes in it works on a copy.
    MNIST_NAS_TEST_SHARED=DIR keeps them in DIR for later sessions too (repeated runs of one
    module's fixtures); delete DIR after a change to the code."""
    from filelock import FileLock

    root = session_root(tmp_path_factory)
    folder, built = root / name, root / f"{name}.built"
    with FileLock(root / f"{name}.lock"):
        if not built.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            built.touch()
    return folder


def train_small_convnet(mnist: dict[str, np.ndarray]):
    """A real classifier trained here in about 20 s: a small convnet on 20,000 training digits
    for three epochs (about 98% accurate), taking uint8 [n, 28, 28] as the project's models do."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28), dtype="uint8"), keras.layers.Reshape((28, 28, 1)),
        keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax", name="probs"),
    ])  # fmt: skip
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(mnist["x_train"][:20_000], mnist["y_train"][:20_000], epochs=3, verbose=0)
    return model


def build_served(models: Path, mnist: dict[str, np.ndarray]) -> None:
    """models/best and models/reader as `export` and `reader` write them, for the small convnet,
    in about two minutes: the SavedModel (temperature 1.2, digit threshold 0.9), its model.keras,
    calibration.json and best.json (with model.keras' sha256); the number reader fine-tuned
    from it on pieces cut from 800 rows of training digits, its confidence fitted on 120
    numbers of each kind built from digits held out of those (the training split's last 6,000).
    """
    from mnist_nas.files import save_model
    from mnist_nas.reading import confidence
    from mnist_nas.reading.evaluation import read_numbers
    from mnist_nas.reading.number import NumberReader
    from mnist_nas.reading.pieces import examples
    from mnist_nas.serving import export_saved_model, keras_function, load_classifier
    from mnist_nas.training.number_reader import train_readers

    small_convnet = train_small_convnet(mnist)
    best, reader_dir = models / "best", models / "reader"
    best.mkdir()
    reader_dir.mkdir()
    small_convnet.save(best / "model.keras")
    export_saved_model(small_convnet, best / "saved_model", temperature=1.2)
    (best / "calibration.json").write_text(json.dumps({"temperature": 1.2, "threshold": 0.9}))
    sha256 = hashlib.sha256((best / "model.keras").read_bytes()).hexdigest()
    (best / "best.json").write_text(
        json.dumps({"model": "small_convnet", "test_accuracy": 0.98, "sha256": sha256})
    )
    x, y = mnist["x_train"], mnist["y_train"]
    train = examples(x[:30_000], y[:30_000], rows=800, length=10, seed=0)
    held_out = examples(x[54_000:], y[54_000:], rows=40, length=10, seed=1)
    digits, pairs, _ = train_readers(small_convnet, train, held_out, 4, 8, 128, dropout=0.2,
                                     lr=1e-3, batch=64, seed=0)  # fmt: skip
    reader = NumberReader(
        load_classifier(best / "saved_model"), 0.9, keras_function(digits), keras_function(pairs)
    )
    table = read_numbers(x[54_000:], y[54_000:], 120, 10, 0, reader)
    stored, _ = confidence.choose(table, 0.05, 0)
    save_model(digits, reader_dir / "digits.keras")
    save_model(pairs, reader_dir / "pairs.keras")
    (reader_dir / "confidence.json").write_text(json.dumps(stored))
    build_refusal(models / "refusal", mnist)


def build_refusal(folder: Path, mnist: dict[str, np.ndarray]) -> None:
    """models/refusal as the detector and refusal stages write it, in about 55 s: the
    detector trained on 150 non-digits of each kind made from the first 30,000 training
    digits and as many of those digits, drawn alike, for 8 epochs at the stage's decaying
    rate; its threshold chosen on 40 of each kind made from held-out digits (the training
    split's last 6,000) and 1,000 of those digits, at 2% of each kind sent and 1% of the
    digits refused. (It scores the tests' letters, symbol, noise, specks and dash 0.98 or more
    against a threshold of 0.87, and the first sure test digit of each class 0.07 or less; it
    refuses 2 of 300 sure test digits. After 4 epochs at that rate it refused a sure 6.)"""
    import keras

    from mnist_nas.files import save_model
    from mnist_nas.reading import nondigits
    from mnist_nas.reading.refusal import Refusal, threshold
    from mnist_nas.serving import keras_function, load_classifier
    from mnist_nas.training import detector

    x, y = mnist["x_train"], mnist["y_train"]
    made, _ = nondigits.frames(150, x[:30_000], "fit", 0)
    digits = nondigits.digit_frames(x[: len(made)], "fit", 0)
    choose, kinds = nondigits.frames(40, x[54_000:], "choose", 0)
    held_out = nondigits.digit_frames(x[54_000:55_000], "choose", 0)
    keras.utils.set_random_seed(0)  # as the stage's runtime.setup does
    model = detector.train(*detector.examples(digits, y[: len(made)], made), 8, 64, 0)
    scored = Refusal(keras_function(model), 0.0)
    classify = load_classifier(folder.parent / "best" / "saved_model")
    passing, accepted = (classify(frames).max(axis=1) >= 0.9 for frames in (choose, held_out))
    chosen = threshold((scored.scores(choose), kinds, passing),
                       (scored.scores(held_out), accepted), 0.02, 0.01)  # fmt: skip
    folder.mkdir()
    save_model(model, folder / "detector.keras")
    (folder / "threshold.json").write_text(json.dumps({"threshold": chosen}))


@pytest.fixture(scope="session")
def served(mnist, tmp_path_factory) -> Path:
    """models/best, models/reader and models/refusal for a small convnet trained here
    (build_served): read only."""
    return shared(tmp_path_factory, "served", lambda folder: build_served(folder, mnist))


@pytest.fixture(scope="session")
def small_convnet(served):
    """The small convnet of `served`, as Keras loads it from models/best/model.keras."""
    from mnist_nas.files import load_model

    return load_model(served / "best" / "model.keras")


@pytest.fixture(scope="session")
def doubtful_number(served, mnist, tmp_path_factory) -> dict:
    """find_doubtful_number's files, found once a session: {"sure": path, "doubtful": path,
    "digits": the sure one's, "at": the swapped digit's place}."""
    folder = shared(tmp_path_factory, "doubtful",
                    lambda folder: find_doubtful_number(served, mnist, folder))  # fmt: skip
    found = json.loads((folder / "number.json").read_text())
    return {"sure": folder / "sure.png", "doubtful": folder / "doubtful.png", **found}


def find_doubtful_number(served: Path, mnist: dict[str, np.ndarray], folder: Path) -> None:
    """A 10-digit number of test digits that the `served` reader sends without a person, and
    the same number, written by the same hand, with one digit swapped for a doubtful one that
    drags the number's confidence below the reader's threshold while every digit is still read
    right: sure.png, doubtful.png and number.json ({"digits": the sure one's, "at": the swapped
    digit's place}) in `folder`."""
    from mnist_nas.reading import number
    from mnist_nas.reading.synthetic import number_image

    reader = number.load(served / "reader", served / "best" / "saved_model", served / "refusal")
    x, y = mnist["x_test"][:3000], mnist["y_test"][:3000]
    probs = (reader.digits(x)[:, :10] + reader.classify(x)) / 2  # as the reader reads a digit
    right, top = probs.argmax(axis=1) == y, probs.max(axis=1)
    sure = np.flatnonzero(right & (top > 0.995))
    unsure = np.flatnonzero(right & (top > 0.3) & (top < 0.8))
    for seed in range(40):
        rng = np.random.default_rng(seed)
        picked = rng.choice(sure, 10, replace=False)
        writing = rng.bit_generator.state  # the same hand writes both numbers
        image = number_image(list(x[picked]), False, rng)
        digits = "".join(map(str, y[picked]))
        reading, _ = reader.read(image, 10)
        if reading.digits != digits or reading.needs_person:
            continue
        at, swapped = seed % 10, picked.copy()
        for candidate in unsure[y[unsure] == y[picked[at]]][:5]:
            swapped[at] = candidate
            rng.bit_generator.state = writing
            doubtful = number_image(list(x[swapped]), False, rng)
            flagged, _ = reader.read(doubtful, 10)
            lowest = int(np.argmin(flagged.probabilities))
            if flagged.digits == digits and flagged.unsure and lowest == at:
                image.save(folder / "sure.png")
                doubtful.save(folder / "doubtful.png")
                (folder / "number.json").write_text(json.dumps({"digits": digits, "at": at}))
                return
    raise AssertionError("no number of sure digits with one doubtful digit found")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder with params.yaml and the bundled data, as the current directory."""
    new_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def git_project(root: Path, **overrides) -> Path:
    """A copy of the working tree (tracked and new files) in a new git repo at `root`, without
    its dvc.lock and metrics, on SMALL params (and `overrides`): a clone before its first run."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    (root / "dvc.lock").unlink(missing_ok=True)
    (root / "studies" / "dvc.lock").unlink(missing_ok=True)
    shutil.rmtree(root / "metrics")
    shutil.rmtree(root / "studies" / "transfer", ignore_errors=True)
    set_params(root, **{**SMALL, **overrides})
    run(["git", "init", "-q"], root)
    run(["git", "add", "-A"], root)
    run([*GIT, "commit", "-qm", "init"], root)
    return root


def timed_repro(root: Path, env: dict | None = None) -> dict[str, float]:
    """`dvc repro` in `root`; the seconds from each stage's "Running stage" line to the next
    line of the kind (or the end), in the order they ran. Its output is kept in
    .dvc/tmp/repro.log."""
    process = start(["dvc", "repro"], root, env=env)
    started, lines = [], []
    for line in process.stdout:
        lines.append(line)
        if found := STAGE_LINE.match(line):
            started.append((found[1], time.monotonic()))
    ended = time.monotonic()
    (root / ".dvc" / "tmp" / "repro.log").write_text("".join(lines))
    assert process.wait() == 0, "".join(lines)
    ends = [at for _, at in started[1:]] + [ended]
    return {stage: end - at for (stage, at), end in zip(started, ends, strict=True)}


def build_project(root: Path) -> None:
    """A copy of the working tree in a new git repo at `root`, after `dvc repro` of the whole
    pipeline on SMALL params: the one uninterrupted pipeline run of the suite. How long each
    stage took is in .dvc/tmp/stage-seconds.json."""
    git_project(root)
    # Each stage records the params it reads (mnist_nas.params.trace_reads), for the contract test.
    trace = root / ".dvc" / "tmp" / "params-trace"
    trace.mkdir(parents=True)
    traced = {"MNIST_NAS_PARAMS_TRACE": str(trace)}
    seconds = timed_repro(root, env=traced)
    (root / ".dvc" / "tmp" / "stage-seconds.json").write_text(json.dumps(seconds, indent=1))
    run(["dvc", "repro", "studies/dvc.yaml"], root, env=traced)  # the studies' pipeline, asked


@pytest.fixture(scope="session")
def project(tmp_path_factory) -> Path:
    """The small project after its one pipeline run (build_project), shared by every test that
    reads its outputs or runs DVC in it. Built once a session; with pytest-xdist each worker
    gets its own copy, so that DVC runs of one worker never meet another's (and so does each
    session that keeps it, MNIST_NAS_TEST_SHARED)."""
    built = shared(tmp_path_factory, "project", build_project)
    if not (os.environ.get("PYTEST_XDIST_WORKER") or os.environ.get("MNIST_NAS_TEST_SHARED")):
        return built
    root = tmp_path_factory.mktemp("project") / "repo"
    shutil.copytree(built, root, symlinks=True)
    return root


def stale_stages(root) -> set[str]:
    """The stages whose own code, params or data changed: what `dvc repro` reruns first (the
    stages below them rerun too if their outputs then change). DVC's status, asked in this
    process: `dvc repro --dry` gives the same stages, for a DVC start (2 s) each time."""
    from dvc.repo import Repo

    with contextlib.chdir(root), Repo() as repo:  # names stages as seen from root
        return set(repo.status())
