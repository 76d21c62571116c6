"""The non-digit detector's material as the `material` stage writes it: non-digits and digits
drawn on paper and framed as predict frames a digit (mnist_nas.reading.nondigits makes them).
Read without the generator's code, so that the stages that learn or choose from it do not
rerun when only the drawing code changes and the bytes do not."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mnist_nas.files import load_npz, save_npz

FOLDER = Path("data/material")  # the material stage's outputs, fit.npz and choose.npz
# nondigits: uint8 [n, 28, 28]; kinds: each one's kind; digits: uint8 [m, 28, 28]; labels: [m]
KEYS = ("nondigits", "kinds", "digits", "labels")


def file(purpose: str) -> Path:
    """Where the material of `purpose` ("fit" or "choose") is written."""
    return FOLDER / f"{purpose}.npz"


def save(purpose: str, arrays: dict[str, np.ndarray]) -> None:
    """Write the material of `purpose` ("fit" or "choose"), atomically, byte for byte."""
    save_npz(file(purpose), **{key: arrays[key] for key in KEYS})


def load(purpose: str) -> dict[str, np.ndarray]:
    """The material of `purpose`, as `save` wrote it; a UserError naming the file otherwise."""
    return load_npz(file(purpose), KEYS)
