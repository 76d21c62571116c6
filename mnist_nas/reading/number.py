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

    def read_ink(self, ink: np.ndarray, count: int | None = None) -> tuple[Reading, list]:
        """The Reading of a row's ink and the 28x28 frame of each digit read."""
        if segment.layout(ink, count) is None:  # one digit: the exported classifier reads it
            frames = segment.to_mnist_frame(ink)[None]
            return Reading.of(self.classify(frames), self.threshold, count), list(frames)
        probs, evidence, frames = self.evidence(ink, count)
        return self.judge(probs, evidence, count), list(frames)

    def judge(self, probs: np.ndarray, evidence: list, count: int | None) -> Reading:
        """The Reading of a row's digits' probabilities and its evidence (features)."""
        number = None
        if self.fitted is not None:
            number = float(confidence.predict(self.fitted, [evidence])[0])
        return Reading.of(
            probs, self.threshold, count, confidence=number, number_threshold=self.number_threshold
        )

    def evidence(self, ink: np.ndarray, count: int | None) -> tuple:
        """A row read by the reader: its digits' probabilities [n, 10], the number-level
        confidence's features (confidence.FEATURES) and the digits' frames [n, 28, 28]."""
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
        return probs, confidence.features(probs, share, second, paired), frames

    def read(self, image: Image.Image, count: int | None = None) -> tuple[Reading, list]:
        return self.read_ink(find_ink(to_grey(image)), count)


def load(reader: Path, saved_model: Path) -> NumberReader:
    """The number reader of models/reader beside the exported SavedModel."""
    import json

    from mnist_nas.errors import UserError
    from mnist_nas.files import load_model
    from mnist_nas.serving import load_classifier, reject_threshold

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
    )


def keras_function(model):
    """A Keras model as a function of uint8 frames to float probabilities, through Keras'
    compiled forward pass (predict_on_batch: a tf.function or a jitted JAX function, much
    faster than predict() for the few dozen pieces of a row). The frames are padded to a power
    of two (at least 16), so a reading of any length reuses one of a few compiled shapes."""

    def call(frames: np.ndarray) -> np.ndarray:
        size = max(16, 1 << (len(frames) - 1).bit_length())
        padded = np.zeros((size, *frames.shape[1:]), frames.dtype)
        padded[: len(frames)] = frames
        return np.asarray(model.predict_on_batch(padded)[: len(frames)], np.float64)

    return call
