"""The AutoKeras pieces of the search: the digit search space, the model it describes, and a
tuner that times trials and skips the ones too costly to train on 2 cores."""

from __future__ import annotations

import time
from pathlib import Path

import autokeras as ak
import keras
import keras_tuner as kt
from keras import layers

from mnist_nas.files import write_json
from mnist_nas.search.state import retry_orphaned_trials
from mnist_nas.training import candidates
from mnist_nas.training.augment import augmentation


def choose(hp: kt.HyperParameters) -> dict:
    """One point of the search space, as plain values. Grouped names (augment/, body/, head/)
    let the greedy tuner change a whole group at once as well as single values. The defaults
    are the hand-designed deep_convnet at 3/4 of its width (24-48-96 filters), which fits the
    default nas.max_mflops: a search starts from the strongest recipe it can afford."""
    return {
        # In-model augmentation, active only in training, fixed at deep_convnet's recipe: it
        # pays off over a long training, so a proxy trial of 2 epochs on 10% of the data
        # cannot judge it (searched, it dropped rotation for a proxy gain of 0.3 points, and
        # the final model scored 99.37% on validation against deep_convnet's 99.65%).
        "rotation": hp.Fixed("augment/rotation", 10),  # degrees
        "shift": hp.Fixed("augment/shift", 0.1),
        "zoom": hp.Fixed("augment/zoom", 0.1),
        # the convolutional body: blocks of convs then a down-sampling step, widths doubling
        "kernel_size": hp.Choice("body/kernel_size", [3, 5, 7], default=3),  # the first conv
        "blocks": hp.Choice("body/blocks", [2, 3], default=3),
        "filters": hp.Choice("body/filters", [16, 24, 32], default=24),  # in the first block
        "convs": hp.Choice("body/convs", [1, 2], default=1),  # 3x3 convs per block
        "downsample": hp.Choice("body/downsample", ["strided", "max_pool"], default="strided"),
        # after every conv, or only each block's last (Keras' batch norm is slow on CPUs)
        "batch_norm": hp.Choice("body/batch_norm", ["last", "every", "none"], default="last"),
        "dropout": hp.Choice("body/dropout", [0.0, 0.1, 0.2, 0.3], default=0.2),
        # from feature maps to the classifier
        "pooling": hp.Choice("head/pooling", ["flatten", "global_avg"], default="flatten"),
        "dense_units": hp.Choice("head/dense_units", [0, 64, 128], default=128),
    }


# The optimizer's share of the space. AutoKeras declares these two itself, over a much wider
# range (learning rates from 1e-5 to 0.1, SGD); declared first, these ranges are the ones used.
LEARNING_RATES = [0.003, 0.001, 0.0003]


def optimizer_space() -> kt.HyperParameters:
    hp = kt.HyperParameters()
    hp.Fixed("optimizer", "adam")
    hp.Choice("learning_rate", LEARNING_RATES, default=0.001)
    return hp


# Proxy trials run a few hundred steps: too few for Keras' default BatchNormalization momentum
# (0.99) to forget its initial variance of 1, which leaves a trial's validation score near
# chance whatever its architecture. 0.9 (PyTorch's default) settles within tens of steps.
BN_MOMENTUM = 0.9


def conv(x, filters: int, kernel_size: int, strides: int, batch_norm: bool):
    x = layers.Conv2D(filters, kernel_size, strides, padding="same", use_bias=not batch_norm)(x)
    if batch_norm:
        x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
    return layers.Activation("relu")(x)


def features(x, arch: dict):
    """The layers of one point of the space: [0, 1] digits (28x28x1) to a feature vector."""
    x = augmentation(x, arch["rotation"], arch["shift"], arch["zoom"])
    every, last = arch["batch_norm"] == "every", arch["batch_norm"] != "none"
    for block in range(arch["blocks"]):
        filters = arch["filters"] * 2**block
        for layer in range(arch["convs"]):
            # 5x5 and 7x7 only where they are cheap: on the single-channel input
            kernel_size = arch["kernel_size"] if block == layer == 0 else 3
            ends_block = layer == arch["convs"] - 1 and arch["downsample"] == "max_pool"
            x = conv(x, filters, kernel_size, 1, every or (ends_block and last))
        if arch["downsample"] == "strided":
            x = conv(x, filters, 3, 2, last)
        else:
            x = layers.MaxPooling2D(padding="same")(x)
        x = layers.Dropout(arch["dropout"])(x)
    x = layers.Flatten()(x) if arch["pooling"] == "flatten" else layers.GlobalAveragePooling2D()(x)
    if arch["dense_units"]:
        x = layers.Dense(arch["dense_units"], use_bias=not last)(x)
        if last:
            x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
        x = layers.Activation("relu")(x)
        x = layers.Dropout(arch["dropout"])(x)
    return x


def build_model(arch: dict) -> keras.Model:
    """The searched architecture as a plain Keras model with the candidates' uint8 input: what
    the final training fits, and what loads without AutoKeras."""
    inputs, x = candidates.digits_input()
    return keras.Model(inputs, candidates.classifier(features(x, arch)), name="nas")


