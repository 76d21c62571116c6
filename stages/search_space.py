"""The AutoKeras pieces of the search: the search space block and a tuner that times trials."""

from __future__ import annotations

import json
import time
from contextlib import nullcontext
from pathlib import Path

import autokeras as ak
import keras
import keras_tuner as kt
from keras_tuner.engine.hyperparameters import Choice

# The vanilla conv block's space, sized for 28x28 digits on a CPU: AutoKeras' own ranges go up
# to 512 filters and 7x7 kernels, where one trial alone outlasts the whole default budget.
CONV_SPACE = {
    "kernel_size": 3,
    "num_blocks": Choice("num_blocks", [2, 3], default=2),
    "num_layers": Choice("num_layers", [1, 2], default=2),
    "filters": Choice("filters", [16, 32, 64], default=32),
    "max_pooling": True,
    "separable": False,
    "dropout": Choice("dropout", [0.0, 0.25, 0.5], default=0.25),
}
# A hidden dense layer between the conv features and the classifier, as in the classic convnet.
DENSE_SPACE = {
    "num_layers": 1,
    "num_units": Choice("num_units", [64, 128, 256], default=128),
    "use_batchnorm": False,
    "dropout": Choice("dropout", [0.0, 0.25, 0.5], default=0.5),
}


@keras.saving.register_keras_serializable(package="mnist_nas")
class OfflineImageBlock(ak.Block):
    """AutoKeras' ImageBlock, limited to what trains from scratch at 28x28 and offline.

    ImageBlock may pick EfficientNet, ImageNet weights (a download) or 224x224 inputs; this one
    chooses only among `block_types`, with random weights at the native size, and augments
    without flips (a flipped digit is another digit, or none).
    """

    def __init__(self, block_types: list[str], normalize: bool, augment: bool, **kwargs):
        super().__init__(**kwargs)
        self.block_types = list(block_types)
        self.normalize = normalize
        self.augment = augment

    def get_config(self) -> dict:
        return super().get_config() | {
            "block_types": self.block_types,
            "normalize": self.normalize,
            "augment": self.augment,
        }

    def build(self, hp: kt.HyperParameters, inputs=None):
        x = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        if self.normalize:
            x = ak.Normalization().build(hp, x)
        if self.augment:
            x = ak.ImageAugmentation(horizontal_flip=False, vertical_flip=False).build(hp, x)
        if len(self.block_types) == 1:
            block_type, scope = self.block_types[0], nullcontext()
        else:
            block_type = hp.Choice("block_type", self.block_types)
            scope = hp.conditional_scope("block_type", [block_type])
        with scope:
            if block_type == "vanilla":
                x = ak.ConvBlock(**CONV_SPACE).build(hp, x)
                return ak.DenseBlock(**DENSE_SPACE).build(hp, x)
            hp.Fixed("imagenet_size", False)  # else the tuner may upsize digits to 224x224
            application = ak.ResNetBlock if block_type == "resnet" else ak.XceptionBlock
            return application(pretrained=False).build(hp, x)


class WorkerFinished(Exception):
    """Raised in a distributed worker once the chief hands out no more trials, carrying the ids
    of the trials it ran. It stops the worker before AutoKeras' post-search steps, which would
    fetch the best model and save it a second time: only the chief writes the model."""


def timed(tuner_class: type) -> type:
    """The AutoKeras tuner class, also saving each trial's wall time, size and worker, and
    stopping a distributed worker after its last trial (WorkerFinished)."""

    class TimedTuner(tuner_class):
        trials_run: list[str] = []

        def _try_build(self, hp):
            model = super()._try_build(hp)
            self._trial_params = model.count_params()
            return model

        def on_trial_begin(self, trial):
            self._trial_started, self._trial_params = time.perf_counter(), None
            super().on_trial_begin(trial)

        def on_trial_end(self, trial):
            record = {
                "seconds": round(time.perf_counter() - self._trial_started, 1),
                "params": self._trial_params,
                "worker": self.tuner_id,
            }
            Path(self.get_trial_dir(trial.trial_id), "timing.json").write_text(json.dumps(record))
            self.trials_run = [*self.trials_run, trial.trial_id]
            super().on_trial_end(trial)

        def on_search_end(self):
            super().on_search_end()
            if self._is_worker():
                raise WorkerFinished(self.trials_run)

    return TimedTuner


def first_trial(block: OfflineImageBlock) -> dict:
    """Values for the greedy tuner's first trial: the blocks' defaults with 32 then 64 filters,
    as in the classic convnet. A sound start that fits the budget, where the greedy oracle
    would otherwise draw part of its first trial at random."""
    conv = f"{block.name}/conv_block_1"
    values = {
        f"{conv}/{name}": hp.default for name, hp in CONV_SPACE.items() if hasattr(hp, "default")
    }
    for layer in range(2):
        values[f"{conv}/filters_0_{layer}"], values[f"{conv}/filters_1_{layer}"] = 32, 64
    dense = f"{block.name}/dense_block_1"
    values |= {
        f"{dense}/units_0": DENSE_SPACE["num_units"].default,
        f"{dense}/dropout": DENSE_SPACE["dropout"].default,
        "classification_head_1/dropout": 0.0,
        "optimizer": "adam",
        "learning_rate": 1e-3,
    }
    if len(block.block_types) > 1:
        values[f"{block.name}/block_type"] = "vanilla"
    values.pop(f"{conv}/filters")
    return values
