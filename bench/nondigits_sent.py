"""How often what is not a digit is read as one and sent without a person: non-digits of every
kind (mnist_nas.reading.nondigits: letters and symbols in fonts the detector never saw,
scribbles, lines, blots, noise, specks, pieces and overlays of validation digits), each read
as `mnist-predict` reads an image (mnist_nas.reading.refusal_report, as the numbers stage
reads them). Sent: read without an error, without "needs a person" and not refused.

    python bench/nondigits_sent.py [--count 150] [--seed 0] [--without-refusal]

Target (issue 35): at most 1% sent in all, every kind under 3%. Needs models/best,
models/reader and models/refusal (dvc repro numbers); run it from the project folder.
"""

from __future__ import annotations

import argparse
import time

from mnist_nas.paths import READER, REFUSAL, SAVED_MODEL
from mnist_nas.reading import number, refusal_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=150, help="non-digits of each kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--without-refusal", action="store_true", help="as before issue 35")
    args = parser.parse_args()
    from mnist_nas.data.splits import load_split

    digits = load_split("val")[0]  # the pieces' and overlays' digits: never test digits
    reader = number.load(READER, SAVED_MODEL, None if args.without_refusal else REFUSAL)
    started = time.perf_counter()
    table = refusal_report.read_nondigits(digits, args.count, args.seed, reader)
    seconds = time.perf_counter() - started
    print(
        f"{len(table)} non-digits ({args.count} of each kind, seed {args.seed}), read as"
        f" mnist-predict reads them: {table['sent'].mean():.1%} sent without a person"
    )
    for kind, group in table.groupby("kind", sort=False):
        print(f"  {kind:9} {group['sent'].mean():6.1%} sent")
    print(f"reading: {1000 * seconds / len(table):.0f} ms a non-digit")


if __name__ == "__main__":
    main()
