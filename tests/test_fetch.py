import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
from conftest import set_params

from mnist_nas.data.sources import MNIST_ARRAY_SHA256, SPLITS
from mnist_nas.errors import UserError
from mnist_nas.files import load_npz
from mnist_nas.paths import RAW
from stages import fetch

OUTPUT = RAW


def run_fetch() -> None:
    fetch.main.__wrapped__([])  # raise UserError instead of exiting, so tests can read it


def assert_official_mnist(path: Path) -> None:
    arrays = load_npz(path, SPLITS)
    for key, expected in MNIST_ARRAY_SHA256.items():
        assert arrays[key].dtype == np.uint8
        assert hashlib.sha256(arrays[key].tobytes()).hexdigest() == expected, key


def write_idx(path: Path, array: np.ndarray, gzipped: bool) -> None:
    magic = (0x0800 | array.ndim).to_bytes(4, "big")
    header = magic + b"".join(n.to_bytes(4, "big") for n in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(payload, compresslevel=1, mtime=0) if gzipped else payload)


def write_idx_folder(folder: Path, arrays: dict, gzipped: bool) -> None:
    folder.mkdir()
    suffix = ".gz" if gzipped else ""
    write_idx(folder / f"train-images-idx3-ubyte{suffix}", arrays["x_train"], gzipped)
    write_idx(folder / f"train-labels-idx1-ubyte{suffix}", arrays["y_train"], gzipped)
    write_idx(folder / f"t10k-images-idx3-ubyte{suffix}", arrays["x_test"], gzipped)
    write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", arrays["y_test"], gzipped)


def test_bundled(workdir):
    run_fetch()
    assert_official_mnist(OUTPUT)


def test_every_source_gives_the_same_file(workdir, mnist):
    run_fetch()
    bundled = OUTPUT.read_bytes()

    np.savez(workdir / "mine.npz", **mnist)
    set_params(workdir, data__source="npz", data__path="mine.npz")
    run_fetch()
    assert OUTPUT.read_bytes() == bundled

    for gzipped in (False, True):
        folder = workdir / f"idx-{gzipped}"
        write_idx_folder(folder, mnist, gzipped)
        set_params(workdir, data__source="idx", data__path=str(folder))
        run_fetch()
        assert OUTPUT.read_bytes() == bundled


def test_keras_download_from_local_url(workdir, capsys):
    served = workdir / "served" / "mnist.npz"
    served.parent.mkdir()
    served.write_bytes((workdir / "data" / "mnist.npz").read_bytes())
    sha256 = hashlib.sha256(served.read_bytes()).hexdigest()
    set_params(workdir, data__source="keras", data__url=served.as_uri(), data__sha256=sha256)
    run_fetch()
    assert_official_mnist(OUTPUT)


def test_keras_download_with_wrong_hash_fails_and_writes_nothing(workdir):
    served = workdir / "mnist.npz"
    served.write_bytes(b"not the file you expect")
    set_params(workdir, data__source="keras", data__url=served.as_uri(), data__sha256="0" * 64)
    with pytest.raises(UserError, match=r"^data\.url: download of file://.* failed"):
        run_fetch()
    assert not OUTPUT.exists()


