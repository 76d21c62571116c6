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


class FitState:
    """The resume state of one fit in `folder`: Keras' backup of the last finished epoch
    (backup/) and DVCLive's history (live/). Published into the stage's outputs when the fit is
    done, then removed."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.backup, self.history = self.folder / "backup", self.folder / "live"
        repair_backup(self.backup)

    @classmethod
    def keyed(cls, name: str, settings: object) -> FitState:
        """A candidate's state, in paths.RESUME/train/NAME-<key> (resume_dir)."""
        return cls(resume_dir(paths.RESUME / "train", name, settings))

    @property
    def finished_epochs(self) -> int:
        """Epochs an interrupted fit finished (0 for a fit from the start)."""
        metadata = self.backup / "training_metadata.json"
        return json.loads(metadata.read_text())["epoch"] + 1 if metadata.exists() else 0

    def live(self):
        """DVCLive, going on from the interrupted fit's history when there is one."""
        from dvclive import Live

        resuming = self.finished_epochs > 0
        live = Live(str(self.history), resume=resuming, dvcyaml=None, save_dvc_exp=False)
        if resuming:  # DVCLive's step = Keras' epoch (its own resume is one short after epoch 1)
            live.step = self.finished_epochs - 1
        return live

    def publish(self, record: Path, summary: bool = True) -> None:
        """DVCLive's per-epoch plots, and its summary (metrics.json) unless not `summary`, into
        `record` (the stage's outputs), atomically; then the resume state goes."""
        from mnist_nas.files import atomic_path

        if summary:
            with atomic_path(record / "metrics.json") as tmp:
                shutil.copyfile(self.history / "metrics.json", tmp)
        with atomic_path(record / "plots") as tmp:
            shutil.copytree(self.history / "plots", tmp)
        shutil.rmtree(self.folder)


# The files of Keras' BackupAndRestore (double_checkpoint keeps the previous pair as .bkp).
WEIGHTS, METADATA = "latest.weights.h5", "training_metadata.json"


def repair_backup(backup: Path) -> None:
    """Leave `backup` as a whole Keras backup, or remove it (the fit then starts afresh).

    BackupAndRestore writes in place, after copying the last pair to .bkp: the weights, then
    training_metadata.json. A kill inside the first write leaves truncated weights and nothing
    to fall back on; a kill between the two leaves the new weights beside the old epoch number;
    a kill inside the metadata's write leaves JSON Keras cannot read. Every rerun would then
    fail or resume from a mismatched pair (found by tests/test_kill.py)."""
    backup = Path(backup)
    if not backup.exists():
        return
    current, previous = backup_epoch(backup, ""), backup_epoch(backup, ".bkp")
    half_saved = (
        current is not None
        and current == previous
        and (backup / WEIGHTS).read_bytes() != (backup / f"{WEIGHTS}.bkp").read_bytes()
    )
    if current is not None and not half_saved:
        return
    if previous is None:
        shutil.rmtree(backup)
        return
    for name in (WEIGHTS, METADATA):
        shutil.copyfile(backup / f"{name}.bkp", backup / name)


def backup_epoch(backup: Path, suffix: str) -> int | None:
    """The epoch a backup's pair of files records, or None when either is missing or broken."""
    import h5py

    try:
        epoch = json.loads((backup / f"{METADATA}{suffix}").read_text())["epoch"]
        with h5py.File(backup / f"{WEIGHTS}{suffix}", "r"):
            pass
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return epoch if isinstance(epoch, int) else None
