"""Temperature scaling and the reject threshold (stages/calibration.py), on a real classifier's
probabilities for real validation digits, and as properties over any probabilities."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mnist_nas.scoring import calibration
from mnist_nas.scoring.metrics import log_loss


@pytest.fixture(scope="module")
def overconfident(mnist):
    """Probabilities of a real classifier (logistic regression on 2,000 training digits) for
    2,000 other digits, made overconfident as deep nets are: its logits tripled."""
    from sklearn.linear_model import LogisticRegression

    x, y = mnist["x_train"].reshape(-1, 784) / 255.0, mnist["y_train"]
    model = LogisticRegression(max_iter=200).fit(x[:2000], y[:2000])
    probs = calibration.scale(model.predict_proba(x[2000:4000]), 1 / 3)
    return y[2000:4000], probs


def test_temperature_scaling_lowers_the_log_loss_and_the_calibration_error(overconfident):
    y, probs = overconfident
    temperature = calibration.fit_temperature(y, probs)
    scaled = calibration.scale(probs, temperature)
    assert 2 < temperature < 4.5  # it undoes most of the tripling
    assert log_loss(y, scaled) < 0.8 * log_loss(y, probs)
    ece = calibration.expected_calibration_error
    assert ece(*calibration.top_class(y, scaled)) < 0.5 * ece(*calibration.top_class(y, probs))
    # scaling never changes which digit is read
    np.testing.assert_array_equal(scaled.argmax(axis=1), probs.argmax(axis=1))


def test_the_reliability_table_covers_every_digit_once(overconfident):
    y, probs = overconfident
    table = calibration.reliability(*calibration.top_class(y, probs))
    assert sum(row["count"] for row in table) == len(y)
    assert all(0 <= row["accuracy"] <= 1 and 0 <= row["confidence"] <= 1 for row in table)


edges_and_inside = st.one_of(
    st.integers(0, calibration.BINS).map(lambda k: k / calibration.BINS), st.floats(0, 1)
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.tuples(edges_and_inside, st.booleans()), min_size=1, max_size=80))
def test_the_bins_are_scikit_learns_and_nothing_accepted_is_nothing_wrong(items):
    """The one binning of every calibration error (digits and numbers): scikit-learn's
    calibration_curve, bins (a, b], confidences on the edges included."""
    from sklearn.calibration import calibration_curve

    confidence = np.array([c for c, _ in items])
    right = np.array([r for _, r in items])
    table = calibration.reliability(confidence, right)
    share_right, mean_confidence = calibration_curve(
        right, confidence, n_bins=calibration.BINS, pos_label=True
    )
    np.testing.assert_allclose([row["accuracy"] for row in table], share_right)
    np.testing.assert_allclose([row["confidence"] for row in table], mean_confidence)
    gaps = np.abs(share_right - mean_confidence) @ [row["count"] for row in table]
    ece = calibration.expected_calibration_error(confidence, right)
    assert ece == pytest.approx(gaps / len(items))
    nothing = np.zeros(len(items), bool)
    assert calibration.wrong_among_accepted(~right, nothing) == 0.0
    assert calibration.wrong_among_accepted(~right, ~nothing) == pytest.approx(1 - right.mean())


probabilities = hnp.arrays(np.float64, st.tuples(st.integers(1, 60), st.just(10)),
                           elements=st.floats(0.001, 1.0)).map(
    lambda a: a / a.sum(axis=1, keepdims=True))  # fmt: skip


@settings(max_examples=200, deadline=None, derandomize=True)
@given(probabilities, st.integers(0, 2**32 - 1), st.sampled_from([0.001, 0.01, 0.1, 0.3]))
def test_the_threshold_is_the_lowest_that_keeps_the_risk(probs, seed, target):
    """Whatever the probabilities: the accepted digits are wrong at most `target` of the time,
    and the next lower confidence seen would break that (or everything is accepted)."""
    y = np.random.default_rng(seed).integers(0, 10, len(probs))
    threshold = calibration.choose_threshold(y, probs, target)
    confidence, wrong = probs.max(axis=1), probs.argmax(axis=1) != y
    accepted = confidence >= threshold
    if accepted.any():
        assert wrong[accepted].mean() <= target
    lower = confidence[confidence < threshold]
    if len(lower):
        more = confidence >= lower.max()
        assert wrong[more].mean() > target
