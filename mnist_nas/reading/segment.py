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

import numpy as np
from PIL import Image
from skimage import measure

OVERLAP = 0.5  # components overlapping by half the narrower one's width are one digit
FRAGMENT = 0.45  # digit heights: lower components are parts of a digit
PART = 0.75  # digit heights: lower components over another are part of it (a 5's flag)
WIDE = 1.6  # typical digit widths: wider components hold several digits (no classifier)
WIDEST = 1.1  # digit heights: wider pieces are unlikely to be one digit
WIDER = 1.25  # digit heights: with the count unknown, only components this wide are cut
LONGEST = 1.4  # digit heights: no piece of the graph is wider


def digit_inks(ink: np.ndarray, classify=None, count: int | None = None) -> list[np.ndarray]:
    """The ink of each digit in a row, left to right: maps the shape of `ink`, zero outside.
    `classify` (uint8 [n, 28, 28] -> probabilities [n, 10]) reads the candidate pieces;
    `count`, when known, is how many digits the row holds."""
    labels = measure.label(ink > 0, connectivity=2)
    regions = measure.regionprops(labels)
    if not regions:
        return []
    largest = max(region.area for region in regions)
    digits = [region for region in regions if region.area >= 0.5 * largest]  # not fragments
    height = float(np.median([region.bbox[2] - region.bbox[0] for region in digits]))
    shear = slant(digits)

    rows, cols = np.nonzero(labels)
    x = cols - shear * (rows - rows.mean())  # columns along the slant
    if count == 1 or (not count and np.ptp(x) + 1 <= WIDER * (np.ptp(rows) + 1)):
        return [ink]  # all the ink fits in one digit's box: one digit, in however many pieces
    owner = labels[rows, cols]
    groups = merge([[region.label] for region in regions], owner, x, rows, height)
    groups = [np.flatnonzero(np.isin(owner, group)) for group in groups]
    pixels = (rows, cols, ink[rows, cols], ink.shape)
    if classify is None:
        pieces = split_by_width(groups, x, pixels[2], height)
    else:
        pieces = read_best(groups, x, pixels, height, classify, count)
    return [paint(piece, pixels) for piece in pieces]


def paint(piece: np.ndarray, pixels) -> np.ndarray:
    """The ink map of the pixels `piece` (indices into `pixels`: rows, columns, ink, shape)."""
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

    def bounds(group):
        mask = np.isin(owner, group)
        left, right = float(x[mask].min()), float(x[mask].max()) + 1
        return left, right, float(np.ptp(rows[mask]) + 1)

    def joinable(a, b, fragments: bool) -> float | None:
        """How far apart a and b are (negative: overlapping), if they join; else None."""
        (left_a, right_a, tall_a), (left_b, right_b, tall_b) = a, b
        overlap = min(right_a, right_b) - max(left_a, left_b)
        narrower = min(right_a - left_a, right_b - left_b)
        lower = min(tall_a, tall_b)
        if not fragments:
            return -overlap if overlap >= OVERLAP * narrower and lower < PART * height else None
        return -overlap if lower < FRAGMENT * height and -overlap < 0.4 * height else None

    groups = sorted(groups, key=lambda group: sum(bounds(group)[:2]))
    for fragments in (False, True):
        while len(groups) > 1:
            spans = [bounds(group) for group in groups]
            distances = [joinable(spans[i], spans[i + 1], fragments) for i in range(len(spans) - 1)]
            pairs = [(distance, i) for i, distance in enumerate(distances) if distance is not None]
            if not pairs:
                break
            _, i = min(pairs)  # the closest pair first
            groups[i : i + 2] = [groups[i] + groups[i + 1]]
    return groups


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


