"""The number reader: its "not one digit" output, the pair reader, the segmentation graph's
path and share, the number-level confidence, and where its threshold comes from."""

from __future__ import annotations

import hashlib
import itertools
import json

import numpy as np
import pytest
import yaml
from conftest import run
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_nas.files import load_model, save_npz
from mnist_nas.reading import segment
from mnist_nas.reading.ink import find_ink, to_grey
from mnist_nas.reading.pieces import NOT_ONE
from mnist_nas.reading.synthetic import PAIRS, on_paper, pen, place, write_row
from mnist_nas.serving import keras_function

HELD_OUT = slice(50_000, 54_000)  # training digits the test reader was not fine-tuned on


@pytest.fixture(scope="module")
def readers(served):
    return tuple(keras_function(load_model(served / "reader" / name))
                 for name in ("digits.keras", "pairs.keras"))  # fmt: skip


def ink_of(digit: np.ndarray, height: int = 60) -> np.ndarray:
    return pen(digit, height, 0.0, 1.0)


def half(ink: np.ndarray, left: bool) -> np.ndarray:
    """The left or right half of a digit's ink, by its columns of ink."""
    cols = np.flatnonzero(ink.max(axis=0) > 0.1)
    middle = (cols[0] + cols[-1]) // 2
    cut = ink.copy()
    if left:
        cut[:, middle:] = 0
    else:
        cut[:, :middle] = 0
    return cut


