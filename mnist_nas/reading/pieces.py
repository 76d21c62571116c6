"""The reader's training examples: synthetic rows of training digits, written on paper, found
again by the ink finder and cut by the project's own segmentation graph, exactly as a user's
number is cut. Every candidate piece is labelled by the digits its ink comes from:

- one digit, nearly all of it and little else: that digit;
- a fragment (a part of one digit) or a merge (most of one digit and much of another): NOT_ONE,
  the reader's eleventh output, which tells the graph a cut is wrong (LeCun et al. 1998);
- for the pair reader, two neighbours, nearly all of both: the two digits; anything else it is
  offered (one digit, a digit and a sliver, three): NOT_ONE on both sides.

Pieces in between (most of a digit with a noticeable sliver of another) teach nothing clear and
are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from mnist_nas.contract import NUM_CLASSES, SIDE
from mnist_nas.reading import segment
from mnist_nas.reading.ink import find_ink, to_grey
from mnist_nas.reading.synthetic import PAIRS, WIDER, Style, on_paper, write_row

NOT_ONE = NUM_CLASSES  # the class of a piece that is not one whole digit
WHOLE = 0.9  # a piece holds a digit when it has this share of the digit's ink...
PURE = 0.9  # ...and this share of the piece's ink is that digit's
PART = 0.6  # a piece with less of its main digit than this is a fragment
MIXED = 0.75  # or with less of the piece than this from its main digit, a merge


@dataclass
class Examples:
    """Frames and labels: single pieces (uint8 [n, 28, 28], labels [n] in 0..10) and pair
    pieces (uint8 [m, 28, 56], labels [m, 2])."""

    frames: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    pair_frames: list = field(default_factory=list)
    pair_labels: list = field(default_factory=list)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "x": np.array(self.frames, np.uint8).reshape(-1, SIDE, SIDE),
            "y": np.array(self.labels, np.int64),
            "x_pair": np.array(self.pair_frames, np.uint8).reshape(-1, SIDE, 2 * SIDE),
            "y_pair": np.array(self.pair_labels, np.int64).reshape(-1, 2),
        }


def owners_of(owner: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The row's owner map resized (nearest) to the ink finder's working size."""
    if owner.shape == shape:
        return owner
    image = Image.fromarray(owner.astype(np.int32) + 1, mode="I")
    return np.asarray(image.resize(shape[::-1], Image.Resampling.NEAREST), np.int64) - 1


def label_single(counts: np.ndarray, sizes: np.ndarray, labels: np.ndarray) -> int | None:
    """A piece's class from its ink per source digit (`counts`) and each digit's whole ink."""
    main = int(np.argmax(counts))
    whole, pure = counts[main] / max(1, sizes[main]), counts[main] / max(1, counts.sum())
    if whole >= WHOLE and pure >= PURE:
        return int(labels[main])
    if whole < PART or pure < MIXED:
        return NOT_ONE
    return None


def label_pair(counts: np.ndarray, sizes: np.ndarray, labels: np.ndarray) -> tuple | None:
    """A pair piece's two classes, left to right: two neighbours whole, or NOT_ONE twice."""
    first, second = sorted(np.argsort(-counts)[:2])
    whole = counts[[first, second]] / np.maximum(1, sizes[[first, second]])
    pure = counts[[first, second]].sum() / max(1, counts.sum())
    if second == first + 1 and whole.min() >= WHOLE and pure >= PURE:
        return int(labels[first]), int(labels[second])
    if whole.min() < PART or pure < MIXED:
        return NOT_ONE, NOT_ONE
    return None


def row_examples(
    digits: np.ndarray, labels: np.ndarray, style: Style, rng: np.random.Generator, into: Examples
) -> None:
    """Write one row of `digits` with some neighbours touching, cut it as the reader will, and
    add its labelled pieces (with at most as many NOT_ONE pieces as good ones, drawn at random)
    `into` the examples."""
    row, owner = write_row(list(digits), style.touch > 0, rng, style)
    ink = find_ink(to_grey(on_paper(row, rng)))
    layout = segment.layout(ink, len(digits))
    if layout is None:
        return
    rows, cols = layout.pixels.rows, layout.pixels.cols
    source = owners_of(owner, ink.shape)[rows, cols]
    sizes = np.bincount(source[source >= 0], minlength=len(digits))
    edges, _ = segment.candidates(layout, len(digits), pairs=True)
    singles, pairs = [], []
    for piece in edges.values():
        counts = np.bincount(source[piece.index][source[piece.index] >= 0], minlength=len(digits))
        if piece.digits == 1:
            singles.append((piece, label_single(counts, sizes, labels)))
        else:
            pairs.append((piece, label_pair(counts, sizes, labels)))
    for found, to_frame, frames, classes in (
        (singles, segment.to_mnist_frame, into.frames, into.labels),
        (pairs, segment.to_pair_frame, into.pair_frames, into.pair_labels),
    ):
        kept = keep_balanced(found, rng)
        frames.extend(to_frame(layout.paint(piece.index)) for piece, _ in kept)
        classes.extend(label for _, label in kept)


def keep_balanced(found: list, rng: np.random.Generator) -> list:
    """The labelled pieces, without the unclear ones, and with at most as many NOT_ONE pieces
    as good ones (at least one), drawn at random."""
    good = [item for item in found if item[1] is not None and np.all(np.array(item[1]) < NOT_ONE)]
    bad = [item for item in found if item[1] is not None and np.any(np.array(item[1]) == NOT_ONE)]
    keep = max(1, len(good))
    if len(bad) > keep:
        bad = [bad[i] for i in sorted(rng.choice(len(bad), keep, replace=False))]
    return good + bad


SEPARATED = Style(WIDER.stroke, WIDER.size, touch=0.0)
STYLES = (
    SEPARATED,
    WIDER,
    PAIRS,
    PAIRS,
)  # no, some, every neighbour touching: pairs for the pair reader


CHUNK = 50  # rows made by one worker at a time, each chunk with its own seed


def chunk_examples(digits: np.ndarray, labels: np.ndarray, first: int, seed: int) -> dict:
    """Labelled pieces of the rows of `digits` [rows, length, 28, 28] (labels [rows, length]);
    `first` is the first row's number, which with the others' picks their styles."""
    rng = np.random.default_rng([seed, first])
    into = Examples()
    for i, (row, truth) in enumerate(zip(digits, labels, strict=True)):
        row_examples(row, truth, STYLES[(first + i) % len(STYLES)], rng, into)
    return into.arrays()


def examples(x: np.ndarray, y: np.ndarray, rows: int, length: int, seed: int, jobs: int = 2):
    """Labelled pieces from `rows` rows of `length` digits drawn from x (labels y), a quarter of
    them separated, a quarter with some neighbours touching, half with all of them touching
    (the pair reader's examples): Examples.arrays(). Made in chunks of CHUNK rows, `jobs` at
    a time: the same examples for any number of jobs."""
    from concurrent.futures import ProcessPoolExecutor

    rng = np.random.default_rng(seed)
    picked = np.stack([rng.choice(len(y), length, replace=False) for _ in range(rows)])
    starts = list(range(0, rows, CHUNK))
    work = [(x[picked[s : s + CHUNK]], y[picked[s : s + CHUNK]], s, seed) for s in starts]
    with ProcessPoolExecutor(jobs) as pool:
        parts = list(pool.map(chunk_examples, *zip(*work, strict=True)))
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
