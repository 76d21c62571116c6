"""The Keras runtime shared by the training stages, on TensorFlow or JAX (train.backend):
threads, seeds, determinism, devices, precision; data feeding; the optimizer, the callbacks
every fit uses, and its progress bar."""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from mnist_nas.errors import UserError
from mnist_nas.params import Precision

THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def on_tensorflow() -> bool:
    return keras.backend.backend() == "tensorflow"


def gpus() -> list[str]:
    """The GPUs Keras' backend sees ("gpu:0", ...)."""
    try:
        return keras.distribution.list_devices("gpu")
    except RuntimeError:  # JAX without a GPU platform: "Unknown backend gpu"
        return []


def limit_threads() -> None:
    """Apply TensorFlow's own thread variables (`make queue` sets them for parallel jobs),
    checked: TensorFlow itself silently ignores a value it cannot parse. JAX has no such
    setting; the values are checked all the same."""
    threads = {}
    for name in THREAD_VARIABLES:
        value = os.environ.get(name)
        if value is not None:
            if not (value.isdigit() and int(value) > 0):
                raise UserError(f"{name}: {value!r} is not a positive whole number of threads")
            threads[name] = int(value)
    if threads and on_tensorflow():
        import tensorflow as tf

        setting = tf.config.threading
        setters = (setting.set_intra_op_parallelism_threads,
                   setting.set_inter_op_parallelism_threads)  # fmt: skip
        for name, apply in zip(THREAD_VARIABLES, setters, strict=True):
            if name in threads:
                apply(threads[name])


# CPU flags of the bfloat16 instructions oneDNN runs convolutions and matrix products with.
BF16_FLAGS = {"avx512_bf16", "amx_bf16"}


def cpu_has_bfloat16(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX512-BF16 or AMX, as on Zen 4 and
    Sapphire Rapids); False where /proc/cpuinfo is not there to tell (macOS, Windows)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return False
    lines = [line for line in text.splitlines() if line.startswith("flags")]
    return any(BF16_FLAGS & set(line.split()) for line in lines)


POLICIES = {"float16": "mixed_float16", "bfloat16": "mixed_bfloat16", False: "float32"}


def compute_dtype(mixed_precision: Precision) -> str:
    """The Keras dtype policy train.mixed_precision means here. auto: float16 on a GPU, bfloat16
    on a CPU that has it, float32 elsewhere; true is float16 (its meaning before bfloat16)."""
    if mixed_precision == "auto":
        mixed_precision = "float16" if gpus() else "bfloat16" if cpu_has_bfloat16() else False
    return POLICIES["float16" if mixed_precision is True else mixed_precision]


def set_precision(mixed_precision: Precision) -> str:
    """Set Keras' global dtype policy for the models built next (compute_dtype); weights stay
    float32 and the output layer computes in float32. Returns the policy's name."""
    policy = compute_dtype(mixed_precision)
    keras.mixed_precision.set_global_policy(policy)
    return policy


@dataclass(frozen=True)
class Replicas:
    """What the training code uses of a tf.distribute.Strategy, on JAX: how many replicas a
    batch is split over, and a scope to build models in (Keras' distribution needs none)."""

    num_replicas_in_sync: int = 1

    def scope(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()


def data_parallel(devices: list[str]):
    """Each batch split over `devices` (Keras' names: "gpu:0", ...), each holding a copy of the
    model: MirroredStrategy on TensorFlow, Keras' DataParallel distribution on JAX. With fewer
    than two devices, the default single-device strategy (Replicas() on JAX)."""
    if on_tensorflow():
        import tensorflow as tf

        if len(devices) < 2:
            return tf.distribute.get_strategy()
        return tf.distribute.MirroredStrategy([f"/{device}" for device in devices])
    if len(devices) < 2:
        return Replicas()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    return Replicas(len(devices))


def setup(seed: int, mixed_precision: Precision):
    """Set threads, seed everything, make ops deterministic, set the precision policy, and pick
    a strategy: data parallel over the GPUs when there are several (data_parallel), so the same
    code runs on a laptop CPU and a multi-GPU machine, on TensorFlow or JAX. JAX's determinism
    is XLA's flag, set before JAX started (training/backend.py)."""
    limit_threads()  # before anything starts TensorFlow's runtime
    keras.utils.set_random_seed(seed)
    if on_tensorflow():
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    policy = set_precision(mixed_precision)
    strategy = data_parallel(gpus())
    shown = [keras.backend.backend(), f"{len(gpus())} GPU(s)",
             f"{strategy.num_replicas_in_sync} replica(s)", policy]  # fmt: skip
    if on_tensorflow():
        intra, inter = (os.environ.get(name, "all cores") for name in THREAD_VARIABLES)
        shown.append(f"TensorFlow threads: intra-op {intra}, inter-op {inter}")
    print(f"runtime: {', '.join(shown)}")
    return strategy


def dataset(x, y, batch_size: int, shuffle_seed: int | None = None, repeat: bool = False):
    """Batches of (uint8 images, labels), or of images alone when `y` is None, shuffled with a
    fixed seed each epoch when asked, and repeated without end when asked (a fit then counts
    epochs in steps_per_epoch): a tf.data pipeline on TensorFlow, Batches on JAX.

    Every fit and predict of the training stages takes its data from here, never as numpy
    arrays: Keras slices arrays in a parallel tf.data map, which TensorFlow rewrites under op
    determinism whenever the last batch is partial, logging an error line each time
    ("E ... NodeDef mentions attribute use_unbounded_threadpool ...")."""
    if not on_tensorflow():
        return Batches(x, y, batch_size, shuffle_seed, repeat)
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(y), seed=shuffle_seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


class Batches(keras.utils.PyDataset):
    """runtime.dataset's batches without TensorFlow: numpy slices of the arrays, in the main
    thread, their order a seeded permutation drawn anew each epoch (from the seed and the
    epoch's number). Repeated, the batches run on without end across the epochs."""

    def __init__(self, x, y, batch_size: int, shuffle_seed: int | None, repeat: bool):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size
        self.shuffle_seed, self.repeat = shuffle_seed, repeat
        self.per_epoch = math.ceil(len(x) / batch_size)
        self.epoch, self.order = 0, self.permutation(0)

    @property
    def num_batches(self) -> int | None:
        return None if self.repeat else self.per_epoch

    def permutation(self, epoch: int) -> np.ndarray:
        if self.shuffle_seed is None:
            return np.arange(len(self.x))
        return np.random.default_rng([self.shuffle_seed, epoch]).permutation(len(self.x))

    def __getitem__(self, index: int):
        epoch, index = divmod(index, self.per_epoch)
        if self.repeat and epoch != self.epoch:
            self.epoch, self.order = epoch, self.permutation(epoch)
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.x[rows] if self.y is None else (self.x[rows], self.y[rows])

    def on_epoch_end(self) -> None:
        if not self.repeat:
            self.epoch += 1
            self.order = self.permutation(self.epoch)


def steps_per_epoch(images: int, batch_size: int, steps: int | None) -> int:
    """The gradient steps of one epoch: `steps` when set (train.steps_per_epoch), else one pass."""
    return steps or math.ceil(images / batch_size)


OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "sgd": keras.optimizers.SGD,
    "momentum": lambda rate: keras.optimizers.SGD(rate, momentum=0.9),
    "nesterov": lambda rate: keras.optimizers.SGD(rate, momentum=0.9, nesterov=True),
    "rmsprop": keras.optimizers.RMSprop,
    "adagrad": keras.optimizers.Adagrad,
    "adadelta": keras.optimizers.Adadelta,
}


