"""The search's bookkeeping: the trial subset, the trial table, keras-tuner's errors in one
line, and the roles of Keras Tuner's distributed mode."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import time
from pathlib import Path

from mnist_nas import paths
from mnist_nas.data.splits import stratified_subset
from mnist_nas.errors import UserError
from mnist_nas.files import atomic_path
from mnist_nas.params import Params

# Seconds go to time.json, not here: timings vary from run to run, the rest must not.
COLUMNS = [
    "trial", "status", "architecture", "params", "mflops", "learning_rate", "score",
    "best_epoch", "final_score", "worker", "hyperparameters",
]  # fmt: skip


def trial_subset(x, y, fraction: float, seed: int):
    """The stratified share of the training split that each trial trains on."""
    keep = stratified_subset(y, math.floor(fraction * len(y)), seed, "nas.trial_fraction")
    return x[keep], y[keep]


def trial_table(tuner, block) -> list[dict]:
    """One row per trial: its architecture in brief, learning rate, proxy score, best epoch,
    and what the timed tuner recorded (size, cost, worker, seconds)."""
    from mnist_nas.search.space import describe

    rows = []
    for trial_id, trial in sorted(tuner.oracle.trials.items()):
        timing_file = Path(tuner.get_trial_dir(trial_id), "timing.json")
        timing = json.loads(timing_file.read_text()) if timing_file.exists() else {}
        values = trial.hyperparameters.values
        rows.append(
            {
                "trial": int(trial_id),
                "status": trial.status,
                "architecture": describe(block.architecture(values)),
                "learning_rate": values.get("learning_rate"),
                "score": trial.score,
                "best_epoch": None if trial.best_step is None else trial.best_step + 1,
                **timing,
                "hyperparameters": json.dumps(values, sort_keys=True),
            }
        )
    return rows


def write_trials(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS, restval="", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def skipped_reason(message: str) -> str:
    """One line naming the param behind keras-tuner's "consecutive failures" error."""
    for key, sign in (("nas.max_mflops", "MFLOPs per image"), ("nas.max_model_size", "parameters")):
        found = re.search(rf"Oversized model: ([\d.]+) {sign}", message)
        if found:
            return f"{key}: trials in a row were over it (the last: {found[1]} {sign})"
    return " ".join(message.split())[:300]


def distributed_role() -> str | None:
    """This process's part in Keras Tuner's distributed mode: chief, worker, or None (alone)."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return None
    for name in ("KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID"):
        if not os.environ.get(name):
            raise UserError(f"KERASTUNER_ORACLE_IP is set but {name} is not")
    port = os.environ["KERASTUNER_ORACLE_PORT"]
    if not (port.isdigit() and 0 < int(port) < 65536):
        raise UserError(f"KERASTUNER_ORACLE_PORT: {port!r} is not a port number (1 to 65535)")
    return "chief" if "chief" in os.environ["KERASTUNER_TUNER_ID"] else "worker"


def wait_for_chief(directory: Path, seconds: float = 120) -> None:
    """A worker needs the chief's search folder: the same params and data give the same name."""
    deadline = time.monotonic() + seconds
    while not (directory / "oracle.json").exists():
        if time.monotonic() > deadline:
            raise UserError(
                f"nas worker: no search folder {directory} from a chief after {seconds:.0f}s; "
                "start the chief first, with the same params.yaml, data and NAS_SEARCH_DIR"
            )
        time.sleep(1)


def search_folder(params: Params, role: str | None) -> Path:
    """The search's folder, keyed by everything that shapes it (resume_dir): a chief or a single
    process announces a resume; a worker waits for its chief's folder."""
    from mnist_nas.training.resume import resume_dir

    root = os.environ.get("NAS_SEARCH_DIR", paths.RESUME / "nas")
    final_settings = params.train.model_dump(include={"patience", "lr_schedule"})
    key = [params.nas.model_dump(), params.seed or 1, final_settings]
    directory = resume_dir(root, "search", key, remove_stale=role != "worker")
    if role == "worker":
        wait_for_chief(directory)
    elif (directory / "oracle.json").exists():
        print(f"nas: resuming the search in {directory}")
    return directory
