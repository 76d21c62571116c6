"""The training library on both Keras backends (train.backend): data-parallel fits on two
virtual CPU devices, and the augmentation every backend trains with. The training stages on
JAX: tests/test_train.py (byte-identical), test_experiments.py (a queued experiment)."""

import json
import math
import os

import keras
import numpy as np
import pytest
from conftest import REPO, run
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mnist_nas.training.augment import RandomAffine, augmentation, without_augmentation
from mnist_nas.training.number_reader import with_augmentation

# One process per backend: Keras' backend and the CPU's device count are fixed at start-up.
# It fits the same seeded model twice on 512 real digits, on one device and then split over
# two, and prints what the two fits and the split report.
DATA_PARALLEL = """
import json, sys
import numpy as np
from mnist_nas.training.backend import select
select(sys.argv[1])
import keras
if sys.argv[1] == "tensorflow":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from mnist_nas.params import MlpParams
from mnist_nas.training import candidates, runtime

with np.load("data/mnist.npz") as mnist:
    x, y = mnist["x_train"][:512], mnist["y_train"][:512]
mlp = MlpParams(lr=None, epochs=None, batch_size=None, mixed_precision=None, units=[32],
                dropout=0.0)

def fit(strategy):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = candidates.mlp(mlp)
        runtime.compile_model(model, 0.1, 8, "constant", "auto", optimizer_name="sgd")
    history = model.fit(runtime.dataset(x, y, 64), epochs=1, verbose=0)
    return model, history.history["loss"][-1]

runtime.setup(0, False)
one, one_loss = fit(runtime.data_parallel([]))
devices = keras.distribution.list_devices("cpu")
strategy = runtime.data_parallel(devices)
two, two_loss = fit(strategy)
kernel = two.trainable_variables[0]
placed = (len(kernel.value.sharding.device_set) if sys.argv[1] == "jax"
          else len(kernel.value.values))
difference = max(float(np.abs(a - b).max()) for a, b in zip(one.get_weights(), two.get_weights()))
print(json.dumps({"devices": devices, "replicas": strategy.num_replicas_in_sync, "copies": placed,
                  "losses": [one_loss, two_loss], "difference": difference}))
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_a_data_parallel_fit_on_two_devices_trains_as_one_device_does(backend):
    """runtime.data_parallel splits each batch over two virtual CPU devices, each holding a
    copy of the model (MirroredStrategy, or Keras' DataParallel on JAX), and the averaged
    gradients train the same weights as one device does."""
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    result = run(["timeout", "300", "python", "-c", DATA_PARALLEL, backend], REPO, env=env)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["devices"] == ["cpu:0", "cpu:1"]
    assert report["replicas"] == 2 and report["copies"] == 2
    assert all(math.isfinite(loss) for loss in report["losses"])
    assert report["difference"] < 1e-5, report  # weights after 8 steps of SGD


def transform_parts(transforms: np.ndarray, side: int) -> tuple[np.ndarray, ...]:
    """(angle in degrees, scale, shift_x, shift_y in pixels) of [n, 8] affine transforms about
    the centre of side x side images."""
    a0, a1, a2, b0, b1, b2 = transforms[:, :6].T
    centre = (side - 1) / 2
    return (
        np.degrees(np.arctan2(b0, a0)),
        np.hypot(a0, b0),
        a2 - (centre - a0 * centre - a1 * centre),
        b2 - (centre - b0 * centre - b1 * centre),
    )


@settings(max_examples=20, deadline=None)
@given(
    rotation=st.floats(0, 45),
    shift=st.floats(0, 0.3),
    zoom=st.floats(0, 0.3),
    seed=st.integers(0, 2**31 - 1),
)
@example(rotation=0.0, shift=0.0, zoom=2.9e-35, seed=0)  # a zoom below float32's resolution
def test_random_affine_draws_within_the_keras_layers_ranges(rotation, shift, zoom, seed):
    """Each image's transform is a rotation within ±rotation degrees, a scale within 1 ± zoom,
    a shift within ±shift of the side, with the corners of the range reached: the ranges of
    RandomRotation(rotation / 360), RandomZoom(zoom) and RandomTranslation(shift, shift)."""
    layer = RandomAffine(rotation, shift, zoom, seed=seed)
    transforms = keras.ops.convert_to_numpy(layer.transforms((2000, 28, 28)))
    assert np.all(transforms[:, 6:] == 0)
    angle, scale, shift_x, shift_y = transform_parts(transforms, 28)
    for values, limit in ((angle, rotation), (scale - 1, zoom), (shift_x, shift * 28),
                          (shift_y, shift * 28)):  # fmt: skip
        assert np.all(np.abs(values) <= limit * (1 + 1e-5) + 1e-4)
        # uniform over the range: its ends reached (to float32 precision, as above)
        assert np.abs(values).max() >= 0.9 * limit - 1e-4
    assert np.allclose(transforms[:, 0], scale * np.cos(np.radians(angle)), atol=1e-5)


def test_random_affine_changes_digits_only_in_training(mnist):
    digits = mnist["x_train"][:64, :, :, None].astype("float32") / 255
    layer = RandomAffine(10, 0.1, 0.1, seed=1)
    assert np.array_equal(keras.ops.convert_to_numpy(layer(digits, training=False)), digits)
    moved = keras.ops.convert_to_numpy(layer(digits, training=True))
    assert moved.shape == digits.shape and not np.allclose(moved, digits)
    # the digit stays in the frame: a shift of 10% and a zoom of 10% lose little ink
    assert np.all(moved.sum(axis=(1, 2, 3)) > 0.6 * digits.sum(axis=(1, 2, 3)))
    still = RandomAffine(0, 0, 0, seed=1)(digits, training=True)
    assert np.allclose(keras.ops.convert_to_numpy(still), digits, atol=1e-6)
    assert augmentation(digits, 0, 0, 0) is digits


def test_a_saved_model_is_plain_keras_without_its_augmentation(tmp_path, mnist):
    """The stages save models without RandomAffine (an Identity in its place): the .keras file
    names no class of this project, and it predicts as the model it came from."""
    inputs = keras.Input((28, 28, 1))
    x = augmentation(inputs, 10, 0.1, 0.1)
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    plain = without_augmentation(model)
    assert without_augmentation(plain) is plain
    plain.save(tmp_path / "model.keras")
    config = json.dumps(plain.get_config())
    assert "RandomAffine" not in config and "mnist_nas" not in config
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    digits = mnist["x_test"][:32, :, :, None].astype("float32") / 255
    assert np.array_equal(loaded.predict(digits, verbose=0), model.predict(digits, verbose=0))

    # and back for fine-tuning (the reader): the ranges asked for, the same weights and
    # predictions, the augmentation active in training only, and saved plain again
    again = with_augmentation(loaded, 5, 0.05, 0.2)
    affine = again.get_layer("augmentation")
    assert isinstance(affine, RandomAffine)
    assert (affine.rotation, affine.shift, affine.zoom) == (5, 0.05, 0.2)
    weights = zip(again.get_weights(), model.get_weights(), strict=True)
    assert all(np.array_equal(a, b) for a, b in weights)
    assert np.array_equal(again.predict(digits, verbose=0), model.predict(digits, verbose=0))
    trained = keras.ops.convert_to_numpy(again(digits, training=True))
    assert not np.allclose(trained, model.predict(digits, verbose=0))
    assert without_augmentation(again).get_config() == plain.get_config()


def test_the_backend_param_reaches_keras_before_it_starts(tmp_path):
    """select() sets KERAS_BACKEND, XLA's deterministic flag and JAX's compilation cache (in
    the user's cache folder, every program) for JAX; it refuses a backend other than the one
    Keras already runs on, in one line naming the param."""
    env = {"XLA_FLAGS": "--xla_cpu_enable_fast_math=false", "XDG_CACHE_HOME": str(tmp_path)}
    script = ("import os; os.environ.pop('JAX_COMPILATION_CACHE_DIR', None); "
              "from mnist_nas.training.backend import select; select('jax'); "
              "import keras, jax; print(keras.backend.backend(), os.environ['XLA_FLAGS'], "
              "jax.config.jax_compilation_cache_dir, "
              "jax.config.jax_persistent_cache_min_compile_time_secs)")  # fmt: skip
    shown = run(["python", "-c", script], REPO, env=env).stdout.split()
    assert shown == ["jax", "--xla_cpu_enable_fast_math=false", "--xla_gpu_deterministic_ops=true",
                     str(tmp_path / "mnist-nas" / "jax"), "0.0"]  # fmt: skip
    assert os.environ["KERAS_BACKEND"] == "tensorflow"  # mnist_nas pins it for everything else
    from mnist_nas.errors import UserError
    from mnist_nas.training.backend import select

    select("tensorflow")  # Keras runs on it here: nothing to do
    with pytest.raises(UserError, match="train.backend: 'jax' asked for, but Keras already"):
        select("jax")


def test_keras_starts_without_the_packages_it_would_not_use_which_stay_importable():
    """TensorFlow and Keras import JAX, scikit-learn and matplotlib at start-up where they are
    installed, as here; after mnist_nas they do not (mnist_nas.SKIPPED_AT_START), and each
    still imports and works on demand. Without mnist_nas the same import loads all three: the
    test sees what the finder changes."""
    script = ("import sys; import {first}keras; print(*(m in sys.modules for m in {names})); "
              "import jax.numpy, sklearn.metrics, matplotlib.pyplot; "
              "print(jax.numpy.ones(3).sum(), sklearn.metrics.accuracy_score([1, 2], [1, 3]), "
              "matplotlib.pyplot.figure().number)")  # fmt: skip
    names = ("jax", "sklearn", "matplotlib")
    skipped = run(["python", "-c", script.format(first="mnist_nas, ", names=names)], REPO)
    assert skipped.stdout.split() == ["False", "False", "False", "3.0", "0.5", "1"]
    loaded = run(["python", "-c", script.format(first="", names=names)], REPO)
    assert loaded.stdout.split()[:3] == ["True", "True", "True"]
