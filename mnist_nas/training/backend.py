"""Keras' backend for the training stages: train.backend, chosen before Keras is imported.

mnist_nas pins TensorFlow for every other stage and program (mnist_nas/__init__.py): they make
TensorFlow artifacts (the SavedModel, its latency) from the backend-neutral .keras files.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mnist_nas.errors import UserError
from mnist_nas.params import Backend

# XLA's GPU kernels may pick non-deterministic reductions (scatter, atomics); this makes them
# deterministic, as TensorFlow's enable_op_determinism does for its own ops.
XLA_DETERMINISM = "--xla_gpu_deterministic_ops=true"

# XLA compiles every program of a model (its train, test and predict steps) afresh in each
# process, most of a small training stage on a CPU. JAX's persistent compilation cache keeps
# them between runs, all of them however quick to compile: a rerun, a killed run resumed or an
# experiment with other rates loads them instead. Cached programs compute what a fresh
# compilation would, bit for bit (tests/test_train.py); JAX's own settings of these win.
CACHE_EVERY_PROGRAM = {
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1",
}


def compilation_cache_dir() -> Path:
    """Where JAX keeps compiled programs unless JAX_COMPILATION_CACHE_DIR says: the user's
    cache folder (XDG_CACHE_HOME, or ~/.cache), outside any output DVC tracks."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "mnist-nas" / "jax"


def select(backend: Backend) -> None:
    """Make `backend` the one Keras imports (KERAS_BACKEND), deterministic, with JAX's compiled
    programs cached (compilation_cache_dir): JAX reads its flags and settings once, when it
    starts. A UserError when Keras already runs on another backend."""
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
        os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(compilation_cache_dir()))
        for name, value in CACHE_EVERY_PROGRAM.items():
            os.environ.setdefault(name, value)
