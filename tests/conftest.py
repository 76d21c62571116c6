"""Shared fixtures: the real bundled MNIST, and scratch project folders to run stages in."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


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
    "numbers__count": 10,
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


@pytest.fixture(scope="session")
def mnist() -> dict[str, np.ndarray]:
    with np.load(REPO / "data" / "mnist.npz", allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


@pytest.fixture(scope="session")
def small_convnet(mnist):
    """A real classifier trained here in about 20 s: a small convnet on 20,000 training digits
    for three epochs (about 98% accurate), taking uint8 [n, 28, 28] as the project's models do."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28), dtype="uint8"), keras.layers.Reshape((28, 28, 1)),
        keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax"),
    ])  # fmt: skip
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(mnist["x_train"][:20_000], mnist["y_train"][:20_000], epochs=3, verbose=0)
    return model


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder with params.yaml and the bundled data, as the current directory."""
    new_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def project(tmp_path_factory):
    """A copy of the working tree (tracked and new files) in a new git repo, after `dvc repro`
    of the whole pipeline on SMALL params. Shared by every test that reads its outputs: the
    one pipeline run of the suite that every test of a pipeline's outputs reads."""
    root = tmp_path_factory.mktemp("project")
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
    set_params(root, **SMALL)
    run(["git", "init", "-q"], root)
    run(["git", "add", "-A"], root)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], root)
    # Each stage records the params it reads (mnist_nas.params.trace_reads), for the contract test.
    trace = root / ".dvc" / "tmp" / "params-trace"
    trace.mkdir(parents=True)
    traced = {"MNIST_NAS_PARAMS_TRACE": str(trace)}
    repro = run(["dvc", "repro"], root, env=traced)
    (root / ".dvc" / "tmp" / "repro.log").write_text(repro.stdout)  # what the default ran
    run(["dvc", "repro", "studies/dvc.yaml"], root, env=traced)  # the studies' pipeline, asked
    return root


def stale_stages(root) -> set[str]:
    """The stages whose own code, params or data changed: what `dvc repro` reruns first (the
    stages below them rerun too if their outputs then change)."""
    dry_run = run(["dvc", "repro", "--dry"], root).stdout
    return set(re.findall(r"^Running stage '(.+)':", dry_run, flags=re.MULTILINE))
