"""The non-digit detector: a convnet that reads the ten digits and an eleventh class, "not a
digit", learnt from the training digits and non-digits made from them
(mnist_nas.reading.nondigits: outlier exposure, Hendrycks, Mazeika and Dietterich, 2019), both
drawn on paper and framed as predict frames what it reads. Learning the digits' classes as
well refused fewer digits than telling digit from non-digit alone, and learning every training
digit fewer than learning as many as the non-digits (bench/RESULTS.md, issue 35). A model of
its own: the exported classifier keeps its ten outputs, the reader its
training.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from mnist_nas.contract import INPUT_DTYPE, NOT_A_DIGIT, NUM_CLASSES, SIDE


def detector(filters: tuple[int, ...] = (32, 64, 128)) -> keras.Model:
    """uint8 frames [n, 28, 28] -> probabilities [n, 11]: the ten digits, not a digit. One block
    of two 3x3 convolutions per width, the second strided and batch-normalised."""
    inputs = keras.Input((SIDE, SIDE), dtype=INPUT_DTYPE)
    x = layers.Rescaling(1 / 255)(layers.Reshape((SIDE, SIDE, 1))(inputs))
    for width in filters:
        x = layers.Conv2D(width, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(width, 3, strides=2, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization(momentum=0.9)(x))
    x = layers.Dense(128, activation="relu")(layers.Dropout(0.3)(layers.Flatten()(x)))
    outputs = layers.Dense(NUM_CLASSES + 1, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="nondigit_detector")


def examples(digits: np.ndarray, labels: np.ndarray, nondigits: np.ndarray) -> tuple:
    """Digits (their class) and non-digits (NOT_A_DIGIT), drawn and framed alike."""
    x = np.concatenate([digits, nondigits])
    y = np.r_[labels, np.full(len(nondigits), NOT_A_DIGIT)].astype("int32")
    return x, y


def train(x: np.ndarray, y: np.ndarray, epochs: int, batch_size: int, seed: int) -> keras.Model:
    """The detector fitted on (x, y), shuffled by the seed (the weights' seed is runtime's).
    The learning rate decays to 0 over the run (cosine): after 6 epochs, at 0.2% of the
    validation digits refused, 3.4% of the validation non-digits were sent, against 5.7% at a
    constant rate (bench/RESULTS.md, issue 35)."""
    from mnist_nas.training import runtime

    model = detector()
    steps = epochs * -(-len(x) // batch_size)
    learning_rate = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=steps)
    model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy")
    model.fit(runtime.dataset(x, y, batch_size, shuffle_seed=seed), epochs=epochs, verbose=0)
    return model
