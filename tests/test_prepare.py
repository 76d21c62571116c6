import json

import numpy as np
import pandas as pd
import pytest
from conftest import set_params

from mnist_nas.data.splits import split
from mnist_nas.files import load_npz
from stages import fetch, prepare


def traced(mnist):
    """MNIST labels with each training image replaced by its index, to follow it through a split."""
    return {**mnist, "x_train": np.arange(len(mnist["y_train"]))}


def test_split_is_stratified_disjoint_and_complete(mnist):
    splits = split(traced(mnist), 0.1, 1.0, limit=None, seed=0)
    train_ids, val_ids = splits["train"][0], splits["val"][0]
    assert len(val_ids) == 6000 and len(train_ids) == 54000
    assert not set(train_ids) & set(val_ids)
    np.testing.assert_array_equal(np.sort(np.concatenate([train_ids, val_ids])), np.arange(60000))
    overall = np.bincount(mnist["y_train"]) / 60000
    for name in ("train", "val"):
        share = np.bincount(splits[name][1], minlength=10) / len(splits[name][1])
        np.testing.assert_allclose(share, overall, atol=0.001)


def test_test_set_is_untouched(mnist):
    splits = split(mnist, 0.2, 1.0, limit=None, seed=3)
    np.testing.assert_array_equal(splits["test"][0], mnist["x_test"])
    np.testing.assert_array_equal(splits["test"][1], mnist["y_test"])


def test_split_depends_only_on_seed(mnist):
    first = split(traced(mnist), 0.1, 1.0, None, seed=7)
    again = split(traced(mnist), 0.1, 1.0, None, seed=7)
    other = split(traced(mnist), 0.1, 1.0, None, seed=8)
    np.testing.assert_array_equal(first["val"][0], again["val"][0])
    assert not np.array_equal(first["val"][0], other["val"][0])


@pytest.mark.parametrize("limit", [50, 1000])
def test_limit_caps_each_split_stratified(mnist, limit):
    splits = split(traced(mnist), 0.1, 1.0, limit, seed=0)
    for name, (_, y) in splits.items():
        assert len(y) == limit, name
        source = mnist["y_test"] if name == "test" else mnist["y_train"]
        expected = np.bincount(source, minlength=10) / len(source) * limit
        assert np.abs(np.bincount(y, minlength=10) - expected).max() <= 1.5, name


def test_train_fraction_shrinks_only_the_training_split(mnist):
    full = split(traced(mnist), 0.1, 1.0, None, seed=0)
    small = split(traced(mnist), 0.1, 0.05, None, seed=0)
    assert len(small["train"][1]) == round(0.05 * 54000)
    assert set(small["train"][0]) <= set(full["train"][0])  # a subset
    for name in ("val", "test"):
        assert np.array_equal(small[name][1], full[name][1])
    shares = np.bincount(small["train"][1]) / len(small["train"][1])
    assert np.abs(shares - np.bincount(full["train"][1]) / 54000).max() < 0.005  # stratified


def test_main_writes_uint8_splits_and_report(workdir):
    set_params(workdir, data__limit=300)
    fetch.main.__wrapped__([])
    prepare.main.__wrapped__([])
    report = json.loads((workdir / "metrics" / "data.json").read_text())
    classes = pd.read_csv(workdir / "metrics" / "data_classes.csv")
    assert list(classes.digit) == list(range(10))
    for name in ("train", "val", "test"):
        arrays = load_npz(workdir / "data" / "prepared" / f"{name}.npz", ("x", "y"))
        assert arrays["x"].dtype == np.uint8 and arrays["x"].shape == (300, 28, 28)
        assert report[name] == 300
        assert list(classes[name]) == np.bincount(arrays["y"], minlength=10).tolist()
