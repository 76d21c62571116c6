"""The scores every model gets: accuracy, loss, macro F1, a confidence interval, per-digit
precision and recall; and latency, a timing that is reported, never compared as a metric."""

from __future__ import annotations

import statistics
import time

import numpy as np
import pandas as pd

from mnist_nas.contract import DIGITS


def log_loss(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Mean negative log probability of the true digit, over all ten (scikit-learn's; it clips
    probabilities to its dtype's epsilon, so a probability of 0 costs a finite loss)."""
    from sklearn.metrics import log_loss as sklearn_log_loss

    return float(sklearn_log_loss(y_true, probs, labels=list(DIGITS)))


def score(y_true: np.ndarray, probs: np.ndarray) -> dict:
    """Accuracy, loss and macro F1 of predicted class probabilities."""
    from sklearn import metrics

    y_pred = probs.argmax(axis=1)
    return {
        "accuracy": round(float(metrics.accuracy_score(y_true, y_pred)), 6),
        "loss": round(log_loss(y_true, probs), 6),
        "macro_f1": round(float(metrics.f1_score(y_true, y_pred, average="macro")), 5),
    }


def wilson_interval(correct: int, total: int) -> tuple[float, float]:
    """95% Wilson score interval of an accuracy of correct/total."""
    from scipy.stats import binomtest

    interval = binomtest(correct, total).proportion_ci(0.95, method="wilson")
    return round(float(interval.low), 6), round(float(interval.high), 6)


def per_digit(y_true: np.ndarray, y_pred: np.ndarray) -> pd.DataFrame:
    """Precision and recall of each digit."""
    from sklearn import metrics

    precision, recall, _, _ = metrics.precision_recall_fscore_support(
        y_true, y_pred, labels=list(DIGITS), zero_division=0
    )
    return pd.DataFrame({"digit": DIGITS, "precision": precision, "recall": recall}).round(5)


def latency_ms(model, images: np.ndarray, batch_size: int, runs: int) -> float:
    """Median wall time of one forward pass over `batch_size` images, as a served model runs."""
    import tensorflow as tf

    forward = tf.function(lambda batch: model(batch, training=False))
    batch = tf.constant(images[:batch_size])
    forward(batch)  # trace and warm up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        forward(batch).numpy()
        times.append(time.perf_counter() - started)
    return round(1000 * statistics.median(times), 3)
