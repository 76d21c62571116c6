"""Synthetic handwritten numbers: MNIST digits written in a row on paper, with random size,
slant, pen width, ink, paper and spacing; separated, or with neighbours touching."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter
from skimage import morphology

PAPERS = [(250, 250, 250), (245, 238, 220), (250, 240, 170), (250, 215, 220), (205, 225, 245),
          (215, 215, 210), (235, 245, 225)]  # fmt: skip
INKS = [(20, 20, 25), (25, 40, 140), (150, 25, 30), (30, 90, 40), (90, 90, 95), (60, 30, 100)]


@dataclass(frozen=True)
class Style:
    """How widely the writing varies: the pen's breadth (log2 of the times MNIST's, low and
    high) and each digit's size against the row's."""

    stroke: tuple[float, float] = (-0.5, 0.5)  # 0.7 to 1.4 times as broad as MNIST's pen
    size: tuple[float, float] = (0.9, 1.1)
    touch: float = 0.4  # in a touching number, the chance that two neighbours touch


TEST = Style()  # the numbers the `numbers` stage reads
WIDER = Style(stroke=(-0.7, 0.9), size=(0.8, 1.25))  # what the reader trains on: more variety
PAIRS = Style(stroke=(-0.7, 0.9), size=(0.8, 1.25), touch=1.0)  # and the pair reader


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
    return on_paper(write_row(digits, touching, rng)[0], rng)


def write_row(
    digits: list[np.ndarray], touching: bool, rng: np.random.Generator, style: Style = TEST
) -> tuple[np.ndarray, np.ndarray]:
    """The ink of a handwritten number (float, about 1 in the strokes) and which digit each
    pixel's ink comes from (its index in `digits`, -1 on the paper): number_image's row."""
    height = int(rng.integers(32, 96))  # the digits' 28x28 frames, in pixels
    shear = rng.uniform(-0.2, 0.2)  # 11 degrees either way, on top of the writers' own slant
    stroke = 2 ** rng.uniform(*style.stroke)  # times as broad as MNIST's pen
    touch = (
        rng.random(len(digits) - 1) < style.touch if touching else np.zeros(len(digits) - 1, bool)
    )
    if touching and len(touch) and not touch.any():
        touch[rng.integers(len(touch))] = True
    margin = height
    row = np.zeros((3 * height, margin + 2 * height * len(digits)), np.float32)
    owner = np.full(row.shape, -1, np.int16)
    left = margin
    for i, digit in enumerate(digits):
        size = int(height * rng.uniform(*style.size))
        ink = pen(digit, size, shear + rng.uniform(-0.05, 0.05), stroke)
        top = int(height + rng.uniform(-0.06, 0.06) * height)
        if i:
            # touching: the strokes meet, overlapping by up to half a stroke; else 3 px or more
            gap = (
                -rng.uniform(0, 0.04) * height if touch[i - 1] else rng.uniform(0.08, 0.6) * height
            )
            left = place(row, ink, top, gap if touch[i - 1] else max(gap, 3))
        window = row[top : top + ink.shape[0], left : left + ink.shape[1]]
        mine = ink > np.maximum(window, 0.02)
        owner[top : top + ink.shape[0], left : left + ink.shape[1]][mine] = i
        np.maximum(window, ink, out=window)
    cols = np.flatnonzero(row.any(axis=0))
    end = cols[-1] + 1 + margin
    return row[:, :end], owner[:, :end]


def on_paper(row: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """The ink of a row written on paper: a random paper colour, ink colour and strength, noise
    and blur."""
    paper = np.array(PAPERS[rng.integers(len(PAPERS))], np.float32)
    colour = np.array(INKS[rng.integers(len(INKS))], np.float32)
    alpha = np.clip(row, 0, 1)[..., None] * rng.uniform(0.75, 1.0)
    rgb = paper * (1 - alpha) + colour * alpha + rng.normal(0, rng.uniform(0, 6), alpha.shape)
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0, 0.8)))
