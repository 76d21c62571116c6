"""evaluate: score every candidate, the NAS model and the ensemble on the validation split (what
export chooses by) and the official test set (reported only: nothing here chooses by it).

Writes metrics/eval/leaderboard.json (validation and test accuracy, loss and macro F1, the 95%
Wilson interval of test accuracy, parameters and size on disk of each model, side by side),
metrics/eval/latency.json (median CPU milliseconds per call at batch 1 and 256), and for each
model metrics/eval/classes/<model>.csv (per-digit test precision and recall) and
metrics/eval/confusion/<model>.csv (actual and predicted digit of every test image, for DVC's
confusion template).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from stages.common import cli, load_split, model_path, write_csv, write_json
from stages.params import Params, load_params

EVAL = Path("metrics/eval")
DIGITS = list(range(10))


def model_names(params: Params, ensemble: bool = True) -> list[str]:
    """Everything compared: the listed candidates, the NAS model, then the ensemble of them."""
    return [*params.models, "nas", *(["ensemble"] if ensemble else [])]


def score(y_true: np.ndarray, probs: np.ndarray) -> dict:
    """Accuracy, loss and macro F1 of predicted class probabilities."""
    import keras
    from sklearn import metrics

    y_pred = probs.argmax(axis=1)
    loss = keras.ops.mean(keras.losses.sparse_categorical_crossentropy(y_true, probs))
    return {
        "accuracy": round(float(metrics.accuracy_score(y_true, y_pred)), 6),
        "loss": round(float(loss), 5),
        "macro_f1": round(float(metrics.f1_score(y_true, y_pred, average="macro")), 5),
    }


def wilson_interval(correct: int, total: int) -> tuple[float, float]:
    """95% Wilson score interval of an accuracy of correct/total."""
    from scipy.stats import binomtest

    interval = binomtest(correct, total).proportion_ci(0.95, method="wilson")
    return round(float(interval.low), 6), round(float(interval.high), 6)


def per_digit(y_true: np.ndarray, y_pred: np.ndarray) -> pd.DataFrame:
    from sklearn import metrics

    precision, recall, _, _ = metrics.precision_recall_fscore_support(
        y_true, y_pred, labels=DIGITS, zero_division=0
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


@cli
def main() -> None:
    params = load_params()

    from stages.common import load_model

    x_val, y_val = load_split("val")
    x_test, y_test = load_split("test")
    leaderboard, latency = {}, {}
    for name in model_names(params):
        path = model_path(name)
        model = load_model(path)
        val = score(y_val, model.predict(x_val, batch_size=256, verbose=0))
        probs = model.predict(x_test, batch_size=256, verbose=0)
        test = score(y_test, probs)
        low, high = wilson_interval(int((probs.argmax(axis=1) == y_test).sum()), len(y_test))
        leaderboard[name] = {
            **{f"val_{metric}": value for metric, value in val.items()},
            **{f"test_{metric}": value for metric, value in test.items()},
            "test_accuracy_ci95_low": low,
            "test_accuracy_ci95_high": high,
            "params": model.count_params(),
            "size_mb": round(path.stat().st_size / 1e6, 3),
        }
        runs = params.evaluate.latency_runs
        latency[name] = {
            "batch1_ms": latency_ms(model, x_test, 1, runs),
            "batch256_ms": latency_ms(model, x_test, 256, runs),
        }
        write_csv(EVAL / "classes" / f"{name}.csv", per_digit(y_test, probs.argmax(axis=1)))
        confusion = pd.DataFrame({"actual": y_test, "predicted": probs.argmax(axis=1)})
        write_csv(EVAL / "confusion" / f"{name}.csv", confusion)
        print(
            f"evaluate: {name}: val accuracy {val['accuracy']:.4f}, test accuracy "
            f"{test['accuracy']:.4f} [{low:.4f}, {high:.4f}], "
            f"{latency[name]['batch1_ms']:.2f} ms per image at batch 1"
        )
    write_json(EVAL / "leaderboard.json", leaderboard)
    write_json(EVAL / "latency.json", latency)


if __name__ == "__main__":
    main()
