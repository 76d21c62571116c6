"""train: fit one hand-designed candidate on the prepared data (python -m stages.train NAME).

Reads   data/prepared/{train,val}.npz; params seed, lr, epochs, batch_size, train, NAME
Writes  models/trained/NAME/model.keras
        metrics/train/NAME/metrics.json and plots/ (DVCLive: the summary, per-epoch curves)
        metrics/train/NAME/time.json (wall time: a timing, never a metric)
Keeps   .dvc/tmp/train/NAME-<key>/: the resume state of an interrupted fit (Keras' backup,
        DVCLive's history); .dvc/tmp/tensorboard/NAME: TensorBoard logs, outside the outputs
"""

from __future__ import annotations

import shutil
import time

from mnist_nas import paths
from mnist_nas.cli import cli, parser
from mnist_nas.errors import UserError
from mnist_nas.files import save_model, write_json
from mnist_nas.params import CANDIDATES, load_params


def parse_name(argv) -> str:
    args = parser("python -m stages.train", __doc__)
    args.add_argument("name", help="a candidate listed under `models` in params.yaml")
    return args.parse_args(argv).name


@cli
def main(argv: list[str] | None = None) -> None:
    name = parse_name(argv)
    params = load_params()
    if name not in CANDIDATES:
        raise UserError(f"{name!r} is not a candidate; the candidates are {', '.join(CANDIDATES)}")
    lr, epochs, batch_size = params.fit_settings(name)

    # Imported after the params are checked, so a bad param fails without TensorFlow's start-up.
    import keras
    from dvclive.keras import DVCLiveCallback

    from mnist_nas.data.splits import load_split
    from mnist_nas.training import candidates, runtime
    from mnist_nas.training.resume import FitState

    strategy = runtime.setup(params.seed, params.precision(name))
    x_train, y_train = load_split("train")
    x_val, y_val = load_split("val")
    fixed_steps = params.train.steps_per_epoch
    steps = runtime.steps_per_epoch(len(y_train), batch_size, fixed_steps)
    train_ds = runtime.dataset(
        x_train, y_train, batch_size, shuffle_seed=params.seed, repeat=fixed_steps is not None
    )
    val_ds = runtime.dataset(x_val, y_val, batch_size)

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

    settings = params.model_dump(include={"seed", "train", name})
    state = FitState(name, settings | {"fit": [lr, epochs, batch_size]})
    tensorboard = paths.RESUME / "tensorboard" / name
    if state.finished_epochs:
        print(f"train: resuming {name} from {state.backup} after epoch {state.finished_epochs}")
    else:
        shutil.rmtree(tensorboard, ignore_errors=True)

    with state.live() as live:
        callbacks = [
            *runtime.fit_callbacks(state.backup, params.train.patience),
            keras.callbacks.TensorBoard(tensorboard),
            DVCLiveCallback(live=live),
            runtime.progress(name, epochs),
        ]
        started = time.perf_counter()
        history = model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=epochs,
            steps_per_epoch=fixed_steps,
            callbacks=callbacks,
            verbose=0,
        )
        wall_time = time.perf_counter() - started
        runtime.check_converged(history, f"{name}.lr" if getattr(params, name).lr else "lr", lr)
        scores = history.history["val_accuracy"]
        best = max(range(len(scores)), key=scores.__getitem__)
        live.summary |= {"params": model.count_params(), "best_epoch": history.epoch[best] + 1,
                         "best_val_accuracy": scores[best]}  # fmt: skip

    save_model(model, paths.model_file(name))
    state.publish(paths.train_metrics(name))
    epochs_run = len(history.epoch)
    images_per_epoch = fixed_steps * batch_size if fixed_steps else len(y_train)
    timing = {"wall_time_s": round(wall_time, 1), "epochs_run": epochs_run,
              "train_images_per_s": round(epochs_run * images_per_epoch / wall_time)}  # fmt: skip
    write_json(paths.train_metrics(name) / "time.json", timing)
    print(
        f"train: {name}: best val_accuracy {scores[best]:.4f} (epoch {history.epoch[best] + 1}) "
        f"in {wall_time:.0f}s -> {paths.model_file(name)}"
    )


if __name__ == "__main__":
    main()
