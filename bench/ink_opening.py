"""How long the ink finder takes (mnist_nas.reading.ink.find_ink: the paper's shading removed
by an opening by reconstruction, then the strokes found) with its opening as it is, against
skimage's reconstruction on the values themselves swapped in, on the images the stages frame:
training digits and non-digits drawn on paper as the `material` stage draws them (96 pixels a
side; noise up to 256). Rounds alternate the two, so that a busy machine slows both alike; both
find the same ink, to the bit.

    python bench/ink_opening.py [--images 200] [--rounds 3]

Needs data/prepared (dvc repro prepare).
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np
from skimage import morphology

from mnist_nas.data.splits import load_split
from mnist_nas.errors import UserError
from mnist_nas.reading import ink, nondigits
from mnist_nas.reading.synthetic import on_paper


def greys(kind: str, count: int, digits: np.ndarray) -> list[np.ndarray]:
    """`count` images of `kind` ("digit" or a non-digit kind) as the ink finder sees them."""
    rng = np.random.default_rng(0)
    made = []
    for digit in digits[:count]:
        if kind == "digit":
            drawn = np.asarray(nondigits.digit_ink(digit, rng), np.float32) / 255
        else:
            drawn = nondigits.ink_of(kind, rng, digits, "fit")
        made.append(ink.to_grey(on_paper(drawn, rng)))
    return made


def skimage_opening(image: np.ndarray, footprint) -> np.ndarray:
    return morphology.reconstruction(morphology.erosion(image, footprint), image)


def timed(opening, images: list[np.ndarray]) -> float:
    """Milliseconds per image of find_ink with `opening` as its opening by reconstruction."""
    kept, ink.opening_by_reconstruction = ink.opening_by_reconstruction, opening
    try:
        started = time.perf_counter()
        for grey in images:
            with contextlib.suppress(UserError):  # faint noise: no ink, as the stages find
                ink.find_ink(grey)
        return (time.perf_counter() - started) * 1000 / len(images)
    finally:
        ink.opening_by_reconstruction = kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=200, help="images of each kind")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    digits = load_split("train")[0]
    for kind in ("digit", "line", "letter", "noise"):
        images = greys(kind, args.images, digits)
        rows = {"skimage": [], "as it is": []}
        for _ in range(args.rounds):
            rows["skimage"].append(timed(skimage_opening, images))
            rows["as it is"].append(timed(ink.opening_by_reconstruction, images))
        shown = ", ".join(f"{name} {' '.join(f'{ms:.2f}' for ms in times)} ms"
                          for name, times in rows.items())  # fmt: skip
        print(f"{kind} ({images[0].shape[0]}-{max(g.shape[0] for g in images)} px): {shown}")


if __name__ == "__main__":
    main()
