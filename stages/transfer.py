"""transfer: learn digits 5-9 from few or all training images, from scratch or from the base
that learnt digits 0-4 (python -m stages.transfer; studies/dvc.yaml, run on demand by
`make study NAME=transfer`).

Reads   data/prepared/{train,val}.npz (digits 5-9 only), studies/transfer/base.keras; params
        seed, convnet.filters, convnet.pool, convnet.dense_units, convnet.dropout, transfer.epochs,
        transfer.steps_per_epoch, transfer.batch_size, transfer.lr, transfer.per_class,
        transfer.method, transfer.finetune_layers
Writes  studies/transfer/run/metrics.json and plots/ (DVCLive: the summary, per-epoch curves on
        the validation digits 5-9), studies/transfer/run/time.json (wall time, a timing)

Every epoch is transfer.steps_per_epoch steps, whatever the number of images (a few are
repeated), so each data size gets the same training.
"""

from __future__ import annotations

import time

from mnist_nas import paths
from mnist_nas.cli import cli, stage_args
from mnist_nas.files import load_model, write_json
from mnist_nas.params import load_params


@cli
def main(argv: list[str] | None = None) -> None:
    stage_args("stages.transfer", __doc__, argv)
    params = load_params()
    transfer = params.transfer

    from mnist_nas.data.splits import load_split
    from mnist_nas.training import runtime
    from mnist_nas.training.resume import FitState
    from mnist_nas.training.transfer import NEW_DIGITS, digits_task, new_task_model

    runtime.setup(params.seed, mixed_precision=False)
    x_train, y_train = digits_task(load_split("train"), NEW_DIGITS, transfer.per_class, params.seed)
    x_val, y_val = digits_task(load_split("val"), NEW_DIGITS)
    base = None if transfer.method == "scratch" else load_model(paths.TRANSFER_BASE)
    model = new_task_model(base, params.convnet, transfer.method, transfer.finetune_layers)
    runtime.compile_model(
        model, transfer.lr, decay_steps=1, lr_schedule="constant", jit_compile=False
    )
    batch_size = min(transfer.batch_size, len(y_train))
    layers = params.convnet.model_dump(include={"filters", "pool", "dense_units", "dropout"})
    # every transfer key but the base's own
    learning = transfer.model_dump(include=set(type(transfer).model_fields) - {"base_epochs"})
    settings = {"seed": params.seed, "convnet": layers, "transfer": learning}
    state = FitState.keyed("transfer", settings)
    with state.live() as live:
        started = time.perf_counter()
        history = model.fit(
            runtime.dataset(x_train, y_train, batch_size, shuffle_seed=params.seed, repeat=True),
            validation_data=runtime.dataset(x_val, y_val, transfer.batch_size),
            epochs=transfer.epochs,
            steps_per_epoch=transfer.steps_per_epoch,
            callbacks=[
                *runtime.fit_callbacks(state.backup, patience=transfer.epochs),
                runtime.LiveMetrics(live),
                runtime.progress(f"transfer {transfer.method}", transfer.epochs),
            ],
            verbose=0,
        )
        wall_time = time.perf_counter() - started
        scores = history.history["val_accuracy"]
        trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
        live.summary |= {"params": model.count_params(), "trainable_params": trainable,
                         "train_images": len(y_train),
                         "best_val_accuracy": max(scores)}  # fmt: skip
    state.publish(paths.TRANSFER_RUN)
    epochs_run = len(history.epoch)
    write_json(paths.TRANSFER_RUN / "time.json", {"wall_time_s": round(wall_time, 1),
                                                  "epochs_run": epochs_run})  # fmt: skip
    print(
        f"transfer: {transfer.method}, {len(y_train)} images of digits 5-9: "
        f"best val_accuracy {max(scores):.4f} -> {paths.TRANSFER_RUN}"
    )


if __name__ == "__main__":
    main()
