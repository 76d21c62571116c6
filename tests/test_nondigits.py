"""The non-digits the reader learns to refuse (mnist_nas.reading.nondigits): seeded to the byte,
every kind drawn as ink on paper, each purpose with its own seeds and fonts."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import ImageDraw, ImageFont

from mnist_nas.reading import nondigits


@pytest.fixture(scope="module")
def digits(mnist) -> np.ndarray:
    return mnist["x_train"][:500]


def test_the_same_seed_gives_the_same_frames_byte_for_byte(digits):
    """For any number of jobs; another seed or another purpose gives other frames."""
    frames, kinds = nondigits.frames(3, digits, "fit", 5, jobs=2)
    again, kinds_again = nondigits.frames(3, digits, "fit", 5, jobs=1)
    assert frames.dtype == np.uint8 and frames.shape == (3 * len(nondigits.KINDS), 28, 28)
    assert frames.tobytes() == again.tobytes() and list(kinds) == list(kinds_again)
    assert sorted(set(kinds)) == sorted(nondigits.KINDS)
    for other in (nondigits.frames(3, digits, "fit", 6), nondigits.frames(3, digits, "report", 5)):
        assert all(not np.array_equal(a, b) for a, b in zip(frames, other[0], strict=True))
    assert (frames.reshape(len(frames), -1).max(axis=1) > 0).all()  # ink in every frame


def test_digits_are_drawn_as_the_non_digits_are_and_seeded_to_the_byte(digits, monkeypatch):
    """Every digit, in order, for any number of jobs and blocks; another seed or purpose draws
    them anew. Drawn and framed alike, a digit still looks like itself: the frame of its ink is
    close to the MNIST original (both centred by the ink's centre of mass)."""
    monkeypatch.setattr(nondigits, "BLOCK", 40)  # blocks of 40 instead of 500: the same code
    few = digits[:60]  # two blocks
    drawn = nondigits.digit_frames(few, "fit", 5, jobs=2)
    assert drawn.dtype == np.uint8 and drawn.shape == few.shape
    assert drawn.tobytes() == nondigits.digit_frames(few, "fit", 5, jobs=1).tobytes()
    for other in (nondigits.digit_frames(few, "fit", 6), nondigits.digit_frames(few, "choose", 5)):
        assert not np.array_equal(drawn, other)
    similar = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(drawn, few, strict=True)]
    assert np.median(similar) > 0.8, np.median(similar)


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(nondigits.KINDS),
    purpose=st.sampled_from(nondigits.PURPOSES),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_kind_is_ink_on_paper(kind, purpose, seed, digits):
    ink = nondigits.ink_of(kind, np.random.default_rng(seed), digits, purpose)
    whole_page = kind in ("noise", "specks")  # any resolution; the others on the canvas
    assert ink.shape[0] == ink.shape[1] and (whole_page or ink.shape[0] == nondigits.CANVAS)
    assert 64 <= ink.shape[0] <= 256
    assert ink.min() >= 0 and 0.5 < ink.max() <= 1
    image = nondigits.image(kind, np.random.default_rng(seed), digits, purpose)
    assert image.mode == "RGB" and image.size == ink.shape[::-1]


def test_each_purpose_has_its_own_fonts_and_each_draws_every_character():
    """No font is shared between fitting, choosing and reporting; each has a glyph of its own
    for every letter and symbol (not the empty box of a missing one)."""
    fonts = [set(names) for names in nondigits.FONTS.values()]
    assert sum(map(len, fonts)) == len(set.union(*fonts))
    for name in set.union(*fonts):
        face = nondigits.font(name, 40)
        missing = glyph_pixels(face, "\uffff")
        for character in nondigits.LETTERS + nondigits.SYMBOLS:
            drawn = glyph_pixels(face, character)
            assert drawn.any() and not np.array_equal(drawn, missing), (name, character)


def glyph_pixels(face: ImageFont.FreeTypeFont, character: str) -> np.ndarray:
    from PIL import Image

    canvas = Image.new("L", (80, 80))
    ImageDraw.Draw(canvas).text((40, 40), character, fill=255, font=face, anchor="mm")
    return np.asarray(canvas) > 127
