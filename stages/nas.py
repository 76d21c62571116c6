"""nas: AutoKeras architecture search on the prepared data; exports the best trial's model.

Writes models/trained/nas/model.keras, the trial table metrics/nas/trials.csv,
metrics/nas/metrics.json (best validation accuracy, trials completed) and metrics/nas/time.json
(search wall time).
Load the model with `import autokeras` first: it holds AutoKeras' own preprocessing layers.

Distributed search uses Keras Tuner's own mode. With KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT
and KERASTUNER_TUNER_ID set, a process whose id contains "chief" serves the oracle over gRPC
(run it as `dvc repro nas`); every other id is a worker that runs trials and writes nothing but
its trials' checkpoints (`python -m stages.nas`). All of them must see the same search folder:
NAS_SEARCH_DIR (default .dvc/tmp/nas) on a shared filesystem. The chief alone writes the outputs.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from pathlib import Path

from stages.common import (
    TRAINED,
    UserError,
    atomic_path,
    cli,
    load_split,
    resume_dir,
    write_json,
)
from stages.params import load_params

MODEL = TRAINED / "nas" / "model.keras"
METRICS = Path("metrics/nas")


def trial_table(tuner) -> list[dict]:
    rows = []
    for trial_id, trial in sorted(tuner.oracle.trials.items()):
        timing_file = Path(tuner.get_trial_dir(trial_id), "timing.json")
        timing = json.loads(timing_file.read_text()) if timing_file.exists() else {}
        rows.append(
            {
                "trial": int(trial_id),
                "status": trial.status,
                "score": trial.score,
                "best_epoch": None if trial.best_step is None else trial.best_step + 1,
                **timing,
                "hyperparameters": json.dumps(trial.hyperparameters.values, sort_keys=True),
            }
        )
    return rows


def write_trials(path: Path, rows: list[dict]) -> None:
    # Seconds go to time.json, not here: timings vary from run to run, the rest must not.
    columns = ["trial", "status", "score", "best_epoch", "params", "worker", "hyperparameters"]
    with atomic_path(path) as tmp, tmp.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=columns, restval="", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


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


@cli
def main() -> None:
    params = load_params()
    nas = params.nas
    role = distributed_role()

    # Imported after the params are checked, so a bad param fails without TensorFlow's start-up.
    import autokeras as ak
    import keras
    from autokeras.auto_model import get_tuner_class

    from stages import runtime
    from stages.search_space import OfflineImageBlock, WorkerFinished, first_trial, timed

    # AutoKeras and keras-tuner treat seed 0 as "no seed"; the global Keras seed is set too.
    seed = params.seed or 1
    runtime.setup(params.seed, mixed_precision=False)
    x_train, y_train = load_split("train")
    x_val, y_val = load_split("val")

    root = os.environ.get("NAS_SEARCH_DIR", ".dvc/tmp/nas")
    directory = resume_dir(root, "search", [nas.model_dump(), seed], remove_stale=role != "worker")
    if role == "worker":
        wait_for_chief(directory)
    elif (directory / "oracle.json").exists():
        print(f"nas: resuming the search in {directory}")

    inputs = ak.ImageInput()
    block = OfflineImageBlock(nas.block_types, nas.normalize, nas.augment)
    features = block(inputs)
    warm_start = {}
    if nas.tuner == "greedy" and "vanilla" in nas.block_types:
        warm_start["initial_hps"] = [first_trial(block)]
    search = ak.AutoModel(
        inputs=inputs,
        outputs=ak.ClassificationHead()(features),
        directory=directory.parent,
        project_name=directory.name,
        max_trials=nas.max_trials,
        objective=nas.objective,
        tuner=timed(get_tuner_class(nas.tuner)),
        seed=seed,
        max_model_size=nas.max_model_size,
        **warm_start,
    )
    if role == "chief":
        address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
        print(f"nas chief: serving {nas.max_trials} trials on {address}, search in {directory}")
    started = time.perf_counter()
    # Passing our own EarlyStopping and validation data (no validation_split) makes AutoKeras
    # keep the best trial's checkpoint instead of retraining it from scratch after the search.
    mode = "max" if nas.objective == "val_accuracy" else "min"
    try:
        search.fit(
            x_train,
            y_train,
            validation_data=(x_val, y_val),
            epochs=nas.epochs,
            batch_size=nas.batch_size,
            callbacks=[
                keras.callbacks.EarlyStopping(nas.objective, patience=nas.patience, mode=mode)
            ],
            verbose=2,
        )
    except WorkerFinished as finished:
        tuner_id = os.environ["KERASTUNER_TUNER_ID"]
        print(f"nas worker {tuner_id}: ran trials {', '.join(finished.args[0]) or 'none'}")
        return
    search_time = time.perf_counter() - started
    model = search.export_model()

    rows = trial_table(search.tuner)
    completed = [row for row in rows if row["status"] == "COMPLETED"]
    best = search.tuner.oracle.get_best_trials(1)[0]
    with atomic_path(MODEL) as tmp:
        model.save(tmp)
    write_trials(METRICS / "trials.csv", rows)
    write_json(
        METRICS / "metrics.json",
        {
            "best_" + nas.objective: best.score,
            "best_trial": int(best.trial_id),
            "params": model.count_params(),
            "trials_completed": len(completed),
        },
    )
    trial_seconds = {row["trial"]: row.get("seconds") for row in rows}
    write_json(
        METRICS / "time.json",
        {"search_time_s": round(search_time, 1), "trial_seconds": trial_seconds},
    )
    shutil.rmtree(directory)
    print(
        f"nas: {len(completed)} trials in {search_time:.0f}s, best trial {best.trial_id} "
        f"{nas.objective} {best.score:.4f} -> {MODEL}"
    )


if __name__ == "__main__":
    main()