def optimizer(name: str, rate) -> keras.optimizers.Optimizer:
    """The train.optimizer `name` (Keras' defaults otherwise) at learning rate `rate`."""
    if name not in OPTIMIZERS:
        raise UserError(f"train.optimizer: {name!r} is not one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](rate)


def compile_model(
    model,
    lr: float,
    decay_steps: int,
    lr_schedule: str,
    jit_compile,
    optimizer_name: str = "adam",
) -> None:
    """The optimizer (train.optimizer) at `lr`, decayed along a cosine to zero over
    `decay_steps` (or constant), with the loss and metric every model here trains on."""
    rate = (
        keras.optimizers.schedules.CosineDecay(lr, decay_steps=decay_steps, alpha=0.0)
        if lr_schedule == "cosine"
        else lr
    )
    model.compile(
        optimizer=optimizer(optimizer_name, rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )


def fit_callbacks(backup: str | os.PathLike, patience: int) -> list:
    """Resume an interrupted fit from `backup` (the last finished epoch), stop at once on a NaN
    or infinite loss, and stop early on validation accuracy with the best epoch's weights
    restored."""
    return [
        keras.callbacks.BackupAndRestore(backup, double_checkpoint=True),
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.EarlyStopping(
            monitor="val_accuracy", patience=patience, restore_best_weights=True
        ),
    ]


def tensorboard(folder: str | os.PathLike) -> list:
    """TensorBoard's logs of a fit in `folder`, where TensorFlow is installed: Keras writes
    them through tf.summary on every backend, and a JAX machine may have no TensorFlow."""
    try:
        import tensorflow.summary  # noqa: F401
    except ImportError:
        return []
    return [keras.callbacks.TensorBoard(folder)]


class LiveMetrics(keras.callbacks.Callback):
    """dvclive.keras.DVCLiveCallback, on any backend: that module imports TensorFlow, which a
    JAX machine may lack. Each epoch's logs become DVCLive metrics named as DVCLive names
    Keras' (train/accuracy, eval/accuracy), one step per epoch."""

    def __init__(self, live):
        super().__init__()
        self.live = live

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        from dvclive.utils import standardize_metric_name

        for metric, value in (logs or {}).items():
            self.live.log_metric(standardize_metric_name(metric, "dvclive.keras"), value)
        self.live.next_step()

    def on_train_end(self, logs: dict | None = None) -> None:
        self.live.end()


def check_converged(history, key: str, lr: float) -> None:
    """A UserError naming `key` when training diverged: a NaN or infinite loss (TerminateOnNaN
    stopped it there), instead of saving a useless model."""
    losses = history.history.get("loss", [])
    if losses and not np.isfinite(losses[-1]):
        raise UserError(
            f"{key}: training diverged at epoch {len(losses)} (loss {losses[-1]}) with learning "
            f"rate {lr}; try a smaller {key}"
        )


def best_epoch(history) -> tuple[int, float]:
    """(the position in `history` of the epoch with the best validation accuracy, that
    accuracy): the epoch EarlyStopping restored. history.epoch[position] + 1 counts it from 1,
    across a resume."""
    scores = history.history["val_accuracy"]
    position = max(range(len(scores)), key=scores.__getitem__)
    return position, scores[position]


def progress(name: str, epochs: int):
    """A progress bar of the epochs, by tqdm: how many are done, the time left, and the last
    epoch's scores. What a fit of several minutes shows while it runs."""
    from tqdm.keras import TqdmCallback

    return TqdmCallback(epochs=epochs, verbose=0, desc=name, mininterval=2)
