"""The search's state on disk (Keras Tuner's oracle.json and trial.json files, AutoKeras' graph
and pipelines): written atomically, and resumed whole after a kill."""

from __future__ import annotations

import json

from mnist_nas.files import atomic_path


def save_json(path: str, obj) -> str:
    """Keras Tuner's and AutoKeras' save_json, but atomic: the file keeps its previous content
    until the new one is whole."""
    text = json.dumps(obj)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return text


def atomic_state_files() -> None:
    """Make the search's state files (oracle.json, each trial.json, AutoKeras' graph and
    pipelines) atomic writes. Both libraries open them for writing in place, so a search killed
    during a write left oracle.json empty or cut, and the resumed search failed on it
    (JSONDecodeError in Oracle.reload). Every such write goes through these two functions."""
    from autokeras.utils import io_utils
    from keras_tuner.src import utils

    utils.save_json = io_utils.save_json = save_json


def retry_orphaned_trials(oracle) -> None:
    """Send for retry every trial a reloaded oracle holds as RUNNING but does not retry.

    Keras Tuner saves a new trial's trial.json (RUNNING) before oracle.json lists it as ongoing.
    Its reload retries only the ongoing ones, so a search killed between the two writes counted
    the trial towards max_trials, never ran it, and ended a trial short."""
    retried = set(oracle._retry_queue)
    for trial_id, trial in oracle.trials.items():
        if trial.status == "RUNNING" and trial_id not in retried:
            oracle._retry_queue.append(trial_id)
