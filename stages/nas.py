"""nas: AutoKeras architecture search on the prepared data, then the winner's full training.

Trials are a cheap proxy: a few epochs on a stratified share of the training split, scored on
the validation split. The best trial's architecture is then trained from scratch on all the
training data with the candidates' schedule; that model is the `nas` model, a plain Keras model
with the candidates' uint8 input.

Writes models/trained/nas/model.keras, the trial table metrics/nas/trials.csv (each trial's
architecture in brief, size, cost, proxy score, and the final score of the winner),
metrics/nas/metrics.json and metrics/nas/time.json (search and final training wall times).

Distributed search uses Keras Tuner's own mode. With KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT
and KERASTUNER_TUNER_ID set, a process whose id contains "chief" serves the oracle over gRPC
(run it as `dvc repro nas`); every other id is a worker that runs trials and writes nothing but
its trials' checkpoints (`python -m stages.nas`). All of them must see the same search folder:
NAS_SEARCH_DIR (default .dvc/tmp/nas) on a shared filesystem. The chief alone writes the outputs.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
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
    stratified_subset,
    write_json,
)
from stages.params import load_params

MODEL = TRAINED / "nas" / "model.keras"
METRICS = Path("metrics/nas")


def trial_table(tuner, block) -> list[dict]:
    from stages.search_space import describe  # imports AutoKeras: only once it is needed

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
    # Seconds go to time.json, not here: timings vary from run to run, the rest must not.
    columns = [
        "trial", "status", "architecture", "params", "mflops", "learning_rate", "score",
        "best_epoch", "final_score", "worker", "hyperparameters",
    ]  # fmt: skip
    with atomic_path(path) as tmp, tmp.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=columns, restval="", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def trial_subset(x, y, fraction: float, seed: int):
    """The stratified share of the training split that each trial trains on."""
    keep = stratified_subset(y, math.floor(fraction * len(y)), seed, "nas.trial_fraction")
    return x[keep], y[keep]


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
    from stages.search_space import (
        DigitBlock,
        WorkerFinished,
        build_model,
        describe,
        optimizer_space,
        timed,
    )

    # AutoKeras and keras-tuner treat seed 0 as "no seed"; the global Keras seed is set too.
    seed = params.seed or 1
    strategy = runtime.setup(params.seed, mixed_precision=False)  # AutoKeras' head: float32
    x_train, y_train = load_split("train")
    x_val, y_val = load_split("val")
    x_trial, y_trial = trial_subset(x_train, y_train, nas.trial_fraction, params.seed)

    root = os.environ.get("NAS_SEARCH_DIR", ".dvc/tmp/nas")
    final_settings = params.train.model_dump(include={"patience", "lr_schedule"})
    directory = resume_dir(
        root, "search", [nas.model_dump(), seed, final_settings], remove_stale=role != "worker"
    )
    if role == "worker":
        wait_for_chief(directory)
    elif (directory / "oracle.json").exists():
        print(f"nas: resuming the search in {directory}")

    inputs = ak.ImageInput()
    block = DigitBlock()
    tuner_options = {"hyperparameters": optimizer_space()}
    if nas.tuner == "greedy":
        tuner_options["initial_hps"] = [block.first_trial()]
    if nas.tuner == "hyperband":  # its largest budget: a full trial; smaller ones are thirds
        tuner_options["max_epochs"] = nas.trial_epochs
    search = ak.AutoModel(
        inputs=inputs,
        outputs=ak.ClassificationHead(dropout=0.0)(block(inputs)),  # the block has dropout
        directory=directory.parent,
        project_name=directory.name,
        max_trials=nas.max_trials,
        objective=nas.objective,
        tuner=timed(get_tuner_class(nas.tuner), nas.max_mflops),
        seed=seed,
        max_model_size=nas.max_model_size,
        **tuner_options,
    )
    if role == "chief":
        address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
        print(f"nas chief: serving {nas.max_trials} trials on {address}, search in {directory}")
    started = time.perf_counter()
    # Passing our own EarlyStopping (patience: never within a trial) and validation data makes
    # AutoKeras skip its own retraining of the winner: the final training below does that.
    mode = "max" if nas.objective == "val_accuracy" else "min"
    try:
        search.fit(
            x_trial,
            y_trial,
            validation_data=(x_val, y_val),
            epochs=nas.trial_epochs,
            batch_size=nas.batch_size,
            callbacks=[
                keras.callbacks.EarlyStopping(nas.objective, patience=nas.trial_epochs, mode=mode)
            ],
            verbose=2,
        )
    except WorkerFinished as finished:
        tuner_id = os.environ["KERASTUNER_TUNER_ID"]
        print(f"nas worker {tuner_id}: ran trials {', '.join(finished.args[0]) or 'none'}")
        return
    except RuntimeError as err:  # keras-tuner gives up after a few failed trials in a row
        if "consecutive failures" not in str(err):
            raise
        raise UserError(f"nas: the search stopped: {skipped_reason(str(err))}") from None
    search_time = time.perf_counter() - started
    best = search.tuner.oracle.get_best_trials(1)[0]
    arch = block.architecture(best.hyperparameters.values)
    lr = best.hyperparameters.get("learning_rate")
    print(f"nas: best trial {best.trial_id} ({nas.objective} {best.score:.4f}): {describe(arch)}")

    # The final training: the winning architecture from scratch on all the training data, with
    # the candidates' schedule (cosine decay, early stopping on validation, best epoch kept).
    started = time.perf_counter()
    train_ds = runtime.dataset(x_train, y_train, nas.batch_size, shuffle_seed=params.seed)
    val_ds = runtime.dataset(x_val, y_val, nas.batch_size)
    keras.utils.set_random_seed(params.seed)  # the same start whether or not the search resumed
    runtime.set_precision(params.train.mixed_precision)
    with strategy.scope():
        model = build_model(arch)
        runtime.compile_model(
            model,
            lr,
            decay_steps=nas.epochs * len(train_ds),
            lr_schedule=params.train.lr_schedule,
            jit_compile=params.train.jit_compile,
        )
    history = model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=nas.epochs,
        callbacks=runtime.fit_callbacks(directory / "final", params.train.patience),
        verbose=2,
    )
    final_time = time.perf_counter() - started
    scores = history.history["val_accuracy"]
    final_epoch = max(range(len(scores)), key=scores.__getitem__)

    rows = trial_table(search.tuner, block)
    for row in rows:
        if row["trial"] == int(best.trial_id):
            row["final_score"] = scores[final_epoch]
    completed = [row for row in rows if row["status"] == "COMPLETED"]
    with atomic_path(MODEL) as tmp:
        model.save(tmp)
    write_trials(METRICS / "trials.csv", rows)
    write_json(
        METRICS / "metrics.json",
        {
            "best_trial": int(best.trial_id),
            "trial_" + nas.objective: best.score,
            "val_accuracy": scores[final_epoch],
            "best_epoch": history.epoch[final_epoch] + 1,  # counted from 1, across a resume
            "params": model.count_params(),
            "trials_completed": len(completed),
        },
    )
    trial_seconds = {row["trial"]: row.get("seconds") for row in rows}
    write_json(
        METRICS / "time.json",
        {
            "search_time_s": round(search_time, 1),
            "final_training_s": round(final_time, 1),
            "final_epochs_run": history.epoch[-1] + 1,
            "trial_seconds": trial_seconds,
        },
    )
    shutil.rmtree(directory)
    print(
        f"nas: {len(completed)} trials in {search_time:.0f}s, then trial {best.trial_id} trained "
        f"in {final_time:.0f}s: val_accuracy {scores[final_epoch]:.4f} -> {MODEL}"
    )


if __name__ == "__main__":
    main()
