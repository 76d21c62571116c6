"""How the refusal does (the numbers stage): non-digits made with the report's seeds and fonts,
read as predict reads an image, and the test digits alone judged as predict judges one: the
shares sent without a person, and the curve of both as the refusal threshold moves.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm import tqdm

from mnist_nas.errors import UserError
from mnist_nas.reading import nondigits
from mnist_nas.reading.number import NumberReader
from mnist_nas.reading.refusal import shares
from mnist_nas.scoring.calibration import wrong_among_accepted


def read_nondigits(digits: np.ndarray, count: int, seed: int, reader: NumberReader) -> pd.DataFrame:
    """`count` non-digits of each kind with the report's seeds and fonts (made from `digits`:
    never test digits), each read as predict reads an image: its kind, its score (1 where no
    ink is found: an error line, nothing read), whether the reading passes its digit or number
    threshold, and whether it is sent without a person (it passes and is not refused)."""
    rng = np.random.default_rng([seed, nondigits.PURPOSES.index("report")])
    rows = []
    for kind in tqdm(nondigits.KINDS, desc="non-digits", unit="kind"):
        for _ in range(count):
            try:
                reading, _ = reader.read(nondigits.image(kind, rng, digits, "report"))
            except UserError:
                rows.append({"kind": kind, "not_digit": 1.0, "passes": False, "sent": False})
                continue
            passes = not (reading.wrong_length or reading.unsure)
            rows.append({"kind": kind, "not_digit": reading.not_digit, "passes": passes,
                         "sent": not reading.needs_person})  # fmt: skip
    return pd.DataFrame(rows)


def on_digits(reader: NumberReader, frames: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    """Digits alone, drawn on paper and framed as the non-digits are (nondigits.digit_frames),
    judged as predict judges one digit: right or not, the exported classifier's top
    probability and the detector's score."""
    probs = reader.classify(frames)
    return pd.DataFrame({"right": probs.argmax(axis=1) == y, "top": probs.max(axis=1),
                         "not_digit": reader.refusal.scores(frames)})  # fmt: skip


def report(nondigit_table: pd.DataFrame, digit_table: pd.DataFrame, reader: NumberReader) -> dict:
    """Non-digits sent (in all, of each kind); digits accepted, and wrong among the accepted,
    with the refusal and without it."""
    confident = digit_table["top"].to_numpy() >= reader.threshold
    accepted = confident & (digit_table["not_digit"].to_numpy() < reader.refusal.threshold)
    wrong = ~digit_table["right"].to_numpy()
    return {
        **shares(nondigit_table["sent"].to_numpy(), nondigit_table["kind"].to_numpy()),
        "digits_accepted": round(float(accepted.mean()), 6),
        "digits_wrong_among_accepted": round(wrong_among_accepted(wrong, accepted), 6),
        "digits_accepted_without_refusal": round(float(confident.mean()), 6),
        "digits_wrong_among_accepted_without_refusal": round(
            wrong_among_accepted(wrong, confident), 6
        ),
        "threshold": round(reader.refusal.threshold, 6),
    }


def curve(
    nondigit_table: pd.DataFrame, digit_table: pd.DataFrame, reader: NumberReader
) -> pd.DataFrame:
    """As the refusal threshold moves: the share of non-digits sent (passing their threshold,
    and scoring below it) against the share of digits accepted (the same)."""
    scores, nd = digit_table["not_digit"].to_numpy(), nondigit_table["not_digit"].to_numpy()
    passes = nondigit_table["passes"].to_numpy()
    points = np.unique(np.r_[0.0, 1.0, np.quantile(np.r_[scores, nd], np.linspace(0, 1, 101))])
    confident = digit_table["top"].to_numpy() >= reader.threshold
    return pd.DataFrame({
        "threshold": points,
        "digits_accepted": [float((confident & (scores < t)).mean()) for t in points],
        "nondigits_sent": [float((passes & (nd < t)).mean()) for t in points],
    }).round(6)  # fmt: skip
