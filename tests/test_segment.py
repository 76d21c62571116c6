"""Cutting a row of real handwritten digits (official test digits) into single digits."""

import hypothesis
import numpy as np
import pytest
from hypothesis import strategies
from PIL import Image

from mnist_nas.reading import segment
from mnist_nas.reading.images import to_digits
from mnist_nas.reading.ink import find_ink, to_grey
from mnist_nas.reading.synthetic import number_image, pen, place


def frames_match(frames: np.ndarray, digits: np.ndarray) -> list[int]:
    """For each segmented frame, the source digit it stands for: the one-to-one matching of
    frames to digits that maximises their total correlation."""
    from scipy.optimize import linear_sum_assignment

    def standard(images):
        flat = images.reshape(len(images), -1).astype(float)
        return (flat - flat.mean(1, keepdims=True)) / (flat.std(1, keepdims=True) + 1e-9)

    sources = np.stack([segment.to_mnist_frame(digit / 255.0) for digit in digits])
    similarity = standard(frames) @ standard(sources).T
    rows, cols = linear_sum_assignment(-similarity)
    return cols[np.argsort(rows)].tolist()


@pytest.fixture(scope="module")
def classify(small_convnet):
    return lambda images: small_convnet.predict(images, verbose=0)


@pytest.mark.parametrize("seed", range(6))
def test_separated_digits_come_out_one_each_in_order(mnist, seed):
    rng = np.random.default_rng(seed)
    picked = rng.choice(10_000, 10, replace=False)
    digits = mnist["x_test"][picked]
    image = number_image(list(digits), touching=False, rng=rng)
    frames = to_digits(image)  # the ink's geometry alone, no classifier
    assert len(frames) == 10
    assert frames_match(frames, digits) == list(range(10))


def row_of(inks: list[np.ndarray], gaps: list[int]) -> Image.Image:
    """Dark ink on white paper: the given ink maps (same height) side by side, row by row
    `gaps` pixels apart (negative: the strokes overlap, the digits touch)."""
    height = inks[0].shape[0]
    canvas = np.zeros((2 * height, 2 * height * (len(inks) + 1)), np.float32)
    left, top = height, height // 2
    for i, ink in enumerate(inks):
        if i:
            left = place(canvas, ink, top, gaps[i - 1])
        window = canvas[top : top + height, left : left + ink.shape[1]]
        np.maximum(window, ink, out=window)
    return Image.fromarray((255 * (1 - np.clip(canvas, 0, 1))).astype(np.uint8))


def test_broken_strokes_are_merged_into_their_digit(mnist):
    """A 5 whose flag is cut off, a 4 whose top is open: two components each, one digit each."""
    labels = mnist["y_test"]
    five = pen(mnist["x_test"][np.flatnonzero(labels == 5)[0]], 84, 0.0, 1.0)
    four = pen(mnist["x_test"][np.flatnonzero(labels == 4)[1]], 84, 0.0, 1.0)
    seven = pen(mnist["x_test"][np.flatnonzero(labels == 7)[0]], 84, 0.0, 1.0)
    broken_five, broken_four = five.copy(), four.copy()
    broken_five[:, : broken_five.shape[1] // 2][:34] = 0  # the flag's join to the body
    broken_four[22:38] = 0  # the open top: a band across both arms
    for broken in (broken_five, broken_four):
        ink = find_ink(to_grey(row_of([broken], [])))
        from skimage import measure

        assert measure.label(ink > 0).max() >= 2  # the test digit really is in pieces
    image = row_of([seven, broken_five, seven, broken_four, seven], [20, 20, 20, 20])
    frames = to_digits(image)
    assert len(frames) == 5


@pytest.mark.parametrize("which", range(2))
@pytest.mark.parametrize("number", [(2, 3, 6, 8)])
def test_touching_digits_are_split_where_the_classifier_reads_them_best(
    mnist, classify, number, which
):
    """Two pairs of digits written touching, one component each: knowing the count (as of a
    phone number's 10), the segmentation graph cuts each where the pieces read as digits."""
    labels, images = mnist["y_test"], mnist["x_test"]
    picked = [np.flatnonzero(labels == d)[which] for d in number]
    image = row_of([pen(images[i], 56, 0.0, 1.0) for i in picked], [-1, 20, -1])
    from skimage import measure

    assert measure.label(find_ink(to_grey(image)) > 0, connectivity=2).max() == 2
    frames = to_digits(image, classify, count=4)
    assert classify(frames).argmax(axis=1).tolist() == list(number)


def test_a_wide_component_is_split_by_its_width_without_a_classifier(mnist):
    labels = mnist["y_test"]
    ink = [pen(mnist["x_test"][np.flatnonzero(labels == d)[0]], 56, 0.0, 1.0) for d in (2, 3, 6, 8)]
    image = row_of(ink, [20, -3, 20])  # 3 and 6 touch
    assert len(to_digits(image)) == 4


def test_a_single_wide_digit_is_never_cut(mnist, classify):
    widest = max(range(2000), key=lambda i: np.ptp(np.flatnonzero(mnist["x_test"][i].any(0))))
    image = row_of([pen(mnist["x_test"][widest], 84, 0.0, 1.0)], [])
    assert len(to_digits(image)) == 1
    assert len(to_digits(image, classify)) == 1


def merged_by_definition(groups, owner, x, rows, height):
    """segment.merge as its docstring defines it, each group's extent measured afresh from its
    pixels at every step: the reference for the version that keeps them."""

    def bounds(group):
        mask = np.isin(owner, group)
        return float(x[mask].min()), float(x[mask].max()) + 1, float(np.ptp(rows[mask]) + 1)

    def joinable(a, b, fragments):
        overlap = min(a[1], b[1]) - max(a[0], b[0])
        narrower, lower = min(a[1] - a[0], b[1] - b[0]), min(a[2], b[2])
        if not fragments:
            joins = overlap >= segment.OVERLAP * narrower and lower < segment.PART * height
        else:
            joins = lower < segment.FRAGMENT * height and -overlap < 0.4 * height
        return -overlap if joins else None

    groups = sorted(groups, key=lambda group: sum(bounds(group)[:2]))
    for fragments in (False, True):
        while len(groups) > 1:
            spans = [bounds(group) for group in groups]
            pairs = [(d, i) for i in range(len(spans) - 1)
                     if (d := joinable(spans[i], spans[i + 1], fragments)) is not None]  # fmt: skip
            if not pairs:
                break
            _, i = min(pairs)
            groups[i : i + 2] = [groups[i] + groups[i + 1]]
    return groups


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(
    components=strategies.integers(1, 40),
    height=strategies.floats(4, 40),
    spread=strategies.floats(0.5, 20),
    seed=strategies.integers(0, 2**32 - 1),
)
def test_merge_joins_what_its_definition_joins(components, height, spread, seed):
    """Components of any number, size, place and slant: the groups merge builds from each
    component's extent are the ones measuring every group's pixels afresh gives."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 30, components)
    owner = np.repeat(np.arange(1, components + 1), sizes)
    left = rng.uniform(0, spread * components, components)[owner - 1]
    top = rng.integers(0, 30, components)[owner - 1]
    x = left + rng.uniform(0, height, len(owner)) * rng.uniform(0.1, 1.5, components)[owner - 1]
    rows = top + rng.integers(0, max(1, round(height * 1.2)), len(owner))
    groups = [[label] for label in range(1, components + 1)]
    expected = merged_by_definition([list(g) for g in groups], owner, x, rows, height)
    assert segment.merge(groups, owner, x, rows, height) == expected
