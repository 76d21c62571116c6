"""train: fit one hand-designed candidate on the prepared data (python -m stages.train NAME).

Writes models/trained/NAME/model.keras (plus TensorBoard logs beside it), DVCLive metrics and
per-epoch plots under metrics/train/NAME, and the wall time there in time.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from stages.common import TRAINED, UserError, atomic_path, cli, resume_dir, write_json
from stages.params import Params, load_params


def parse_name(params: Params) -> str:
    if len(sys.argv) != 2:
        raise UserError("usage: python -m stages.train MODEL_NAME")
    name = sys.argv[1]
    if name not in params.models:
        raise UserError(f"models: {name!r} is not one of the listed models {params.models}")
    return name


@cli
def main() -> None:
    params = load_params()
    name = parse_name(params)
    lr, epochs, batch_size = params.fit_settings(name)

    # Imported after the params are checked, so a bad param fails without TensorFlow's start-up.
    import keras
    from dvclive import Live
    from dvclive.keras import DVCLiveCallback

    from stages import models, runtime
    from stages.common import load_split

    strategy = runtime.setup(params.seed, params.train.mixed_precision)
    x_train, y_train = load_split("train")
    x_val, y_val = load_split("val")
    train_ds = runtime.dataset(x_train, y_train, batch_size, shuffle_seed=params.seed)
    val_ds = runtime.dataset(x_val, y_val, batch_size)

    with strategy.scope():
        model = models.build(name, params)
        runtime.compile_model(
            model,
            lr,
            decay_steps=epochs * len(train_ds),
            lr_schedule=params.train.lr_schedule,
            jit_compile=params.train.jit_compile,
        )

    # Where BackupAndRestore keeps the last finished epoch of an interrupted run.
    settings = params.model_dump(include={"seed", "train", name})
    backup = resume_dir(".dvc/tmp/backup", name, settings | {"fit": params.fit_settings(name)})
    resuming = (backup / "training_metadata.json").exists()
    if resuming:
        print(f"train: resuming {name} from {backup}")

    model_dir = TRAINED / name
    with Live(f"metrics/train/{name}", resume=resuming, dvcyaml=None, save_dvc_exp=False) as live:
        if resuming:  # DVCLive's step = Keras' epoch (its own resume is one short after epoch 1)
            live.step = json.loads((backup / "training_metadata.json").read_text())["epoch"]
        callbacks = [
            *runtime.fit_callbacks(backup, params.train.patience),
            keras.callbacks.TensorBoard(model_dir / "tensorboard"),
            DVCLiveCallback(live=live),
        ]
        started = time.perf_counter()
        history = model.fit(
            train_ds, validation_data=val_ds, epochs=epochs, callbacks=callbacks, verbose=2
        )
        wall_time = time.perf_counter() - started
        runtime.check_converged(history, f"{name}.lr" if getattr(params, name).lr else "lr", lr)
        best = max(range(len(history.epoch)), key=lambda i: history.history["val_accuracy"][i])
        live.summary["params"] = model.count_params()
        live.summary["best_epoch"] = history.epoch[best] + 1
        live.summary["best_val_accuracy"] = history.history["val_accuracy"][best]

    with atomic_path(model_dir / "model.keras") as tmp:
        model.save(tmp)
    epochs_run = len(history.epoch)
    write_json(
        Path("metrics/train") / name / "time.json",
        {
            "wall_time_s": round(wall_time, 1),
            "epochs_run": epochs_run,
            "train_images_per_s": round(epochs_run * len(y_train) / wall_time),
        },
    )
    print(
        f"train: {name}: best val_accuracy {history.history['val_accuracy'][best]:.4f} "
        f"(epoch {history.epoch[best] + 1}) in {wall_time:.0f}s -> {model_dir / 'model.keras'}"
    )


if __name__ == "__main__":
    main()