def read_best(groups: list[np.ndarray], x, pixels, height: float, classify, count: int | None):
    """Pixel indices of each digit, left to right: the path through the segmentation graph
    whose pieces' readings are most likely all right (module docstring)."""
    from scipy.signal import find_peaks

    if len(groups) == 1 and not count:
        return groups  # one digit, however wide (a flat 0): a row has more than one component

    # Every pixel gets a position: its group's offset plus its column in the group. A piece is
    # the pixels between two cuts; the cuts are group boundaries and thin places inside groups.
    position = np.zeros(len(x))
    cuts, boundaries, offset = [0], set(), 0
    for index in groups:
        column, profile = profile_of(index, x, pixels[2])
        position[index] = offset + column
        if len(profile) > (0.95 if count else WIDER) * height:
            thin, _ = find_peaks(-profile, distance=max(1, round(0.08 * height)))
            cuts.extend(offset + thin[(thin > 0) & (thin < len(profile))])
        offset += len(profile)
        cuts.append(offset)
        boundaries.add(offset)

    parts = {}
    for i, start in enumerate(cuts):
        for j in range(i + 1, len(cuts)):
            if cuts[j] - start > LONGEST * height:
                break
            if not boundaries.isdisjoint(cuts[i + 1 : j]):
                break  # pieces never join separate components: merge() did that
            part = np.flatnonzero((position >= start) & (position < cuts[j]))
            if len(part) == 0:
                continue
            wide, tall = np.ptp(x[part]) + 1, np.ptp(pixels[0][part]) + 1
            if 0.08 * height <= wide <= LONGEST * height and tall >= FRAGMENT * height:
                parts[i, j] = (part, wide)
    if not parts:
        return groups
    frames = np.stack([to_mnist_frame(paint(part, pixels)) for part, _ in parts.values()])
    score = np.log(np.maximum(classify(frames).max(axis=1), 1e-12))
    # Squeezed into 28x28, two digits can pass for one (77 for a flat 7): pieces wider than
    # digits are written are penalised (MNIST's widest 1% are 1.4 heights wide).
    wide = np.array([max(0.0, wide / height - WIDEST) for _, wide in parts.values()])
    score -= (wide / 0.15) ** 2
    scores = dict(zip(parts, score, strict=True))
    path = best_path(scores, len(cuts), count)
    if path is None and count:  # no reading of that many digits: the best of any length
        path = best_path(scores, len(cuts), None)
    if path is None:
        return groups
    return [parts[edge][0] for edge in path]


def best_path(scores: dict, nodes: int, count: int | None) -> list | None:
    """The edges (i, j) from node 0 to the last whose scores sum highest, with exactly `count`
    edges when given; None when there is no such path."""
    steps = range(count) if count else [None]
    best = {(0, 0 if count else None): (0.0, None)}  # (node, edges so far) -> (score, previous)
    for (i, j), value in sorted(scores.items(), key=lambda item: item[0][1]):
        for step in steps:
            if (i, step) in best:
                state, total = (j, step + 1 if count else None), best[i, step][0] + value
                if state not in best or best[state][0] < total:
                    best[state] = (total, (i, step))
    state = (nodes - 1, count if count else None)
    if state not in best:
        return None
    path = []
    while best[state][1] is not None:
        previous = best[state][1]
        path.append((previous[0], state[0]))
        state = previous
    return path[::-1]


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
    ink = np.clip(ink * 255, 0, 255)
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    digit = Image.fromarray(ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.uint8))
    scale = 20 / max(digit.size)
    size = (max(1, round(digit.width * scale)), max(1, round(digit.height * scale)))
    digit = np.asarray(digit.resize(size, Image.Resampling.LANCZOS), dtype=np.float32)

    # Put the centre of mass at the centre of the 28x28 frame, as MNIST did.
    canvas = np.zeros((28, 28), np.float32)
    total = digit.sum() or 1.0
    centre_y = (digit.sum(axis=1) * np.arange(digit.shape[0])).sum() / total
    centre_x = (digit.sum(axis=0) * np.arange(digit.shape[1])).sum() / total
    top = int(np.clip(round(14 - centre_y), 0, 28 - digit.shape[0]))
    left = int(np.clip(round(14 - centre_x), 0, 28 - digit.shape[1]))
    canvas[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    return np.clip(canvas, 0, 255).astype(np.uint8)
