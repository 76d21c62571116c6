"""The exported model's card: which model, why, its scores, confidence, data, training params
and provenance. A function of the export stage's deps and params only, so the same model gives
the same card, byte for byte (no time, host or git state in it)."""

from __future__ import annotations

import json

import yaml

from mnist_nas import paths
from mnist_nas.params import Params
from mnist_nas.scoring.selection import REASONS


def training_params(params: Params, name: str) -> dict:
    """The params the model `name` was trained with (the ensemble: each member's)."""
    if name == "ensemble":
        members = json.loads(paths.ENSEMBLE_CHOICE.read_text())["members"]
        return {
            "ensemble": params.ensemble.model_dump(),
            "members": {member: training_params(params, member) for member in members},
        }
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
        name: getattr(params, name).model_dump(),
    }


def members_line(name: str) -> str:
    """For an ensemble: its members, and whether the search's model is one of them."""
    if name != "ensemble":
        return ""
    members = json.loads(paths.ENSEMBLE_CHOICE.read_text())["members"]
    search = (
        "The AutoKeras search's model (`nas`) is one of them."
        if "nas" in members
        else "The AutoKeras search's model (`nas`) is not one of them."
    )
    listed = ", ".join(f"`{member}`" for member in members)
    return (
        f"\nThe ensemble averages the probabilities of {listed}, chosen by ensemble selection on "
        f"the validation log loss (`stages/ensemble.py`). {search}\n"
    )


def leaderboard_rows(name: str, leaderboard: dict[str, dict]) -> str:
    return "\n".join(
        f"| {'**' + other + '**' if other == name else other} | {m['val_accuracy']:.2%} | "
        f"{m['val_loss']:.5f} | {m['test_accuracy']:.2%} | "
        f"{m['test_accuracy_ci95_low']:.2%} to {m['test_accuracy_ci95_high']:.2%} | "
        f"{m['test_loss']:.4f} | {m['test_macro_f1']:.4f} | {m['params']:,} |"
        for other, m in sorted(leaderboard.items(), key=lambda item: -item[1]["val_accuracy"])
    )


def model_card(
    name: str,
    params: Params,
    leaderboard: dict[str, dict],
    data: dict,
    calibrated: dict,
    sha256: str,
) -> str:
    splits = ", ".join(f"{split} {data[split]:,}" for split in ("train", "val", "test"))
    subset = f"data.limit: {json.dumps(params.data.limit)}, "
    subset += f"prepare.train_fraction: {params.prepare.train_fraction}"
    return f"""# Model card: `{name}`, MNIST handwritten-digit classifier

Chosen by `export.select_by: {params.export.select_by}` on the validation split (ties go to
fewer params) among the models below: {REASONS[params.export.select_by]}. The rule is a param,
fixed before any score is seen. The official MNIST test set is for reporting only: no choice
(model, early stopping, search, ensemble members) was made on it.
{members_line(name)}
| model | val accuracy | val loss | test accuracy | 95% interval | test loss | macro F1 | params |
| --- | --- | --- | --- | --- | --- | --- | --- |
{leaderboard_rows(name, leaderboard)}

## Use

- `mnist-predict IMAGE...` prints the digit, or the row of digits, in each image with
  each digit's probability, and marks the doubtful ones.
- `saved_model/`, signature `serving_default`: input `images`, uint8 `[batch, 28, 28]`, a white
  digit on black as in MNIST; output `probabilities`, float32 `[batch, 10]`, calibrated. Needs
  only TensorFlow (TF Serving, `saved_model_cli`, `tf.saved_model.load`).
- `model.keras`: `keras.saving.load_model(...)`, plain Keras for every model here.

Intended for 28x28 centred single digits like MNIST's; not evaluated on other handwriting.

## What it refuses

The SavedModel has ten outputs: it answers every image with a digit, a letter or a smudge too.
That is for users who want the ten probabilities alone. `mnist-predict`, the demo page and its
API refuse what is not a digit with a detector of their own (`models/refusal`, stage
`refusal`): a small convnet that learnt printed letters and symbols, pen scribbles, lines,
blots, noise, ink specks and pieces and overlays of digits against training digits. What
scores at its threshold (chosen on validation non-digits: `refusal.max_sent` of each kind may
be read) is printed `not a digit`; a row of digits is refused when most of its pieces are.
What it costs the test digits, and the non-digits it still lets through, of each kind:
`metrics/numbers/nondigits.json`. Not learnt, so not promised: handwritten letters (those it
learnt are printed, in the fonts matplotlib ships), drawings, photos of objects, and a letter
inside a number (one odd piece lowers the number's confidence instead).

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

Model file sha256: {sha256}.
`dvc.lock` records the hash of every input of this model (code, data, params) and of this
folder (`models/best`, stage `export`): `dvc repro` at the commit whose `dvc.lock` holds that
folder's hash reproduces it, and `dvc status` says whether the workspace still does.
"""
