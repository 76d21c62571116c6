"""evaluate: score every candidate and the NAS model on the official test set.

Writes metrics/eval/leaderboard.json (test accuracy, loss, macro F1, parameters and size on disk of
each model, side by side), metrics/eval/latency.json (median CPU milliseconds per call at batch 1
and 256), and for each model metrics/eval/classes/<model>.csv (per-digit precision and recall) and
metrics/eval/confusion/<model>.csv (actual and predicted digit of every test image, for DVC's
confusion template).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from stages.common import TRAINED, cli, load_split, write_csv, write_json
from stages.params import Params, load_params

EVAL = Path("metrics/eval")
DIGITS = list(range(10))


def model_names(params: Params) -> list[str]:
    """Everything the evaluate stage compares: the listed candidates, then the NAS model."""
    return [*params.models, "nas"]


def score(y_true: np.ndarray, probs: np.ndarray) -> tuple[dict, pd.DataFrame]:
    """Headline test metrics, and precision and recall per digit."""
    import keras
    from sklearn import metrics

    y_pred = probs.argmax(axis=1)
    precision, recall, _, _ = metrics.precision_recall_fscore_support(
        y_true, y_pred, labels=DIGITS, zero_division=0
    )
    loss = keras.ops.mean(keras.losses.sparse_categorical_crossentropy(y_true, probs))
    summary = {
        "accuracy": round(float(metrics.accuracy_score(y_true, y_pred)), 6),
        "loss": round(float(loss), 5),
        "macro_f1": round(float(metrics.f1_score(y_true, y_pred, average="macro")), 5),
    }
    classes = pd.DataFrame({"digit": DIGITS, "precision": precision, "recall": recall}).round(5)
    return summary, classes


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

    x_test, y_test = load_split("test")
    leaderboard, latency = {}, {}
    for name in model_names(params):
        path = TRAINED / name / "model.keras"
        model = load_model(path)
        probs = model.predict(x_test, batch_size=256, verbose=0)
        summary, classes = score(y_test, probs)
        leaderboard[name] = {
            **summary,
            "params": model.count_params(),
            "size_mb": round(path.stat().st_size / 1e6, 3),
        }
        runs = params.evaluate.latency_runs
        latency[name] = {
            "batch1_ms": latency_ms(model, x_test, 1, runs),
            "batch256_ms": latency_ms(model, x_test, 256, runs),
        }
        write_csv(EVAL / "classes" / f"{name}.csv", classes)
        confusion = pd.DataFrame({"actual": y_test, "predicted": probs.argmax(axis=1)})
        write_csv(EVAL / "confusion" / f"{name}.csv", confusion)
        print(
            f"evaluate: {name}: accuracy {summary['accuracy']:.4f}, loss {summary['loss']:.4f}, "
            f"{latency[name]['batch1_ms']:.2f} ms per image at batch 1"
        )
    write_json(EVAL / "leaderboard.json", leaderboard)
    write_json(EVAL / "latency.json", latency)


if __name__ == "__main__":
    main()
