"""How sure the reader is of a whole number: a logistic regression, fitted on numbers built from
validation digits, from what the reading knows of itself to the probability that every digit
is right. Calibrated digits do not make a calibrated number (Slossberg et al. 2020); the string's
own evidence does: its weakest digit, the reading's share of every reading the segmentation
graph could make, and whether a second reader (the exported classifier) agrees.
"""

from __future__ import annotations

import numpy as np

FEATURES = (
    "log_lowest",  # log of the lowest digit probability
    "lowest_margin",  # the smallest gap between a digit's best and second-best probability
    "log_mean",  # the mean log probability of the digits
    "log_share",  # log of the reading's share of the graph's total probability
    "disagree",  # digits the second reader reads otherwise
    "log_second",  # log of the lowest probability the second reader gives a digit as read
    "paired",  # digits read by the pair reader
)
# The features' floor: a probability under it counts as it, so that one digit the second
# reader rules out entirely (a float32 softmax reaches 0) does not dominate the standardised
# regression. A bound on a feature, not a guard of the log, unlike calibration.FEATURE_FLOOR.
FEATURE_FLOOR = 1e-6


def features(probs: np.ndarray, share: float, second: np.ndarray, paired: np.ndarray) -> list:
    """FEATURES of one reading: its digits' probabilities [n, 10] (the reader's), the path's
    share, the second reader's probabilities [n, 10] and which digits were read as pairs."""
    top = np.sort(probs, axis=1)
    log_probs = np.log(np.maximum(top[:, -1], FEATURE_FLOOR))
    seconds = second[np.arange(len(probs)), probs.argmax(axis=1)]
    return [
        float(log_probs.min()),
        float((top[:, -1] - top[:, -2]).min()),
        float(log_probs.mean()),
        float(np.log(max(share, FEATURE_FLOOR))),
        float((probs.argmax(axis=1) != second.argmax(axis=1)).sum()),
        float(np.log(np.maximum(seconds, FEATURE_FLOOR)).min()),
        float(np.sum(paired)),
    ]


def fit(table: np.ndarray, right: np.ndarray, seed: int) -> dict:
    """A logistic regression of `right` (bool [n]) on the features (float [n, FEATURES]),
    standardised, as plain numbers (kept in JSON beside the models)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(table)
    fitted = {
        "features": list(FEATURES),
        "mean": scaler.mean_.round(10).tolist(),
        "scale": scaler.scale_.round(10).tolist(),
    }
    if len(np.unique(right)) < 2:  # all right or all wrong (a tiny run): that share, always
        share = np.clip(np.mean(right), 1e-3, 1 - 1e-3)
        intercept = float(np.log(share / (1 - share)))
        return {**fitted, "coef": [0.0] * len(FEATURES), "intercept": round(intercept, 10)}
    model = LogisticRegression(C=1.0, random_state=seed, max_iter=1000)
    model.fit(scaler.transform(table), right)
    return {
        **fitted,
        "coef": model.coef_[0].round(10).tolist(),
        "intercept": round(float(model.intercept_[0]), 10),
    }


def predict(fitted: dict, table: np.ndarray) -> np.ndarray:
    """The probability that each reading (a row of features) is right."""
    z = (np.asarray(table, np.float64) - fitted["mean"]) / fitted["scale"]
    return 1 / (1 + np.exp(-(z @ np.array(fitted["coef"]) + fitted["intercept"])))


def right_length(table) -> np.ndarray:
    """Which readings (rows with "read" and "truth") have as many digits as the number: the
    reader knows a phone number's length, so a reading of another length is never accepted."""
    return (table["read"].str.len() == table["truth"].str.len()).to_numpy()


def choose(table, max_wrong_accepted: float, seed: int) -> tuple[dict, dict]:
    """The confidence fitted on validation numbers (evaluation.read_numbers' table), and the
    lowest threshold at which at most `max_wrong_accepted` of the numbers it accepts are wrong
    (a reading of the wrong length is never accepted). Returns (what the reader stores, the
    measures on those numbers)."""
    from mnist_nas.scoring.calibration import (
        expected_calibration_error,
        lowest_safe_threshold,
        wrong_among_accepted,
    )

    right = (table["read"] == table["truth"]).to_numpy()
    fitted = fit(table[list(FEATURES)].to_numpy(), right, seed)
    sure = np.where(right_length(table), predict(fitted, table[list(FEATURES)].to_numpy()), 0.0)
    threshold = lowest_safe_threshold(sure, ~right, max_wrong_accepted)
    accepted = sure >= threshold
    measures = {
        "numbers": int(len(table)),
        "read": round(float(right.mean()), 6),
        "accepted": round(float(accepted.mean()), 6),
        "wrong_among_accepted": round(wrong_among_accepted(~right, accepted), 6),
        "ece": round(expected_calibration_error(sure, right), 6),
        "threshold": round(threshold, 6),
    }
    stored = {"model": fitted, "threshold": threshold, "max_wrong_accepted": max_wrong_accepted}
    return stored, measures
