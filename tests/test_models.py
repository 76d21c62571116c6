"""Each candidate on a few hundred real digits: builds, trains, saves and loads."""

import keras
import numpy as np
import pytest
from conftest import REPO

from mnist_nas.errors import UserError
from mnist_nas.params import load_params
from mnist_nas.training import candidates, runtime


@pytest.fixture(scope="module")
def digits(mnist):
    return mnist["x_train"][:256], mnist["y_train"][:256]


@pytest.mark.parametrize("name", sorted(candidates.BUILDERS))
def test_candidate_trains_saves_and_loads(name, digits, tmp_path):
    params = load_params(REPO / "params.yaml")
    runtime.setup(seed=0, mixed_precision=False)
    model = candidates.build(name, params)
    assert model.inputs[0].dtype == "uint8"
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = digits
    history = model.fit(runtime.dataset(x, y, 64, shuffle_seed=0), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])

    probs = model.predict(x[:32], verbose=0)
    assert probs.shape == (32, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)

    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x[:32], verbose=0), probs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(candidates.BUILDERS))
def test_input_size_resizes_inside_the_model(name, digits):
    params = load_params(REPO / "params.yaml")
    small = params.model_copy(update={"train": params.train.model_copy(update={"input_size": 14})})
    model = candidates.build(name, small)
    resized = model.get_layer(index=3)
    assert isinstance(resized, keras.layers.Resizing) and resized.output.shape[1:3] == (14, 14)
    assert model.inputs[0].shape[1:] == (28, 28)  # still takes the 28x28 digits
    assert model.predict(digits[0][:8], verbose=0).shape == (8, 10)
    assert not any(
        isinstance(layer, keras.layers.Resizing) for layer in candidates.build(name, params).layers
    )


def test_too_small_input_size_names_the_param():
    params = load_params(REPO / "params.yaml")
    convnet = params.convnet.model_copy(update={"filters": [32, 64, 128]})
    tiny = params.model_copy(
        update={"train": params.train.model_copy(update={"input_size": 8}), "convnet": convnet}
    )
    with pytest.raises(UserError, match=r"^train.input_size: 8 is too small for convnet"):
        candidates.build("convnet", tiny)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [("avx2 avx512f", False), ("avx512f avx512_bf16", True), ("amx_bf16 amx_tile", True)],
)
def test_bfloat16_is_detected_from_the_cpu_flags(tmp_path, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("".join(f"processor\t: {n}\nflags\t\t: fpu {flags}\n\n" for n in (0, 1)))
    assert runtime.cpu_has_bfloat16(cpuinfo) is expected
    assert runtime.cpu_has_bfloat16(tmp_path / "missing") is False


def test_precision_values_map_to_keras_policies():
    assert runtime.compute_dtype("bfloat16") == "mixed_bfloat16"
    assert runtime.compute_dtype("float16") == runtime.compute_dtype(True) == "mixed_float16"
    assert runtime.compute_dtype(False) == "float32"
    on_cpu = "mixed_bfloat16" if runtime.cpu_has_bfloat16() else "float32"
    assert runtime.compute_dtype("auto") == ("mixed_float16" if runtime.gpus() else on_cpu)


def test_bfloat16_model_saves_loads_and_serves_float32(digits, tmp_path):
    """deep_convnet trained under mixed_bfloat16 (bfloat16 compute, float32 weights) saves and
    loads as .keras, and its SavedModel, in a process without the project, returns float32
    probabilities equal to the Keras model's."""
    from conftest import run

    from mnist_nas.files import load_model, save_model
    from mnist_nas.serving import export_saved_model

    params = load_params(REPO / "params.yaml")
    runtime.setup(seed=0, mixed_precision="bfloat16")
    try:
        model = candidates.build("deep_convnet", params)
    finally:
        runtime.set_precision(False)  # the models other tests build
    assert model.get_layer(index=-2).compute_dtype == "bfloat16"
    assert model.output.dtype == "float32" and all(w.dtype == "float32" for w in model.weights)
    runtime.compile_model(model, 1e-3, decay_steps=8, lr_schedule="cosine", jit_compile=False)
    x, y = digits
    model.fit(runtime.dataset(x, y, 64, shuffle_seed=0), epochs=1, verbose=0)
    save_model(model, tmp_path / "model.keras")
    loaded = load_model(tmp_path / "model.keras")
    expected = loaded.predict(x[:32], verbose=0)
    assert expected.dtype == np.float32
    np.testing.assert_allclose(expected, model.predict(x[:32], verbose=0), atol=1e-6)
    export_saved_model(loaded, tmp_path / "saved_model", temperature=1.0)

    np.save(tmp_path / "images.npy", x[:32])
    serve = (
        "import sys, numpy as np, tensorflow as tf\n"
        "serve = tf.saved_model.load(sys.argv[1]).signatures['serving_default']\n"
        "probs = serve(images=tf.constant(np.load(sys.argv[2])))['probabilities']\n"
        "assert probs.dtype == tf.float32 and 'mnist_nas' not in sys.modules\n"
        "np.save(sys.argv[3], probs.numpy())\n"
    )
    served = tmp_path / "served.npy"
    args = [str(tmp_path / "saved_model"), str(tmp_path / "images.npy"), str(served)]
    run(["python", "-I", "-c", serve, *args], tmp_path)
    np.testing.assert_allclose(np.load(served), expected, atol=1e-5)
