"""Choosing models on the validation split: the ensemble's members and the exported model.
The test set never enters here.

The default rule is the validation log loss. At 6,000 validation digits, accuracy moves in
steps of 1/6,000 and two good models differ by a handful of digits, which is noise; the log
loss is a proper scoring rule that weighs every digit's confidence, so it still ranks models
whose accuracies tie, and it rewards a model whose probabilities can be trusted, which the
reject threshold and the number reader rely on."""

from __future__ import annotations

import numpy as np

from mnist_nas.errors import UserError
from mnist_nas.scoring.metrics import log_loss

LOWER_IS_BETTER = {"val_loss"}

# Why each export.select_by rule chooses as it does: the model card prints the one in use.
REASONS = {
    "val_loss": "the validation log loss, a proper scoring rule: it weighs every digit's "
    "confidence, so it ranks models whose validation accuracies tie or differ by a few digits "
    "(noise at 6,000 digits), and it favours probabilities that the reject threshold can trust",
    "val_accuracy": "the validation accuracy: the share of digits read right, in steps of one "
    "digit of the validation split",
    "val_macro_f1": "the validation macro F1: every digit class weighs the same",
}


def select_best(leaderboard: dict[str, dict], select_by: str) -> str:
    """The model with the best `select_by` score (a validation metric); a tie goes to the one
    with fewer params."""
    sign = 1 if select_by in LOWER_IS_BETTER else -1
    return min(
        sorted(leaderboard),
        key=lambda name: (sign * leaderboard[name][select_by], leaderboard[name]["params"]),
    )


def ensemble_members(
    val_probs: dict[str, np.ndarray], y_val: np.ndarray, sizes: dict[str, int], max_members: int
) -> tuple[list[str], list[float]]:
    """Ensemble selection (Caruana et al., 2004), without repeats: start from the model with the
    lowest validation log loss, then add, one at a time, the model that lowers the log loss of
    the members' mean probabilities most, while one does and up to `max_members`. Members that
    err on different digits lower it most, so it picks models that differ. Ties go to fewer
    params. Returns (members, the log loss after each addition)."""

    def loss_with(members: list[str]) -> float:
        return log_loss(y_val, np.mean([val_probs[name] for name in members], axis=0))

    members: list[str] = []
    losses: list[float] = []
    while len(members) < max_members:
        others = sorted(set(val_probs) - set(members), key=lambda name: (sizes[name], name))
        if not others:
            break
        best = min(others, key=lambda name: loss_with([*members, name]))
        loss = loss_with([*members, best])
        if losses and loss >= losses[-1]:
            break
        members, losses = [*members, best], [*losses, loss]
    return members, losses


def ensemble_pool(names: list[str], max_members: int) -> list[str]:
    """The models the ensemble chooses from, checked to hold at least `ensemble.max_members`."""
    if max_members > len(names):
        raise UserError(
            f"ensemble.max_members: {max_members} is more than the {len(names)} models {names}"
        )
    return names
