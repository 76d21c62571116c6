"""The refusal's threshold and verdict (mnist_nas.reading.refusal); the detector's own reading
of real images is tested through mnist-predict and the API (test_demo.py), its stage in the
small pipeline (test_pipeline.py)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_nas.reading.images import Reading
from mnist_nas.reading.refusal import (
    NEVER,
    Refusal,
    highest_sending_at_most,
    lowest_refusing_at_most,
    threshold,
)

KINDS = np.array(["scribble", "letter", "noise"])
scores = st.lists(st.floats(0, 1, width=32), min_size=3, max_size=60)


@settings(max_examples=200, deadline=None)
@given(scores, st.floats(0, 0.5), st.randoms(use_true_random=False))
def test_the_highest_threshold_that_sends_at_most_max_sent_of_each_kind(values, max_sent, random):
    """Sent: passing the digit threshold and scoring below the refusal threshold."""
    values = np.array(values)
    kinds = KINDS[[random.randrange(3) for _ in values]]
    kinds[:3] = KINDS  # every kind present
    passing = np.array([random.random() < 0.7 for _ in values])
    chosen = highest_sending_at_most(values, kinds, passing, max_sent)

    def sent(t: float) -> dict:
        return {
            kind: np.mean(passing[kinds == kind] & (values[kinds == kind] < t)) for kind in KINDS
        }

    assert all(share <= max_sent for share in sent(chosen).values())
    assert chosen == NEVER or chosen in values
    higher = values[values > chosen]
    if len(higher):  # the next score up sends too many of some kind
        assert any(share > max_sent for share in sent(higher.min()).values())


@settings(max_examples=200, deadline=None)
@given(scores, st.floats(0, 0.5), st.randoms(use_true_random=False))
def test_the_lowest_threshold_that_refuses_at_most_max_refused(values, max_refused, random):
    """Refused: accepted by the digit threshold, and scoring at or above the refusal's."""
    values = np.array(values)
    accepted = np.array([random.random() < 0.9 for _ in values])
    chosen = lowest_refusing_at_most(values, accepted, max_refused)

    def refused(t: float) -> float:
        return np.mean(accepted & (values >= t))

    assert refused(chosen) <= max_refused
    lower = values[accepted & (values < chosen)]
    if len(lower):  # the next accepted score down refuses too many
        assert refused(lower.max()) > max_refused
    digits, made = (values, accepted), (values, np.repeat(KINDS, 20)[: len(values)], accepted)
    assert threshold(made, digits, 0.0, max_refused) >= chosen  # the digits' cost is a floor


def test_a_row_is_judged_by_the_median_of_its_pieces():
    """One odd piece leaves a number to its number-level confidence; mostly not digits, it is
    refused."""

    def detector(frames: np.ndarray) -> np.ndarray:  # not a digit: where the corner is inked
        return np.repeat(frames[:, :1, 0] / 255, 11, axis=1)

    refusal = Refusal(detector, 0.5)
    pieces = np.zeros((5, 28, 28), np.uint8)
    pieces[:1, 0, 0] = 255
    assert refusal.judge(pieces) == {"not_digit": 0.0, "refusal_threshold": 0.5}
    pieces[:3, 0, 0] = 255
    assert refusal.judge(pieces)["not_digit"] == 1.0


def test_a_refused_reading_needs_a_person_and_says_why():
    probs = np.array([[0.001] * 9 + [0.991]])
    read = Reading.of(probs, 0.9, not_digit=0.2, refusal_threshold=0.5)
    assert not read.refused and not read.needs_person and str(read) == "9 (99.1%)"
    refused = Reading.of(probs, 0.9, not_digit=0.5, refusal_threshold=0.5)
    assert refused.refused and refused.needs_person and str(refused) == "not a digit (50.0%)"
    assert refused.verdict == "not a digit (50.0%): a person must look at it"
    assert not Reading.of(probs, 0.9).refused  # no detector: nothing is refused
