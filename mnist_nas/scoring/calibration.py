"""Honest confidence for the exported model: temperature scaling and the reject threshold, both
fitted on the validation split, and the measures that check them (expected calibration error,
log loss, the reliability table)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mnist_nas.contract import TINY
from mnist_nas.scoring.metrics import log_loss

BINS = 15  # equal-width confidence bins of the expected calibration error and the diagram


def scale(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Class probabilities softened (temperature > 1) or sharpened (< 1): softmax(log p / T).
    The export's SavedModel computes the same in TensorFlow."""
    from scipy.special import softmax

    logits = np.log(np.maximum(np.asarray(probs, np.float64), TINY))
    return softmax(logits / temperature, axis=1)


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


def top_class(y: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(each digit's confidence: its top class probability, whether that class is right)."""
    return probs.max(axis=1), probs.argmax(axis=1) == y


def reliability(confidence: np.ndarray, right: np.ndarray) -> list[dict]:
    """Per confidence bin: how many items, their mean confidence and the share right. The bins
    are BINS equal-width intervals (a, b], as in Guo et al. (2017) and scikit-learn's
    calibration_curve (a confidence of 0 falls in the first); empty bins are left out."""
    edges = np.linspace(0, 1, BINS + 1)
    which = np.searchsorted(edges[1:-1], confidence)
    return [
        {
            "bin": f"{edges[b]:.3f}-{edges[b + 1]:.3f}",
            "count": int((which == b).sum()),
            "confidence": float(confidence[which == b].mean()),
            "accuracy": float(right[which == b].mean()),
        }
        for b in range(BINS)
        if (which == b).any()
    ]


def expected_calibration_error(confidence: np.ndarray, right: np.ndarray) -> float:
    """The gap between confidence and the share right, averaged over the reliability bins
    weighted by their size."""
    table = reliability(confidence, right)
    gaps = sum(row["count"] * abs(row["confidence"] - row["accuracy"]) for row in table)
    return float(gaps / len(confidence))


def risk_by_coverage(confidence: np.ndarray, wrong: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Most confident first: (the confidences in that order, the share wrong among the k most
    confident for k = 1, 2, ...). Ties keep their order."""
    order = np.argsort(-confidence, kind="stable")
    return confidence[order], np.cumsum(wrong[order]) / np.arange(1, len(wrong) + 1)


def wrong_among_accepted(wrong: np.ndarray, accepted: np.ndarray) -> float:
    """The share of the accepted items that are wrong; 0 when nothing is accepted (nothing is
    sent, so nothing is sent wrong)."""
    return float((wrong & accepted).sum() / max(1, accepted.sum()))


def choose_threshold(y: np.ndarray, probs: np.ndarray, max_wrong_accepted: float) -> float:
    """The lowest confidence threshold at which at most `max_wrong_accepted` of the accepted
    digits (those whose top probability reaches it) are wrong: the most digits read
    automatically at that risk. Meant for the validation split."""
    confidence, right = top_class(y, probs)
    return lowest_safe_threshold(confidence, ~right, max_wrong_accepted)


def lowest_safe_threshold(confidence: np.ndarray, wrong: np.ndarray, max_wrong_accepted: float):
    """The lowest threshold on `confidence` at which at most `max_wrong_accepted` of the items
    that reach it are `wrong`; above 1 when there is none."""
    sorted_confidence, risk = risk_by_coverage(confidence, wrong)
    # Accepting the k most confident is possible only at a threshold that keeps all of them and
    # every digit tied with the k-th; the largest k whose risk is low enough wins.
    for k in np.flatnonzero(risk <= max_wrong_accepted)[::-1] + 1:
        if k == len(wrong) or sorted_confidence[k] < sorted_confidence[k - 1]:
            return float(sorted_confidence[k - 1])
    return 1.0 + 1e-9  # nothing can be accepted at this risk: every digit goes to a person


def at_threshold(y: np.ndarray, probs: np.ndarray, threshold: float) -> dict:
    """The share of digits accepted at `threshold`, and the share of those read wrong."""
    confidence, right = top_class(y, probs)
    accepted = confidence >= threshold
    return {
        "accepted": accepted.mean(),
        "wrong_among_accepted": wrong_among_accepted(~right, accepted),
    }


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
        "test_ece_before": expected_calibration_error(*top_class(y_test, test_probs)),
        "test_ece_after": expected_calibration_error(*top_class(y_test, test_scaled)),
        **{f"val_{k}": v for k, v in at_threshold(y_val, val_scaled, threshold).items()},
        **{f"test_{k}": v for k, v in at_threshold(y_test, test_scaled, threshold).items()},
    }
    tables = {
        which: pd.DataFrame(reliability(*top_class(y_test, probs))).round(6)
        for which, probs in (("raw", test_probs), ("calibrated", test_scaled))
    }
    return fitted, {key: round(float(value), 6) for key, value in measures.items()}, tables
