"""The seeded, stratified splits: train and validation from the official training set, the
official test set kept as it is, each optionally capped; and reading them back."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mnist_nas import paths
from mnist_nas.contract import NUM_CLASSES
from mnist_nas.errors import UserError
from mnist_nas.files import load_npz

Split = tuple[np.ndarray, np.ndarray]  # (uint8 images [n, 28, 28], labels [n])


def load_split(name: str) -> Split:
    """(images, labels) of one prepared split: "train", "val" or "test"."""
    arrays = load_npz(paths.split_file(name), ("x", "y"))
    return arrays["x"], arrays["y"]


def stratified_subset(y: np.ndarray, size: int, seed: int, key: str) -> np.ndarray:
    """Indices of `size` examples drawn with the class proportions of y, in the order drawn (all
    of them, in order, when size >= len(y)). A UserError names `key`, the param that asked for
    the size, when the subset would miss a class."""
    if size >= len(y):
        return np.arange(len(y))
    counts = np.unique(y, return_counts=True)[1]
    if size < len(counts):
        raise UserError(
            f"{key}: keeps {size} of {len(y)} images, fewer than one per class ({len(counts)})"
        )
    if len(y) - size < len(counts) or counts.min() < 2:
        # scikit-learn cannot stratify so near the edges; a plain random draw is as good there.
        return np.random.default_rng(seed).choice(len(y), size, replace=False)
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(np.arange(len(y)), train_size=size, stratify=y, random_state=seed)
    return keep


def stratified_cap(x: np.ndarray, y: np.ndarray, limit: int | None, seed: int, key: str) -> Split:
    """At most `limit` examples, drawn with the class proportions of y, in their original order."""
    if limit is None:
        return x, y
    keep = np.sort(stratified_subset(y, limit, seed, key))
    return x[keep], y[keep]


def per_class_cap(x: np.ndarray, y: np.ndarray, per_class: int | None, seed: int) -> Split:
    """At most `per_class` examples of each label, drawn at random (seeded), in their original
    order: the few-shot end of a data-size study (1, 3, 10 images of each digit)."""
    if per_class is None:
        return x, y
    order = np.random.default_rng(seed).permutation(len(y))
    keep = np.concatenate([order[y[order] == label][:per_class] for label in np.unique(y)])
    keep = np.sort(keep)
    return x[keep], y[keep]


def split(
    arrays: dict[str, np.ndarray],
    val_fraction: float,
    train_fraction: float,
    limit: int | None,
    seed: int,
    per_class: int | None = None,
) -> dict[str, Split]:
    """{"train": (x, y), "val": (x, y), "test": (x, y)}: `train_fraction` of the training split
    kept, then at most `per_class` training images of each digit, then each split capped at
    `limit`."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(arrays["y_train"]))
    val_size = math.ceil(val_fraction * len(index))  # as train_test_split rounds it
    if min(val_size, len(index) - val_size) < NUM_CLASSES:
        raise UserError(
            f"prepare.val_fraction: {val_fraction} of {len(index)} images leaves {val_size} "
            f"for validation and {len(index) - val_size} for training: too few to stratify"
        )
    train_idx, val_idx = train_test_split(
        index, test_size=val_fraction, stratify=arrays["y_train"], random_state=seed
    )
    x, y = arrays["x_train"], arrays["y_train"]
    train = x[np.sort(train_idx)], y[np.sort(train_idx)]
    train = stratified_cap(
        *train, round(train_fraction * len(train_idx)), seed, "prepare.train_fraction"
    )
    splits = {
        "train": per_class_cap(*train, per_class, seed),
        "val": (x[np.sort(val_idx)], y[np.sort(val_idx)]),
        "test": (arrays["x_test"], arrays["y_test"]),
    }
    return {name: stratified_cap(*xy, limit, seed, "data.limit") for name, xy in splits.items()}


def class_counts(splits: dict[str, Split]) -> pd.DataFrame:
    """Images of each digit in each split: one row a digit, one column a split."""
    counts = {name: np.bincount(y, minlength=NUM_CLASSES) for name, (_, y) in splits.items()}
    return pd.DataFrame({"digit": range(NUM_CLASSES), **counts})
