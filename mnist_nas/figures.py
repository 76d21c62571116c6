"""The figures users look at, one function each: matplotlib figures of the pipeline's outputs
(the plot stage saves them in metrics/figures; `dvc plots show` renders them)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mnist_nas import paths
from mnist_nas.scoring.attributions import integrated_gradients


def training_curves(candidates: list[str]) -> plt.Figure:
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for name in candidates:
        history = paths.train_metrics(name) / "plots" / "metrics"
        val_acc = pd.read_csv(history / "eval" / "accuracy.tsv", sep="\t")
        train_loss = pd.read_csv(history / "train" / "loss.tsv", sep="\t")
        acc_ax.plot(val_acc["step"] + 1, val_acc["accuracy"], marker="o", label=name)
        loss_ax.plot(train_loss["step"] + 1, train_loss["loss"], marker="o", label=name)
    acc_ax.set(title="Validation accuracy", xlabel="epoch", ylabel="accuracy")
    loss_ax.set(title="Training loss", xlabel="epoch", ylabel="loss", yscale="log")
    for ax in (acc_ax, loss_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def confusion(best: str, actual: np.ndarray, predicted: np.ndarray) -> plt.Figure:
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, ax = plt.subplots(figsize=(6.5, 5.5), layout="constrained")
    ConfusionMatrixDisplay.from_predictions(actual, predicted, ax=ax, cmap="Blues", colorbar=False)
    ax.set_title(f"{best}: {(actual == predicted).mean():.2%} of {len(actual):,} test digits")
    return fig


def accuracy_vs_cost(leaderboard: dict, latency: dict, best: str) -> plt.Figure:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True, layout="constrained")
    costs = [("params", "parameters", leaderboard), ("batch1_ms", "ms per image, batch 1", latency)]
    for ax, (key, label, table) in zip(axes, costs, strict=True):
        for name, scores in leaderboard.items():
            x = table[name][key]
            accuracy = scores["test_accuracy"]
            ax.scatter(x, accuracy, s=60, marker="*" if name == best else "o")
            ax.annotate(name, (x, accuracy), textcoords="offset points", xytext=(6, 4))
        ax.set(xlabel=label, xscale="log")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy")
    fig.suptitle(f"Test accuracy against cost (exported, chosen on validation: {best})")
    return fig


def errors(images: np.ndarray, actual: np.ndarray, predicted: np.ndarray, count: int):
    wrong = np.flatnonzero(actual != predicted)[:count]
    columns = min(12, max(len(wrong), 1))
    rows = max(1, -(-len(wrong) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.1, rows * 1.3), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, index in zip(axes.flat, wrong, strict=False):
        ax.imshow(images[index], cmap="gray_r")
        ax.set_title(f"{actual[index]} → {predicted[index]}", fontsize=9, color="darkred")
    fig.suptitle(f"Misclassified test digits, true → predicted (first {len(wrong)})")
    return fig


def saliency(model, images: np.ndarray, predicted: np.ndarray) -> plt.Figure:
    attributions = integrated_gradients(model, images, predicted)
    count = len(images)
    fig, axes = plt.subplots(2, count, figsize=(count * 1.4, 3.2), squeeze=False)
    for column in range(count):
        axes[0, column].imshow(images[column], cmap="gray_r")
        axes[0, column].set_title(f"predicted {predicted[column]}", fontsize=9)
        limit = np.abs(attributions[column]).max() or 1.0
        axes[1, column].imshow(attributions[column], cmap="RdBu_r", vmin=-limit, vmax=limit)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle("Integrated gradients: red pixels raise the predicted class, blue lower it")
    return fig


def reliability(tables: dict[str, pd.DataFrame], temperature: float) -> plt.Figure:
    """Accuracy against mean confidence per bin (dot area: digits in the bin), raw and
    calibrated; a calibrated model lies on the diagonal."""
    fig, ax = plt.subplots(figsize=(5.5, 5), layout="constrained")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="calibrated perfectly")
    for (which, table), colour in zip(tables.items(), ("tab:orange", "tab:blue"), strict=True):
        ax.plot(table["confidence"], table["accuracy"], color=colour, alpha=0.6)
        area = 10 + 200 * np.sqrt(table["count"] / table["count"].sum())
        ax.scatter(table["confidence"], table["accuracy"], s=area, color=colour, label=which)
    ax.set(xlabel="confidence (top probability)", ylabel="accuracy", xlim=(0, 1.02), ylim=(0, 1.02))
    ax.set_title(f"Test digits, 15 bins; temperature {temperature:.3f} fitted on validation")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    return fig


def risk_coverage(curve: pd.DataFrame, threshold_points: dict[str, tuple[float, float]]):
    """The share of accepted numbers read wrong against the share accepted, and where the
    default reject threshold puts each kind of number."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5), layout="constrained")
    for kind in ("separated", "touching"):
        line = ax.plot(curve["coverage"], curve[kind], label=f"{kind} digits")[0]
        coverage, risk = threshold_points[kind]
        ax.scatter([coverage], [risk], color=line.get_color(), zorder=3, marker="D")
    ax.set(xlabel="numbers accepted (share, most confident first)",
           ylabel="accepted numbers read wrong", xlim=(0, 1), ylim=(0, None))  # fmt: skip
    ax.set_title("10-digit numbers from test digits; diamonds: the default threshold")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def architecture(model, path: Path, dpi: int) -> None:
    """keras.utils.plot_model where pydot and graphviz are installed, else the text summary."""
    import keras

    try:
        keras.utils.plot_model(model, to_file=str(path), show_shapes=True, dpi=round(dpi * 0.6))
        return
    except ImportError:  # no graphviz: draw the summary instead
        pass
    rows = [f"{'layer':<28}{'type':<22}{'output shape':<22}{'params':>10}"]
    rows += [
        f"{layer.name:<28}{type(layer).__name__:<22}{str(layer.output.shape):<22}"
        f"{layer.count_params():>10,}"
        for layer in model.layers
    ]
    rows.append(f"{model.name}: {model.count_params():,} parameters")
    fig = plt.figure(figsize=(7.5, max(1.6, 0.16 * len(rows) + 0.3)))  # a short summary too
    fig.text(0.02, 0.98, "\n".join(rows), family="monospace", fontsize=9, va="top")
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
