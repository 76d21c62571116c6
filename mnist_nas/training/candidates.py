"""The hand-designed candidates. Each maps its params to an uncompiled keras.Model that takes
raw uint8 28x28 digits, scales them itself, and returns class probabilities."""

from __future__ import annotations

import keras
from keras import layers

from mnist_nas.contract import INPUT_DTYPE, INPUT_NAME, NUM_CLASSES, SIDE
from mnist_nas.errors import UserError
from mnist_nas.params import ConvnetParams, DeepConvnetParams, MlpParams, Params
from mnist_nas.training.augment import augmentation


def raw_input() -> keras.KerasTensor:
    """The input of every model here: raw uint8 digits (mnist_nas.contract)."""
    return keras.Input(shape=(SIDE, SIDE), dtype=INPUT_DTYPE, name=INPUT_NAME)


def digits_input(size: int = SIDE) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """The raw uint8 input, and the same digits as float images in [0, 1] with one channel,
    resized (area-averaged) to size x size when that is smaller than 28."""
    inputs = raw_input()
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Reshape((SIDE, SIDE, 1))(x)
    if size != SIDE:
        x = layers.Resizing(size, size, interpolation="area")(x)
    return inputs, x


def classifier(x: keras.KerasTensor, classes: int = NUM_CLASSES) -> keras.KerasTensor:
    # float32 output even under mixed precision, so softmax and the loss stay stable.
    return layers.Dense(classes, activation="softmax", dtype="float32", name="probs")(x)


def mlp(p: MlpParams, input_size: int = SIDE) -> keras.Model:
    """The classic Keras MLP: dense layers with dropout."""
    inputs, x = digits_input(input_size)
    x = layers.Flatten()(x)
    for units in p.units:
        x = layers.Dense(units, activation="relu")(x)
        x = layers.Dropout(p.dropout)(x)
    return keras.Model(inputs, classifier(x), name="mlp")


def conv_blocks(x, p: ConvnetParams):
    """The convnet's body: a 3x3 conv (no padding) and ReLU per block, each followed by 2x2
    max-pooling when p.pool."""
    for filters in p.filters:
        x = layers.Conv2D(filters, 3, activation="relu")(x)
        if p.pool:
            x = layers.MaxPooling2D()(x)
    return x


def dense_head(x, p: ConvnetParams, classes: int = NUM_CLASSES):
    """Flatten, dropout, an optional dense layer (and dropout), then the class probabilities."""
    x = layers.Flatten()(x)
    x = layers.Dropout(p.dropout)(x)
    if p.dense_units:
        x = layers.Dense(p.dense_units, activation="relu")(x)
        x = layers.Dropout(p.dropout)(x)
    return classifier(x, classes)


def convnet(p: ConvnetParams, input_size: int = SIDE) -> keras.Model:
    """The classic Keras MNIST convnet: conv (+ max-pool) blocks, dropout, an optional dense
    layer. Its filters [32], pool false, dense 128 is the 2,770,634-parameter step of the
    books' ladder; [32] pooled 693,962; [32, 64, 128] pooled 110,474."""
    inputs, x = digits_input(input_size)
    return keras.Model(inputs, dense_head(conv_blocks(x, p), p), name="convnet")


def conv_relu(x, filters: int, kernel_size: int = 3, strides: int = 1, batch_norm: bool = True):
    """Conv2D, then batch normalisation if asked (the conv then needs no bias), then ReLU."""
    x = layers.Conv2D(filters, kernel_size, strides, padding="same", use_bias=not batch_norm)(x)
    if batch_norm:
        x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)


def deep_convnet(p: DeepConvnetParams, input_size: int = SIDE) -> keras.Model:
    """Blocks of two conv-ReLU layers, the second strided to halve the resolution (cheaper than
    a conv at full size then pooling), dropout after each block, batch normalisation after
    every conv or only each block's last (Keras' is not fused: on a CPU it can cost more time
    than the convs), and random rotations, shifts and zooms (active only in training) first."""
    inputs, x = digits_input(input_size)
    if p.augment:
        x = augmentation(x, p.rotation, p.shift, p.zoom)
    for block, filters in enumerate(p.filters):
        kernel_size = p.kernel_size if block == 0 else 3
        x = conv_relu(x, filters, kernel_size, batch_norm=p.batch_norm == "every")
        x = conv_relu(x, filters, strides=2, batch_norm=p.batch_norm != "none")  # every, last
        x = layers.Dropout(p.dropout)(x)
    x = layers.GlobalAveragePooling2D()(x) if p.global_pool else layers.Flatten()(x)
    batch_norm = p.batch_norm != "none"
    x = layers.Dense(p.dense_units, use_bias=not batch_norm)(x)
    if batch_norm:
        x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.Dropout(p.dropout)(x)
    return keras.Model(inputs, classifier(x), name="deep_convnet")


BUILDERS = {"mlp": mlp, "convnet": convnet, "deep_convnet": deep_convnet}


def build(name: str, params: Params) -> keras.Model:
    """The candidate `name`, built from its section of params.yaml."""
    size = params.train.input_size
    try:
        return BUILDERS[name](getattr(params, name), size)
    except ValueError as err:  # Keras: a layer's output would have no pixels left
        first_line = str(err).strip().splitlines()[0]
        raise UserError(
            f"train.input_size: {size} is too small for {name} ({first_line})"
        ) from None


def average(members: list[keras.Model]) -> keras.Model:
    """The ensemble: one model whose output is the mean of the members' class probabilities."""
    inputs = raw_input()
    outputs = [member(inputs) for member in members]
    probs = layers.Average(name="probs")(outputs) if len(outputs) > 1 else outputs[0]
    return keras.Model(inputs, probs, name="ensemble")
