"""predict: the digit in each image, by the exported model (python -m stages.predict IMAGE...).

Any image Pillow opens (1-bit to 16-bit grey, palette, RGB(A), CMYK, the first frame of many),
any size, colour or polarity, photos with uneven light included: each is turned into an
MNIST-style digit first (white ink on black, scaled to 20 pixels and centred by mass in 28x28,
as MNIST was made). A file that is not an image, is too large to read safely or holds no ink
gets one error line, and the others go on; the exit code is 1 then.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from skimage import color, filters, measure, morphology, segmentation

from stages.common import UserError, cli

SAVED_MODEL = Path("models/best/saved_model")


WORKING_SIDE = 256  # larger images are reduced to this first: a digit needs no more pixels
MIN_CONTRAST = 0.12  # ink must differ from the paper by this much (of the full range)


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
    image.thumbnail((WORKING_SIDE, WORKING_SIDE), Image.Resampling.LANCZOS)
    return color.rgb2gray(np.asarray(image.convert("RGB"), dtype=np.float64) / 255)


def find_ink(grey: np.ndarray) -> np.ndarray:
    """Ink strength in [0, 1] at each pixel, 0 on the paper: the paper's shading (uneven light,
    a shadow) removed by morphological reconstruction, the ink found by Otsu's threshold.
    A UserError when there is no ink: a blank, uniform or noise-only image."""
    if grey.max() - grey.min() < MIN_CONTRAST:
        raise UserError("no ink found (a blank or uniform image)")
    # The paper under light ink, and under dark ink. Dark ink is measured against the paper's
    # own brightness, so a stroke keeps its contrast where it runs into a shadow.
    side = max(3, max(grey.shape) // 5)  # wider than any stroke
    light_paper = paper_level(grey, side)
    dark_paper = 1 - paper_level(1 - grey, side)
    dark = np.clip((dark_paper - grey) / np.maximum(dark_paper, 0.1), 0, None)
    light = grey - light_paper
    # Which is ink: an even border is paper, and the ink lies further from it than anything
    # else. On a shaded border, the polarity with more contrast (strokes outweigh the holes of
    # a 0 or an 8), dark ink unless light ink clearly wins: paper is mostly lighter than ink.
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    low, high = np.percentile(border, [10, 90])
    if high - low < MIN_CONTRAST:
        paper = np.median(border)
        is_dark = paper - grey.min() > grey.max() - paper
    else:
        is_dark = dark.sum() > light.sum() / 2
    ink = strokes(dark if is_dark else light)
    if not ink.any():
        raise UserError("no ink found (only shading or noise)")
    return ink


def paper_level(image: np.ndarray, side: int) -> np.ndarray:
    """The paper with its shading, under bright strokes: an opening by reconstruction. Eroding
    with a square of `side` pixels removes the strokes, and growing back under the image
    restores every region that held the square, to its edges. The image is first extended past
    its edges by repeating them, so that shading cut off by the edge (the corner of a shadow)
    still holds the square and is restored as paper."""
    square = morphology.footprint_rectangle((side, side), decomposition="separable")
    padded = np.pad(image, side, mode="edge")
    restored = morphology.reconstruction(morphology.erosion(padded, square), padded)
    return restored[side:-side, side:-side]


def strokes(contrast: np.ndarray) -> np.ndarray:
    """The strokes in a contrast map (how far each pixel is from the paper, toward the ink),
    smoothed, thresholded by Otsu, without specks (noise, JPEG artefacts) or shadow slivers at
    the border when anything else is there: scaled to about 1 on the ink, 0 elsewhere."""
    signal = filters.gaussian(contrast, sigma=max(contrast.shape) / 400)
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


def to_mnist(image: Image.Image) -> np.ndarray:
    """A uint8 28x28 array, white digit on black, from a photo or scan of one digit: the ink
    cropped, scaled to 20 pixels and centred by mass in 28x28, as MNIST was made."""
    ink = np.clip(find_ink(to_grey(image)) * 255, 0, 255)
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    digit = Image.fromarray(ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.uint8))
    scale = 20 / max(digit.size)
    size = (max(1, round(digit.width * scale)), max(1, round(digit.height * scale)))
    digit = np.asarray(digit.resize(size, Image.Resampling.LANCZOS), dtype=np.float32)

    # Put the centre of mass at the centre of the 28x28 frame, as MNIST did.
    canvas = np.zeros((28, 28), np.float32)
    total = digit.sum() or 1.0
    centre_y = (digit.sum(axis=1) * np.arange(digit.shape[0])).sum() / total
    centre_x = (digit.sum(axis=0) * np.arange(digit.shape[1])).sum() / total
    top = int(np.clip(round(14 - centre_y), 0, 28 - digit.shape[0]))
    left = int(np.clip(round(14 - centre_x), 0, 28 - digit.shape[1]))
    canvas[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    return np.clip(canvas, 0, 255).astype(np.uint8)


def read_image(path: Path) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its limit and twice it; both are refused here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                return to_mnist(image)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise UserError(f"{path}: too large to read safely ({err})") from None
    except (UnidentifiedImageError, OSError, ValueError, EOFError) as err:
        raise UserError(f"{path}: not a readable image ({err})") from None
    except UserError as err:
        raise UserError(f"{path}: {err}") from None


def load_classifier(path: Path):
    """The exported SavedModel's serving function: uint8 [n, 28, 28] -> probabilities [n, 10]."""
    import tensorflow as tf

    if not (path / "saved_model.pb").is_file():
        raise UserError(f"{path}: no exported model here; run `dvc repro export` first")
    serving = tf.saved_model.load(str(path)).signatures["serving_default"]
    return lambda images: serving(images=tf.constant(images))["probabilities"].numpy()


@cli
def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.predict", description=__doc__)
    parser.add_argument("images", nargs="+", type=Path, help="PNG or JPEG files, one digit each")
    parser.add_argument("--model", type=Path, default=SAVED_MODEL, help="SavedModel folder")
    args = parser.parse_args()

    digits, failed = {}, 0
    for path in args.images:
        try:
            digits[path] = read_image(path)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            failed += 1
    if digits:
        probs = load_classifier(args.model)(np.stack(list(digits.values())))
        for path, row in zip(digits, probs, strict=True):
            print(f"{path}: {row.argmax()} ({row.max():.1%})")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
