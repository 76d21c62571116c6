"""How often `predict` reads a photographed digit right: photo-like images (tests/photos.py:
uneven light, coloured paper and ink, noise, blur, JPEG, random size and place) of official
test digits, through predict's own preprocessing and the exported model.

    python bench/predict_photos.py [--count 1000] [--seed 0]

Target: at least 98% read right. Needs models/best (dvc repro export, or dvc pull).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from photos import photo  # noqa: E402

from stages.common import UserError  # noqa: E402
from stages.predict import SAVED_MODEL, load_classifier, to_mnist  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with np.load(REPO / "data" / "mnist.npz", allow_pickle=False) as mnist:
        digits, labels = mnist["x_test"], mnist["y_test"]
    rng = np.random.default_rng(args.seed)
    picked = rng.choice(len(labels), args.count, replace=False)
    classify = load_classifier(REPO / SAVED_MODEL)

    started = time.perf_counter()
    inputs, no_ink = [], 0
    for index in picked:
        try:
            inputs.append(to_mnist(photo(digits[index], rng)))
        except UserError:
            inputs.append(np.zeros((28, 28), np.uint8))
            no_ink += 1
    seconds = time.perf_counter() - started
    predicted = classify(np.stack(inputs)).argmax(axis=1)
    clean = classify(digits[picked]).argmax(axis=1)
    right = predicted == labels[picked]
    print(f"{args.count} photos of official test digits (seed {args.seed})")
    print(f"read right: {right.mean():.2%}   (the same digits as 28x28 arrays: "
          f"{(clean == labels[picked]).mean():.2%})")  # fmt: skip
    print(f"no ink found: {no_ink}   preprocessing: {1000 * seconds / args.count:.1f} ms/photo")


if __name__ == "__main__":
    main()
