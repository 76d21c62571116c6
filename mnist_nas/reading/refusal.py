"""Refusing what is not a digit: the non-digit detector (stages/detector.py: a convnet that
learnt digits and mnist_nas.reading.nondigits' images) scores what was read, and what scores
at or above the threshold chosen on validation material (stages/refusal.py) is refused: `not a
digit`.

`Refusal.judge` is the one verdict every path that reads digits takes (predict, the demo and
its API, the numbers stage): a digit alone is judged by its own score, a row by the median of
its pieces' (mostly not digits: no number; one odd piece is the number-level confidence's).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_nas.contract import NOT_A_DIGIT
from mnist_nas.errors import UserError

NEVER = float(np.nextafter(1.0, 2.0))  # a threshold no probability reaches


@dataclass
class Refusal:
    """The detector (uint8 frames [n, 28, 28] -> [n, 11], the ten digits and not a digit) and
    the threshold it refuses at."""

    detector: object
    threshold: float

    def scores(self, frames: np.ndarray) -> np.ndarray:
        """Each frame's probability of not being a digit."""
        return np.concatenate([np.asarray(self.detector(frames[i : i + 512]))[:, NOT_A_DIGIT]
                               for i in range(0, len(frames), 512)])  # fmt: skip

    def judge(self, frames: np.ndarray) -> dict:
        """Reading.of's not_digit and refusal_threshold for the frames read in one image."""
        if not len(frames):
            return {}
        return {"not_digit": float(np.median(self.scores(frames))),
                "refusal_threshold": self.threshold}  # fmt: skip


def judge(refusal: Refusal | None, frames: np.ndarray) -> dict:
    """Refusal.judge, or nothing to add where there is no detector (a pipeline before it)."""
    return {} if refusal is None else refusal.judge(frames)


def load(folder: Path) -> Refusal | None:
    """The detector of models/refusal and its threshold; None when the folder is not there."""
    import json

    from mnist_nas.files import load_model
    from mnist_nas.serving import keras_function

    if not folder.is_dir():
        return None
    try:
        threshold = json.loads((folder / "threshold.json").read_text())["threshold"]
    except (OSError, ValueError, KeyError) as err:
        raise UserError(f"{folder}/threshold.json: {err}; run `dvc repro refusal`") from None
    return Refusal(keras_function(load_model(folder / "detector.keras")), float(threshold))


def highest_sending_at_most(
    scores: np.ndarray, kinds: np.ndarray, passing: np.ndarray, max_sent: float
) -> float:
    """The highest threshold at which at most `max_sent` of these non-digits of each kind are
    sent: they pass their digit threshold (`passing`) and score below it."""

    def of_kind(kind: str) -> float:
        mine = kinds == kind
        ranked = np.sort(np.asarray(scores[mine & passing], np.float64))
        allowed = int(np.floor(max_sent * mine.sum()))
        return float(ranked[allowed]) if allowed < len(ranked) else NEVER

    return min(of_kind(kind) for kind in np.unique(kinds))


def lowest_refusing_at_most(scores: np.ndarray, accepted: np.ndarray, max_refused: float) -> float:
    """The lowest threshold at which at most `max_refused` of these digits are refused though
    their digit threshold accepts them (`accepted`)."""
    ranked = np.sort(np.asarray(scores[accepted], np.float64))[::-1]
    allowed = int(np.floor(max_refused * len(scores)))
    return float(np.nextafter(ranked[allowed], np.inf)) if allowed < len(ranked) else 0.0


def threshold(nondigits: tuple, digits: tuple, max_sent: float, max_refused: float) -> float:
    """The refusal threshold, from validation material: the highest at which at most `max_sent`
    of the non-digits of each kind are sent, unless that refuses more than `max_refused` of the
    digits; then the lowest that refuses no more. `nondigits`: (scores, kinds, passing);
    `digits`: (scores, accepted)."""
    return max(highest_sending_at_most(*nondigits, max_sent),
               lowest_refusing_at_most(*digits, max_refused))  # fmt: skip


def shares(sent: np.ndarray, kinds: np.ndarray) -> dict:
    """The share of non-digits sent, in all and of each kind (in the order the kinds come)."""
    return {
        "nondigits_sent": round(float(sent.mean()), 6),
        "nondigits_sent_by_kind": {kind: round(float(sent[kinds == kind].mean()), 6)
                                   for kind in dict.fromkeys(kinds.tolist())},
    }  # fmt: skip
