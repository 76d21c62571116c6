"""How often `predict` reads a photographed digit right: photo-like images
(mnist_nas/reading/photos.py: uneven light, coloured paper and ink, noise, blur, JPEG, random
size and place) of official test digits, read as `predict` reads them (ink, segmentation, the
number reader where the ink is a row, the exported model for a digit alone, the non-digit
detector): right when it finds exactly one digit, it is the right one, and it is not refused
as not a digit.

    python bench/predict_photos.py [--count 1000] [--seed 0] [--split val]

Target: at least 98% read right. --split val photographs validation digits instead: what
choices are made on (the test digits only report). Needs models/best, models/reader and
models/refusal.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mnist_nas.errors import UserError
from mnist_nas.paths import BUNDLED, READER, REFUSAL, SAVED_MODEL
from mnist_nas.reading import number
from mnist_nas.reading.photos import photo
from mnist_nas.serving import load_classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", default="test", choices=["test", "val"])
    args = parser.parse_args()

    if args.split == "val":  # data/prepared, or the bundled file: run it from the project folder
        from mnist_nas.data.splits import load_split

        digits, labels = load_split("val")
    else:
        with np.load(BUNDLED, allow_pickle=False) as mnist:
            digits, labels = mnist["x_test"], mnist["y_test"]
    rng = np.random.default_rng(args.seed)
    picked = rng.choice(len(labels), args.count, replace=False)
    classify = load_classifier(SAVED_MODEL)
    reader = number.load(READER, SAVED_MODEL, REFUSAL)  # predict's reading, refusal included

    started = time.perf_counter()
    read, no_ink, several, refused = [], 0, 0, 0
    for index in picked:
        try:
            reading, _ = reader.read(photo(digits[index], rng))
        except UserError:
            read.append(-1)
            no_ink += 1
            continue
        several += len(reading.digits) > 1
        refused += reading.refused
        one = len(reading.digits) == 1 and not reading.refused
        read.append(int(reading.digits) if one else -1)
    seconds = time.perf_counter() - started
    clean = classify(digits[picked]).argmax(axis=1)
    right = np.array(read) == labels[picked]
    print(f"{args.count} photos of {args.split} digits (seed {args.seed})")
    print(f"read right: {right.mean():.2%}   (the same digits as 28x28 arrays: "
          f"{(clean == labels[picked]).mean():.2%})")  # fmt: skip
    print(f"no ink found: {no_ink}   cut into several digits: {several}   "
          f"refused as not a digit: {refused}   "
          f"reading: {1000 * seconds / args.count:.1f} ms/photo")  # fmt: skip


if __name__ == "__main__":
    main()
