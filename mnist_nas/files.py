"""Writes that are atomic and byte-for-byte deterministic, and reads that fail in one line.

DVC hashes every output: a file that differs only by the time it was written (numpy's .npz,
Keras' .keras) would get a new hash and rerun every stage after it, and keep DVC's run-cache
from recognising an experiment it has already run.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psutil

from mnist_nas import paths
from mnist_nas.errors import UserError

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path; move it to `path` only if the block succeeds, so a failed or
    killed stage never leaves a half-written output behind.

    A file replaces the previous one in one rename. A folder cannot (a rename does not replace
    a folder that has files), so the previous folder is moved aside first, in one rename, and
    the new one moved in with another: a kill between the two leaves no folder at `path`, never
    a half-written or half-deleted one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=scratch_folder(path))) / path.name
    try:
        yield tmp
        if path.is_dir() and not path.is_symlink():
            os.replace(path, tmp.parent / f"{path.name}.previous")
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp.parent, ignore_errors=True)


def scratch_folder(path: Path) -> Path:
    """Where a write of `path` is prepared: the project's paths.WRITES, outside every output
    and on the same filesystem (so the move is a rename), or beside `path` outside a project.
    A SIGKILL skips atomic_path's cleanup, and DVC removes only declared outputs (and restores
    a revisited stage from its run-cache without running it), so a half-written copy among
    the outputs would stay for good; in paths.WRITES the next write removes it instead."""
    writes = paths.WRITES
    if not writes.parent.is_dir() or writes.parent.stat().st_dev != path.parent.stat().st_dev:
        return path.parent
    writes.mkdir(exist_ok=True)
    for folder in writes.iterdir():
        writer = folder.name.partition("-")[0]
        if writer.isdigit() and not psutil.pid_exists(int(writer)):
            shutil.rmtree(folder, ignore_errors=True)
    return writes


def save_npz(path: str | Path, **arrays: np.ndarray) -> None:
    """Write arrays as an uncompressed .npz, byte-identical for identical arrays, atomically."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_EPOCH)
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


def write_csv(path: str | Path, table) -> None:
    """Write a pandas DataFrame as CSV (no index column), atomically."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def write_json(path: str | Path, data: object) -> None:
    """Write JSON atomically, with sorted keys so equal data gives equal bytes."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def stable_ids(config: bytes) -> bytes:
    """Keras' config.json with its `shared_object_id`s (the Python id(), a memory address, of
    objects layers share) renumbered 0, 1, 2... in order of first appearance: the same sharing,
    the same bytes in every process."""
    numbers: dict[bytes, bytes] = {}

    def renumber(found: re.Match) -> bytes:
        number = numbers.setdefault(found[1], str(len(numbers)).encode())
        return b'"shared_object_id": ' + number

    return re.sub(rb'"shared_object_id": (\d+)', renumber, config)


def save_model(model, path: str | Path) -> None:
    """Save a Keras model as .keras, atomically, with the same bytes for the same model: Keras
    stamps the time into its metadata.json (`date_saved`) and into the zip entry of the
    weights, and memory addresses into config.json; all three are made stable here."""
    buffer = io.BytesIO()
    with atomic_path(path) as tmp:
        model.save(tmp)
        with zipfile.ZipFile(tmp) as saved, zipfile.ZipFile(buffer, "w") as fixed:
            for entry in saved.infolist():
                data = saved.read(entry)
                if entry.filename == "metadata.json":
                    metadata = json.loads(data)
                    metadata.pop("date_saved", None)
                    data = json.dumps(metadata).encode()
                elif entry.filename == "config.json":
                    data = stable_ids(data)
                info = zipfile.ZipInfo(entry.filename, ZIP_EPOCH)
                fixed.writestr(info, data, entry.compress_type)
        tmp.write_bytes(buffer.getvalue())


def load_model(path: str | Path):
    """Load a .keras model for inference, in Keras' safe mode (no arbitrary code)."""
    import keras

    if not Path(path).is_file():
        raise UserError(f"{path}: no such model file")
    return keras.saving.load_model(path, compile=False, safe_mode=True)
