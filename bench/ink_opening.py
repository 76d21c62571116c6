"""How long the ink finder's opening by reconstruction takes (mnist_nas.reading.ink: the paper
under the strokes, most of framing a drawn image), against skimage's reconstruction on the
values themselves, on the images the stages frame: training digits and non-digits drawn on
paper as the `material` stage draws them (96 pixels a side; noise and specks up to 256).
Rounds alternate the two, so that a busy machine slows both alike; both give the same bytes.

    python bench/ink_opening.py [--images 200] [--rounds 3]

Needs data/prepared (dvc repro prepare).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from skimage import morphology

from mnist_nas.data.splits import load_split
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
    """Milliseconds per image of `opening`, on the padded dark-ink image paper_level takes."""
    started = time.perf_counter()
    for grey in images:
        side = max(3, ink.frame(grey.shape) // 5)
        square = morphology.footprint_rectangle((side, side), decomposition="separable")
        opening(np.pad(1 - grey, side, mode="edge"), square)
    return (time.perf_counter() - started) * 1000 / len(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=200, help="images of each kind")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    digits = load_split("train")[0]
    for kind in ("digit", "line", "letter", "noise"):
        images = greys(kind, args.images, digits)
        rows = {"skimage": [], "ranks": []}
        for _ in range(args.rounds):
            rows["skimage"].append(timed(skimage_opening, images))
            rows["ranks"].append(timed(ink.opening_by_reconstruction, images))
        shown = ", ".join(f"{name} {' '.join(f'{ms:.2f}' for ms in times)} ms"
                          for name, times in rows.items())  # fmt: skip
        print(f"{kind} ({images[0].shape[0]}-{max(g.shape[0] for g in images)} px): {shown}")


if __name__ == "__main__":
    main()