def merged(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Two digits' ink side by side, touching: one piece that holds two digits."""
    row = np.zeros((a.shape[0], a.shape[1] + b.shape[1] + 4), np.float32)
    row[:, : a.shape[1]] = a
    left = place(row, b, 0, -1)
    np.maximum(row[:, left : left + b.shape[1]], b, out=row[:, left : left + b.shape[1]])
    return row


def test_not_one_digit_fires_on_half_digits_and_merged_pairs_not_on_whole_digits(readers, mnist):
    digits, _ = readers
    x = mnist["x_train"][HELD_OUT][:120]
    inks = [ink_of(digit) for digit in x]
    whole = np.stack([segment.to_mnist_frame(ink) for ink in inks])
    halves = np.stack([segment.to_mnist_frame(half(ink, i % 2 == 0)) for i, ink in enumerate(inks)])
    pairs = np.stack([segment.to_mnist_frame(merged(a, b)) for a, b in itertools.pairwise(inks)])

    pieces = {"whole": whole, "half": halves, "merged": pairs}
    said_not = {name: digits(frames).argmax(axis=1) == NOT_ONE for name, frames in pieces.items()}
    rates = {name: said.mean() for name, said in said_not.items()}
    # a reader fine-tuned for a minute (the pipeline's: metrics/reader.json) says it of 5.8% of
    # whole digits, 72% of halves and 94% of merged pairs
    assert rates["whole"] <= 0.1 and rates["half"] >= 0.6 and rates["merged"] >= 0.8, rates


def touching_pair(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two training digits written touching, on paper, found again as ink."""
    row, _ = write_row([a, b], True, rng, PAIRS)
    return find_ink(to_grey(on_paper(row, rng)))


def test_the_pair_reader_reads_a_touching_pair_the_cutter_alone_gets_wrong(readers, mnist):
    """Among touching pairs of held-out training digits, one the segmentation graph reads wrong
    with the digit reader alone and right when the pair reader is offered; and the pair reader
    does not make the graph worse on the rest."""
    digits, pairs = readers
    x, y = mnist["x_train"][HELD_OUT], mnist["y_train"][HELD_OUT]
    rng = np.random.default_rng(5)
    fixed = broken = 0
    for i in range(0, 240, 2):
        ink = touching_pair(x[i], x[i + 1], rng)
        truth = f"{y[i]}{y[i + 1]}"
        alone = read_digits(segment.read_row(ink, digits, 2))
        helped = read_digits(segment.read_row(ink, digits, 2, pairs))
        fixed += alone != truth and helped == truth
        broken += alone == truth and helped != truth
    assert fixed >= 1 and fixed > broken, (fixed, broken)


def read_digits(row) -> str:
    found, _ = row
    return "".join(str(int(np.argmax(digit.probs[:10]))) for digit in found)


# The segmentation graph's choice, against every path by brute force: any small graph.
graphs = st.integers(2, 6).flatmap(
    lambda nodes: st.tuples(
        st.just(nodes),
        st.dictionaries(
            st.tuples(
                st.integers(0, nodes - 2), st.integers(1, nodes - 1), st.sampled_from([1, 2])
            ).filter(lambda e: e[0] < e[1]),
            st.floats(-8, 0),
            max_size=12,
        ),
        st.one_of(st.none(), st.integers(1, 6)),
    )
)


def every_path(scores: dict, nodes: int):
    """Every path of edges from node 0 to the last: (edges, digits, score)."""
    stack = [(0, [], 0, 0.0)]
    while stack:
        node, edges, digits, score = stack.pop()
        if node == nodes - 1:
            yield edges, digits, score
            continue
        for (i, j, d), value in scores.items():
            if i == node:
                stack.append((j, [*edges, (i, j, d)], digits + d, score + value))


@settings(max_examples=300, deadline=None)
@given(graphs)
def test_the_best_path_and_its_share_are_those_of_every_path(graph):
    nodes, scores, count = graph
    paths = [p for p in every_path(scores, nodes) if count is None or p[1] == count]
    found = segment.best_path(scores, nodes, count)
    if not paths:
        assert found is None
        return
    path, share = found
    best = max(score for _, _, score in paths)
    assert np.isclose(sum(scores[e] for e in path), best)
    assert [e[1] for e in path] == sorted({e[1] for e in path})  # left to right, no repeats
    total = np.logaddexp.reduce([score for _, _, score in paths])
    assert np.isclose(share, np.exp(best - total))


def test_the_number_threshold_is_chosen_on_validation_numbers(project):
    """Shuffling the test digits' labels changes no stored threshold or model: the reader stage
    never reads the test set (and is byte-for-byte reproducible)."""
    reader = project / "models" / "reader"
    before = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in reader.iterdir()}
    test_file = project / "data" / "prepared" / "test.npz"
    original = test_file.read_bytes()
    with np.load(test_file) as archive:
        arrays = dict(archive)
    shuffled = np.random.default_rng(0).permutation(arrays["y"])
    assert (shuffled != arrays["y"]).mean() > 0.5
    try:
        save_npz(test_file, x=arrays["x"], y=shuffled)
        run(["python", "-m", "stages.reader"], project)
        after = {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
                 for path in reader.iterdir()}  # fmt: skip
    finally:
        test_file.write_bytes(original)
    assert after == before
    stored = json.loads((reader / "confidence.json").read_text())
    target = yaml.safe_load((project / "params.yaml").read_text())["numbers"]["max_wrong_accepted"]
    assert stored["max_wrong_accepted"] == target
    status = run(["dvc", "status", "reader"], project).stdout
    assert "up to date" in status, status


@pytest.mark.parametrize("touching", [False, True])
def test_numbers_of_training_digits_cut_into_labelled_pieces(mnist, touching):
    """The reader's examples come from rows that the segmenter cuts: whole digits labelled as
    their source, NOT_ONE pieces, never more of those than of digits; pairs from touching rows."""
    from mnist_nas.reading.pieces import PAIRS as PAIR_ROWS
    from mnist_nas.reading.pieces import SEPARATED, Examples, row_examples

    into, rng = Examples(), np.random.default_rng(0)
    for row in range(5):
        x, y = (
            mnist["x_train"][row * 10 : row * 10 + 10],
            mnist["y_train"][row * 10 : row * 10 + 10],
        )
        row_examples(x, y, PAIR_ROWS if touching else SEPARATED, rng, into)
    labels, pairs = np.array(into.labels), np.array(into.pair_labels).reshape(-1, 2)
    good, bad = labels[labels < NOT_ONE], labels[labels == NOT_ONE]
    assert len(good) >= (40 if not touching else 10) and len(bad) <= len(good) + 5
    assert set(good) <= set(mnist["y_train"][:50].tolist())
    assert ((pairs < NOT_ONE).all(axis=1).sum() >= 5) == touching


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 1), st.booleans()), min_size=1, max_size=60),
    st.floats(0.001, 0.5),
)
def test_the_number_threshold_keeps_to_its_target_on_the_numbers_it_was_chosen_on(items, target):
    """At the threshold chosen, at most `target` of the numbers it accepts are wrong, and no
    lower threshold that also keeps to it accepts more."""
    from mnist_nas.scoring.calibration import lowest_safe_threshold

    sure, wrong = (np.array(column) for column in zip(*items, strict=True))
    threshold = lowest_safe_threshold(sure, wrong, target)
    accepted = sure >= threshold
    # exact comparisons, as the threshold's own: both shares are a count over a count
    assert not accepted.any() or wrong[accepted].mean() <= target
    for lower in np.unique(sure[sure < threshold]):
        kept = sure >= lower
        assert wrong[kept].mean() > target


def test_a_confidence_fitted_on_one_outcome_states_its_share():
    """A tiny run whose numbers are all wrong (or all right) still gets a confidence: that
    share, for every number, instead of a crash."""
    from mnist_nas.reading import confidence

    table = np.random.default_rng(0).normal(size=(20, len(confidence.FEATURES)))
    for right in (np.zeros(20, bool), np.ones(20, bool)):
        fitted = confidence.fit(table, right, seed=0)
        sure = confidence.predict(fitted, table)
        assert np.allclose(sure, np.clip(right.mean(), 1e-3, 1 - 1e-3))
