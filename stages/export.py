"""export: package the best model of the leaderboard in models/best for serving.

model.keras    the chosen model as trained (`import autokeras` first if it is the NAS model)
saved_model/   TensorFlow SavedModel; signature serving_default takes `images`, uint8
               [batch, 28, 28] (white digit on black, as in MNIST), and returns
               `probabilities`, float32 [batch, 10]: what TF Serving and saved_model_cli run
MODEL_CARD.md  which model, why, its test metrics, data, params and git revision
best.json      the chosen model's name and test metrics, for the plot stage
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import yaml

from stages.common import TRAINED, atomic_path, cli, load_model, write_json
from stages.params import Params, load_params

BEST = Path("models/best")
LEADERBOARD = Path("metrics/eval/leaderboard.json")
LOWER_IS_BETTER = {"loss"}


def select_best(leaderboard: dict[str, dict], select_by: str) -> str:
    """The model with the best `select_by` score; a tie goes to the one with fewer params."""
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
    if name == "nas":
        return {"seed": params.seed, "nas": params.nas.model_dump()}
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
        f"| {'**' + other + '**' if other == name else other} | {m['accuracy']:.2%} | "
        f"{m['loss']:.4f} | {m['macro_f1']:.4f} | {m['params']:,} |"
        for other, m in sorted(leaderboard.items(), key=lambda item: -item[1]["accuracy"])
    )
    splits = ", ".join(f"{split} {data[split]:,}" for split in ("train", "val", "test"))
    subset = f"data.limit: {json.dumps(params.data.limit)}, "
    subset += f"prepare.train_fraction: {params.prepare.train_fraction}"
    return f"""# Model card: `{name}`, MNIST handwritten-digit classifier

Chosen by `export.select_by: {params.export.select_by}` (ties go to fewer params) among the
models below, all scored on the same official MNIST test set.

| model | test accuracy | test loss | macro F1 | params |
| --- | --- | --- | --- | --- |
{rows}

## Use

- `python -m stages.predict IMAGE...` prints the digit and its probability for PNG/JPEG files.
- `saved_model/`, signature `serving_default`: input `images`, uint8 `[batch, 28, 28]`, a white
  digit on black as in MNIST; output `probabilities`, float32 `[batch, 10]`. Needs only
  TensorFlow (TF Serving, `saved_model_cli`, `tf.saved_model.load`).
- `model.keras`: `keras.saving.load_model(...)`; for the `nas` model, `import autokeras` first.

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
    source = TRAINED / name / "model.keras"
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
