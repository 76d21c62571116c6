"""plot: the figures users look at, as PNGs in metrics/figures (rendered by `dvc plots show`).

Reads   data/prepared/test.npz, metrics/train/*/plots, metrics/eval, metrics/calibration/
        reliability, metrics/numbers/{details.json,risk_coverage.csv}, models/best; params
        models, plot.*
Writes  metrics/figures/
        training_curves.png   validation accuracy and training loss per epoch, every candidate
        confusion.png         the best model's confusion matrix on the test set
        accuracy_vs_cost.png  test accuracy against parameters and batch-1 latency, every model
        errors.png            test digits the best model gets wrong, true and predicted label
        saliency.png          integrated gradients: which pixels drive the best model's answer
        architecture.png      the best model's layer graph (graphviz), or its summary without it
        reliability.png       the exported model's reliability diagram on the test set
        risk_coverage.png     10-digit numbers: wrong among the accepted against share accepted
"""

from __future__ import annotations

import json

from mnist_nas import paths
from mnist_nas.cli import cli, stage_args
from mnist_nas.errors import UserError
from mnist_nas.params import load_params


def read_json(path):
    return json.loads(path.read_text())


@cli
def main(argv: list[str] | None = None) -> None:
    stage_args("stages.plot", __doc__, argv)
    params = load_params()

    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    from mnist_nas import figures
    from mnist_nas.data.splits import load_split
    from mnist_nas.files import atomic_path, load_model

    best = read_json(paths.BEST / "best.json")["model"]
    predictions = pd.read_csv(paths.EVAL / "confusion" / f"{best}.csv")
    actual, predicted = predictions["actual"].to_numpy(), predictions["predicted"].to_numpy()
    images, labels = load_split("test")
    if not np.array_equal(labels, actual):
        raise UserError(f"{paths.EVAL}/confusion/{best}.csv: not of this test set; rerun evaluate")
    model = load_model(paths.BEST / "model.keras")
    sample = slice(0, params.plot.saliency)
    numbers = read_json(paths.NUMBERS / "details.json")
    at_threshold = {kind: (numbers[kind]["accepted"], numbers[kind]["wrong_among_accepted"])
                    for kind in ("separated", "touching")}  # fmt: skip
    reliability = {which: pd.read_csv(paths.CALIBRATION / "reliability" / f"{which}.csv")
                   for which in ("raw", "calibrated")}  # fmt: skip

    drawn = {
        "training_curves.png": figures.training_curves(params.models),
        "confusion.png": figures.confusion(best, actual, predicted),
        "accuracy_vs_cost.png": figures.accuracy_vs_cost(
            read_json(paths.LEADERBOARD), read_json(paths.LATENCY), best
        ),
        "errors.png": figures.errors(images, actual, predicted, params.plot.errors),
        "saliency.png": figures.saliency(model, images[sample], predicted[sample]),
        "reliability.png": figures.reliability(
            reliability, read_json(paths.CALIBRATION_FILE)["temperature"]
        ),
        "risk_coverage.png": figures.risk_coverage(
            pd.read_csv(paths.NUMBERS / "risk_coverage.csv"), at_threshold
        ),
    }
    with atomic_path(paths.FIGURES) as tmp:
        tmp.mkdir()
        for filename, fig in drawn.items():
            fig.savefig(tmp / filename, dpi=params.plot.dpi)
            plt.close(fig)
        figures.architecture(model, tmp / "architecture.png", params.plot.dpi)
    print(f"plot: {len(drawn) + 1} figures of {best} and the candidates -> {paths.FIGURES}")


if __name__ == "__main__":
    main()
