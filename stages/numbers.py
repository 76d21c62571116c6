"""numbers: how the exported model reads handwritten phone numbers, the way the restaurant case
asks (README, "Reading numbers"). Builds numbers.count 10-digit numbers of each kind, separated
digits and touching ones, from the official test digits only (seeded), reads each image through
predict's own path (ink, segmentation, calibrated model, reject threshold) and reports:

metrics/numbers/metrics.json      per kind: digit and whole-number accuracy without reject; at
                                  the export's threshold the share accepted, flagged and wrong
                                  among the accepted, and what that makes of 2,100 numbers a day
metrics/numbers/risk_coverage.csv the share of accepted numbers read wrong against the share
                                  accepted, most confident first (a DVC plot; plot draws it too)

A segmentation error (too many or too few digits) counts as an error, and a reading of the wrong
length is never accepted: the reader knows a phone number has 10 digits.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageFilter
from skimage import morphology

from stages.common import UserError, cli, load_split, write_csv, write_json
from stages.params import load_params
from stages.predict import SAVED_MODEL, Reading, load_classifier, reject_threshold, to_digits

NUMBERS = Path("metrics/numbers")
PER_DAY = 2100  # 35 restaurants x 30 tables x 2 sittings
PAPERS = [(250, 250, 250), (245, 238, 220), (250, 240, 170), (250, 215, 220), (205, 225, 245),
          (215, 215, 210), (235, 245, 225)]  # fmt: skip
INKS = [(20, 20, 25), (25, 40, 140), (150, 25, 30), (30, 90, 40), (90, 90, 95), (60, 30, 100)]


def pen(digit: np.ndarray, height: int, shear: float, stroke: float) -> np.ndarray:
    """One MNIST digit as written: its 28x28 frame scaled to `height` pixels, with a pen
    `stroke` times as broad (grey dilation or erosion by the difference), slanted by `shear`
    (columns per row). Ink in [0, 1], cropped to its columns."""
    scaled = Image.fromarray(digit).resize((height, height), Image.Resampling.BICUBIC)
    ink = np.asarray(scaled, np.float32) / 255
    radius = abs(stroke - 1) * 0.05 * height  # MNIST's pen is about a tenth of the frame
    grow = morphology.dilation if stroke > 1 else morphology.erosion
    inner, part = int(radius), radius - int(radius)
    below = grow(ink, morphology.disk(inner)) if inner else ink
    ink = (1 - part) * below + part * grow(ink, morphology.disk(inner + 1))
    margin = int(abs(shear) * height / 2) + 1
    wide = np.pad(ink, ((0, 0), (margin, margin)))
    slanted = Image.fromarray(wide).transform(
        (wide.shape[1], height),
        Image.Transform.AFFINE,
        (1, shear, -shear * height / 2, 0, 1, 0),
        Image.Resampling.BILINEAR,
    )
    ink = np.asarray(slanted, np.float32)
    cols = np.flatnonzero((ink > 0.1).any(axis=0))
    return ink[:, cols[0] : cols[-1] + 1]


def place(row: np.ndarray, ink: np.ndarray, top: int, gap: float) -> int:
    """The column where `ink` starts so that, row by row, it keeps `gap` pixels from the ink
    already in `row` (a negative gap overlaps the strokes: touching digits)."""
    band = row[top : top + ink.shape[0]] > 0.1
    mine = ink > 0.1
    shared = band.any(axis=1) & mine.any(axis=1)
    if not shared.any():  # no row in common: go by the whole ink's extents
        right = np.flatnonzero(row.any(axis=0))[-1]
        return int(right + 1 + gap)
    right = np.array([np.flatnonzero(r)[-1] for r in band[shared]])
    left = np.array([np.flatnonzero(r)[0] for r in mine[shared]])
    return int(np.ceil((right - left).max() + 1 + gap))


def number_image(digits: list[np.ndarray], touching: bool, rng: np.random.Generator) -> Image.Image:
    """A handwritten number on paper: random size, slant, stroke, ink, paper and spacing. In a
    touching number at least one pair of neighbours touches; otherwise none does."""
    height = int(rng.integers(32, 96))  # the digits' 28x28 frames, in pixels
    shear = rng.uniform(-0.2, 0.2)  # 11 degrees either way, on top of the writers' own slant
    stroke = 2 ** rng.uniform(-0.5, 0.5)  # 0.7 to 1.4 times as broad as MNIST's pen
    touch = rng.random(len(digits) - 1) < 0.4 if touching else np.zeros(len(digits) - 1, bool)
    if touching and len(touch) and not touch.any():
        touch[rng.integers(len(touch))] = True
    margin = height
    row = np.zeros((3 * height, margin + 2 * height * len(digits)), np.float32)
    left = margin
    for i, digit in enumerate(digits):
        size = int(height * rng.uniform(0.9, 1.1))
        ink = pen(digit, size, shear + rng.uniform(-0.05, 0.05), stroke)
        top = int(height + rng.uniform(-0.06, 0.06) * height)
        if i:
            # touching: the strokes meet, overlapping by up to half a stroke; else 3 px or more
            gap = (
                -rng.uniform(0, 0.04) * height if touch[i - 1] else rng.uniform(0.08, 0.6) * height
            )
            left = place(row, ink, top, gap if touch[i - 1] else max(gap, 3))
        window = row[top : top + ink.shape[0], left : left + ink.shape[1]]
        np.maximum(window, ink, out=window)
    cols = np.flatnonzero(row.any(axis=0))
    row = row[:, : cols[-1] + 1 + margin]
    paper = np.array(PAPERS[rng.integers(len(PAPERS))], np.float32)
    colour = np.array(INKS[rng.integers(len(INKS))], np.float32)
    alpha = np.clip(row, 0, 1)[..., None] * rng.uniform(0.75, 1.0)
    rgb = paper * (1 - alpha) + colour * alpha + rng.normal(0, rng.uniform(0, 6), alpha.shape)
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0, 0.8)))


def right_digits(truth: str, read: str) -> int:
    """Digits read right, in order: a missing or extra digit costs only itself."""
    blocks = difflib.SequenceMatcher(None, truth, read, autojunk=False).get_matching_blocks()
    return sum(block.size for block in blocks)


def summary(table: pd.DataFrame) -> dict:
    accepted, wrong = table["accepted"], table["read"] != table["truth"]
    share = {
        "digit_accuracy": table["right_digits"].sum() / table["truth"].str.len().sum(),
        "number_accuracy": 1 - wrong.mean(),
        "segmentation_errors": (table["read"].str.len() != table["truth"].str.len()).mean(),
        "accepted": accepted.mean(),
        "wrong_among_accepted": (wrong & accepted).sum() / max(1, accepted.sum()),
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
        complete = numbers["read"].str.len() == numbers["truth"].str.len()
        confidence = np.where(complete, numbers["confidence"], -1)
        wrong = (numbers["read"] != numbers["truth"]).to_numpy()[
            np.argsort(-confidence, kind="stable")
        ]
        risk = np.cumsum(wrong) / np.arange(1, len(wrong) + 1)
        kept = np.maximum(1, np.round(curve["coverage"] * len(wrong)).astype(int))
        curve[kind] = risk[kept - 1]
    return pd.DataFrame(curve).round(6)


def read_numbers(x: np.ndarray, y: np.ndarray, count: int, length: int, seed: int) -> pd.DataFrame:
    """`count` numbers of each kind, `length` digits each, built from the digits x (labels y),
    read by the exported model as predict reads them: one row per number, with the digits
    read, the lowest digit probability and whether the reading is accepted."""
    rng = np.random.default_rng(seed)
    classify = load_classifier(SAVED_MODEL)
    threshold = reject_threshold(SAVED_MODEL)
    rows = []
    for kind in ("separated", "touching"):
        for _ in range(count):
            picked = rng.choice(len(y), length, replace=False)
            image = number_image(list(x[picked]), kind == "touching", rng)
            truth = "".join(map(str, y[picked]))
            try:
                digits = to_digits(image, classify, length)
                reading = Reading.of(classify(digits), threshold, length)
            except UserError:  # no ink found: nothing read
                reading = Reading("", [0.0], [True], length)
            rows.append({
                "kind": kind, "truth": truth, "read": reading.digits,
                "right_digits": right_digits(truth, reading.digits),
                "confidence": min(reading.probabilities), "accepted": not reading.needs_person,
            })  # fmt: skip
    return pd.DataFrame(rows)


@cli
def main() -> None:
    params = load_params()
    x, y = load_split("test")
    table = read_numbers(x, y, params.numbers.count, params.numbers.digits, params.seed)
    metrics = {kind: summary(numbers) for kind, numbers in table.groupby("kind")}
    metrics["all"] = summary(table)
    metrics["threshold"] = round(reject_threshold(SAVED_MODEL), 6)
    write_json(NUMBERS / "metrics.json", metrics)
    write_csv(NUMBERS / "risk_coverage.csv", risk_coverage(table))
    for kind in ("separated", "touching"):
        m = metrics[kind]
        print(
            f"numbers: {kind}: {m['digit_accuracy']:.2%} of digits and {m['number_accuracy']:.2%}"
            f" of numbers read right; {m['accepted']:.1%} accepted, of which"
            f" {m['wrong_among_accepted']:.2%} wrong"
        )


if __name__ == "__main__":
    main()
