"""The number reader: a row of handwritten digits read by the reader trained for written rows
(stages/reader.py), its touching pairs read whole, and the whole number judged by its
number-level confidence against the threshold chosen on validation numbers. One digit alone
is read by the exported classifier, as before, and judged by its digit threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from mnist_nas.reading import confidence, segment
from mnist_nas.reading.images import Reading
from mnist_nas.reading.ink import find_ink, to_grey
from mnist_nas.reading.refusal import Refusal, judge


@dataclass
class NumberReader:
    """The exported classifier and its digit threshold, the reader's digit and pair models (uint8
    frames -> probabilities), the number-level confidence and its threshold."""

    classify: object  # uint8 [n, 28, 28] -> calibrated probabilities [n, 10]
    threshold: float  # the export's digit threshold
    digits: object  # uint8 [n, 28, 28] -> [n, 11]: the ten digits, "not one digit"
    pairs: object  # uint8 [n, 28, 56] -> [n, 2, 11]
    fitted: dict | None = None  # confidence.fit's logistic regression (None: not fitted yet)
    number_threshold: float | None = None  # chosen on validation numbers
    refusal: Refusal | None = None  # the non-digit detector (None: nothing is refused)

    def read_ink(self, ink: np.ndarray, count: int | None = None) -> tuple[Reading, list]:
        """The Reading of a row's ink and the 28x28 frame of each digit read."""
        if segment.layout(ink, count) is None:  # one digit: the exported classifier reads it
            frames = segment.to_mnist_frame(ink)[None]
            refused = judge(self.refusal, frames)
            return Reading.of(self.classify(frames), self.threshold, count, **refused), [*frames]
        probs, evidence, frames, paired = self.evidence(ink, count)
        return self.judge(probs, evidence, count, frames[~paired]), list(frames)

    def judge(
        self, probs: np.ndarray, evidence: list, count: int | None, alone: np.ndarray
    ) -> Reading:
        """The Reading of a row's digits' probabilities, its evidence (features) and the frames
        of the digits cut alone (half of a touching pair is no digit by itself)."""
        number = None
        if self.fitted is not None:
            number = float(confidence.predict(self.fitted, [evidence])[0])
        judged = {"confidence": number, "number_threshold": self.number_threshold}
        return Reading.of(probs, self.threshold, count, **judged, **judge(self.refusal, alone))

    def evidence(self, ink: np.ndarray, count: int | None) -> tuple:
        """A row read by the reader: its digits' probabilities [n, 10], the number-level
        confidence's features (confidence.FEATURES), the digits' frames [n, 28, 28] and which
        of them the pair reader read."""
        found, share = segment.read_row(ink, self.digits, count, self.pairs)
        frames = np.stack([segment.to_mnist_frame(digit.ink) for digit in found])
        second = self.classify(frames)
        # A digit cut alone is read by both readers, their probabilities averaged; a digit of a
        # pair by the pair reader only (the exported classifier never saw half a pair).
        probs = np.stack([
            digit.probs if digit.paired else (s if digit.probs is None else (digit.probs + s) / 2)
            for digit, s in zip(found, second, strict=True)
        ])  # fmt: skip
        paired = np.array([digit.paired for digit in found])
        return probs, confidence.features(probs, share, second, paired), frames, paired

    def read(self, image: Image.Image, count: int | None = None) -> tuple[Reading, list]:
        return self.read_ink(find_ink(to_grey(image)), count)


def load(reader: Path, saved_model: Path, refusal: Path | None = None) -> NumberReader:
    """The number reader of models/reader beside the exported SavedModel, and the non-digit
    detector of `refusal` (models/refusal) when it is there."""
    import json

    from mnist_nas.errors import UserError
    from mnist_nas.files import load_model
    from mnist_nas.reading.refusal import load as load_refusal
    from mnist_nas.serving import keras_function, load_classifier, reject_threshold

    digits, pairs = (load_model(reader / name) for name in ("digits.keras", "pairs.keras"))
    try:
        fitted = json.loads((reader / "confidence.json").read_text())
    except (OSError, ValueError) as err:
        raise UserError(f"{reader}/confidence.json: {err}; run `dvc repro reader`") from None
    return NumberReader(
        load_classifier(saved_model),
        reject_threshold(saved_model),
        keras_function(digits),
        keras_function(pairs),
        fitted["model"],
        fitted["threshold"],
        None if refusal is None else load_refusal(refusal),
    )
