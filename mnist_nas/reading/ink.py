"""Finding the ink in users' images: any Pillow image to float grey, the paper's shading
removed (uneven light, shadows), the strokes found and scaled to about 1."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps
from skimage import color, filters, measure, morphology, segmentation

from mnist_nas.errors import UserError

WORKING_SIDE = 256  # larger images are reduced to this first: a digit needs no more pixels
MIN_CONTRAST = 0.12  # ink must differ from the paper by this much (of the full range)
ROW = 3  # an image whose longer side is more than this many times its shorter holds a row


def frame(shape: tuple[int, ...]) -> int:
    """The length sizes are measured against: the longer side, except in a row of digits,
    where it is a few digit heights."""
    return min(max(shape), ROW * min(shape))


def to_grey(image: Image.Image) -> np.ndarray:
    """Any Pillow image as float grey in [0, 1]: the first frame, upright (EXIF), transparency
    put on white paper, 16- and 32-bit and float pixels scaled by their own range."""
    image.seek(0)
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        pixels = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or pixels.max() > 255 else 255.0
        grey = pixels / (1.0 if image.mode == "F" and pixels.max() <= 1 else top)
        image = Image.fromarray(np.clip(grey * 255, 0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
    bound = WORKING_SIDE * max(image.size) / frame(image.size)
    image.thumbnail((bound, bound), Image.Resampling.LANCZOS)
    return color.rgb2gray(np.asarray(image.convert("RGB"), dtype=np.float64) / 255)


def find_ink(grey: np.ndarray) -> np.ndarray:
    """Ink strength in [0, 1] at each pixel, 0 on the paper: the paper's shading (uneven light,
    a shadow) removed by morphological reconstruction, the ink found by Otsu's threshold.
    A UserError when there is no ink: a blank, uniform or noise-only image."""
    if grey.max() - grey.min() < MIN_CONTRAST:
        raise UserError("no ink found (a blank or uniform image)")
    side = max(3, frame(grey.shape) // 5)  # wider than any stroke
    is_dark = dark_on_even_paper(grey)
    if is_dark is None:
        # A shaded border: the polarity with more contrast (strokes outweigh the holes of a 0
        # or an 8), dark ink unless light ink clearly wins: paper is mostly lighter than ink.
        dark, light = dark_ink(grey, side), light_ink(grey, side)
        ink = strokes(dark if dark.sum() > light.sum() / 2 else light)
    else:  # only that polarity's paper is measured: each costs a reconstruction
        ink = strokes(dark_ink(grey, side) if is_dark else light_ink(grey, side))
    if not ink.any():
        raise UserError("no ink found (only shading or noise)")
    return ink


def dark_on_even_paper(grey: np.ndarray) -> bool | None:
    """Whether the ink is darker than the paper, where an even border shows the paper: the ink
    lies further from it than anything else. None for a shaded border."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    low, high = np.percentile(border, [10, 90])
    if high - low >= MIN_CONTRAST:
        return None
    paper = np.median(border)
    return bool(paper - grey.min() > grey.max() - paper)


def dark_ink(grey: np.ndarray, side: int) -> np.ndarray:
    """How much darker than the paper under it each pixel is, measured against the paper's own
    brightness, so that a stroke keeps its contrast where it runs into a shadow."""
    dark_paper = 1 - paper_level(1 - grey, side)
    return np.clip((dark_paper - grey) / np.maximum(dark_paper, 0.1), 0, None)


def light_ink(grey: np.ndarray, side: int) -> np.ndarray:
    """How much lighter than the paper under it each pixel is."""
    return grey - paper_level(grey, side)


def paper_level(image: np.ndarray, side: int) -> np.ndarray:
    """The paper with its shading, under bright strokes: an opening by reconstruction. Eroding
    with a square of `side` pixels removes the strokes, and growing back under the image
    restores every region that held the square, to its edges. The image is first extended past
    its edges by repeating them, so that shading cut off by the edge (the corner of a shadow)
    still holds the square and is restored as paper."""
    square = morphology.footprint_rectangle((side, side), decomposition="separable")
    padded = np.pad(image, side, mode="edge")
    return opening_by_reconstruction(padded, square)[side:-side, side:-side]


def opening_by_reconstruction(image: np.ndarray, footprint) -> np.ndarray:
    """skimage's reconstruction of the image's erosion under the image, computed on each
    pixel's rank (equal values ordered by position) and mapped back to its value. The result is
    the same to the bit: erosion and reconstruction take only minima and maxima, which any
    non-decreasing map of the values preserves. It is faster: ranks are small integers, sorted
    once by radix (`reconstruct`), where skimage sorts a float copy of the values twice with
    numpy's default sort, slow on the many equal values of an 8-bit image."""
    flat = image.ravel()
    order = np.argsort(flat, kind="stable")
    rank = np.empty(flat.size, np.int64)
    rank[order] = np.arange(flat.size)
    rank = rank.reshape(image.shape)
    restored = reconstruct(morphology.erosion(rank, footprint), rank)
    return flat[order[restored]].reshape(image.shape)


def reconstruct(seed: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """skimage.morphology.reconstruction(seed, mask) of 2-D ranks (integers from 0 to
    mask.size - 1, seed <= mask), by dilation over the 8 neighbours, through skimage's own inner
    loop (Robinson and Whelan's downhill filter). Its wrapper's steps, on the integers: both
    images framed by one pixel of the seed's minimum and stacked, every pixel chained from the
    highest value down (the order of equal values does not change the result), the neighbours
    as offsets in the flat stack."""
    from skimage.morphology._grayreconstruct import reconstruction_loop

    height, width = seed.shape[0] + 2, seed.shape[1] + 2
    stack = np.full((2, height, width), seed.min(), np.uint32)
    stack[0, 1:-1, 1:-1], stack[1, 1:-1, 1:-1] = seed, mask
    values = stack.ravel()
    keys = values.astype(np.uint16) if mask.size <= 2**16 else values  # numpy's radix sort
    chain = np.argsort(keys, kind="stable")[::-1].astype(np.intp)
    before, after = np.full(values.size, -1, np.intp), np.full(values.size, -1, np.intp)
    before[chain[1:]], after[chain[:-1]] = chain[:-1], chain[1:]
    neighbours = np.array([dy * width + dx for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                           if dy or dx], np.intp)  # fmt: skip
    reconstruction_loop(values, before, after, neighbours, chain[0], height * width)
    return values[: height * width].reshape(height, width)[1:-1, 1:-1]


def strokes(contrast: np.ndarray) -> np.ndarray:
    """The strokes in a contrast map (how far each pixel is from the paper, toward the ink),
    smoothed, thresholded by Otsu, without specks (noise, JPEG artefacts) or shadow slivers at
    the border when anything else is there: scaled to about 1 on the ink, 0 elsewhere."""
    signal = filters.gaussian(contrast, sigma=frame(contrast.shape) / 400)
    if signal.max() < MIN_CONTRAST:
        return np.zeros_like(signal)
    labels = measure.label(signal > max(filters.threshold_otsu(signal), MIN_CONTRAST / 2))
    # Shading cut off at the edge of the image goes when anything is left inside; then specks
    # far smaller than the largest component.
    inner = segmentation.clear_border(labels)
    if inner.any():
        labels = inner
    sizes = np.bincount(labels.ravel())[1:]
    keep = np.flatnonzero(sizes >= 0.05 * sizes.max()) + 1
    mask = morphology.dilation(np.isin(labels, keep), morphology.disk(1))
    return np.where(mask, signal, 0) / np.percentile(signal[mask], 95)
