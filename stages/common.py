"""Small helpers every stage shares: user-facing errors and atomic, deterministic writes."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np


class UserError(Exception):
    """A problem the user can fix (bad params, bad data); printed as one line, no traceback."""


def cli(main: Callable[[], None]) -> Callable[[], None]:
    """Run a stage's main(): a UserError becomes `error: <message>` on stderr and exit code 1."""

    @functools.wraps(main)
    def wrapper() -> None:
        try:
            main()
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(1)

    return wrapper


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; move it into place only if the block succeeds.

    Works for files and directories alike, so a failed or killed stage never leaves a
    half-written output behind, and a previous output survives until the new one is complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent)) / path.name
    try:
        yield tmp
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp.parent, ignore_errors=True)


def save_npz(path: str | Path, **arrays: np.ndarray) -> None:
    """Write arrays as an uncompressed .npz, byte-identical for identical arrays, atomically.

    numpy's own savez stamps the current time into the zip, so every rerun would change the
    file's hash and make DVC rerun everything downstream.
    """
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)


def load_npz(path: str | Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Load the named arrays from an .npz without unpickling; UserError on anything unreadable."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in keys if key not in archive.files]
            if missing:
                raise UserError(f"{path}: missing array(s) {', '.join(missing)}")
            return {key: archive[key] for key in keys}
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise UserError(f"{path}: not a readable .npz file ({err})") from None


PREPARED = Path("data/prepared")
TRAINED = Path("models/trained")  # models/trained/<name>/model.keras: every candidate and nas
ENSEMBLE = Path("models/ensemble")  # beside, not inside: it is made from everything in TRAINED


def model_path(name: str) -> Path:
    """Where the model `name` (a candidate, "nas" or "ensemble") is saved."""
    return (ENSEMBLE if name == "ensemble" else TRAINED / name) / "model.keras"


def load_split(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of one prepared split: "train", "val" or "test"."""
    arrays = load_npz(PREPARED / f"{name}.npz", ("x", "y"))
    return arrays["x"], arrays["y"]


def resume_dir(root: str | Path, name: str, settings: object, remove_stale: bool = True) -> Path:
    """A folder where an interrupted stage keeps what it needs to resume: root/name-<key>.

    Outside every DVC output, so it survives DVC's clean-up before a rerun; keyed by `settings`
    and the prepared training data, so only a rerun with unchanged inputs resumes. Folders of
    `name` with another key are removed, unless `remove_stale` is false.
    """
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for split in ("train", "val"):
        key.update((PREPARED / f"{split}.npz").read_bytes())
    path = Path(root) / f"{name}-{key.hexdigest()[:16]}"
    for stale in path.parent.glob(f"{name}-*") if remove_stale else ():
        if stale != path:
            shutil.rmtree(stale)
    return path


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
        keep = np.random.default_rng(seed).choice(len(y), size, replace=False)
    else:
        from sklearn.model_selection import train_test_split

        index = np.arange(len(y))
        keep, _ = train_test_split(index, train_size=size, stratify=y, random_state=seed)
    return keep


def write_csv(path: str | Path, table) -> None:
    """Write a pandas DataFrame as CSV (no index column), atomically."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def write_json(path: str | Path, data: object) -> None:
    """Write JSON atomically, with sorted keys so equal data gives equal bytes."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def load_model(path: str | Path):
    """Load a .keras model for inference, in Keras' safe mode (no arbitrary code)."""
    import keras

    if not Path(path).is_file():
        raise UserError(f"{path}: no such model file")
    return keras.saving.load_model(path, compile=False, safe_mode=True)
