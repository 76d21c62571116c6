"""The AutoKeras search as the nas stage runs it: an AutoModel over the digit space, its
proxy trials, and the best trial's architecture and learning rate."""

from __future__ import annotations

from pathlib import Path

from mnist_nas.errors import UserError
from mnist_nas.params import NasParams
from mnist_nas.search.space import DigitBlock, optimizer_space, timed
from mnist_nas.search.state import atomic_state_files
from mnist_nas.search.trials import skipped_reason


def automodel(nas: NasParams, seed: int, directory: Path):
    """(the AutoModel searching DigitBlock's space with nas.tuner in `directory`, the block).
    The greedy tuner starts from the block's defaults; hyperband's largest budget is a full
    trial."""
    import autokeras as ak
    from autokeras.auto_model import get_tuner_class

    atomic_state_files()
    inputs = ak.ImageInput()
    block = DigitBlock()
    options = {"hyperparameters": optimizer_space()}
    if nas.tuner == "greedy":
        options["initial_hps"] = [block.first_trial()]
    if nas.tuner == "hyperband":
        options["max_epochs"] = nas.trial_epochs
    search = ak.AutoModel(
        inputs=inputs,
        outputs=ak.ClassificationHead(dropout=0.0)(block(inputs)),  # the block has dropout
        directory=directory.parent,
        project_name=directory.name,
        max_trials=nas.max_trials,
        objective=nas.objective,
        tuner=timed(get_tuner_class(nas.tuner), nas.max_mflops, seed),
        seed=seed,
        max_model_size=nas.max_model_size,
        **options,
    )
    return search, block


def run_trials(search, nas: NasParams, trial_data, validation_data) -> None:
    """The proxy trials: nas.trial_epochs each on the trial subset, scored on validation.

    Passing our own EarlyStopping (patience: never within a trial) and validation data makes
    AutoKeras skip its own retraining of the winner: the nas stage's final training does that.
    A search that keras-tuner gives up (trials failing in a row) is a UserError naming why.
    """
    import keras

    mode = "max" if nas.objective == "val_accuracy" else "min"
    stop = keras.callbacks.EarlyStopping(nas.objective, patience=nas.trial_epochs, mode=mode)
    try:
        search.fit(
            *trial_data,
            validation_data=validation_data,
            epochs=nas.trial_epochs,
            batch_size=nas.batch_size,
            callbacks=[stop],
            verbose=2,
        )
    except RuntimeError as err:  # keras-tuner gives up after a few failed trials in a row
        if "consecutive failures" not in str(err):
            raise
        raise UserError(f"nas: the search stopped: {skipped_reason(str(err))}") from None
