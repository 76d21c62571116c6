"""Which export.max_wrong_accepted to ship: the reject option swept on numbers built from the
validation split (never the test set), through predict's own reading.

    python bench/reject_study.py [--count 500] [--seed 0]

For each target share of wrong accepted digits, the threshold the export would choose on the
validation digits, then on 10-digit numbers built from those same validation digits: the share
of numbers accepted and the share of accepted numbers read wrong, against the rate without
reject. The default is the largest target at which, on both kinds of number, accepted numbers
are at most a quarter as often wrong as without reject; then as many as possible are accepted.
Needs models/best and data/prepared (dvc repro export).
"""

from __future__ import annotations

import argparse

from mnist_nas.data.splits import load_split
from mnist_nas.reading.evaluation import read_numbers
from mnist_nas.scoring.calibration import choose_threshold
from mnist_nas.serving import load_classifier

TARGETS = [0.0005, 0.001, 0.002, 0.003, 0.005, 0.01]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=500, help="numbers of each kind")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    x, y = load_split("val")  # run it from the project's folder
    classify = load_classifier()
    probs = classify(x)  # calibrated, as the export's SavedModel serves
    table = read_numbers(x, y, args.count, 10, args.seed, classify, threshold=1.0)
    complete = table["read"].str.len() == table["truth"].str.len()
    wrong = table["read"] != table["truth"]
    print(f"{args.count} numbers of each kind from the validation digits (seed {args.seed})")
    for kind in ("separated", "touching"):
        rows = table["kind"] == kind
        print(f"  {kind}: {1 - wrong[rows].mean():.2%} read right without reject")
    print("| max_wrong_accepted | threshold | val digits accepted | kind | numbers accepted | "
          "wrong among accepted | vs no reject |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for target in TARGETS:
        threshold = choose_threshold(y, probs, target)
        digits = (probs.max(axis=1) >= threshold).mean()
        accepted = complete & (table["confidence"] >= threshold)
        for kind in ("separated", "touching"):
            rows = table["kind"] == kind
            share = accepted[rows].mean()
            risk = (wrong & accepted)[rows].sum() / max(1, accepted[rows].sum())
            ratio = risk / max(wrong[rows].mean(), 1e-9)
            print(f"| {target} | {threshold:.4f} | {digits:.2%} | {kind} | {share:.1%} | "
                  f"{risk:.2%} | {ratio:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
