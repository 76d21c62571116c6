"""TensorFlow set-up shared by the training stages: seeds, determinism, devices, precision."""

from __future__ import annotations

from typing import Literal

import keras
import tensorflow as tf


def gpus() -> list:
    return tf.config.list_logical_devices("GPU")


def setup(seed: int, mixed_precision: Literal["auto"] | bool) -> tf.distribute.Strategy:
    """Seed everything, make ops deterministic, set the precision policy, pick a strategy.

    Returns MirroredStrategy (data parallel) when several GPUs are visible, else the default
    single-device strategy, so the same code runs on a laptop CPU and a multi-GPU machine.
    """
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    use_float16 = bool(gpus()) if mixed_precision == "auto" else mixed_precision
    keras.mixed_precision.set_global_policy("mixed_float16" if use_float16 else "float32")
    if len(gpus()) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def dataset(x, y, batch_size: int, shuffle_seed: int | None = None) -> tf.data.Dataset:
    """Batches of (uint8 images, labels), shuffled with a fixed seed each epoch when asked."""
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(y), seed=shuffle_seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
