"""predict: the digit in each image, by the exported model (python -m stages.predict IMAGE...).

Any size, colour or polarity: each image is turned into an MNIST-style digit first (grey, white
ink on black, the digit scaled to 20 pixels and centred by mass in 28x28, as MNIST was made).
A file that is not an image gets one error line and the others go on; the exit code is 1 then.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from stages.common import UserError, cli

SAVED_MODEL = Path("models/best/saved_model")


def to_mnist(image: Image.Image) -> np.ndarray:
    """A uint8 28x28 array, white digit on black, from a photo or scan of one digit."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        image = Image.alpha_composite(  # transparent ink or paper: put it on white
            Image.new("RGBA", image.size, "white"), image.convert("RGBA")
        )
    gray = np.asarray(image.convert("L"), dtype=np.float32)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if np.median(border) > 127:  # dark digit on light paper: MNIST is the other way round
        gray, border = 255 - gray, 255 - border
    ink = np.clip(gray - np.median(border), 0, None)
    if ink.max() <= 0:
        return np.zeros((28, 28), np.uint8)
    ink = ink * (255 / ink.max())
    rows = np.flatnonzero((ink > 64).any(axis=1))
    cols = np.flatnonzero((ink > 64).any(axis=0))
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
        with Image.open(path) as image:
            image.load()
            return to_mnist(image)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise UserError(f"{path}: not a readable image ({err})") from None


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
