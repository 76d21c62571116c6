"""mnist-predict: the digits in each image (mnist-predict IMAGE...).

One digit is read by the exported model; a row of digits (a phone number) by the number reader
(models/reader: the segmentation graph with the digit and pair readers), when it is there.
Each line gives the digit string and each digit's probability. A digit alone below the reject
threshold the export chose on the validation split (models/best/calibration.json;
--threshold overrides it) is doubtful: it is shown [in brackets] and the line ends with
"needs a person". A row is judged as a whole: its number-level confidence (the probability
that every digit is right) against the threshold the reader stage chose on validation numbers;
below it, the doubtful digits, or the least sure one, are in brackets. With --digits N, a
reading of another length needs a person too. That is an answer, not an error: the exit code
stays 0. A file that is not an image, is too large to read
safely or holds no ink gets one error line, and the others go on; the exit code is 1 then.
Any image Pillow opens, one digit or a row of them (mnist_nas.reading.images).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mnist_nas.cli import cli, parser
from mnist_nas.errors import UserError
from mnist_nas.programs import model_folders
from mnist_nas.reading.images import Reading, open_image, to_digits
from mnist_nas.reading.refusal import judge
from mnist_nas.reading.refusal import load as load_refusal


def probability(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a probability between 0 and 1")
    return value


def arguments(argv: list[str] | None) -> argparse.Namespace:
    args = parser("mnist-predict", __doc__)
    args.add_argument("images", nargs="+", type=Path, help="image files: a digit or a row each")
    model_folders(args)
    args.add_argument(
        "--threshold",
        type=probability,
        help="reject threshold, 0 to 1, of a digit alone or of a number's confidence (default:"
        " the export's and the reader's; 0 accepts all)",
    )
    args.add_argument(
        "--digits", type=int, metavar="N", help="digits each image should hold (a phone number: 10)"
    )
    return args.parse_args(argv)


@cli
def main(argv: list[str] | None = None) -> None:
    args = arguments(argv)
    from mnist_nas.serving import load_classifier, reject_threshold

    if (args.reader / "confidence.json").is_file():
        from mnist_nas.reading import number

        reader = number.load(args.reader, args.model, args.refusal)
        if args.threshold is not None:  # the verdict's threshold, a digit's or a number's
            reader.threshold = reader.number_threshold = args.threshold
        failed = report(args.images, lambda image: reader.read(image, args.digits)[0])
    else:
        classify, refusal = load_classifier(args.model), load_refusal(args.refusal)
        threshold = reject_threshold(args.model) if args.threshold is None else args.threshold

        def read_digits(image):
            frames = to_digits(image, classify, args.digits)
            return Reading.of(classify(frames), threshold, args.digits, **judge(refusal, frames))

        failed = report(args.images, read_digits)
    if failed:
        sys.exit(1)


def report(images: list[Path], read) -> int:
    """Print each image's reading (`read`: a Pillow image to its Reading); one error line for
    each that cannot be read. Returns how many could not."""
    failed = 0
    for path in images:
        try:
            reading = open_image(path, read)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            failed += 1
            continue
        print(f"{path}: {reading}")
    return failed


if __name__ == "__main__":
    main()
