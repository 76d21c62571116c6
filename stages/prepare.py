"""prepare: seeded, stratified train/validation split; the official test set kept as it is.

Images stay uint8 28x28: scaling happens inside the models, so exported models take raw pixels.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from stages import mnist
from stages.common import (
    PREPARED,
    UserError,
    atomic_path,
    cli,
    load_npz,
    save_npz,
    stratified_subset,
    write_csv,
    write_json,
)
from stages.params import load_params

INPUT = "data/raw/mnist.npz"
REPORT = "metrics/data.json"  # images per split
CLASSES = "metrics/data_classes.csv"  # images per digit and split


def stratified_cap(x: np.ndarray, y: np.ndarray, limit: int | None, seed: int, key: str):
    """At most `limit` examples, drawn with the class proportions of y, in their original order."""
    if limit is None:
        return x, y
    keep = np.sort(stratified_subset(y, limit, seed, key))
    return x[keep], y[keep]


def split(
    arrays: dict[str, np.ndarray],
    val_fraction: float,
    train_fraction: float,
    limit: int | None,
    seed: int,
):
    """{"train": (x, y), "val": (x, y), "test": (x, y)}: `train_fraction` of the training split
    kept, then each split capped at `limit`."""
    index = np.arange(len(arrays["y_train"]))
    val_size = math.ceil(val_fraction * len(index))  # as train_test_split rounds it
    if min(val_size, len(index) - val_size) < mnist.NUM_CLASSES:
        raise UserError(
            f"prepare.val_fraction: {val_fraction} of {len(index)} images leaves {val_size} "
            f"for validation and {len(index) - val_size} for training: too few to stratify"
        )
    train_idx, val_idx = train_test_split(
        index, test_size=val_fraction, stratify=arrays["y_train"], random_state=seed
    )
    x, y = arrays["x_train"], arrays["y_train"]
    train = x[np.sort(train_idx)], y[np.sort(train_idx)]
    splits = {
        "train": stratified_cap(
            *train, round(train_fraction * len(train_idx)), seed, "prepare.train_fraction"
        ),
        "val": (x[np.sort(val_idx)], y[np.sort(val_idx)]),
        "test": (arrays["x_test"], arrays["y_test"]),
    }
    return {name: stratified_cap(*xy, limit, seed, "data.limit") for name, xy in splits.items()}


def class_counts(splits) -> pd.DataFrame:
    """Images of each digit in each split: one row a digit, one column a split."""
    counts = {name: np.bincount(y, minlength=mnist.NUM_CLASSES) for name, (_, y) in splits.items()}
    return pd.DataFrame({"digit": range(mnist.NUM_CLASSES), **counts})


@cli
def main() -> None:
    params = load_params()
    arrays = load_npz(INPUT, mnist.SPLITS)
    prepare = params.prepare
    splits = split(
        arrays, prepare.val_fraction, prepare.train_fraction, params.data.limit, params.seed
    )
    with atomic_path(PREPARED) as tmp:
        for name, (x, y) in splits.items():
            save_npz(tmp / f"{name}.npz", x=x, y=y)
    write_json(REPORT, {name: len(y) for name, (_, y) in splits.items()})
    write_csv(CLASSES, class_counts(splits))
    sizes = ", ".join(f"{len(y)} {name}" for name, (_, y) in splits.items())
    print(f"prepare: {PREPARED}: {sizes}")


if __name__ == "__main__":
    main()
