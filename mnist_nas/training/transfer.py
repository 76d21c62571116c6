"""Transfer learning on digits, offline: a base convnet learns digits 0-4, and its convolutions
are then reused to learn digits 5-9 (the transfer study, studies/dvc.yaml).

The new task gets a new dense head each way; the convolutions are new (scratch), the base's and
frozen (frozen), or the base's with the last k of them trained too (finetune)."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from mnist_nas.data.splits import Split, per_class_cap
from mnist_nas.errors import UserError
from mnist_nas.params import ConvnetParams
from mnist_nas.training.candidates import conv_blocks, dense_head, digits_input

BASE_DIGITS = (0, 1, 2, 3, 4)  # what the base learns
NEW_DIGITS = (5, 6, 7, 8, 9)  # what is learnt by transfer, labelled 0-4 in that task


def digits_task(
    split: Split, digits: tuple[int, ...], per_class: int | None = None, seed: int = 0
) -> Split:
    """The images of `digits` only, at most `per_class` of each (seeded), labelled by their
    place in `digits` (5-9 become 0-4)."""
    x, y = split
    keep = np.isin(y, digits)
    x, y = per_class_cap(x[keep], y[keep], per_class, seed)
    return x, np.searchsorted(np.asarray(digits), y).astype(y.dtype)


def base_model(p: ConvnetParams) -> keras.Model:
    """The convnet candidate's layers (p: its params), with one output per base digit."""
    inputs, x = digits_input()
    return keras.Model(inputs, dense_head(conv_blocks(x, p), p, len(BASE_DIGITS)), name="base")


def convolutions(model: keras.Model) -> list[layers.Layer]:
    """The model's Conv2D layers, input side first."""
    return [layer for layer in model.layers if isinstance(layer, layers.Conv2D)]


def new_task_model(
    base: keras.Model | None, p: ConvnetParams, method: str, finetune_layers: int
) -> keras.Model:
    """The model that learns the new digits: the base's convolution and pooling layers (the
    same objects, so the same weights) under a new dense head, or all new for `scratch`
    (base None). Frozen: no base layer trains; finetune: the last `finetune_layers` convs do."""
    if method == "scratch":
        inputs, x = digits_input()
        body = conv_blocks(x, p)
    else:
        convs = convolutions(base)
        if method == "finetune" and finetune_layers > len(convs):
            raise UserError(
                f"transfer.finetune_layers: {finetune_layers} is more than the base's "
                f"{len(convs)} convolutions (convnet.filters)"
            )
        trained = convs[len(convs) - finetune_layers :] if method == "finetune" else []
        for conv in convs:
            conv.trainable = conv in trained
        inputs, body = digits_input()
        for layer in base.layers:
            if isinstance(layer, layers.Conv2D | layers.MaxPooling2D):
                body = layer(body)
    return keras.Model(inputs, dense_head(body, p, len(NEW_DIGITS)), name=f"transfer_{method}")
