"""Integrated gradients (Sundararajan et al., 2017): which pixels drive a model's answer."""

from __future__ import annotations

import numpy as np


def integrated_gradients(model, images: np.ndarray, targets: np.ndarray, steps: int = 32):
    """Attribution of each pixel to the target class, from a black image to the digit."""
    import keras
    import tensorflow as tf

    members = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if members:  # an ensemble: the gradient of a mean of probabilities is the mean of gradients
        return np.mean([integrated_gradients(m, images, targets, steps) for m in members], axis=0)

    # The models take uint8, which has no gradient: rewire the same layers to a float input.
    float_input = keras.Input(shape=images.shape[1:], dtype="float32")
    float_model = keras.models.clone_model(
        model, input_tensors=float_input, clone_function=lambda layer: layer
    )
    x = tf.constant(images, tf.float32)
    total = tf.zeros_like(x)
    for alpha in np.linspace(0.0, 1.0, steps + 1):
        scaled = alpha * x
        with tf.GradientTape() as tape:
            tape.watch(scaled)
            probs = float_model(scaled, training=False)
            score = tf.gather(probs, targets, batch_dims=1)
        total += tape.gradient(score, scaled)
    return (x * total / (steps + 1)).numpy()
