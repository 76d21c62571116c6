"""ensemble: one Keras model averaging the class probabilities of members chosen on the
validation split, among the candidates and nas, by ensemble selection: start from the model
with the lowest validation log loss, add the one that lowers the log loss of the mean most,
while one does, up to `ensemble.max_members` (mnist_nas.scoring.selection).

Reads   data/prepared/val.npz, models/trained; params models, ensemble.max_members
Writes  models/ensemble/model.keras (the candidates' uint8 input, so evaluate scores it, export
        can choose it and predict reads it like any model)
        metrics/ensemble.json: the members, the log loss after each was added, and every
        model's validation log loss and accuracy
"""

from __future__ import annotations

from mnist_nas import paths
from mnist_nas.cli import cli, stage_args
from mnist_nas.files import write_json
from mnist_nas.params import load_params
from mnist_nas.scoring.metrics import log_loss
from mnist_nas.scoring.selection import ensemble_members, ensemble_pool


@cli
def main(argv: list[str] | None = None) -> None:
    stage_args("stages.ensemble", __doc__, argv)
    params = load_params()
    max_members = params.ensemble.max_members
    names = ensemble_pool(params.compared(ensemble=False), max_members)

    from mnist_nas.data.splits import load_split
    from mnist_nas.files import load_model, save_model
    from mnist_nas.training.candidates import average

    x_val, y_val = load_split("val")
    models = {name: load_model(paths.model_file(name)) for name in names}
    probs = {name: m.predict(x_val, batch_size=256, verbose=0) for name, m in models.items()}
    sizes = {name: model.count_params() for name, model in models.items()}
    members, losses = ensemble_members(probs, y_val, sizes, max_members)

    save_model(average([models[name] for name in members]), paths.model_file("ensemble"))
    write_json(
        paths.ENSEMBLE_CHOICE,
        {
            "members": members,
            "val_loss_after_each": [round(loss, 6) for loss in losses],
            "val_loss": {name: round(log_loss(y_val, p), 6) for name, p in probs.items()},
            "val_accuracy": {
                name: round(float((p.argmax(axis=1) == y_val).mean()), 6)
                for name, p in probs.items()
            },
        },
    )
    print(
        f"ensemble: mean of {', '.join(members)}, validation log loss "
        + " -> ".join(f"{loss:.5f}" for loss in losses)
    )


if __name__ == "__main__":
    main()
