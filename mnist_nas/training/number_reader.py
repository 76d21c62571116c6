"""The number reader's two models, built from a trained candidate and fine-tuned on pieces cut
from synthetic rows (mnist_nas.reading.pieces):

- the digit reader: the candidate with an eleventh output, "not one digit", whose weights for
  the ten digits start from the candidate's;
- the pair reader: two touching digits in a 28x56 frame, read whole: the candidate's
  convolutions (fully convolutional, so they slide over the wider frame as they are), a new
  dense head, and eleven outputs for each of the two places.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from mnist_nas.contract import INPUT_DTYPE, NUM_CLASSES, SIDE
from mnist_nas.training.augment import RandomAffine

CLASSES = NUM_CLASSES + 1  # the ten digits and "not one digit"


def with_augmentation(model: keras.Model, rotation: float, shift: float, zoom: float):
    """A copy of a saved candidate (its weights too) with its augmentation back, a RandomAffine
    of these ranges in place of the Identity that augment.without_augmentation left (a saved
    candidate has no other): to fine-tune it as it was trained."""

    def augmented(layer):
        if isinstance(layer, layers.Identity):
            return RandomAffine(rotation, shift, zoom, name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=augmented)
    copy.set_weights(model.get_weights())
    return copy


def digit_reader(base: keras.Model) -> keras.Model:
    """`base` (a trained candidate) with an eleventh output, "not one digit", that starts
    unlikely; the ten digits keep the base's weights. The base itself is left as it was."""
    weights = base.get_weights()
    base = keras.models.clone_model(base)
    base.set_weights(weights)
    old = base.get_layer("probs")
    probs = layers.Dense(CLASSES, activation="softmax", dtype="float32", name="probs")
    outputs = probs(old.input)
    kernel, bias = old.get_weights()
    probs.set_weights([
        np.concatenate([kernel, np.zeros((kernel.shape[0], 1), kernel.dtype)], axis=1),
        np.append(bias, bias.min() - 2.0),
    ])  # fmt: skip
    return keras.Model(base.inputs, outputs, name="digit_reader")


def pair_reader(base: keras.Model, dense_units: int, dropout: float) -> keras.Model:
    """Two touching digits, uint8 [n, 28, 56], to probabilities [n, 2, 11]: copies of the
    base's convolution blocks (random augmentation left out), then a new dense head."""
    inputs = keras.Input(shape=(SIDE, 2 * SIDE), dtype=INPUT_DTYPE, name="pairs")
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Reshape((SIDE, 2 * SIDE, 1))(x)
    for layer in convolution_layers(base):
        config = {**layer.get_config(), "name": f"pair_{layer.name}"}
        copy = layer.__class__.from_config(config)
        x = copy(x)
        copy.set_weights(layer.get_weights())
    x = layers.Flatten()(x)
    x = layers.Dropout(dropout)(x)
    x = layers.Dense(dense_units, activation="relu")(x)
    x = layers.Dropout(dropout)(x)
    x = layers.Dense(2 * CLASSES, dtype="float32")(x)
    x = layers.Reshape((2, CLASSES))(x)
    outputs = layers.Softmax(dtype="float32", name="probs")(x)
    return keras.Model(inputs, outputs, name="pair_reader")


def train_readers(
    base: keras.Model,
    pieces: dict,
    val: dict,
    epochs: int,
    pair_epochs: int,
    pair_units: int,
    dropout: float,
    lr: float,
    batch: int,
    seed: int,
) -> tuple[keras.Model, keras.Model, dict]:
    """The digit reader fine-tuned from `base`, then the pair reader on its convolutions, on
    the pieces (pieces.examples' arrays; `val` scores them): (digits, pairs, their scores)."""
    fit = {"lr": lr, "batch": batch, "seed": seed}
    digits = digit_reader(base)
    scores = {"digits": fine_tune(digits, (pieces["x"], pieces["y"]), (val["x"], val["y"]),
                                  epochs, **fit)}  # fmt: skip
    pairs = pair_reader(digits, pair_units, dropout)
    scores["pairs"] = fine_tune(pairs, (pieces["x_pair"], pieces["y_pair"]),
                                (val["x_pair"], val["y_pair"]), pair_epochs, **fit)  # fmt: skip
    return digits, pairs, scores


CONVOLUTIONS = (layers.Conv2D, layers.BatchNormalization, layers.Activation, layers.Dropout)


def convolution_layers(base: keras.Model) -> list:
    """The base's layers from its first convolution up to its flatten or pooling: the
    convolution blocks, which work on any frame size."""
    found, started = [], False
    for layer in base.layers:
        started = started or isinstance(layer, layers.Conv2D)
        if started and isinstance(layer, layers.Flatten | layers.GlobalAveragePooling2D):
            return found
        if started and isinstance(layer, (layers.MaxPooling2D, *CONVOLUTIONS)):
            found.append(layer)
    return found


def fine_tune(
    model: keras.Model, train: tuple, val: tuple, epochs: int, lr: float, batch: int, seed: int
) -> dict:
    """Fit `model` on the pieces `train` (frames, labels), Adam at `lr` decayed along a cosine to
    zero over the epochs; returns its accuracy on the pieces `val` per output place."""
    from mnist_nas.training import runtime

    steps = runtime.steps_per_epoch(len(train[1]), batch, None)
    # auto: no XLA on a CPU under TensorFlow; under JAX a compiled step (False runs it eagerly)
    runtime.compile_model(model, lr, epochs * steps, "cosine", jit_compile="auto")
    model.fit(
        runtime.dataset(*train, batch, shuffle_seed=seed),
        epochs=epochs,
        verbose=0,
        callbacks=[runtime.progress(model.name, epochs), keras.callbacks.TerminateOnNaN()],
    )
    probs = model.predict(runtime.dataset(val[0], None, 256), verbose=0)
    return scores(val[1], probs)


def scores(labels: np.ndarray, probs: np.ndarray) -> dict:
    """Accuracy on whole digits (or pairs: both places right), and how often "not one digit"
    is told apart: recall on the pieces that are not, false alarms on those that are."""
    read = probs.argmax(axis=-1)
    labels = labels.reshape(read.shape)
    not_one = (labels == NUM_CLASSES).reshape(len(labels), -1).any(axis=1)
    said_not = (read == NUM_CLASSES).reshape(len(read), -1).any(axis=1)
    right = (read == labels).reshape(len(read), -1).all(axis=1)
    return {
        "accuracy_on_digits": round(float(right[~not_one].mean()), 6),
        "not_one_recall": round(float(said_not[not_one].mean()), 6),
        "not_one_false_alarms": round(float(said_not[~not_one].mean()), 6),
        "pieces": int(len(labels)),
    }
