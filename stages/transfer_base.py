"""transfer_base: the transfer study's base, a convnet that learns digits 0-4 only
(python -m stages.transfer_base; studies/dvc.yaml, run on demand by `make study NAME=transfer`).

Reads   data/prepared/{train,val}.npz (digits 0-4 only); params seed, convnet.filters,
        convnet.pool, convnet.dense_units, convnet.dropout, transfer.base_epochs,
        transfer.batch_size, transfer.lr
Writes  studies/transfer/base.keras (small, kept in git), studies/transfer/base.json (its
        validation accuracy on digits 0-4, the labels it saw)
"""

from __future__ import annotations

from mnist_nas import paths
from mnist_nas.cli import cli, stage_args
from mnist_nas.files import save_model, write_json
from mnist_nas.params import load_params


@cli
def main(argv: list[str] | None = None) -> None:
    stage_args("stages.transfer_base", __doc__, argv)
    params = load_params()
    transfer = params.transfer

    from mnist_nas.data.splits import load_split
    from mnist_nas.training import runtime
    from mnist_nas.training.transfer import BASE_DIGITS, base_model, digits_task

    runtime.setup(params.seed, mixed_precision=False)
    x_train, y_train = digits_task(load_split("train"), BASE_DIGITS)
    x_val, y_val = digits_task(load_split("val"), BASE_DIGITS)
    model = base_model(params.convnet)
    runtime.compile_model(
        model, transfer.lr, decay_steps=1, lr_schedule="constant", jit_compile=False
    )
    history = model.fit(
        runtime.dataset(x_train, y_train, transfer.batch_size, shuffle_seed=params.seed),
        validation_data=runtime.dataset(x_val, y_val, transfer.batch_size),
        epochs=transfer.base_epochs,
        callbacks=[runtime.progress("transfer base", transfer.base_epochs)],
        verbose=0,
    )
    # without the optimizer's state, a third of the size: the base is kept in git
    import keras

    weights_only = keras.models.clone_model(model)
    weights_only.set_weights(model.get_weights())
    save_model(weights_only, paths.TRANSFER_BASE)
    val_accuracy = round(history.history["val_accuracy"][-1], 6)
    record = {"digits": list(BASE_DIGITS), "train_images": len(y_train),
              "val_accuracy": val_accuracy, "params": model.count_params()}  # fmt: skip
    write_json(paths.TRANSFER / "base.json", record)
    print(f"transfer_base: digits 0-4, val_accuracy {val_accuracy:.4f} -> {paths.TRANSFER_BASE}")


if __name__ == "__main__":
    main()
