"""The exported SavedModel, both ends: writing it with its calibrated serving signature, and
loading it with its reject threshold, as predict, the demo and the numbers evaluation do; and
a Keras model (the reader's, the non-digit detector) as a function of frames, as they call it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mnist_nas import paths
from mnist_nas.contract import SIDE, TINY
from mnist_nas.errors import UserError


def stable_archive_class():
    """Keras' ExportArchive, writing the variables in the model's own order. Keras lists them
    in the order of the traced graph's captures, which changes from one process to the next,
    and with it the SavedModel's bytes."""
    import keras

    class StableExportArchive(keras.export.ExportArchive):
        def _filter_and_track_resources(self):
            super()._filter_and_track_resources()
            # the Keras variables of the tracked model, each wrapping the tf.Variable captured
            order = {id(v.value): i for i, v in enumerate(self._tf_trackable.variables)}
            variables = list(self._tf_trackable._all_variables)
            variables.sort(key=lambda v: order.get(id(v), len(order)))
            self._tf_trackable._all_variables = variables

    return StableExportArchive


def export_saved_model(model, path: Path, temperature: float) -> None:
    """A SavedModel whose serving signature takes uint8 digits `images` [n, 28, 28] and returns
    `probabilities` [n, 10], calibrated by `temperature` (calibration.scale, in TensorFlow)."""
    import tensorflow as tf

    input_dtype = model.inputs[0].dtype

    def serve(images):
        probs = tf.cast(model(tf.cast(images, input_dtype), training=False), tf.float32)
        logits = tf.math.log(tf.maximum(probs, TINY))
        return {"probabilities": tf.nn.softmax(logits / temperature)}

    archive = stable_archive_class()()
    archive.track(model)
    archive.add_endpoint(
        name="serving_default",
        fn=serve,
        input_signature=[tf.TensorSpec([None, SIDE, SIDE], tf.uint8, name="images")],
    )
    archive.write_out(str(path), verbose=False)
    stable_fingerprint(Path(path) / "fingerprint.pb")


def stable_fingerprint(path: Path) -> None:
    """TensorFlow's fingerprint.pb with its uuid, drawn at random on every save, replaced by one
    drawn from the fingerprint's own hashes of the model: unique to the model, the same bytes
    for the same model."""
    import hashlib
    import uuid

    from tensorflow.core.protobuf import fingerprint_pb2

    fingerprint = fingerprint_pb2.FingerprintDef.FromString(path.read_bytes())
    fingerprint.ClearField("uuid")
    digest = hashlib.sha256(fingerprint.SerializeToString(deterministic=True)).digest()
    fingerprint.uuid = str(uuid.UUID(bytes=digest[:16]).int)
    path.write_bytes(fingerprint.SerializeToString(deterministic=True))


def load_classifier(path: Path = paths.SAVED_MODEL):
    """The exported SavedModel's serving function: uint8 [n, 28, 28] -> calibrated
    probabilities [n, 10]."""
    import tensorflow as tf

    if not (path / "saved_model.pb").is_file():
        raise UserError(f"{path}: no exported model here; run `dvc repro export` first")
    serving = tf.saved_model.load(str(path)).signatures["serving_default"]
    return lambda images: serving(images=tf.constant(images))["probabilities"].numpy()


def reject_threshold(saved_model: Path = paths.SAVED_MODEL) -> float:
    """The threshold the export chose on the validation split, kept beside the SavedModel."""
    path = saved_model.parent / paths.CALIBRATION_FILE.name
    try:
        return float(json.loads(path.read_text())["threshold"])
    except (OSError, ValueError, KeyError) as err:
        raise UserError(f"{path}: no reject threshold ({err}); run `dvc repro export`") from None


def keras_function(model):
    """A Keras model as a function of uint8 frames to float probabilities, through Keras'
    compiled forward pass (predict_on_batch: a tf.function or a jitted JAX function, much
    faster than predict() for the few dozen pieces of a row). The frames are padded to a power
    of two (at least 16), so a reading of any length reuses one of a few compiled shapes."""

    def call(frames: np.ndarray) -> np.ndarray:
        size = max(16, 1 << (len(frames) - 1).bit_length())
        padded = np.zeros((size, *frames.shape[1:]), frames.dtype)
        padded[: len(frames)] = frames
        return np.asarray(model.predict_on_batch(padded)[: len(frames)], np.float64)

    return call
