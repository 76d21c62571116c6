"""predict: the digits in each image, by the exported model (python -m stages.predict IMAGE...).

An image holds one digit or a row of them (a phone number on a form, a total on a receipt): the
ink is cut into digits (stages/segment.py) and each is normalised as MNIST was made (white ink on
black, scaled to 20 pixels and centred by mass in 28x28). Any image Pillow opens (1-bit to
16-bit grey, palette, RGB(A), CMYK, the first frame of many), any size, colour or polarity,
photos with uneven light included.

Each line gives the digit string and each digit's calibrated probability. A digit below the
reject threshold the export chose on the validation split (models/best/calibration.json;
--threshold overrides it) is doubtful: it is shown [in brackets] and the line ends with
"needs a person". With --digits N, a reading of another length needs a person too. That is an
answer, not an error: the exit code stays 0. A file that is not an image, is too large to read
safely or holds no ink gets one error line, and the others go on; the exit code is 1 then.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from skimage import color, filters, measure, morphology, segmentation

from stages import segment
from stages.common import UserError, cli

SAVED_MODEL = Path("models/best/saved_model")


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
    # The paper under light ink, and under dark ink. Dark ink is measured against the paper's
    # own brightness, so a stroke keeps its contrast where it runs into a shadow.
    side = max(3, frame(grey.shape) // 5)  # wider than any stroke
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


def to_mnist(image: Image.Image) -> np.ndarray:
    """A uint8 28x28 array, white digit on black, from a photo or scan of one digit: all its
    ink as one digit."""
    return segment.to_mnist_frame(find_ink(to_grey(image)))


def to_digits(image: Image.Image, classify=None, count: int | None = None) -> np.ndarray:
    """The digits in a photo or scan of one digit or a row of them, left to right: uint8
    [n, 28, 28], white on black. With `classify` (load_classifier's), the classifier decides
    where the digits are, for `count` of them when that is known; without, the ink's widths."""
    inks = segment.digit_inks(find_ink(to_grey(image)), classify, count)
    return np.stack([segment.to_mnist_frame(ink) for ink in inks])


def read_image(
    source: Path | BinaryIO, classify=None, count: int | None = None, name: str | None = None
) -> np.ndarray:
    """The digits in an image file (a path, or an open binary file such as the bytes of an
    upload), as to_digits; a UserError naming it (`name`, else the path) otherwise."""
    name = name or str(source)
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its limit and twice it; both are refused here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                image.load()
                return to_digits(image, classify, count)
    except FileNotFoundError:
        raise UserError(f"{name}: no such file") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise UserError(f"{name}: too large to read safely ({err})") from None
    except UnidentifiedImageError:
        raise UserError(f"{name}: not a readable image (no image format Pillow knows)") from None
    except (OSError, ValueError, EOFError) as err:
        raise UserError(f"{name}: not a readable image ({err})") from None
    except UserError as err:
        raise UserError(f"{name}: {err}") from None


def load_classifier(path: Path):
    """The exported SavedModel's serving function: uint8 [n, 28, 28] -> calibrated
    probabilities [n, 10]."""
    import tensorflow as tf

    if not (path / "saved_model.pb").is_file():
        raise UserError(f"{path}: no exported model here; run `dvc repro export` first")
    serving = tf.saved_model.load(str(path)).signatures["serving_default"]
    return lambda images: serving(images=tf.constant(images))["probabilities"].numpy()


def reject_threshold(saved_model: Path) -> float:
    """The threshold the export chose on the validation split, kept beside the SavedModel."""
    path = saved_model.parent / "calibration.json"
    try:
        return float(json.loads(path.read_text())["threshold"])
    except (OSError, ValueError, KeyError) as err:
        raise UserError(f"{path}: no reject threshold ({err}); run `dvc repro export`") from None


@dataclass
class Reading:
    """The digits read in one image, each digit's probability, and which are doubtful."""

    digits: str
    probabilities: list[float]
    doubtful: list[bool]
    expected: int | None = None  # the number of digits the reader expects, if it knows

    @classmethod
    def of(cls, probs: np.ndarray, threshold: float, expected: int | None = None) -> Reading:
        confidence = probs.max(axis=1)
        digits = "".join(str(digit) for digit in probs.argmax(axis=1))
        return cls(digits, confidence.tolist(), (confidence < threshold).tolist(), expected)

    @property
    def needs_person(self) -> bool:
        wrong_length = self.expected is not None and len(self.digits) != self.expected
        return wrong_length or any(self.doubtful)

    def __str__(self) -> str:
        marked = "".join(
            f"[{digit}]" if doubtful else digit
            for digit, doubtful in zip(self.digits, self.doubtful, strict=True)
        )
        line = f"{marked} ({' '.join(f'{p:.1%}' for p in self.probabilities)})"
        if self.expected is not None and len(self.digits) != self.expected:
            return f"{line} needs a person: {len(self.digits)} digits, expected {self.expected}"
        return f"{line} needs a person" if self.needs_person else line


def probability(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a probability between 0 and 1")
    return value


@cli
def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m stages.predict",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("images", nargs="+", type=Path, help="image files: a digit or a row each")
    parser.add_argument("--model", type=Path, default=SAVED_MODEL, help="SavedModel folder")
    parser.add_argument(
        "--threshold",
        type=probability,
        help="reject threshold, 0 to 1 (default: the export's; 0 accepts all)",
    )
    parser.add_argument(
        "--digits", type=int, metavar="N", help="digits each image should hold (a phone number: 10)"
    )
    args = parser.parse_args()  # fmt: skip

    classify = load_classifier(args.model)
    images, failed = {}, 0
    for path in args.images:
        try:
            images[path] = read_image(path, classify, args.digits)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            failed += 1
    if images:
        threshold = reject_threshold(args.model) if args.threshold is None else args.threshold
        probs = classify(np.concatenate(list(images.values())))
        ends = np.cumsum([len(digits) for digits in images.values()])
        for path, rows in zip(images, np.split(probs, ends[:-1]), strict=True):
            print(f"{path}: {Reading.of(rows, threshold, args.digits)}")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
