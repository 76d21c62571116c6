"""Programs that are not DVC stages, installed as console scripts (pyproject.toml)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mnist_nas import paths


def model_folders(args: argparse.ArgumentParser) -> None:
    """The options every program that reads digits takes: where the exported classifier, the
    number reader and the non-digit detector are."""
    args.add_argument("--model", type=Path, default=paths.SAVED_MODEL, help="SavedModel folder")
    args.add_argument(
        "--reader", type=Path, default=paths.READER, help="number reader folder (rows of digits)"
    )
    args.add_argument(
        "--refusal", type=Path, default=paths.REFUSAL,
        help="non-digit detector folder: what scores at its threshold is `not a digit`",
    )  # fmt: skip
