"""ensemble: one Keras model averaging the class probabilities of the best `ensemble.top_k`
models by validation accuracy (ties go to fewer params), among the candidates and nas.

Reads   data/prepared/val.npz, models/trained; params models, ensemble.top_k
Writes  models/ensemble/model.keras (the candidates' uint8 input, so evaluate scores it, export
        can choose it and predict reads it like any model)
        metrics/ensemble.json: the members, and every model's validation accuracy that chose them
"""

from __future__ import annotations

from mnist_nas import paths
from mnist_nas.cli import cli, stage_args
from mnist_nas.files import write_json
from mnist_nas.params import load_params
from mnist_nas.scoring.selection import ensemble_members, ensemble_pool


@cli
def main(argv: list[str] | None = None) -> None:
    stage_args("stages.ensemble", __doc__, argv)
    params = load_params()
    top_k = params.ensemble.top_k
    names = ensemble_pool(params.compared(ensemble=False), top_k)

    from mnist_nas.data.splits import load_split
    from mnist_nas.files import load_model, save_model
    from mnist_nas.training.candidates import average

    x_val, y_val = load_split("val")
    models = {name: load_model(paths.model_file(name)) for name in names}
    val_accuracy = {}
    for name, model in models.items():
        probs = model.predict(x_val, batch_size=256, verbose=0)
        val_accuracy[name] = round(float((probs.argmax(axis=1) == y_val).mean()), 6)
    sizes = {name: model.count_params() for name, model in models.items()}
    members = ensemble_members(val_accuracy, sizes, top_k)

    save_model(average([models[name] for name in members]), paths.model_file("ensemble"))
    write_json(paths.ENSEMBLE_CHOICE, {"members": members, "val_accuracy": val_accuracy})
    print(f"ensemble: mean of {', '.join(members)} (best {top_k} by val_accuracy)")


if __name__ == "__main__":
    main()
