"""One hand-designed candidate's fit, as the train stage runs it: its data, its compiled model,
and a fit that resumes where a killed one stopped and logs its curves with DVCLive."""

from __future__ import annotations

import shutil
import time

from mnist_nas import paths
from mnist_nas.params import Params


def compiled_candidate(name: str, params: Params, steps: int, strategy):
    """The candidate `name`, built and compiled with its own settings (params.fit_settings)."""
    from mnist_nas.training import candidates, runtime

    lr, epochs, _ = params.fit_settings(name)
    with strategy.scope():
        model = candidates.build(name, params)
        runtime.compile_model(
            model,
            lr,
            decay_steps=epochs * steps,
            lr_schedule=params.train.lr_schedule,
            jit_compile=params.train.jit_compile,
            optimizer_name=params.train.optimizer,
        )
    return model


def fit_candidate(name: str, params: Params):
    """Train `name` on the prepared training split, early-stopped on validation: (the model
    with its best epoch's weights, Keras' history, its FitState to publish, the timing)."""
    from mnist_nas.data.splits import load_split
    from mnist_nas.training import runtime
    from mnist_nas.training.resume import FitState

    lr, epochs, batch_size = params.fit_settings(name)
    strategy = runtime.setup(params.seed, params.precision(name))
    (x_train, y_train), val = load_split("train"), load_split("val")
    fixed_steps = params.train.steps_per_epoch
    steps = runtime.steps_per_epoch(len(y_train), batch_size, fixed_steps)
    train_ds = runtime.dataset(x_train, y_train, batch_size, shuffle_seed=params.seed,
                               repeat=fixed_steps is not None)  # fmt: skip
    model = compiled_candidate(name, params, steps, strategy)

    settings = params.model_dump(include={"seed", "train", name})
    state = FitState.keyed(name, settings | {"fit": [lr, epochs, batch_size]})
    tensorboard = paths.RESUME / "tensorboard" / name
    if state.finished_epochs:
        print(f"train: resuming {name} from {state.backup} after epoch {state.finished_epochs}")
    else:
        shutil.rmtree(tensorboard, ignore_errors=True)
    with state.live() as live:
        callbacks = [*runtime.fit_callbacks(state.backup, params.train.patience),
                     *runtime.tensorboard(tensorboard), runtime.LiveMetrics(live),
                     runtime.progress(name, epochs)]  # fmt: skip
        started = time.perf_counter()
        history = model.fit(train_ds, validation_data=runtime.dataset(*val, batch_size),
                            epochs=epochs, steps_per_epoch=fixed_steps, callbacks=callbacks,
                            verbose=0)  # fmt: skip
        wall_time = time.perf_counter() - started
        runtime.check_converged(history, f"{name}.lr" if getattr(params, name).lr else "lr", lr)
        best, score = runtime.best_epoch(history)
        live.summary |= {"params": model.count_params(), "best_epoch": history.epoch[best] + 1,
                         "best_val_accuracy": score}  # fmt: skip
    images = len(history.epoch) * (fixed_steps * batch_size if fixed_steps else len(y_train))
    timing = {"wall_time_s": round(wall_time, 1), "epochs_run": len(history.epoch),
              "train_images_per_s": round(images / wall_time)}  # fmt: skip
    return model, history, state, timing
