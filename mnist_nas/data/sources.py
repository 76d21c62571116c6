"""Reading MNIST from each supported source into arrays, and checking what was read."""

from __future__ import annotations

import gzip
import hashlib
import tempfile
from pathlib import Path

import numpy as np

from mnist_nas.contract import NUM_CLASSES, SIDE
from mnist_nas.errors import UserError
from mnist_nas.files import load_npz

SPLITS = ("x_train", "y_train", "x_test", "y_test")

# sha256 of each array's raw bytes in the official MNIST (README.md, "Data and attribution").
MNIST_ARRAY_SHA256 = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}

# File names of the original distribution; "train-images.idx3-ubyte" spellings are common too.
IDX_FILES = {
    "x_train": ("train-images-idx3-ubyte", 0x0803),
    "y_train": ("train-labels-idx1-ubyte", 0x0801),
    "x_test": ("t10k-images-idx3-ubyte", 0x0803),
    "y_test": ("t10k-labels-idx1-ubyte", 0x0801),
}


def load_npz_source(path: str | Path) -> dict[str, np.ndarray]:
    """Arrays from a keras-layout .npz (x_train, y_train, x_test, y_test)."""
    return load_npz(path, SPLITS)


def _find_idx_file(folder: Path, stem: str) -> Path:
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, f"{stem}.gz", dotted, f"{dotted}.gz"):
        if (folder / name).is_file():
            return folder / name
    raise UserError(f"data.path: {folder} has no {stem} or {stem}.gz")


def read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """One IDX file (gzipped or not) as a uint8 array, checking its header against its size."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise UserError(f"{path}: corrupt gzip data ({err})") from None
    magic = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if magic != expected_magic:
        got = "a file too short for a header" if magic is None else f"0x{magic:08x}"
        raise UserError(f"{path}: bad IDX magic number {got}, expected 0x{expected_magic:08x}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UserError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    body = raw[header:]
    if len(body) != int(np.prod(shape)):
        raise UserError(
            f"{path}: IDX header says shape {shape} ({int(np.prod(shape))} bytes) "
            f"but the file holds {len(body)} bytes"
        )
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


def load_idx_source(folder: str | Path) -> dict[str, np.ndarray]:
    """Arrays from a folder holding the four original IDX files, gzipped or not."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"data.path: {folder} is not a folder (source idx needs the IDX folder)")
    return {
        key: read_idx(_find_idx_file(folder, stem), magic)
        for key, (stem, magic) in IDX_FILES.items()
    }


def load_tfds_source(data_dir: str | Path, download: bool) -> dict[str, np.ndarray]:
    """Arrays from the `mnist` dataset of tensorflow-datasets in `data_dir` (a TFDS data folder,
    such as ~/tensorflow_datasets), prepared there first by TFDS only when `download` is set."""
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core import hashing

    data_dir = Path(data_dir).expanduser()
    builder = tfds.builder("mnist", data_dir=data_dir)
    if not (Path(builder.data_dir) / "dataset_info.json").is_file():
        if not download:
            raise UserError(
                f"data.path: no TFDS mnist {builder.version} in {data_dir} "
                "(data.tfds_download: true lets TFDS download it)"
            )
        try:
            builder.download_and_prepare()
        except Exception as err:  # TFDS raises many kinds for network and checksum failures
            message = " ".join(str(err).split())[:300]
            raise UserError(f"data.tfds_download: TFDS could not get mnist: {message}") from None
    arrays = {}
    for split in ("train", "test"):
        data = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1, shuffle_files=False))
        # TFDS stores the examples ordered by an MD5 of their key, the index in the original
        # files, salted with the split name. Undo that: the arrays come out in the official
        # order, the one the other sources give and data.verify_hashes checks.
        hasher = hashing.Hasher(split)
        stored_order = np.argsort([hasher.hash_key(i) for i in range(len(data["label"]))])
        x, y = np.empty_like(data["image"]), np.empty_like(data["label"])
        x[stored_order], y[stored_order] = data["image"], data["label"]
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x[..., 0], y
    return arrays


def download(url: str, sha256: str) -> dict[str, np.ndarray]:
    """Download a keras-layout mnist.npz with a progress bar, verifying the file's sha256."""
    import keras  # imported here: the other sources don't need TensorFlow's start-up time

    with tempfile.TemporaryDirectory() as cache_dir:
        try:
            path = keras.utils.get_file(
                "mnist.npz",
                origin=url,
                file_hash=sha256,
                hash_algorithm="sha256",
                cache_dir=cache_dir,
                cache_subdir=".",
            )
        except Exception as err:  # keras raises bare Exception/ValueError for network and hash
            message = " ".join(str(err).split())
            raise UserError(f"data.url: download of {url} failed: {message}") from None
        return load_npz_source(path)


def check_arrays(arrays: dict[str, np.ndarray], verify_hashes: bool) -> dict[str, np.ndarray]:
    """Check shapes, dtypes and labels; with verify_hashes, that the arrays are official MNIST.

    Returns the arrays as contiguous uint8, the one layout every later stage reads.
    """
    checked = {}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or x.shape[1:] != (SIDE, SIDE):
            raise UserError(
                f"x_{split}: expected images of shape (N, {SIDE}, {SIDE}), got {x.shape}"
            )
        if x.dtype != np.uint8:
            raise UserError(f"x_{split}: expected dtype uint8 pixels, got {x.dtype}")
        if y.shape != (len(x),):
            raise UserError(
                f"y_{split}: expected shape ({len(x)},) to match x_{split}, got {y.shape}"
            )
        if not np.issubdtype(y.dtype, np.integer):
            raise UserError(f"y_{split}: expected integer labels, got dtype {y.dtype}")
        if len(y) == 0:
            raise UserError(f"y_{split}: the split is empty")
        if y.min() < 0 or y.max() >= NUM_CLASSES:
            bad = y[(y < 0) | (y >= NUM_CLASSES)][0]
            raise UserError(f"y_{split}: labels must be 0-9, found {bad}")
        checked[f"x_{split}"] = np.ascontiguousarray(x)
        checked[f"y_{split}"] = np.ascontiguousarray(y, dtype=np.uint8)
    if verify_hashes:
        for key, expected in MNIST_ARRAY_SHA256.items():
            if hashlib.sha256(checked[key].tobytes()).hexdigest() != expected:
                raise UserError(
                    f"{key}: does not match the official MNIST array hash "
                    "(set data.verify_hashes: false for data that is not MNIST)"
                )
    return checked
