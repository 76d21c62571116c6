"""Honest confidence for the exported model: temperature scaling and the reject threshold, both
fitted on the validation split, and the measures that check them (expected calibration error,
log loss, the reliability table)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mnist_nas.contract import DIGITS

TINY = 1e-30  # probabilities are floored here before the log: a float32 softmax can reach 0
BINS = 15  # equal-width confidence bins of the expected calibration error and the diagram


def scale(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Class probabilities softened (temperature > 1) or sharpened (< 1): softmax(log p / T).
    The export's SavedModel computes the same in TensorFlow."""
    from scipy.special import softmax

    logits = np.log(np.maximum(np.asarray(probs, np.float64), TINY))
    return softmax(logits / temperature, axis=1)


def log_loss(y: np.ndarray, probs: np.ndarray) -> float:
    from sklearn.metrics import log_loss as sklearn_log_loss

    return float(sklearn_log_loss(y, np.clip(probs, TINY, 1), labels=list(DIGITS)))


def fit_temperature(y: np.ndarray, probs: np.ndarray) -> float:
    """The temperature that minimises the log loss of `probs` (Guo et al., 2017), searched on
    a log scale between 1/20 and 20."""
    from scipy.optimize import minimize_scalar

    result = minimize_scalar(
        lambda log_t: log_loss(y, scale(probs, np.exp(log_t))),
        bounds=(np.log(0.05), np.log(20)),
        method="bounded",
        options={"xatol": 1e-5},
    )
    return float(np.exp(result.x))


def reliability(y: np.ndarray, probs: np.ndarray) -> list[dict]:
    """Per confidence bin (of the top class): how many digits, their mean confidence and their
    accuracy. Empty bins are left out."""
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == y
    which = np.clip(np.ceil(confidence * BINS).astype(int) - 1, 0, BINS - 1)
    return [
        {
            "bin": f"{b / BINS:.3f}-{(b + 1) / BINS:.3f}",
            "count": int((which == b).sum()),
            "confidence": float(confidence[which == b].mean()),
            "accuracy": float(correct[which == b].mean()),
        }
        for b in range(BINS)
        if (which == b).any()
    ]


def expected_calibration_error(y: np.ndarray, probs: np.ndarray) -> float:
    """The gap between confidence and accuracy, averaged over the bins weighted by their size."""
    table = reliability(y, probs)
    return sum(row["count"] * abs(row["confidence"] - row["accuracy"]) for row in table) / len(y)


def choose_threshold(y: np.ndarray, probs: np.ndarray, max_wrong_accepted: float) -> float:
    """The lowest confidence threshold at which at most `max_wrong_accepted` of the accepted
    digits (those whose top probability reaches it) are wrong: the most digits read
    automatically at that risk. Meant for the validation split."""
    return lowest_safe_threshold(probs.max(axis=1), probs.argmax(axis=1) != y, max_wrong_accepted)


def lowest_safe_threshold(confidence: np.ndarray, wrong: np.ndarray, max_wrong_accepted: float):
    """The lowest threshold on `confidence` at which at most `max_wrong_accepted` of the items
    that reach it are `wrong`; above 1 when there is none."""
    order = np.argsort(-confidence, kind="stable")
    risk = np.cumsum(wrong[order]) / np.arange(1, len(wrong) + 1)
    # Accepting the k most confident is possible only at a threshold that keeps all of them and
    # every digit tied with the k-th; the largest k whose risk is low enough wins.
    sorted_confidence = confidence[order]
    for k in np.flatnonzero(risk <= max_wrong_accepted)[::-1] + 1:
        if k == len(wrong) or sorted_confidence[k] < sorted_confidence[k - 1]:
            return float(sorted_confidence[k - 1])
    return 1.0 + 1e-9  # nothing can be accepted at this risk: every digit goes to a person


def at_threshold(y: np.ndarray, probs: np.ndarray, threshold: float) -> dict:
    """The share of digits accepted at `threshold`, and the share of those read wrong."""
    accepted = probs.max(axis=1) >= threshold
    wrong = accepted & (probs.argmax(axis=1) != y)
    return {"accepted": accepted.mean(), "wrong_among_accepted": wrong.sum() / accepted.sum()}


def calibrate(val: tuple, test: tuple, max_wrong_accepted: float):
    """Temperature and reject threshold fitted on the validation split (labels, probabilities);
    then, for the record, how they hold on the test set. Returns (what the export stores, the
    measures, the test set's reliability tables "raw" and "calibrated")."""
    (y_val, val_probs), (y_test, test_probs) = val, test
    temperature = fit_temperature(y_val, val_probs)
    val_scaled, test_scaled = scale(val_probs, temperature), scale(test_probs, temperature)
    threshold = choose_threshold(y_val, val_scaled, max_wrong_accepted)
    fitted = {"temperature": temperature, "threshold": threshold,
              "max_wrong_accepted": max_wrong_accepted}  # fmt: skip
    measures = {
        **fitted,
        "val_log_loss_before": log_loss(y_val, val_probs),
        "val_log_loss_after": log_loss(y_val, val_scaled),
        "test_log_loss_before": log_loss(y_test, test_probs),
        "test_log_loss_after": log_loss(y_test, test_scaled),
        "test_ece_before": expected_calibration_error(y_test, test_probs),
        "test_ece_after": expected_calibration_error(y_test, test_scaled),
        **{f"val_{k}": v for k, v in at_threshold(y_val, val_scaled, threshold).items()},
        **{f"test_{k}": v for k, v in at_threshold(y_test, test_scaled, threshold).items()},
    }
    tables = {
        which: pd.DataFrame(reliability(y_test, probs)).round(6)
        for which, probs in (("raw", test_probs), ("calibrated", test_scaled))
    }
    return fitted, {key: round(float(value), 6) for key, value in measures.items()}, tables
