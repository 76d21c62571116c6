"""The reader: the digits in an image file, cut and normalised as MNIST was made (white ink on
black, scaled to 20 pixels and centred by mass in 28x28), and the Reading of them: the digit
string, each digit's calibrated probability, which are doubtful, and the verdict.

An image holds one digit or a row of them (a phone number on a form, a total on a receipt). Any
image Pillow opens (1-bit to 16-bit grey, palette, RGB(A), CMYK, the first frame of many), any
size, colour or polarity, photos with uneven light included.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from mnist_nas.errors import UserError
from mnist_nas.reading import segment
from mnist_nas.reading.ink import find_ink, to_grey


def to_mnist(image: Image.Image) -> np.ndarray:
    """A uint8 28x28 array, white digit on black, from a photo or scan of one digit: all its
    ink as one digit."""
    return segment.to_mnist_frame(find_ink(to_grey(image)))


def to_digits(image: Image.Image, classify=None, count: int | None = None) -> np.ndarray:
    """The digits in a photo or scan of one digit or a row of them, left to right: uint8
    [n, 28, 28], white on black. With `classify` (load_classifier's), the classifier decides
    where the digits are, for `count` of them when that is known; without, the ink's widths."""
    inks = segment.digit_inks(find_ink(to_grey(image)), classify, count)
    return np.stack([segment.to_mnist_frame(ink) for ink in inks])


def read_image(
    source: Path | BinaryIO, classify=None, count: int | None = None, name: str | None = None
) -> np.ndarray:
    """The digits in an image file (a path, or an open binary file such as the bytes of an
    upload), as to_digits; a UserError naming it (`name`, else the path) otherwise."""
    return open_image(source, lambda image: to_digits(image, classify, count), name)


def open_image(source: Path | BinaryIO, read, name: str | None = None):
    """read(the Pillow image of an image file): a path, or an open binary file such as the
    bytes of an upload; a UserError naming it (`name`, else the path) when it is not a readable
    image, is too large to read safely, or holds no ink."""
    name = name or str(source)
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its limit and twice it; both are refused here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                image.load()
                return read(image)
    except FileNotFoundError:
        raise UserError(f"{name}: no such file") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise UserError(f"{name}: too large to read safely ({err})") from None
    except UnidentifiedImageError:
        raise UserError(f"{name}: not a readable image (no image format Pillow knows)") from None
    except (OSError, ValueError, EOFError) as err:
        raise UserError(f"{name}: not a readable image ({err})") from None
    except UserError as err:
        raise UserError(f"{name}: {err}") from None


@dataclass
class Reading:
    """The digits read in one image, each digit's probability, and which are doubtful. A number
    read by the number reader has its number-level `confidence` (the probability that every
    digit is right) and is judged by it; a digit alone by the digit threshold."""

    digits: str
    probabilities: list[float]
    doubtful: list[bool]
    expected: int | None = None  # the number of digits the reader expects, if it knows
    confidence: float | None = None
    number_threshold: float | None = None
    # the detector's probability that what was read is not a digit (of a row: the median of its
    # pieces') and the refusal threshold chosen on validation non-digits (mnist_nas.reading.refusal)
    not_digit: float | None = None
    refusal_threshold: float | None = None

    @classmethod
    def of(
        cls,
        probs: np.ndarray,
        threshold: float,
        expected: int | None = None,
        confidence: float | None = None,
        number_threshold: float | None = None,
        not_digit: float | None = None,
        refusal_threshold: float | None = None,
    ) -> Reading:
        """The reading of digits' probabilities [n, 10]. Judged by the number: when it falls
        below number_threshold, the digits under the digit threshold are doubtful, or, if none
        is, the least sure one (the digit that drags the number down)."""
        top = probs.max(axis=1)
        digits = "".join(str(digit) for digit in probs.argmax(axis=1))
        doubtful = top < threshold
        if confidence is not None:
            if confidence >= number_threshold:
                doubtful[:] = False
            elif not doubtful.any():
                doubtful[np.argmin(top)] = True
        return cls(digits, top.tolist(), doubtful.tolist(), expected, confidence,
                   number_threshold, not_digit, refusal_threshold)  # fmt: skip

    @property
    def refused(self) -> bool:
        """Not a digit: a letter, a symbol, a scribble, noise. Nothing is read then."""
        return self.not_digit is not None and self.not_digit >= self.refusal_threshold

    @property
    def wrong_length(self) -> bool:
        return self.expected is not None and len(self.digits) != self.expected

    @property
    def unsure(self) -> bool:
        """Below the threshold that judges it: the number's, else the digits'."""
        if self.confidence is not None:
            return self.confidence < self.number_threshold
        return any(self.doubtful)

    @property
    def needs_person(self) -> bool:
        return self.refused or self.wrong_length or self.unsure

    @property
    def verdict(self) -> str:
        """The verdict in words: accepted, or why a person must read it."""
        if self.refused:
            return f"not a digit ({self.not_digit:.1%}): a person must look at it"
        if self.wrong_length:
            return f"needs a person: {len(self.digits)} digits, expected {self.expected}"
        if self.confidence is not None:
            sure = f"the number is right with probability {self.confidence:.1%}"
            if self.unsure:
                below = f"below {self.number_threshold:.1%}"
                return f"needs a person: {sure}, {below}; the digits in [brackets] drag it down"
            return f"accepted: {sure}"
        if any(self.doubtful):
            return "needs a person: the digits in [brackets] are doubtful"
        return "accepted: every digit is above the reject threshold"

    def __str__(self) -> str:
        if self.refused:
            return f"not a digit ({self.not_digit:.1%})"
        marked = "".join(
            f"[{digit}]" if doubtful else digit
            for digit, doubtful in zip(self.digits, self.doubtful, strict=True)
        )
        line = f"{marked} ({' '.join(f'{p:.1%}' for p in self.probabilities)})"
        if self.confidence is not None:
            line += f" number {self.confidence:.1%}"
        if self.wrong_length:
            return f"{line} {self.verdict}"
        return f"{line} needs a person" if self.needs_person else line