def test_truncated_npz_keeps_previous_output(workdir):
    OUTPUT.parent.mkdir(parents=True)
    OUTPUT.write_bytes(b"previous output")
    whole = (workdir / "data" / "mnist.npz").read_bytes()
    (workdir / "cut.npz").write_bytes(whole[: len(whole) // 2])
    set_params(workdir, data__source="npz", data__path="cut.npz")
    with pytest.raises(UserError, match=r"cut\.npz: not a readable \.npz file"):
        run_fetch()
    assert OUTPUT.read_bytes() == b"previous output"
    assert list(OUTPUT.parent.iterdir()) == [OUTPUT]  # no temporary files left behind


def test_missing_npz_path_is_named(workdir):
    set_params(workdir, data__source="npz", data__path="nowhere.npz")
    with pytest.raises(UserError, match=r"^data\.path: no such file 'nowhere\.npz'"):
        run_fetch()


@pytest.mark.parametrize(
    ("damage", "error"),
    [
        (lambda raw: raw[:-100], r"IDX header says shape \(60000, 28, 28\)"),
        (lambda raw: b"\x00\x00\x08\x01" + raw[4:], r"bad IDX magic number 0x00000801"),
        (lambda raw: raw[:3], r"bad IDX magic number a file too short"),
    ],
    ids=["truncated", "wrong-magic", "empty"],
)
def test_damaged_idx(workdir, mnist, damage, error):
    folder = workdir / "idx"
    write_idx_folder(folder, mnist, gzipped=False)
    images = folder / "train-images-idx3-ubyte"
    images.write_bytes(damage(images.read_bytes()))
    set_params(workdir, data__source="idx", data__path=str(folder))
    with pytest.raises(UserError, match=error):
        run_fetch()
    assert not OUTPUT.exists()


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            {"y_train": lambda y: np.where(np.arange(len(y)) == 7, 11, y)},
            r"y_train: labels must be 0-9, found 11",
        ),
        ({"x_test": lambda x: x[:, :27, :]}, r"x_test: expected images of shape \(N, 28, 28\)"),
        ({"x_train": lambda x: x.astype(np.float32)}, r"x_train: expected dtype uint8"),
        ({"y_test": lambda y: y[:-1]}, r"y_test: expected shape \(10000,\)"),
        ({"y_train": lambda y: y[::-1].copy()}, r"y_train: does not match the official MNIST"),
    ],
    ids=["label-range", "shape", "dtype", "length", "hash"],
)
def test_bad_arrays(workdir, mnist, change, error):
    arrays = {key: change.get(key, lambda a: a)(value) for key, value in mnist.items()}
    np.savez(workdir / "bad.npz", **arrays)
    set_params(workdir, data__source="npz", data__path="bad.npz")
    with pytest.raises(UserError, match=error):
        run_fetch()
    assert not OUTPUT.exists()


def test_other_digits_pass_without_hash_check(workdir, mnist):
    subset = {key: value[:500] for key, value in mnist.items()}
    np.savez(workdir / "small.npz", **subset)
    set_params(workdir, data__source="npz", data__path="small.npz", data__verify_hashes=False)
    run_fetch()
    written = load_npz(OUTPUT, SPLITS)
    assert written["x_train"].shape == (500, 28, 28)
    np.testing.assert_array_equal(written["y_test"], mnist["y_test"][:500])


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory, mnist):
    """A TFDS data folder holding `mnist`, written by TFDS's own tools from the bundled arrays:
    the registered builder's version and features, its keys (the index in the original files)
    and its key-hash shuffling, so the folder reads as one `tfds.load("mnist")` prepared."""
    import tensorflow_datasets as tfds

    def examples(split):
        images, labels = mnist[f"x_{split}"], mnist[f"y_{split}"]
        for index in range(len(labels)):
            yield index, {"image": images[index][..., None], "label": int(labels[index])}

    folder = tmp_path_factory.mktemp("tensorflow_datasets")
    registered = tfds.builder("mnist", data_dir=folder)
    tfds.dataset_builders.store_as_tfds_dataset(
        name="mnist",
        version=registered.version,
        features=registered.info.features,
        split_datasets={split: examples(split) for split in ("train", "test")},
        data_dir=folder,
    )
    return folder


def test_tfds_source_gives_the_same_file_as_bundled(workdir, tfds_dir):
    run_fetch()
    bundled = OUTPUT.read_bytes()
    set_params(workdir, data__source="tfds", data__path=str(tfds_dir))
    run_fetch()
    assert OUTPUT.read_bytes() == bundled


def test_tfds_without_the_dataset_does_not_download_unless_allowed(workdir):
    (workdir / "empty").mkdir()
    set_params(workdir, data__source="tfds", data__path="empty", data__tfds_download=False)
    with pytest.raises(UserError, match=r"^data\.path: no TFDS mnist 3\.0\.1 in empty "):
        run_fetch()
    assert not OUTPUT.exists() and not list((workdir / "empty").iterdir())