def describe(arch: dict) -> str:
    """The architecture in brief, for the trial table: '3x1 32-64-128 k3 strided bn-last flatten
    d128 drop0.2 | rot10 shift0.1 zoom0.1'."""
    widths = "-".join(str(arch["filters"] * 2**block) for block in range(arch["blocks"]))
    return (
        f"{arch['blocks']}x{arch['convs']} {widths} k{arch['kernel_size']} {arch['downsample']}"
        f" bn-{arch['batch_norm']} {arch['pooling']} d{arch['dense_units']}"
        f" drop{arch['dropout']} | rot{arch['rotation']} shift{arch['shift']} zoom{arch['zoom']}"
    )


def forward_mflops(model: keras.Model) -> float:
    """Millions of floating-point operations (2 per multiply-add) of one image's forward pass
    through the model's convolutions and dense layers, which is nearly all of its compute."""
    macs = 0
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, layers.Conv2D):
            _, height, width, channels_out = layer.output.shape
            kernel_h, kernel_w, channels_in, _ = layer.kernel.shape
            macs += height * width * channels_out * kernel_h * kernel_w * channels_in
        elif isinstance(layer, layers.Dense):
            macs += layer.kernel.shape[0] * layer.kernel.shape[1]
    return round(2 * macs / 1e6, 2)


@keras.saving.register_keras_serializable(package="mnist_nas")
class DigitBlock(ak.Block):
    """AutoKeras block: the search space for 28x28 digits trained from scratch on a CPU.

    Unlike ak.ImageBlock it never picks ImageNet weights (a download), 224x224 inputs or flips
    (a flipped digit is another digit, or none), and it searches what makes a strong digit
    classifier: batch normalisation, strided or pooled down-sampling, depth, width, kernel size,
    dropout, and flatten or global pooling, with the hand-designed augmentation.
    """

    def build(self, hp: kt.HyperParameters, inputs=None):
        x = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        x = layers.Rescaling(1 / 255)(x)  # AutoKeras hands over the raw 0-255 pixels
        return features(x, choose(hp))

    def architecture(self, values: dict) -> dict:
        """A trial's point of the space as plain values, from its keras-tuner `values`."""
        hp = kt.HyperParameters()
        hp.values = dict(values)  # registering a name keeps the value it already has
        with hp.name_scope(self.name):
            return choose(hp)

    def first_trial(self) -> dict:
        """The greedy tuner's first trial: every default (deep_convnet at 3/4 width) and Adam at
        1e-3, where the greedy oracle would otherwise draw part of its first trial at random."""
        hp = optimizer_space()
        with hp.name_scope(self.name):
            choose(hp)
        return hp.values


class WorkerFinished(Exception):
    """Raised in a distributed worker once the chief hands out no more trials, carrying the ids
    of the trials it ran. It stops the worker before AutoKeras' post-search steps, which would
    fetch the best model and save it a second time: only the chief writes the model."""


def fed_as_datasets(fit, seed: int):
    """Keras' `fit` of a trial's model, its numpy arrays (AutoKeras passes nothing else) fed
    as runtime.dataset batches, shuffled with `seed` each epoch, as every fit here is fed
    (runtime.dataset says why)."""
    from mnist_nas.training import runtime

    def fit_batches(x, y, batch_size, validation_data, **kwargs):
        batches = runtime.dataset(x, y, batch_size, shuffle_seed=seed)
        validation = runtime.dataset(*validation_data, batch_size)
        kwargs.pop("shuffle", None)
        return fit(batches, validation_data=validation, **kwargs)

    return fit_batches


def timed(tuner_class: type, max_mflops: float, seed: int) -> type:
    """The AutoKeras tuner class, also saving each trial's wall time, size, cost and worker,
    skipping models over `max_mflops` (as keras-tuner skips those over max_model_size),
    retrying on reload the trial a kill left begun but unlisted (retry_orphaned_trials),
    seeding each trial from `seed` and its id (a trial retried after a kill, alone in a new
    process, trains as it would have after the trials before it), feeding each trial's fit
    as datasets shuffled with `seed` (fed_as_datasets), and stopping a distributed worker
    after its last trial (WorkerFinished)."""

    class TimedTuner(tuner_class):
        trials_run: list[str] = []
        _trial_started = None  # None outside a trial, as when AutoKeras first builds the space

        def _try_build(self, hp):
            model = super()._try_build(hp)
            model.fit = fed_as_datasets(model.fit, seed)
            self._trial_params, self._trial_mflops = model.count_params(), forward_mflops(model)
            if self._trial_started is not None and self._trial_mflops > max_mflops:
                raise kt.errors.FailedTrialError(
                    f"Oversized model: {self._trial_mflops} MFLOPs per image "
                    f"(nas.max_mflops: {max_mflops}). Skip model."
                )
            return model

        def on_trial_begin(self, trial):
            keras.utils.set_random_seed(seed + int(trial.trial_id))
            self._trial_started = time.perf_counter()
            self._trial_params = self._trial_mflops = None
            super().on_trial_begin(trial)

        def on_trial_end(self, trial):
            record = {
                "seconds": round(time.perf_counter() - self._trial_started, 1),
                "params": self._trial_params,
                "mflops": self._trial_mflops,
                "worker": self.tuner_id,
            }
            write_json(Path(self.get_trial_dir(trial.trial_id), "timing.json"), record)
            self.trials_run = [*self.trials_run, trial.trial_id]
            self._trial_started = None
            super().on_trial_end(trial)

        def reload(self):
            super().reload()
            if not self._is_worker():
                retry_orphaned_trials(self.oracle)

        def on_search_end(self):
            super().on_search_end()
            if self._is_worker():
                raise WorkerFinished(self.trials_run)

    return TimedTuner
