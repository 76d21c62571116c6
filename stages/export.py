"""export: package the best model of the leaderboard, chosen on the validation split, in
models/best for serving. The test set is for reporting only: nothing here chooses by it.

model.keras    the chosen model as trained
saved_model/   TensorFlow SavedModel; signature serving_default takes `images`, uint8
               [batch, 28, 28] (white digit on black, as in MNIST), and returns
               `probabilities`, float32 [batch, 10]: what TF Serving and saved_model_cli run
MODEL_CARD.md  which model, why, its validation and test metrics, data, params and git revision
best.json      the chosen model's name and metrics, for the plot stage
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import yaml

from stages.common import atomic_path, cli, load_model, model_path, write_json
from stages.params import Params, load_params

BEST = Path("models/best")
LEADERBOARD = Path("metrics/eval/leaderboard.json")
LOWER_IS_BETTER = {"val_loss"}


def select_best(leaderboard: dict[str, dict], select_by: str) -> str:
    """The model with the best `select_by` score (a validation metric); a tie goes to the one
    with fewer params."""
    sign = 1 if select_by in LOWER_IS_BETTER else -1
    return min(
        sorted(leaderboard),
        key=lambda name: (sign * leaderboard[name][select_by], leaderboard[name]["params"]),
    )


def export_saved_model(model, path: Path) -> None:
    """A SavedModel whose serving signature takes uint8 digits and returns probabilities."""
    import keras
    import tensorflow as tf

    input_dtype = model.inputs[0].dtype
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serving_default",
        fn=lambda images: {"probabilities": model(tf.cast(images, input_dtype), training=False)},
        input_signature=[tf.TensorSpec([None, 28, 28], tf.uint8, name="images")],
    )
    archive.write_out(str(path), verbose=False)


def git_revision() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    changed = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "params.yaml", "stages"])
    return commit + (" (params.yaml or stages/ changed since)" if changed.returncode else "")


def training_params(params: Params, name: str) -> dict:
    if name == "ensemble":
        members = json.loads(Path("metrics/ensemble.json").read_text())["members"]
        return {"ensemble": params.ensemble.model_dump(), "members": members}
    if name == "nas":
        train = params.train.model_dump(include={"patience", "lr_schedule"})
        return {"seed": params.seed, "nas": params.nas.model_dump(), "train": train}
    lr, epochs, batch_size = params.fit_settings(name)
    return {
        "seed": params.seed,
        "lr": lr,
        "epochs": epochs,
        "batch_size": batch_size,
        "train": params.train.model_dump(),
        name: params.model_dump()[name],
    }


def model_card(name: str, params: Params, leaderboard: dict[str, dict], data: dict) -> str:
    rows = "\n".join(
        f"| {'**' + other + '**' if other == name else other} | {m['val_accuracy']:.2%} | "
        f"{m['val_loss']:.4f} | {m['test_accuracy']:.2%} | "
        f"{m['test_accuracy_ci95_low']:.2%} to {m['test_accuracy_ci95_high']:.2%} | "
        f"{m['test_loss']:.4f} | {m['test_macro_f1']:.4f} | {m['params']:,} |"
        for other, m in sorted(leaderboard.items(), key=lambda item: -item[1]["val_accuracy"])
    )
    splits = ", ".join(f"{split} {data[split]:,}" for split in ("train", "val", "test"))
    subset = f"data.limit: {json.dumps(params.data.limit)}, "
    subset += f"prepare.train_fraction: {params.prepare.train_fraction}"
    return f"""# Model card: `{name}`, MNIST handwritten-digit classifier

Chosen by `export.select_by: {params.export.select_by}` on the validation split (ties go to
fewer params) among the models below. The official MNIST test set is for reporting only: no
choice (model, early stopping, search, ensemble members) was made on it.

| model | val accuracy | val loss | test accuracy | 95% interval | test loss | macro F1 | params |
| --- | --- | --- | --- | --- | --- | --- | --- |
{rows}

## Use

- `python -m stages.predict IMAGE...` prints the digit and its probability for PNG/JPEG files.
- `saved_model/`, signature `serving_default`: input `images`, uint8 `[batch, 28, 28]`, a white
  digit on black as in MNIST; output `probabilities`, float32 `[batch, 10]`. Needs only
  TensorFlow (TF Serving, `saved_model_cli`, `tf.saved_model.load`).
- `model.keras`: `keras.saving.load_model(...)`, plain Keras for every model here.

Intended for 28x28 centred single digits like MNIST's; not evaluated on other handwriting.

## Data

MNIST from `data.source: {params.data.source}`, images per split: {splits}.
Subset params: `{subset}`.

## Training params

```yaml
{yaml.safe_dump(training_params(params, name), sort_keys=False).strip()}
```

## Provenance

Git revision: {git_revision()}. Reproduce with `dvc repro` at that revision.
"""


@cli
def main() -> None:
    params = load_params()
    leaderboard = json.loads(LEADERBOARD.read_text())
    name = select_best(leaderboard, params.export.select_by)
    data = json.loads(Path("metrics/data.json").read_text())
    source = model_path(name)
    model = load_model(source)

    with atomic_path(BEST) as tmp:
        tmp.mkdir()
        shutil.copyfile(source, tmp / "model.keras")
        export_saved_model(model, tmp / "saved_model")
        (tmp / "MODEL_CARD.md").write_text(model_card(name, params, leaderboard, data))
        best = {"model": name, "select_by": params.export.select_by, **leaderboard[name]}
        write_json(tmp / "best.json", best)
    print(
        f"export: {name} ({params.export.select_by} {leaderboard[name][params.export.select_by]})"
        f" -> {BEST}/model.keras, {BEST}/saved_model"
    )


if __name__ == "__main__":
    main()
