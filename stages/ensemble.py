"""ensemble: one Keras model averaging the class probabilities of the best `ensemble.top_k`
models by validation accuracy (ties go to fewer params), among the candidates and nas.

Writes models/ensemble/model.keras, with the candidates' uint8 input, so evaluate scores it,
export can choose it and predict reads it like any model; and metrics/ensemble.json: the
members, and every model's validation accuracy that chose them.
"""

from __future__ import annotations

from pathlib import Path

from stages.common import ENSEMBLE, UserError, atomic_path, cli, load_split, write_json
from stages.params import Params, load_params

METRICS = Path("metrics/ensemble.json")


def average(members: list):
    """One model whose output is the mean of the members' class probabilities."""
    import keras

    inputs = keras.Input(shape=(28, 28), dtype="uint8", name="digits")
    outputs = [member(inputs) for member in members]
    probs = keras.layers.Average(name="probs")(outputs) if len(outputs) > 1 else outputs[0]
    return keras.Model(inputs, probs, name="ensemble")


def candidates(params: Params) -> list[str]:
    """The models the ensemble chooses from: every trained one, at least ensemble.top_k."""
    from stages.evaluate import model_names

    names = model_names(params, ensemble=False)
    if params.ensemble.top_k > len(names):
        raise UserError(
            f"ensemble.top_k: {params.ensemble.top_k} is more than the {len(names)} models {names}"
        )
    return names


@cli
def main() -> None:
    params = load_params()
    from stages.common import load_model, model_path

    names = candidates(params)
    top_k = params.ensemble.top_k

    x_val, y_val = load_split("val")
    models, val_accuracy = {}, {}
    for name in names:
        models[name] = load_model(model_path(name))
        probs = models[name].predict(x_val, batch_size=256, verbose=0)
        val_accuracy[name] = round(float((probs.argmax(axis=1) == y_val).mean()), 6)
    ranked = sorted(names, key=lambda name: (-val_accuracy[name], models[name].count_params()))
    members = ranked[:top_k]
    model = average([models[name] for name in members])

    with atomic_path(ENSEMBLE / "model.keras") as tmp:
        model.save(tmp)
    write_json(METRICS, {"members": members, "val_accuracy": val_accuracy})
    print(f"ensemble: mean of {', '.join(members)} (best {top_k} by val_accuracy) -> {ENSEMBLE}")


if __name__ == "__main__":
    main()
