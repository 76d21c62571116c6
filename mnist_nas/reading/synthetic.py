"""Synthetic handwritten numbers: MNIST digits written in a row on paper, with random size,
slant, pen width, ink, paper and spacing; separated, or with neighbours touching."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter
from skimage import morphology

PAPERS = [(250, 250, 250), (245, 238, 220), (250, 240, 170), (250, 215, 220), (205, 225, 245),
          (215, 215, 210), (235, 245, 225)]  # fmt: skip
INKS = [(20, 20, 25), (25, 40, 140), (150, 25, 30), (30, 90, 40), (90, 90, 95), (60, 30, 100)]


def pen(digit: np.ndarray, height: int, shear: float, stroke: float) -> np.ndarray:
    """One MNIST digit as written: its 28x28 frame scaled to `height` pixels, with a pen
    `stroke` times as broad (grey dilation or erosion by the difference), slanted by `shear`
    (columns per row). Ink in [0, 1], cropped to its columns."""
    scaled = Image.fromarray(digit).resize((height, height), Image.Resampling.BICUBIC)
    ink = np.asarray(scaled, np.float32) / 255
    radius = abs(stroke - 1) * 0.05 * height  # MNIST's pen is about a tenth of the frame
    grow = morphology.dilation if stroke > 1 else morphology.erosion
    inner, part = int(radius), radius - int(radius)
    below = grow(ink, morphology.disk(inner)) if inner else ink
    ink = (1 - part) * below + part * grow(ink, morphology.disk(inner + 1))
    margin = int(abs(shear) * height / 2) + 1
    wide = np.pad(ink, ((0, 0), (margin, margin)))
    slanted = Image.fromarray(wide).transform(
        (wide.shape[1], height),
        Image.Transform.AFFINE,
        (1, shear, -shear * height / 2, 0, 1, 0),
        Image.Resampling.BILINEAR,
    )
    ink = np.asarray(slanted, np.float32)
    cols = np.flatnonzero((ink > 0.1).any(axis=0))
    return ink[:, cols[0] : cols[-1] + 1]


def place(row: np.ndarray, ink: np.ndarray, top: int, gap: float) -> int:
    """The column where `ink` starts so that, row by row, it keeps `gap` pixels from the ink
    already in `row` (a negative gap overlaps the strokes: touching digits)."""
    band = row[top : top + ink.shape[0]] > 0.1
    mine = ink > 0.1
    shared = band.any(axis=1) & mine.any(axis=1)
    if not shared.any():  # no row in common: go by the whole ink's extents
        right = np.flatnonzero(row.any(axis=0))[-1]
        return int(right + 1 + gap)
    right = np.array([np.flatnonzero(r)[-1] for r in band[shared]])
    left = np.array([np.flatnonzero(r)[0] for r in mine[shared]])
    return int(np.ceil((right - left).max() + 1 + gap))


def number_image(digits: list[np.ndarray], touching: bool, rng: np.random.Generator) -> Image.Image:
    """A handwritten number on paper: random size, slant, stroke, ink, paper and spacing. In a
    touching number at least one pair of neighbours touches; otherwise none does."""
    height = int(rng.integers(32, 96))  # the digits' 28x28 frames, in pixels
    shear = rng.uniform(-0.2, 0.2)  # 11 degrees either way, on top of the writers' own slant
    stroke = 2 ** rng.uniform(-0.5, 0.5)  # 0.7 to 1.4 times as broad as MNIST's pen
    touch = rng.random(len(digits) - 1) < 0.4 if touching else np.zeros(len(digits) - 1, bool)
    if touching and len(touch) and not touch.any():
        touch[rng.integers(len(touch))] = True
    margin = height
    row = np.zeros((3 * height, margin + 2 * height * len(digits)), np.float32)
    left = margin
    for i, digit in enumerate(digits):
        size = int(height * rng.uniform(0.9, 1.1))
        ink = pen(digit, size, shear + rng.uniform(-0.05, 0.05), stroke)
        top = int(height + rng.uniform(-0.06, 0.06) * height)
        if i:
            # touching: the strokes meet, overlapping by up to half a stroke; else 3 px or more
            gap = (
                -rng.uniform(0, 0.04) * height if touch[i - 1] else rng.uniform(0.08, 0.6) * height
            )
            left = place(row, ink, top, gap if touch[i - 1] else max(gap, 3))
        window = row[top : top + ink.shape[0], left : left + ink.shape[1]]
        np.maximum(window, ink, out=window)
    cols = np.flatnonzero(row.any(axis=0))
    row = row[:, : cols[-1] + 1 + margin]
    paper = np.array(PAPERS[rng.integers(len(PAPERS))], np.float32)
    colour = np.array(INKS[rng.integers(len(INKS))], np.float32)
    alpha = np.clip(row, 0, 1)[..., None] * rng.uniform(0.75, 1.0)
    rgb = paper * (1 - alpha) + colour * alpha + rng.normal(0, rng.uniform(0, 6), alpha.shape)
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0, 0.8)))
