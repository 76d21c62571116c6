"""After the search: the winning architecture trained from scratch on all the training data
(the nas stage's final training), and the stage's outputs."""

from __future__ import annotations

from mnist_nas import paths
from mnist_nas.files import save_model, write_json
from mnist_nas.params import Params


def final_training(params: Params, arch: dict, lr: float, state, strategy):
    """The winning architecture from scratch on all the training data, with the candidates'
    schedule (cosine decay, early stopping on validation, best epoch kept), resumed from
    `state` (a FitState) when killed, its curves logged with DVCLive: (model, history)."""
    import keras

    from mnist_nas.data.splits import load_split
    from mnist_nas.search.space import build_model
    from mnist_nas.training import runtime

    nas = params.nas
    (x_train, y_train), val = load_split("train"), load_split("val")
    train_ds = runtime.dataset(x_train, y_train, nas.batch_size, shuffle_seed=params.seed)
    steps = runtime.steps_per_epoch(len(y_train), nas.batch_size, None)
    keras.utils.set_random_seed(params.seed)  # the same start whether or not the search resumed
    runtime.set_precision(params.train.mixed_precision)
    with strategy.scope():
        model = build_model(arch)
        runtime.compile_model(
            model,
            lr,
            decay_steps=nas.epochs * steps,
            lr_schedule=params.train.lr_schedule,
            jit_compile=params.train.jit_compile,
            optimizer_name=params.train.optimizer,
        )
    with state.live() as live:
        callbacks = [
            *runtime.fit_callbacks(state.backup, params.train.patience),
            runtime.LiveMetrics(live),
            runtime.progress("nas final", nas.epochs),
        ]
        val_ds = runtime.dataset(*val, nas.batch_size)
        history = model.fit(
            train_ds, validation_data=val_ds, epochs=nas.epochs, callbacks=callbacks, verbose=0
        )
    return model, history


def write_outputs(params: Params, search, block, best, model, history, seconds: dict) -> None:
    """The model, the trial table (with the winner's final score), the stage's metrics and its
    timings."""
    from mnist_nas.search.trials import trial_table, write_trials
    from mnist_nas.training.augment import without_augmentation
    from mnist_nas.training.runtime import best_epoch

    final_epoch, final_score = best_epoch(history)
    rows = trial_table(search.tuner, block)
    for row in rows:
        if row["trial"] == int(best.trial_id):
            row["final_score"] = final_score
    save_model(without_augmentation(model), paths.model_file("nas"))
    write_trials(paths.NAS / "trials.csv", rows)
    write_json(
        paths.NAS / "metrics.json",
        {
            "best_trial": int(best.trial_id),
            "trial_" + params.nas.objective: best.score,
            "val_accuracy": final_score,
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
