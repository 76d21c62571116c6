"""Choosing models on the validation split: the ensemble's members and the exported model.
The test set never enters here."""

from __future__ import annotations

from mnist_nas.errors import UserError

LOWER_IS_BETTER = {"val_loss"}


def select_best(leaderboard: dict[str, dict], select_by: str) -> str:
    """The model with the best `select_by` score (a validation metric); a tie goes to the one
    with fewer params."""
    sign = 1 if select_by in LOWER_IS_BETTER else -1
    return min(
        sorted(leaderboard),
        key=lambda name: (sign * leaderboard[name][select_by], leaderboard[name]["params"]),
    )


def ensemble_members(val_accuracy: dict[str, float], params: dict[str, int], top_k: int):
    """The `top_k` best models by validation accuracy, ties to the one with fewer params."""
    ranked = sorted(val_accuracy, key=lambda name: (-val_accuracy[name], params[name]))
    return ranked[:top_k]


def ensemble_pool(names: list[str], top_k: int) -> list[str]:
    """The models the ensemble chooses from, checked to hold at least `ensemble.top_k`."""
    if top_k > len(names):
        raise UserError(f"ensemble.top_k: {top_k} is more than the {len(names)} models {names}")
    return names
