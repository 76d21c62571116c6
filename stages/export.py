"""export: package the best model of the leaderboard, chosen on the validation split, in
models/best for serving. The test set is for reporting only: nothing here chooses by it.

model.keras       the chosen model as trained
saved_model/      TensorFlow SavedModel; signature serving_default takes `images`, uint8
                  [batch, 28, 28] (white digit on black, as in MNIST), and returns
                  `probabilities`, float32 [batch, 10], calibrated: what TF Serving,
                  saved_model_cli and predict run
calibration.json  the temperature the SavedModel applies and the reject threshold, both fitted
                  on the validation split
MODEL_CARD.md     which model, why, its validation and test metrics, data, params and git revision
best.json         the chosen model's name and metrics, for the plot stage

Calibration: temperature scaling fitted on the validation split, so that a digit read at 97% is
right about 97 times in 100; the reject threshold is the lowest confidence at which at most
export.max_wrong_accepted of the accepted validation digits are wrong. The test set only reports
how well both hold: metrics/calibration.json (expected calibration error and log loss before
and after scaling, the share accepted and wrong at the threshold) and
metrics/calibration/reliability/{raw,calibrated}.csv (the reliability diagram's bins).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from stages import calibration
from stages.common import (
    atomic_path,
    cli,
    load_model,
    load_split,
    model_path,
    write_csv,
    write_json,
)
from stages.params import Params, load_params

BEST = Path("models/best")
LEADERBOARD = Path("metrics/eval/leaderboard.json")
CALIBRATION = Path("metrics/calibration")
LOWER_IS_BETTER = {"val_loss"}


def select_best(leaderboard: dict[str, dict], select_by: str) -> str:
    """The model with the best `select_by` score (a validation metric); a tie goes to the one
    with fewer params."""
    sign = 1 if select_by in LOWER_IS_BETTER else -1
    return min(
        sorted(leaderboard),
        key=lambda name: (sign * leaderboard[name][select_by], leaderboard[name]["params"]),
    )


def export_saved_model(model, path: Path, temperature: float) -> None:
    """A SavedModel whose serving signature takes uint8 digits and returns probabilities,
    calibrated by `temperature` (calibration.scale, in TensorFlow)."""
    import keras
    import tensorflow as tf

    input_dtype = model.inputs[0].dtype

    def serve(images):
        probs = tf.cast(model(tf.cast(images, input_dtype), training=False), tf.float32)
        logits = tf.math.log(tf.maximum(probs, calibration.TINY))
        return {"probabilities": tf.nn.softmax(logits / temperature)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serving_default",
        fn=serve,
        input_signature=[tf.TensorSpec([None, 28, 28], tf.uint8, name="images")],
    )
    archive.write_out(str(path), verbose=False)


def calibrate(model, max_wrong_accepted: float) -> tuple[dict, dict, dict[str, pd.DataFrame]]:
    """Temperature and reject threshold fitted on the validation split; then, for the record,
    how they hold on the test set. Returns (calibration.json of the export, the metrics, the
    reliability tables of the test set, "raw" and "calibrated")."""
    x_val, y_val = load_split("val")
    x_test, y_test = load_split("test")
    val = model.predict(x_val, batch_size=256, verbose=0)
    test = model.predict(x_test, batch_size=256, verbose=0)
    temperature = calibration.fit_temperature(y_val, val)
    val_scaled = calibration.scale(val, temperature)
    test_scaled = calibration.scale(test, temperature)
    threshold = calibration.choose_threshold(y_val, val_scaled, max_wrong_accepted)

    def at_threshold(y: np.ndarray, probs: np.ndarray) -> dict:
        accepted = probs.max(axis=1) >= threshold
        wrong = accepted & (probs.argmax(axis=1) != y)
        return {"accepted": accepted.mean(), "wrong_among_accepted": wrong.sum() / accepted.sum()}

    fitted = {"temperature": temperature, "threshold": threshold,
              "max_wrong_accepted": max_wrong_accepted}  # fmt: skip
    metrics = {
        **fitted,
        "val_log_loss_before": calibration.log_loss(y_val, val),
        "val_log_loss_after": calibration.log_loss(y_val, val_scaled),
        "test_log_loss_before": calibration.log_loss(y_test, test),
        "test_log_loss_after": calibration.log_loss(y_test, test_scaled),
        "test_ece_before": calibration.expected_calibration_error(y_test, test),
        "test_ece_after": calibration.expected_calibration_error(y_test, test_scaled),
        **{f"val_{key}": value for key, value in at_threshold(y_val, val_scaled).items()},
        **{f"test_{key}": value for key, value in at_threshold(y_test, test_scaled).items()},
    }
    tables = {
        which: pd.DataFrame(calibration.reliability(y_test, probs)).round(6)
        for which, probs in (("raw", test), ("calibrated", test_scaled))
    }
    rounded = {key: round(float(value), 6) for key, value in metrics.items()}
    return fitted, rounded, tables


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


def model_card(
    name: str, params: Params, leaderboard: dict[str, dict], data: dict, calibrated: dict
) -> str:
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

- `python -m stages.predict IMAGE...` prints the digit, or the row of digits, in each image with
  each digit's probability, and marks the doubtful ones.
- `saved_model/`, signature `serving_default`: input `images`, uint8 `[batch, 28, 28]`, a white
  digit on black as in MNIST; output `probabilities`, float32 `[batch, 10]`, calibrated. Needs
  only TensorFlow (TF Serving, `saved_model_cli`, `tf.saved_model.load`).
- `model.keras`: `keras.saving.load_model(...)`, plain Keras for every model here.

Intended for 28x28 centred single digits like MNIST's; not evaluated on other handwriting.

## Confidence

Temperature scaling, fitted on the validation split: the SavedModel divides the log
probabilities by {calibrated["temperature"]:.4f}. Test-set expected calibration error
{calibrated["test_ece_before"]:.3%} before, {calibrated["test_ece_after"]:.3%} after; log loss
{calibrated["test_log_loss_before"]:.4f} before, {calibrated["test_log_loss_after"]:.4f} after.

Reject threshold {calibrated["threshold"]:.6f} (`calibration.json`), the lowest at which at most
{calibrated["max_wrong_accepted"]:.2%} of the accepted validation digits are wrong
(`export.max_wrong_accepted`). On the test set it accepts {calibrated["test_accepted"]:.2%} of the
digits, of which {calibrated["test_wrong_among_accepted"]:.3%} are wrong.

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
    fitted, metrics, reliability = calibrate(model, params.export.max_wrong_accepted)

    with atomic_path(BEST) as tmp:
        tmp.mkdir()
        shutil.copyfile(source, tmp / "model.keras")
        export_saved_model(model, tmp / "saved_model", fitted["temperature"])
        write_json(tmp / "calibration.json", fitted)
        card = model_card(name, params, leaderboard, data, metrics)
        (tmp / "MODEL_CARD.md").write_text(card)
        best = {"model": name, "select_by": params.export.select_by, **leaderboard[name]}
        write_json(tmp / "best.json", best)
    write_json(CALIBRATION / "metrics.json", metrics)
    for which, table in reliability.items():
        write_csv(CALIBRATION / "reliability" / f"{which}.csv", table)
    print(
        f"export: {name} ({params.export.select_by} {leaderboard[name][params.export.select_by]})"
        f" -> {BEST}/model.keras, {BEST}/saved_model; temperature {fitted['temperature']:.3f},"
        f" test ECE {metrics['test_ece_before']:.2%} -> {metrics['test_ece_after']:.2%},"
        f" reject threshold {fitted['threshold']:.4f}"
    )


if __name__ == "__main__":
    main()
