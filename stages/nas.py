"""nas: AutoKeras architecture search on the prepared data, then the winner's full training.

Reads   data/prepared/{train,val}.npz; params seed, nas, train.patience, train.optimizer,
        train.lr_schedule, train.mixed_precision, train.jit_compile
Writes  models/trained/nas/model.keras (a plain Keras model with the candidates' uint8 input)
        metrics/nas/trials.csv (each trial's architecture, size, cost, proxy score, and the
        winner's final score), metrics/nas/metrics.json, metrics/nas/time.json (timings)
Keeps   NAS_SEARCH_DIR (default .dvc/tmp/nas)/search-<key>: the search, resumed if killed

Trials are a cheap proxy: a few epochs on a stratified share of the training split, scored on
the validation split. The best trial's architecture is then trained from scratch on all the
training data with the candidates' schedule.

Distributed search uses Keras Tuner's own mode. With KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT
and KERASTUNER_TUNER_ID set, a process whose id contains "chief" serves the oracle over gRPC
(run it as `dvc repro nas`); every other id is a worker that runs trials and writes nothing but
its trials' checkpoints (`python -m stages.nas`). All of them must see the same search folder
(NAS_SEARCH_DIR on a shared filesystem). The chief alone writes the outputs.
"""

from __future__ import annotations

import os
import shutil
import time

from mnist_nas import paths
from mnist_nas.cli import cli, stage_args
from mnist_nas.files import save_model, write_json
from mnist_nas.params import Params, load_params


def final_training(params: Params, arch: dict, lr: float, folder, strategy):
    """The winning architecture from scratch on all the training data, with the candidates'
    schedule (cosine decay, early stopping on validation, best epoch kept): (model, history)."""
    import keras

    from mnist_nas.data.splits import load_split
    from mnist_nas.search.space import build_model
    from mnist_nas.training import runtime
    from mnist_nas.training.resume import repair_backup

    nas = params.nas
    repair_backup(folder)
    (x_train, y_train), val = load_split("train"), load_split("val")
    train_ds = runtime.dataset(x_train, y_train, nas.batch_size, shuffle_seed=params.seed)
    val_ds = runtime.dataset(*val, nas.batch_size)
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
            optimizer_name=params.train.optimizer,
        )
    callbacks = [
        *runtime.fit_callbacks(folder, params.train.patience),
        runtime.progress("nas final", nas.epochs),
    ]
    history = model.fit(
        train_ds, validation_data=val_ds, epochs=nas.epochs, callbacks=callbacks, verbose=0
    )
    return model, history


def write_outputs(params: Params, search, block, best, model, history, seconds: dict) -> None:
    from mnist_nas.search.trials import trial_table, write_trials

    scores = history.history["val_accuracy"]
    final_epoch = max(range(len(scores)), key=scores.__getitem__)
    rows = trial_table(search.tuner, block)
    for row in rows:
        if row["trial"] == int(best.trial_id):
            row["final_score"] = scores[final_epoch]
    save_model(model, paths.model_file("nas"))
    write_trials(paths.NAS / "trials.csv", rows)
    write_json(
        paths.NAS / "metrics.json",
        {
            "best_trial": int(best.trial_id),
            "trial_" + params.nas.objective: best.score,
            "val_accuracy": scores[final_epoch],
            "best_epoch": history.epoch[final_epoch] + 1,  # counted from 1, across a resume
            "params": model.count_params(),
            "trials_completed": sum(row["status"] == "COMPLETED" for row in rows),
        },
    )
    write_json(
        paths.NAS / "time.json",
        {
            **seconds,
            "final_epochs_run": history.epoch[-1] + 1,
            "trial_seconds": {row["trial"]: row.get("seconds") for row in rows},
        },
    )


@cli
def main(argv: list[str] | None = None) -> None:
    stage_args("stages.nas", __doc__, argv)
    params = load_params()
    nas = params.nas
    from mnist_nas.search.trials import distributed_role, trial_subset, wait_for_chief

    role = distributed_role()

    # Imported after the params are checked, so a bad param fails without TensorFlow's start-up.
    from mnist_nas.data.splits import load_split
    from mnist_nas.search.automodel import automodel, run_trials
    from mnist_nas.search.space import WorkerFinished, describe
    from mnist_nas.training import runtime
    from mnist_nas.training.resume import resume_dir

    # AutoKeras and keras-tuner treat seed 0 as "no seed"; the global Keras seed is set too.
    seed = params.seed or 1
    strategy = runtime.setup(params.seed, mixed_precision=False)  # AutoKeras' head: float32
    x_train, y_train = load_split("train")
    validation = load_split("val")
    trial_data = trial_subset(x_train, y_train, nas.trial_fraction, params.seed)

    root = os.environ.get("NAS_SEARCH_DIR", paths.RESUME / "nas")
    final_settings = params.train.model_dump(include={"patience", "lr_schedule"})
    directory = resume_dir(
        root, "search", [nas.model_dump(), seed, final_settings], remove_stale=role != "worker"
    )
    if role == "worker":
        wait_for_chief(directory)
    elif (directory / "oracle.json").exists():
        print(f"nas: resuming the search in {directory}")

    search, block = automodel(nas, seed, directory)
    if role == "chief":
        address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
        print(f"nas chief: serving {nas.max_trials} trials on {address}, search in {directory}")
    started = time.perf_counter()
    try:
        run_trials(search, nas, trial_data, validation)
    except WorkerFinished as finished:
        tuner_id = os.environ["KERASTUNER_TUNER_ID"]
        print(f"nas worker {tuner_id}: ran trials {', '.join(finished.args[0]) or 'none'}")
        return
    search_time = time.perf_counter() - started
    best = search.tuner.oracle.get_best_trials(1)[0]
    arch = block.architecture(best.hyperparameters.values)
    print(f"nas: best trial {best.trial_id} ({nas.objective} {best.score:.4f}): {describe(arch)}")

    started = time.perf_counter()
    lr = best.hyperparameters.get("learning_rate")
    model, history = final_training(params, arch, lr, directory / "final", strategy)
    final_time = time.perf_counter() - started
    seconds = {"search_time_s": round(search_time, 1), "final_training_s": round(final_time, 1)}
    write_outputs(params, search, block, best, model, history, seconds)
    shutil.rmtree(directory)
    print(
        f"nas: trial {best.trial_id} trained in {final_time:.0f}s after a {search_time:.0f}s "
        f"search: val_accuracy {max(history.history['val_accuracy']):.4f} -> "
        f"{paths.model_file('nas')}"
    )


if __name__ == "__main__":
    main()
