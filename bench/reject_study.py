"""Which numbers.max_wrong_accepted to ship: the number-level reject option swept on numbers
built from the validation split (never the test set), through predict's own reading.

    python bench/reject_study.py [--count 500] [--seed 0]

The numbers are drawn with another seed than the reader stage's own validation numbers (the
ones its confidence was fitted on), so each row is an honest check of a target: the threshold
that target gives on these numbers, the share of each kind accepted, the share of the accepted
read wrong, and that against the rate without reject (the issue asks <= 0.25). Also the
risk at fixed shares accepted, the best any threshold on this confidence could do; and the
number-level calibration error per kind, beside the error a perfectly calibrated confidence
would show on as many numbers (its noise floor: outcomes drawn from the confidences).
Needs models/best, models/reader and data/prepared (dvc repro reader).
"""

from __future__ import annotations

import argparse

import numpy as np

from mnist_nas import paths
from mnist_nas.data.splits import load_split
from mnist_nas.reading import number
from mnist_nas.reading.confidence import right_length
from mnist_nas.reading.evaluation import KINDS, read_numbers
from mnist_nas.scoring.calibration import (
    expected_calibration_error,
    lowest_safe_threshold,
    wrong_among_accepted,
)

TARGETS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05]
COVERAGES = [0.3, 0.5, 0.7, 0.8, 0.9]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=500, help="numbers of each kind")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    x, y = load_split("val")  # run it from the project's folder
    reader = number.load(paths.READER, paths.SAVED_MODEL)
    table = read_numbers(x, y, args.count, 10, args.seed, reader)
    complete = right_length(table)
    wrong = (table["read"] != table["truth"]).to_numpy()
    sure = np.where(complete, table["confidence"].to_numpy(), 0.0)
    kinds = {kind: (table["kind"] == kind).to_numpy() for kind in KINDS}
    print(f"{args.count} numbers of each kind from the validation digits (seed {args.seed})")
    for kind, rows in kinds.items():
        print(f"  {kind}: {1 - wrong[rows].mean():.2%} read right without reject")
    print("| max_wrong_accepted | threshold | kind | numbers accepted | wrong among accepted |"
          " vs no reject |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- |")
    for target in TARGETS:
        threshold = lowest_safe_threshold(sure, wrong, target)
        for kind, rows in kinds.items():
            accepted = sure[rows] >= threshold
            risk = wrong_among_accepted(wrong[rows], accepted)
            ratio = risk / max(wrong[rows].mean(), 1e-9)
            print(f"| {target} | {threshold:.4f} | {kind} | {accepted.mean():.1%} | {risk:.2%} |"
                  f" {ratio:.2f} |")  # fmt: skip
    print("\n| kind | " + " | ".join(f"risk at {c:.0%} sent" for c in COVERAGES) + " |")
    print("| --- |" + " --- |" * len(COVERAGES))
    for kind, rows in kinds.items():
        order = np.argsort(-sure[rows], kind="stable")
        risk = np.cumsum(wrong[rows][order]) / np.arange(1, rows.sum() + 1)
        cells = [f"{risk[max(0, round(c * rows.sum()) - 1)]:.2%}" for c in COVERAGES]
        print(f"| {kind} | " + " | ".join(cells) + " |")
    rng = np.random.default_rng(args.seed)
    for kind, rows in kinds.items():
        ece = expected_calibration_error(sure[rows], ~wrong[rows])
        floor = np.mean([
            expected_calibration_error(sure[rows], rng.random(rows.sum()) < sure[rows])
            for _ in range(200)
        ])  # fmt: skip
        print(f"{kind}: number-level ECE {ece:.2%}; a calibrated confidence would show {floor:.2%}")


if __name__ == "__main__":
    main()
