"""How long predict takes to read a 10-digit phone number on this machine (the issue asks
<= 0.3 s on 2 cores): the number reader loaded once, as predict and the demo keep it, then
each of --count numbers of each kind (test digits, the `numbers` stage's writing) read from its
PNG bytes, timed: the median and the 90th percentile per kind. Loading (TensorFlow, the three
models) is timed apart.

    python bench/read_number.py [--count 40]

Needs models/best and models/reader (dvc repro reader).
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np

from mnist_nas import paths
from mnist_nas.data.splits import load_split
from mnist_nas.reading.evaluation import KINDS
from mnist_nas.reading.images import open_image
from mnist_nas.reading.synthetic import number_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=40, help="numbers of each kind")
    args = parser.parse_args()

    start = time.perf_counter()
    from mnist_nas.reading import number

    reader = number.load(paths.READER, paths.SAVED_MODEL, paths.REFUSAL)
    print(f"load: {time.perf_counter() - start:.1f} s (TensorFlow, the classifier, two readers)")
    x, y = load_split("test")
    rng = np.random.default_rng(0)
    for kind in KINDS:
        seconds = []
        for i in range(args.count + 2):
            png = io.BytesIO()
            picked = rng.choice(len(y), 10, replace=False)
            number_image(list(x[picked]), kind == "touching", rng).save(png, format="PNG")
            png.seek(0)
            start = time.perf_counter()
            open_image(png, lambda image: reader.read(image, 10))
            if i >= 2:  # the first two trace the readers' functions
                seconds.append(time.perf_counter() - start)
        print(f"{kind}: median {np.median(seconds):.3f} s, 90th percentile"
              f" {np.percentile(seconds, 90):.3f} s per number ({args.count} numbers)")  # fmt: skip


if __name__ == "__main__":
    main()
