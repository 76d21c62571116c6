"""train: fit one hand-designed candidate on the prepared data (python -m stages.train NAME).

Reads   data/prepared/{train,val}.npz; params seed, lr, epochs, batch_size, train, NAME
Writes  models/trained/NAME/model.keras
        metrics/train/NAME/metrics.json and plots/ (DVCLive: the summary, per-epoch curves)
        metrics/train/NAME/time.json (wall time: a timing, never a metric)
Keeps   .dvc/tmp/train/NAME-<key>/: the resume state of an interrupted fit (Keras' backup,
        DVCLive's history); .dvc/tmp/tensorboard/NAME: TensorBoard logs, outside the outputs
"""

from __future__ import annotations

import json
import shutil
import time

from mnist_nas import paths
from mnist_nas.cli import cli, parser
from mnist_nas.errors import UserError
from mnist_nas.files import atomic_path, save_model, write_json
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
    from dvclive import Live
    from dvclive.keras import DVCLiveCallback

    from mnist_nas.data.splits import load_split
    from mnist_nas.training import candidates, runtime
    from mnist_nas.training.resume import resume_dir

    strategy = runtime.setup(params.seed, params.train.mixed_precision)
    x_train, y_train = load_split("train")
    x_val, y_val = load_split("val")
    train_ds = runtime.dataset(x_train, y_train, batch_size, shuffle_seed=params.seed)
    val_ds = runtime.dataset(x_val, y_val, batch_size)

    with strategy.scope():
        model = candidates.build(name, params)
        runtime.compile_model(
            model,
            lr,
            decay_steps=epochs * len(train_ds),
            lr_schedule=params.train.lr_schedule,
            jit_compile=params.train.jit_compile,
        )

    settings = params.model_dump(include={"seed", "train", name})
    state = resume_dir(paths.RESUME / "train", name, settings | {"fit": [lr, epochs, batch_size]})
    backup, history_dir = state / "backup", state / "live"
    resuming = (backup / "training_metadata.json").exists()
    tensorboard = paths.RESUME / "tensorboard" / name
    if resuming:
        print(f"train: resuming {name} from {backup}")
    else:
        shutil.rmtree(tensorboard, ignore_errors=True)

    with Live(str(history_dir), resume=resuming, dvcyaml=None, save_dvc_exp=False) as live:
        if resuming:  # DVCLive's step = Keras' epoch (its own resume is one short after epoch 1)
            live.step = json.loads((backup / "training_metadata.json").read_text())["epoch"]
        callbacks = [
            *runtime.fit_callbacks(backup, params.train.patience),
            keras.callbacks.TensorBoard(tensorboard),
            DVCLiveCallback(live=live),
            runtime.progress(name, epochs),
        ]
        started = time.perf_counter()
        history = model.fit(
            train_ds, validation_data=val_ds, epochs=epochs, callbacks=callbacks, verbose=0
        )
        wall_time = time.perf_counter() - started
        runtime.check_converged(history, f"{name}.lr" if getattr(params, name).lr else "lr", lr)
        best = max(range(len(history.epoch)), key=lambda i: history.history["val_accuracy"][i])
        live.summary["params"] = model.count_params()
        live.summary["best_epoch"] = history.epoch[best] + 1
        live.summary["best_val_accuracy"] = history.history["val_accuracy"][best]

    save_model(model, paths.model_file(name))
    record = paths.train_metrics(name)
    for part in ("metrics.json", "plots"):
        with atomic_path(record / part) as tmp:
            (shutil.copytree if part == "plots" else shutil.copyfile)(history_dir / part, tmp)
    epochs_run = len(history.epoch)
    write_json(
        record / "time.json",
        {
            "wall_time_s": round(wall_time, 1),
            "epochs_run": epochs_run,
            "train_images_per_s": round(epochs_run * len(y_train) / wall_time),
        },
    )
    shutil.rmtree(state)
    print(
        f"train: {name}: best val_accuracy {history.history['val_accuracy'][best]:.4f} "
        f"(epoch {history.epoch[best] + 1}) in {wall_time:.0f}s -> {paths.model_file(name)}"
    )


if __name__ == "__main__":
    main()
