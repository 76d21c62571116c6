"""How the reader does on whole numbers: numbers built from digits of one split, read as
predict reads them, scored per kind (separated, touching digits) as the restaurant case asks.
The reader stage reads numbers of validation digits (to fit the confidence), numbers those of
test digits (to report).

A segmentation error (too many or too few digits) counts as an error, and a reading of the wrong
length is never accepted: the reader knows a phone number has 10 digits.
"""

from __future__ import annotations

import difflib

import numpy as np
import pandas as pd
from tqdm import tqdm

from mnist_nas.errors import UserError
from mnist_nas.reading.confidence import FEATURES, right_length
from mnist_nas.reading.ink import find_ink, to_grey
from mnist_nas.reading.number import NumberReader
from mnist_nas.reading.synthetic import number_image
from mnist_nas.scoring.calibration import (
    expected_calibration_error,
    risk_by_coverage,
    wrong_among_accepted,
)

KINDS = ("separated", "touching")
PER_DAY = 2100  # 35 restaurants x 30 tables x 2 sittings


def right_digits(truth: str, read: str) -> int:
    """Digits read right, in order: a missing or extra digit costs only itself."""
    blocks = difflib.SequenceMatcher(None, truth, read, autojunk=False).get_matching_blocks()
    return sum(block.size for block in blocks)


def summary(table: pd.DataFrame) -> dict:
    accepted, wrong = table["accepted"].to_numpy(), (table["read"] != table["truth"]).to_numpy()
    complete = right_length(table)
    sure = np.where(complete, table["confidence"].fillna(0.0), 0.0)
    share = {
        "number_ece": expected_calibration_error(sure, ~wrong),
        "digit_accuracy": table["right_digits"].sum() / table["truth"].str.len().sum(),
        "number_accuracy": 1 - wrong.mean(),
        "segmentation_errors": 1 - complete.mean(),
        "accepted": accepted.mean(),
        "wrong_among_accepted": wrong_among_accepted(wrong, accepted),
    }
    per_day = {
        "sent_automatically": PER_DAY * accepted.mean(),
        "checked_by_a_person": PER_DAY * (1 - accepted.mean()),
        "sent_to_a_wrong_number": PER_DAY * (wrong & accepted).mean(),
    }
    return {
        **{key: round(float(value), 6) for key, value in share.items()},
        "numbers": len(table),
        "per_2100_a_day": {key: round(float(value), 1) for key, value in per_day.items()},
    }


def risk_coverage(table: pd.DataFrame, points: int = 101) -> pd.DataFrame:
    """Share of accepted numbers read wrong at each share accepted (most confident first), for
    each kind of number; a reading of the wrong length comes last."""
    curve = {"coverage": np.linspace(0, 1, points)[1:]}
    for kind, numbers in table.groupby("kind"):
        confidence = np.where(right_length(numbers), numbers["confidence"], -1)
        wrong = (numbers["read"] != numbers["truth"]).to_numpy()
        _, risk = risk_by_coverage(confidence, wrong)
        kept = np.maximum(1, np.round(curve["coverage"] * len(wrong)).astype(int))
        curve[kind] = risk[kept - 1]
    return pd.DataFrame(curve).round(6)


def read_numbers(
    x: np.ndarray, y: np.ndarray, count: int, length: int, seed: int, reader: NumberReader
) -> pd.DataFrame:
    """`count` numbers of each kind, `length` digits each, built from the digits x (labels y),
    read by the number reader as predict reads them: one row per number, with the digits read,
    the number-level confidence's features, the confidence (NaN when the reader has no fitted
    confidence yet) and whether the reading is accepted."""
    rng = np.random.default_rng(seed)
    rows = []
    progress = tqdm(total=count * len(KINDS), desc="numbers", unit="number", mininterval=2)
    for kind in KINDS:
        for _ in range(count):
            picked = rng.choice(len(y), length, replace=False)
            image = number_image(list(x[picked]), kind == "touching", rng)
            truth = "".join(map(str, y[picked]))
            rows.append({"kind": kind, "truth": truth, **read_one(reader, image, length)})
            rows[-1]["right_digits"] = right_digits(truth, rows[-1]["read"])
            progress.update()
    progress.close()
    return pd.DataFrame(rows)


def read_one(reader: NumberReader, image, length: int) -> dict:
    """One number's reading: the digits, the features, the confidence, the verdict."""
    try:
        ink = find_ink(to_grey(image))
        probs, evidence, frames, paired = reader.evidence(ink, length)
        reading = reader.judge(probs, evidence, length, frames[~paired])
    except UserError:  # no ink found: nothing read
        return {"read": "", **dict.fromkeys(FEATURES, 0.0), "confidence": 0.0,
                "refused": False, "accepted": False}  # fmt: skip
    return {
        "read": reading.digits,
        **dict(zip(FEATURES, evidence, strict=True)),
        "confidence": np.nan if reading.confidence is None else reading.confidence,
        "refused": reading.refused,  # taken for something that is not a digit
        "accepted": reader.fitted is not None and not reading.needs_person,
    }
