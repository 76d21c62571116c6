"""mnist-predict: the digits in each image, by the exported model (mnist-predict IMAGE...).

Each line gives the digit string and each digit's calibrated probability. A digit below the
reject threshold the export chose on the validation split (models/best/calibration.json;
--threshold overrides it) is doubtful: it is shown [in brackets] and the line ends with
"needs a person". With --digits N, a reading of another length needs a person too. That is an
answer, not an error: the exit code stays 0. A file that is not an image, is too large to read
safely or holds no ink gets one error line, and the others go on; the exit code is 1 then.
Any image Pillow opens, one digit or a row of them (mnist_nas.reading.reader).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from mnist_nas import paths
from mnist_nas.cli import cli, parser
from mnist_nas.errors import UserError
from mnist_nas.reading.reader import Reading, read_image


def probability(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a probability between 0 and 1")
    return value


def arguments(argv: list[str] | None) -> argparse.Namespace:
    args = parser("mnist-predict", __doc__)
    args.add_argument("images", nargs="+", type=Path, help="image files: a digit or a row each")
    args.add_argument("--model", type=Path, default=paths.SAVED_MODEL, help="SavedModel folder")
    args.add_argument(
        "--threshold",
        type=probability,
        help="reject threshold, 0 to 1 (default: the export's; 0 accepts all)",
    )
    args.add_argument(
        "--digits", type=int, metavar="N", help="digits each image should hold (a phone number: 10)"
    )
    return args.parse_args(argv)


@cli
def main(argv: list[str] | None = None) -> None:
    args = arguments(argv)
    from mnist_nas.serving import load_classifier, reject_threshold

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
