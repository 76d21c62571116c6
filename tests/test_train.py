"""The train stage as DVC runs it, on a few hundred real digits."""

import json

import numpy as np
import pytest
from conftest import SMALL, new_project, run, set_params


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return new_project(tmp_path_factory.mktemp("train"), ("fetch", "prepare"), **SMALL)


def train(root, name):
    run(["python", "-m", "stages.train", name], root)
    return json.loads((root / "metrics" / "train" / name / "metrics.json").read_text())


def test_outputs_and_seeded_runs_are_identical(prepared):
    first = train(prepared, "convnet")
    assert (prepared / "models" / "trained" / "convnet" / "model.keras").is_file()
    model = (prepared / "models" / "trained" / "convnet" / "model.keras").read_bytes()
    assert list((prepared / "models" / "trained" / "convnet").iterdir()) == [
        prepared / "models" / "trained" / "convnet" / "model.keras"
    ]  # nothing else in the output: TensorBoard's logs carry the time and host
    assert any((prepared / ".dvc" / "tmp" / "tensorboard" / "convnet").rglob("events.out.*"))
    plots = prepared / "metrics" / "train" / "convnet" / "plots" / "metrics"
    assert (plots / "train" / "accuracy.tsv").is_file() and (plots / "eval" / "loss.tsv").is_file()
    timing = json.loads((prepared / "metrics" / "train" / "convnet" / "time.json").read_text())
    assert timing["epochs_run"] == 1 and timing["wall_time_s"] > 0
    assert first["params"] > 0 and 0 <= first["best_val_accuracy"] <= 1
    assert not list((prepared / ".dvc" / "tmp" / "train").glob("*"))  # resume state cleaned up

    assert train(prepared, "convnet") == first
    # the same weights give the same bytes: no time, memory address or random id in the file
    assert (prepared / "models" / "trained" / "convnet" / "model.keras").read_bytes() == model


# A sitecustomize that hides TensorFlow as on a machine without it: Python's path finder does
# not see it, so `import tensorflow` fails and importlib.util.find_spec says None (as JAX's
# compilation cache asks, through etils).
NO_TENSORFLOW = """
import sys
from importlib.machinery import PathFinder

class WithoutTensorFlow(PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.split(".")[0] == "tensorflow":
            return None
        return super().find_spec(name, path, target)

sys.meta_path[sys.meta_path.index(PathFinder)] = WithoutTensorFlow
"""


def test_the_training_stages_run_on_jax_without_tensorflow(prepared, mnist, tmp_path):
    """train.backend: jax, where TensorFlow cannot be imported. deep_convnet (its augmentation,
    batches fed without tf.data) trains twice to the same bytes, compiled the first time and
    loaded from JAX's compilation cache the second, and the search runs; the .keras files load
    and predict in this process, on TensorFlow, as evaluate and export read them."""
    from mnist_nas.files import load_model

    (tmp_path / "sitecustomize.py").write_text(NO_TENSORFLOW)
    cache = tmp_path / "jax-cache"  # empty: the first training compiles every program
    no_tensorflow = {"PYTHONPATH": str(tmp_path)}
    own_cache = {**no_tensorflow, "JAX_COMPILATION_CACHE_DIR": str(cache)}
    blocked = run(["python", "-c", "import tensorflow"], prepared, check=False, env=no_tensorflow)
    assert "No module named 'tensorflow'" in blocked.stderr
    model = prepared / "models" / "trained" / "deep_convnet" / "model.keras"
    set_params(prepared, **SMALL, train__backend="jax")
    try:
        train = ["python", "-m", "stages.train", "deep_convnet"]
        log = run(train, prepared, env=own_cache).stdout
        first, compiled = model.read_bytes(), sorted(cache.iterdir())
        logged = {**own_cache, "JAX_LOGGING_LEVEL": "DEBUG"}
        again = run(train, prepared, env=logged).stderr
        # the search's programs in the session's cache, shared with the queued JAX experiment
        log += run(["python", "-m", "stages.nas"], prepared, env=no_tensorflow).stdout
    finally:
        set_params(prepared, **SMALL)
    assert log.count("runtime: jax") == 2, log
    assert model.read_bytes() == first
    assert any(path.name.startswith("jit_train_step") for path in compiled), compiled
    assert "Persistent compilation cache hit for 'jit_train_step'" in again, again[-3000:]
    for name in ("deep_convnet", "nas"):
        path = prepared / "models" / "trained" / name / "model.keras"
        # as the stages load it (uncompiled: the JAX run's compile config asks for XLA, which
        # TensorFlow refuses with a warning once op determinism is on in this process)
        probs = load_model(path).predict(mnist["x_test"][:32], verbose=0)
        assert probs.shape == (32, 10) and np.allclose(probs.sum(axis=1), 1, atol=1e-3)


def test_top_level_settings_are_overridden_per_model(prepared):
    set_params(prepared, **SMALL, mlp__epochs=2)
    try:
        metrics = train(prepared, "mlp")
    finally:
        set_params(prepared, **SMALL)
    assert metrics["step"] == 1  # two epochs: steps 0 and 1


@pytest.mark.parametrize(
    ("args", "params", "error"),
    [
        (["resnet"], {}, "error: 'resnet' is not a candidate; the candidates are mlp, convnet"),
        (["mlp", "convnet"], {}, "error: python -m stages.train: unrecognized arguments: convnet"),
        ([], {}, "error: python -m stages.train: the following arguments are required: name"),
        (["mlp"], {"models": ["mlp", "resnet"]}, "error: params.yaml: models.1: Input should be"),
        (["mlp"], {"models": ["mlp", "mlp"]}, "error: params.yaml: models: Value error, lists a"),
        (["mlp"], {"models": []}, "error: params.yaml: models: List should have at least 1"),
        (["mlp"], {"mlp__units": [512, 0]}, "error: params.yaml: mlp.units.1: Input should be"),
        (["mlp"], {"mlp__dropuot": 0.1}, "error: params.yaml: mlp.dropuot: unknown key"),
        (["mlp"], {"convnet__dropout": 1.0}, "error: params.yaml: convnet.dropout: Input should"),
        (["mlp"], {"train__lr_schedule": "step"}, "error: params.yaml: train.lr_schedule: Input"),
    ],
)
def test_bad_model_choice_fails_before_training(prepared, tmp_path, args, params, error):
    set_params(tmp_path, **SMALL, **params)
    (tmp_path / "data").symlink_to(prepared / "data")
    result = run(["python", "-m", "stages.train", *args], tmp_path, check=False)
    assert result.returncode == (2 if "stages.train:" in error else 1)  # 2: a usage error
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(error), result.stderr
    assert not (tmp_path / "models").exists()


@pytest.mark.parametrize(("override", "key"), [({"lr": 1e30}, "lr"), ({"mlp__lr": 1e30}, "mlp.lr")])
def test_a_diverging_run_stops_in_one_line_and_saves_nothing(prepared, tmp_path, override, key):
    root = tmp_path
    set_params(root, **{**SMALL, "epochs": 5, **override})
    (root / "data").symlink_to(prepared / "data")  # the prepared splits, trained on in place
    result = run(["python", "-m", "stages.train", "mlp"], root, check=False)
    assert result.returncode == 1
    # the one error line ends what the stage printed (its progress bar, to stderr, before it)
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.stderr.rstrip().endswith(line)
    assert line.startswith(f"error: {key}: training diverged at epoch 1 (loss nan)"), line
    assert f"try a smaller {key}" in line
    assert not (root / "models" / "trained" / "mlp" / "model.keras").exists()
