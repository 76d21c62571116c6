"""Keras' backend for the training stages: train.backend, chosen before Keras is imported.

mnist_nas pins TensorFlow for every other stage and program (mnist_nas/__init__.py): they make
TensorFlow artifacts (the SavedModel, its latency) from the backend-neutral .keras files.
"""

from __future__ import annotations

import os
import sys

from mnist_nas.errors import UserError
from mnist_nas.params import Backend

# XLA's GPU kernels may pick non-deterministic reductions (scatter, atomics); this makes them
# deterministic, as TensorFlow's enable_op_determinism does for its own ops.
XLA_DETERMINISM = "--xla_gpu_deterministic_ops=true"


def select(backend: Backend) -> None:
    """Make `backend` the one Keras imports (KERAS_BACKEND), deterministic: JAX's XLA flags are
    read once, when JAX starts. A UserError when Keras already runs on another backend."""
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != backend:
            raise UserError(
                f"train.backend: {backend!r} asked for, but Keras already runs on "
                f"{keras.backend.backend()!r} in this process"
            )
        return
    os.environ["KERAS_BACKEND"] = backend
    if backend == "jax":
        flags = os.environ.get("XLA_FLAGS", "")
        if XLA_DETERMINISM not in flags.split():
            os.environ["XLA_FLAGS"] = f"{flags} {XLA_DETERMINISM}".strip()
