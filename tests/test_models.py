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
