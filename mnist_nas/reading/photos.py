"""Photo-like images of real MNIST digits: what a phone or scanner gives of a digit on paper.

Each digit is drawn in a random ink colour on random paper at a random size and place, then lit
unevenly (a gradient, a lamp to one side, a shadow), blurred, given sensor noise and saved as a
JPEG. Used by the predict tests and bench/predict_photos.py, always on official test digits.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

from mnist_nas.reading.synthetic import INKS, PAPERS  # the numbers evaluation's inks and papers


def lighting(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A multiplicative light field in (0, 1]: a linear gradient, a lamp's fall-off or a
    shadow with a straight edge and a soft penumbra, with random direction and strength."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    kind = rng.integers(3)
    if kind == 0:
        angle = rng.uniform(0, 2 * np.pi)
        ramp = x * np.cos(angle) + y * np.sin(angle)
        ramp = (ramp - ramp.min()) / (np.ptp(ramp) or 1)
        return 1 - rng.uniform(0.2, 0.55) * ramp
    if kind == 1:
        cy, cx = rng.uniform(-0.5, 1.5, size=2)
        distance = np.hypot(y - cy, x - cx)
        return 1 - rng.uniform(0.2, 0.5) * distance / distance.max()
    angle = rng.uniform(0, 2 * np.pi)
    side = (x - rng.uniform(0.2, 0.8)) * np.cos(angle) + (y - rng.uniform(0.2, 0.8)) * np.sin(angle)
    penumbra = rng.uniform(0.03, 0.15)  # of the image's side: an object between lamp and paper
    return 1 - rng.uniform(0.25, 0.45) / (1 + np.exp(-side / (penumbra / 4)))


def photo(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """A JPEG-decoded RGB photo of one 28x28 MNIST digit (white on black) written on paper."""
    size = int(rng.integers(40, 360))  # the digit's 28x28 frame, in pixels
    height, width = (np.array([size, size]) * rng.uniform(1.1, 2.5, size=2)).astype(int)
    alpha = np.zeros((height, width), np.float32)
    top, left = rng.integers(0, height - size + 1), rng.integers(0, width - size + 1)
    stroke = Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC)
    alpha[top : top + size, left : left + size] = np.asarray(stroke, np.float32) / 255
    alpha *= rng.uniform(0.7, 1.0)  # a pale pen or pencil
    paper = np.array(PAPERS[rng.integers(len(PAPERS))], np.float32)
    ink = np.array(INKS[rng.integers(len(INKS))], np.float32)
    rgb = paper * (1 - alpha[..., None]) + ink * alpha[..., None]
    rgb *= lighting(height, width, rng)[..., None]
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.5) * size / 100))
    noisy = np.asarray(image, np.float32) + rng.normal(0, rng.uniform(0, 12), (height, width, 1))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(
        buffer, "JPEG", quality=int(rng.integers(30, 95))
    )
    return Image.open(buffer)
