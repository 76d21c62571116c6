"""A row of handwritten digits cut into single digits, each then normalised the MNIST way.

The ink's connected components are seen along the writing's slant (measured from their own
second moments, as deskewing does), so that a slanted row still splits between its digits.
Components that lie over one another (a 5's flag, the two halves of an open 4), or a fragment
close beside a digit, are one digit. Then, with the classifier at hand, the row is read as a
segmentation graph (LeCun et al., 1998, the check reader): the candidate cuts are the gaps
between components and the thin places of the ink in wide ones; every stretch between two cuts
that could be a digit is read, and dynamic programming picks the cuts whose pieces' top
probabilities have the largest product, the reading most likely right. When the number of
digits is known (a phone number has 10), the graph is read for exactly that many; otherwise
wide pieces are penalised, and only components wider than any one digit are cut. Without the
classifier, a component is cut into as many parts as it is typical digits wide.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from typing import NamedTuple

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage import measure

from mnist_nas.contract import NUM_CLASSES, TINY

OVERLAP = 0.5  # components overlapping by half the narrower one's width are one digit
FRAGMENT = 0.45  # digit heights: lower components are parts of a digit
PART = 0.75  # digit heights: lower components over another are part of it (a 5's flag)
WIDE = 1.6  # typical digit widths: wider components hold several digits (no classifier)
WIDEST = 1.1  # digit heights: wider pieces are unlikely to be one digit
WIDER = 1.25  # digit heights: with the count unknown, only components this wide are cut
LONGEST = 1.4  # digit heights: no piece of the graph is wider
PAIR_NARROWEST = 0.9  # digit heights: narrower pieces are never read as two digits
PAIR_WIDEST = 2.6  # digit heights: nor wider ones


def digit_inks(ink: np.ndarray, classify=None, count: int | None = None) -> list[np.ndarray]:
    """The ink of each digit in a row, left to right: maps the shape of `ink`, zero outside.
    `classify` (uint8 [n, 28, 28] -> probabilities [n, 10]) reads the candidate pieces;
    `count`, when known, is how many digits the row holds."""
    return [digit.ink for digit in read_row(ink, classify, count)[0]]


def read_row(ink: np.ndarray, classify=None, count: int | None = None, pair=None):
    """The row's digits, left to right, and the share: ([Digit], share).
    `classify` reads candidate pieces as one digit (its outputs past the tenth say "not one
    digit"), `pair` (uint8 [n, 28, 56] -> [n, 2, 10+]) as two touching ones; `share` is the
    chosen reading's share of the probability of every reading the graph could make (1 when
    there was no choice). A piece read as a pair is cut at its thinnest place for its two inks."""
    row = layout(ink, count)
    if row is None:
        return ([Digit(ink)] if ink.any() else []), 1.0
    if classify is None:
        pieces = split_by_width(row.groups, row.x, row.pixels.ink, row.height)
        return [Digit(row.paint(piece)) for piece in pieces], 1.0
    path = read_best(row, classify, count, pair)
    if path is None:
        return [Digit(row.paint(group)) for group in row.groups], 1.0
    digits = []
    for piece, probs in zip(path.pieces, path.probs, strict=True):
        parts = cut(piece.index, 2, row.x, row.pixels.ink) if piece.digits == 2 else [piece.index]
        if len(parts) < piece.digits:  # too thin to cut: both digits share the ink
            parts = [piece.index] * piece.digits
        paired = piece.digits == 2
        digits.extend(
            Digit(row.paint(part), p, paired) for part, p in zip(parts, probs, strict=True)
        )
    return digits, path.share


@dataclass
class Digit:
    """One digit of a row: its ink (a map the row's shape), the probabilities the graph read it
    with ([10], None when no classifier chose the cuts), and whether the pair reader read it."""

    ink: np.ndarray
    probs: np.ndarray | None = None
    paired: bool = False


class Pixels(NamedTuple):
    """The inked pixels of a row: their rows, columns and ink, and the ink map's shape."""

    rows: np.ndarray
    cols: np.ndarray
    ink: np.ndarray
    shape: tuple


@dataclass
class Layout:
    """A row's ink seen along its slant: its pixels, each pixel's column along the slant `x`,
    the components joined into digit groups (indices into the pixels), and the typical digit
    height."""

    pixels: Pixels
    x: np.ndarray
    groups: list[np.ndarray]
    height: float

    def paint(self, piece: np.ndarray) -> np.ndarray:
        return paint(piece, self.pixels)


def layout(ink: np.ndarray, count: int | None = None) -> Layout | None:
    """The Layout of a row's ink; None when there is nothing to cut: no ink, one digit
    expected, or (the count unknown) all the ink fits in one digit's box."""
    labels = measure.label(ink > 0, connectivity=2)
    regions = measure.regionprops(labels)
    if not regions:
        return None
    largest = max(region.area for region in regions)
    digits = [region for region in regions if region.area >= 0.5 * largest]  # not fragments
    height = float(np.median([region.bbox[2] - region.bbox[0] for region in digits]))
    shear = slant(digits)

    rows, cols = np.nonzero(labels)
    x = cols - shear * (rows - rows.mean())  # columns along the slant
    if count == 1 or (not count and np.ptp(x) + 1 <= WIDER * (np.ptp(rows) + 1)):
        return None
    owner = labels[rows, cols]
    groups = merge([[region.label] for region in regions], owner, x, rows, height)
    groups = [np.flatnonzero(np.isin(owner, group)) for group in groups]
    return Layout(Pixels(rows, cols, ink[rows, cols], ink.shape), x, groups, height)


def paint(piece: np.ndarray, pixels: Pixels) -> np.ndarray:
    """The ink map of the pixels `piece` (indices into `pixels`)."""
    rows, cols, values, shape = pixels
    ink = np.zeros(shape, np.float64)
    ink[rows[piece], cols[piece]] = values[piece]
    return ink


def slant(regions) -> float:
    """Horizontal shift per row of the writing (positive leans left): the median over the
    digit-sized components of their second-moment skew."""
    shears = [
        region.moments_central[1, 1] / region.moments_central[2, 0]
        for region in regions
        if region.moments_central[2, 0] > 0
    ]
    return float(np.clip(np.median(shears), -1, 1)) if shears else 0.0


def merge(groups: list[list[int]], owner, x, rows, height: float) -> list[list[int]]:
    """Components joined into digits: first a part of a digit over another along the slant,
    then a fragment (far lower than a digit) with its nearer neighbour, if that is close. Two
    whole-height digits are never joined, however close (a 1 tucked under a 4's arm)."""
    each = component_spans(owner, x, rows)

    def joinable(a, b, fragments: bool) -> float | None:
        """How far apart a and b are (negative: overlapping), if they join; else None."""
        overlap = min(a.right, b.right) - max(a.left, b.left)
        narrower = min(a.right - a.left, b.right - b.left)
        lower = min(a.tall, b.tall)
        if not fragments:
            return -overlap if overlap >= OVERLAP * narrower and lower < PART * height else None
        return -overlap if lower < FRAGMENT * height and -overlap < 0.4 * height else None

    ordered = sorted(((reduce(Span.joined, map(each.get, group)), group) for group in groups),
                     key=lambda pair: pair[0].left + pair[0].right)  # fmt: skip
    spans, groups = [span for span, _ in ordered], [group for _, group in ordered]
    for fragments in (False, True):
        while len(groups) > 1:
            distances = [joinable(spans[i], spans[i + 1], fragments) for i in range(len(spans) - 1)]
            pairs = [(distance, i) for i, distance in enumerate(distances) if distance is not None]
            if not pairs:
                break
            _, i = min(pairs)  # the closest pair first
            groups[i : i + 2] = [groups[i] + groups[i + 1]]
            spans[i : i + 2] = [spans[i].joined(spans[i + 1])]
    return groups


class Span(NamedTuple):
    """Where a group of components lies: its first and past-last column along the slant, its
    top and bottom rows."""

    left: float
    right: float
    top: float
    bottom: float

    @property
    def tall(self) -> float:
        return self.bottom - self.top + 1

    def joined(self, other: Span) -> Span:
        return Span(min(self.left, other.left), max(self.right, other.right),
                    min(self.top, other.top), max(self.bottom, other.bottom))  # fmt: skip


def component_spans(owner: np.ndarray, x: np.ndarray, rows: np.ndarray) -> dict[int, Span]:
    """Each component's Span by its label, measured once over the row's pixels: a group's is
    then its components' joined (merge joins groups many times over on a speckled page)."""
    labels = np.unique(owner)
    extremes = [extreme(values, owner, labels) for values in (x, rows)
                for extreme in (ndimage.minimum, ndimage.maximum)]  # fmt: skip
    return {int(label): Span(float(left), float(right) + 1, float(top), float(bottom))
            for label, left, right, top, bottom in zip(labels, *extremes, strict=True)}  # fmt: skip


def split_by_width(groups: list[np.ndarray], x, weight, height: float) -> list[np.ndarray]:
    """Each group far wider than the typical digit cut into as many equal parts as it is
    typical digits wide, each cut where the ink is thinnest near its place."""
    widths = np.array([np.ptp(x[index]) + 1 for index in groups])
    single = widths[(widths >= 0.4 * height) & (widths <= 1.1 * height)]
    typical = float(np.median(single)) if len(single) else 0.75 * height
    pieces = []
    for index, width in zip(groups, widths, strict=True):
        several = width > WIDE * typical and len(groups) > 1
        pieces.extend(cut(index, round(width / typical), x, weight) if several else [index])
    return pieces


def profile_of(index: np.ndarray, x: np.ndarray, weight: np.ndarray):
    """Each pixel's column along the slant, from 0, and the ink in each column, smoothed."""
    column = np.floor(x[index] - x[index].min()).astype(int)
    profile = np.convolve(np.bincount(column, weights=weight[index]), np.ones(3) / 3, "same")
    return column, profile


@dataclass
class Piece:
    """A stretch of a row's ink between two cuts: its pixels (indices into the row's ink
    pixels), its width along the slant, and how many digits it is read as (1, or 2 by the pair
    reader)."""

    index: np.ndarray
    width: float
    digits: int = 1


@dataclass
class GraphReading:
    """The reading the graph chose: its pieces, left to right, each piece's probabilities
    ([digits, 10], None without a classifier), and the path's share of the probability of every
    reading of the same length (1: no other reading was possible)."""

    pieces: list[Piece]
    probs: list[np.ndarray | None]
    share: float = 1.0


def candidates(row: Layout, count: int | None, pairs: bool):
    """The segmentation graph's nodes and edges: cuts are group boundaries and thin places
    inside groups; an edge (i, j, digits) is a piece between cuts i and j that could be one digit,
    or, with `pairs`, two touching ones (inside one group, so that two separate components are
    never read as a pair: merge() decided those)."""
    from scipy.signal import find_peaks

    groups, x, pixels, height = row.groups, row.x, row.pixels, row.height
    # Every pixel gets a position: its group's offset plus its column in the group.
    position = np.zeros(len(x))
    cuts, boundaries, offset = [0], set(), 0
    for index in groups:
        column, profile = profile_of(index, x, pixels.ink)
        position[index] = offset + column
        if len(profile) > (0.95 if count else WIDER) * height:
            thin, _ = find_peaks(-profile, distance=max(1, round(0.08 * height)))
            cuts.extend(offset + thin[(thin > 0) & (thin < len(profile))])
        offset += len(profile)
        cuts.append(offset)
        boundaries.add(offset)

    edges = {}
    for i, start in enumerate(cuts):
        for j in range(i + 1, len(cuts)):
            if cuts[j] - start > PAIR_WIDEST * height:
                break
            if not boundaries.isdisjoint(cuts[i + 1 : j]):
                break  # pieces never join separate components: merge() did that
            part = np.flatnonzero((position >= start) & (position < cuts[j]))
            if len(part) == 0:
                continue
            wide, tall = np.ptp(x[part]) + 1, np.ptp(pixels.rows[part]) + 1
            if tall < FRAGMENT * height:
                continue
            if 0.08 * height <= wide <= LONGEST * height:
                edges[i, j, 1] = Piece(part, wide)
            if pairs and PAIR_NARROWEST * height <= wide and connected(part, pixels):
                edges[i, j, 2] = Piece(part, wide, 2)
    return edges, len(cuts)


def connected(part: np.ndarray, pixels: Pixels) -> bool:
    """Whether the pixels `part` are one connected stroke (a touching pair is)."""
    return measure.label(paint(part, pixels) > 0, connectivity=2).max() == 1


def read_best(row: Layout, classify, count: int | None, pair=None) -> GraphReading | None:
    """The reading through the segmentation graph whose pieces' readings are most likely all
    right (module docstring). `pair` (uint8 [n, 28, 56] -> probabilities [n, 2, 10+]) reads
    pieces that may hold two touching digits."""
    if len(row.groups) == 1 and not count:
        return None  # one digit, however wide (a flat 0): a row has more than one component
    edges, nodes = candidates(row, count, pair is not None)
    height, pixels = row.height, row.pixels
    if not edges:
        return None
    singles = [edge for edge in edges if edge[2] == 1]
    doubles = [edge for edge in edges if edge[2] == 2]
    probs = {}
    if singles:
        frames = np.stack([to_mnist_frame(paint(edges[e].index, pixels)) for e in singles])
        probs.update(zip(singles, classify(frames)[:, None, :NUM_CLASSES], strict=True))
    if doubles:
        frames = np.stack([to_pair_frame(paint(edges[e].index, pixels)) for e in doubles])
        probs.update(zip(doubles, pair(frames)[:, :, :NUM_CLASSES], strict=True))
    scores = {}
    for edge, piece in edges.items():
        score = np.log(np.maximum(probs[edge].max(axis=1), TINY)).sum()
        # Squeezed into 28x28, two digits can pass for one (77 for a flat 7): pieces wider than
        # digits are written are penalised (MNIST's widest 1% are 1.4 heights wide).
        scores[edge] = score - (max(0.0, piece.width / height - WIDEST * piece.digits) / 0.15) ** 2
    found = best_path(scores, nodes, count)
    if found is None and count:  # no reading of that many digits: the best of any length
        found = best_path(scores, nodes, None)
    if found is None:
        return None
    path, share = found
    return GraphReading([edges[e] for e in path], [probs[e] for e in path], share)


def best_path(scores: dict, nodes: int, count: int | None):
    """The edges (i, j, digits) from node 0 to the last whose scores (log probabilities) sum
    highest, with exactly `count` digits when given, and that path's share of the probability
    of all such paths; None when there is none."""
    # states[node][digits so far, 0 when the count is free] = (best score, previous, log total)
    states: dict[int, dict] = {0: {0: (0.0, None, 0.0)}}
    for i, j, digits in sorted(scores, key=lambda edge: edge[1]):
        value = scores[i, j, digits]
        for step, (score, _, total) in list(states.get(i, {}).items()):
            after = step + digits if count else 0
            if count and after > count:
                continue
            known = states.setdefault(j, {}).get(after)
            if known is None:
                states[j][after] = (score + value, (i, step, digits), total + value)
            else:
                better = known[0] < score + value
                states[j][after] = (
                    score + value if better else known[0],
                    (i, step, digits) if better else known[1],
                    float(np.logaddexp(known[2], total + value)),
                )
    end = states.get(nodes - 1, {}).get(count if count else 0)
    if end is None:
        return None
    share = float(np.exp(end[0] - end[2]))
    path, node, state = [], nodes - 1, end
    while state[1] is not None:
        i, step, digits = state[1]
        path.append((i, node, digits))
        node, state = i, states[i][step]
    return path[::-1], share


def to_pair_frame(ink: np.ndarray) -> np.ndarray:
    """A uint8 28x56 array from the ink of two touching digits: cropped, scaled to fit 20
    pixels high and 48 wide, and centred by mass, as to_mnist_frame does for one digit."""
    return to_frame(ink, (28, 56), (20, 48))


def cut(index: np.ndarray, count: int, x: np.ndarray, weight: np.ndarray) -> list[np.ndarray]:
    """The pixels `index` in `count` pieces, cut at the thinnest ink near equal parts."""
    column, profile = profile_of(index, x, weight)
    width = len(profile)
    cuts = []
    for k in range(1, count):
        centre, reach = k * width / count, 0.35 * width / count
        window = np.arange(int(centre - reach), int(centre + reach) + 1)
        window = window[(window > 0) & (window < width)]
        cuts.append(int(window[np.argmin(profile[window] + 1e-6 * abs(window - centre))]))
    part = np.searchsorted(cuts, column, side="right")
    return [index[part == k] for k in range(count) if (part == k).any()]


def to_mnist_frame(ink: np.ndarray) -> np.ndarray:
    """A uint8 28x28 array, white digit on black, from an ink map of one digit (ink about 1):
    cropped, scaled to 20 pixels and centred by mass in 28x28, as MNIST was made."""
    return to_frame(ink, (28, 28), (20, 20))


def to_frame(ink: np.ndarray, frame: tuple[int, int], box: tuple[int, int]) -> np.ndarray:
    """The ink cropped, scaled to fit `box` (rows, columns) keeping its shape, and put with its
    centre of mass at the centre of a `frame` of uint8 pixels."""
    ink = np.clip(ink * 255, 0, 255)
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    digit = Image.fromarray(ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.uint8))
    scale = min(box[0] / digit.height, box[1] / digit.width)
    size = (max(1, round(digit.width * scale)), max(1, round(digit.height * scale)))
    digit = np.asarray(digit.resize(size, Image.Resampling.LANCZOS), dtype=np.float32)

    canvas = np.zeros(frame, np.float32)
    total = digit.sum() or 1.0
    centre_y = (digit.sum(axis=1) * np.arange(digit.shape[0])).sum() / total
    centre_x = (digit.sum(axis=0) * np.arange(digit.shape[1])).sum() / total
    top = int(np.clip(round(frame[0] / 2 - centre_y), 0, frame[0] - digit.shape[0]))
    left = int(np.clip(round(frame[1] / 2 - centre_x), 0, frame[1] - digit.shape[1]))
    canvas[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    return np.clip(canvas, 0, 255).astype(np.uint8)
