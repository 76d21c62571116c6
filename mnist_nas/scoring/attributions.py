"""Integrated gradients (Sundararajan et al., 2017): which pixels drive a model's answer."""

from __future__ import annotations

import numpy as np


def integrated_gradients(model, images: np.ndarray, targets: np.ndarray, steps: int = 32):
    """Attribution of each pixel to the target class, from a black image to the digit."""
    import keras

    members = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if members:  # an ensemble: the gradient of a mean of probabilities is the mean of gradients
        return np.mean([integrated_gradients(m, images, targets, steps) for m in members], axis=0)

    # The models take uint8, which has no gradient: rewire the same layers to a float input.
    float_input = keras.Input(shape=images.shape[1:], dtype="float32")
    float_model = keras.models.clone_model(
        model, input_tensors=float_input, clone_function=lambda layer: layer
    )
    x = images.astype(np.float32)
    total = sum(
        target_gradient(float_model, alpha * x, targets) for alpha in np.linspace(0, 1, steps + 1)
    )
    return x * total / (steps + 1)


def target_gradient(model, x: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """d probs[i, targets[i]] / d x[i] for each image i, on Keras' backend (TensorFlow or JAX)."""
    import keras

    def score(inputs):
        probs = model(inputs, training=False)
        return keras.ops.take_along_axis(probs, keras.ops.convert_to_tensor(targets[:, None]), 1)

    if keras.backend.backend() == "jax":
        import jax

        return np.asarray(jax.grad(lambda inputs: score(inputs).sum())(x))
    import tensorflow as tf

    inputs = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        total = tf.reduce_sum(score(inputs))
    return tape.gradient(total, inputs).numpy()
