"""Where an interrupted stage keeps what it needs to resume: outside every DVC output (DVC
deletes a stage's outputs before it runs it), keyed by the settings and the data, so only a
rerun with unchanged inputs resumes."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from mnist_nas import paths


def resume_dir(root: str | Path, name: str, settings: object, remove_stale: bool = True) -> Path:
    """root/name-<key>, the key a hash of `settings` and the prepared training and validation
    data. Folders of `name` with another key are removed, unless `remove_stale` is false."""
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for split in ("train", "val"):
        key.update(paths.split_file(split).read_bytes())
    path = Path(root) / f"{name}-{key.hexdigest()[:16]}"
    for stale in path.parent.glob(f"{name}-*") if remove_stale else ():
        if stale != path:
            shutil.rmtree(stale)
    return path
