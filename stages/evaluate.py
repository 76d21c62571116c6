"""evaluate: score every candidate, the NAS model and the ensemble on the validation split (what
export chooses by) and the official test set (reported only: nothing here chooses by it).

Reads   data/prepared/{val,test}.npz, models/trained, models/ensemble; params models,
        evaluate.latency_runs
Writes  metrics/eval/accuracy.json (metric): each model's validation and test accuracy
        metrics/eval/leaderboard.json: also loss, macro F1, the 95% Wilson interval of test
        accuracy, parameters and size on disk of each model
        metrics/eval/latency.json: median CPU milliseconds per call at batch 1 and 256 (timings)
        metrics/eval/classes/<model>.csv: per-digit test precision and recall
        metrics/eval/confusion/<model>.csv: actual and predicted digit of every test image
"""

from __future__ import annotations

import pandas as pd
from tqdm import tqdm

from mnist_nas import paths
from mnist_nas.cli import cli, stage_args
from mnist_nas.data.splits import load_split
from mnist_nas.files import load_model, write_csv, write_json
from mnist_nas.params import load_params
from mnist_nas.scoring.metrics import latency_ms, per_digit, score, wilson_interval


def scores(model, val, test) -> tuple[dict, object]:
    """The leaderboard row of one model (validation and test scores), and its test predictions."""
    val_scores = score(val[1], model.predict(val[0], batch_size=256, verbose=0))
    probs = model.predict(test[0], batch_size=256, verbose=0)
    test_scores = score(test[1], probs)
    low, high = wilson_interval(int((probs.argmax(axis=1) == test[1]).sum()), len(test[1]))
    row = {
        **{f"val_{metric}": value for metric, value in val_scores.items()},
        **{f"test_{metric}": value for metric, value in test_scores.items()},
        "test_accuracy_ci95_low": low,
        "test_accuracy_ci95_high": high,
        "params": model.count_params(),
    }
    return row, probs.argmax(axis=1)


@cli
def main(argv: list[str] | None = None) -> None:
    stage_args("stages.evaluate", __doc__, argv)
    params = load_params()
    val, test = load_split("val"), load_split("test")
    leaderboard, latency = {}, {}
    for name in tqdm(params.compared(), desc="evaluate", unit="model"):
        path = paths.model_file(name)
        model = load_model(path)
        row, predicted = scores(model, val, test)
        leaderboard[name] = {**row, "size_mb": round(path.stat().st_size / 1e6, 3)}
        runs = params.evaluate.latency_runs
        latency[name] = {
            "batch1_ms": latency_ms(model, test[0], 1, runs),
            "batch256_ms": latency_ms(model, test[0], 256, runs),
        }
        write_csv(paths.EVAL / "classes" / f"{name}.csv", per_digit(test[1], predicted))
        confusion = pd.DataFrame({"actual": test[1], "predicted": predicted})
        write_csv(paths.EVAL / "confusion" / f"{name}.csv", confusion)
        tqdm.write(
            f"evaluate: {name}: val accuracy {row['val_accuracy']:.4f}, test accuracy "
            f"{row['test_accuracy']:.4f} [{row['test_accuracy_ci95_low']:.4f}, "
            f"{row['test_accuracy_ci95_high']:.4f}], {latency[name]['batch1_ms']:.2f} ms per "
            "image at batch 1"
        )
    accuracy = {
        name: {"val": row["val_accuracy"], "test": row["test_accuracy"]}
        for name, row in leaderboard.items()
    }
    write_json(paths.ACCURACY, accuracy)
    write_json(paths.LEADERBOARD, leaderboard)
    write_json(paths.LATENCY, latency)


if __name__ == "__main__":
    main()
