"""Images that are not digits, for the reader to learn to refuse (outlier exposure: Hendrycks,
Mazeika and Dietterich, ICLR 2019): pen scribbles, lines and dashes, blots and dots, paper
noise, ink specks, pieces and overlays of digits, printed letters and symbols. Each is drawn on
paper as a user's photo would show it (synthetic.on_paper) and framed as predict frames a
digit (images.to_mnist), so the reader meets them as it will meet them in use.

Three purposes, each with its own seeds and its own fonts: `fit` (the reader's training, from
training digits), `choose` (the refusal threshold, from validation digits) and `report` (the
figures, from validation digits with other seeds, and fonts the others never saw). The
official test digits are never used.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from mnist_nas.errors import UserError

CANVAS = 96  # pixels: the side of the drawn image
KINDS = ("scribble", "line", "blot", "noise", "specks", "piece", "overlay", "letter", "symbol")
PURPOSES = ("fit", "choose", "report")

# Letters and symbols that no one would take for a digit: I l O o D Q S s Z z B b G g q and
# | ! / ( ) are left out, as a 1, 0, 5, 2, 8, 6 or 9 could be written that way.
LETTERS = "ACEFHKLMNPRTUVWXYacdefhkmnprtuvwxy"
SYMBOLS = "#%&*+=?@$<>~{}"
FONTS = {
    "fit": ("DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSans-BoldOblique",
            "DejaVuSerif", "DejaVuSerif-Bold", "DejaVuSerif-Italic", "DejaVuSerif-BoldItalic"),
    "choose": ("DejaVuSansMono", "DejaVuSansMono-Bold", "DejaVuSansMono-Oblique",
               "DejaVuSansMono-BoldOblique"),
    "report": ("STIXGeneral", "STIXGeneralBol", "STIXGeneralItalic", "STIXGeneralBolIta"),
}  # fmt: skip


@cache
def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    """One of the fonts matplotlib ships (mpl-data/fonts/ttf)."""
    import matplotlib

    return ImageFont.truetype(
        str(Path(matplotlib.get_data_path(), "fonts", "ttf", f"{name}.ttf")), size
    )


def box(rng: np.random.Generator) -> tuple[float, float, float, float]:
    """Where the mark goes: (left, top, width, height) in the canvas, sized and placed as
    freely as a digit on a form."""
    height = rng.uniform(0.4, 0.8) * CANVAS
    width = height * rng.uniform(0.5, 1.3)
    left = (CANVAS - width) / 2 + rng.uniform(-0.1, 0.1) * CANVAS
    top = (CANVAS - height) / 2 + rng.uniform(-0.1, 0.1) * CANVAS
    return left, top, width, height


def pen_width(rng: np.random.Generator, height: float) -> int:
    """A pen from a fine liner to a marker: 5% to 20% of the mark's height."""
    return max(1, round(rng.uniform(0.05, 0.2) * height))


def points_in(rng: np.random.Generator, count: int) -> list[tuple[float, float]]:
    left, top, width, height = box(rng)
    return [(left + rng.uniform() * width, top + rng.uniform() * height) for _ in range(count)]


def scribble(rng, draw, digits) -> None:
    """A pen's scrawl: a curve through 4 to 9 random points."""
    points = points_in(rng, int(rng.integers(4, 10)))
    draw.line(points, fill=255, width=pen_width(rng, CANVAS / 2), joint="curve")


def line(rng, draw, digits) -> None:
    """One to three straight strokes: a dash, a rule, a cross-out. Within 40 degrees of the
    horizontal (a steeper stroke is how a 1 is written)."""
    left, top, width, height = box(rng)
    for _ in range(int(rng.choice([1, 1, 2, 3]))):
        angle, length = np.radians(rng.uniform(-40, 40)), rng.uniform(0.5, 1.0) * width
        cx, cy = left + rng.uniform(0.3, 0.7) * width, top + rng.uniform(0.2, 0.8) * height
        dx, dy = np.cos(angle) * length / 2, np.sin(angle) * length / 2
        draw.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=255, width=pen_width(rng, height))


def blot(rng, draw, digits) -> None:
    """Filled blots and dots: two to five ellipses, none with a hole (a ring is a 0; one bold
    oval could pass for one too)."""
    left, top, width, height = box(rng)
    for _ in range(int(rng.integers(2, 6))):
        w, h = rng.uniform(0.1, 0.7) * width, rng.uniform(0.1, 0.7) * height
        x, y = left + rng.uniform() * (width - w), top + rng.uniform() * (height - h)
        draw.ellipse([x, y, x + w, y + h], fill=255)


def whole_page(rng: np.random.Generator) -> int:
    """The side of an image that is all noise or specks: any resolution, 64 to 256 pixels."""
    return int(rng.integers(64, 257))


def noise(rng, draw, digits) -> Image.Image:
    """Random pixels, in grains of one to four pixels, over the whole image."""
    side, grain = whole_page(rng), int(rng.integers(1, 5))
    cells = rng.uniform(0, 255, (side // grain + 1,) * 2).astype(np.uint8)
    grown = Image.fromarray(cells).resize(((side // grain + 1) * grain,) * 2, Image.NEAREST)
    return grown.crop((0, 0, side, side))


def specks(rng, draw, digits) -> Image.Image:
    """Ink specks over the whole paper, covering 0.5% to 5% of it: single pixels to dots three
    pixels across."""
    side, radius = whole_page(rng), rng.uniform(0.3, 1.5)
    canvas = Image.new("L", (side, side))
    pen = ImageDraw.Draw(canvas)
    count = int(rng.uniform(0.005, 0.05) * side * side / max(1.0, np.pi * radius**2))
    for x, y in zip(rng.uniform(0, side, count), rng.uniform(0, side, count), strict=True):
        if radius < 0.5:
            pen.point((x, y), fill=255)
        else:
            pen.ellipse([x - radius, y - radius, x + radius, y + radius], fill=255)
    return canvas


def digit_ink(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """A digit scaled into a box of the canvas, as an ink image."""
    left, top, width, height = box(rng)
    side = max(8, round(min(width, height) * 1.3))
    canvas = Image.new("L", (CANVAS, CANVAS))
    canvas.paste(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC),
                 (round(left), round(top)))  # fmt: skip
    return canvas


def wide(digits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A digit whose ink is at least half as wide as tall: not a 1, any part of which, or two
    of which over each other, could pass for a 1 still."""
    while True:
        digit = digits[rng.integers(len(digits))]
        rows, cols = np.flatnonzero(digit.any(axis=1)), np.flatnonzero(digit.any(axis=0))
        if cols[-1] - cols[0] >= (rows[-1] - rows[0]) / 2:
            return digit


def piece(rng, draw, digits) -> Image.Image:
    """A part of a digit: a band of 20% to 45% of its ink, along or across it."""
    digit = wide(digits, rng).copy()
    across = rng.uniform() < 0.5
    inked = np.flatnonzero(digit.any(axis=1 if across else 0))
    extent = inked[-1] - inked[0] + 1
    size = max(2, round(rng.uniform(0.2, 0.45) * extent))
    start = inked[0] + int(rng.integers(0, extent - size + 1))
    keep = np.zeros(digit.shape, bool)
    band = slice(start, start + size)
    keep[(band, slice(None)) if across else (slice(None), band)] = True
    digit[~keep] = 0
    return digit_ink(digit, rng)


def overlay(rng, draw, digits) -> Image.Image:
    """Two digits written over each other, 5 to 10 pixels (of 28) apart sideways."""
    first, second = wide(digits, rng), wide(digits, rng)
    shift = (int(rng.integers(-3, 4)), int(rng.choice([-1, 1]) * rng.integers(5, 11)))
    return digit_ink(np.maximum(first, np.roll(second, shift, axis=(0, 1))), rng)


def glyph(text: str, fonts: tuple[str, ...], rng: np.random.Generator) -> Image.Image:
    """A printed character, sized, slanted, turned, thickened and placed at random."""
    left, top, width, height = box(rng)
    name = fonts[rng.integers(len(fonts))]
    face = font(name, max(8, round(height)))
    canvas = Image.new("L", (CANVAS * 2, CANVAS * 2))
    ImageDraw.Draw(canvas).text((CANVAS, CANVAS), text, fill=255, font=face, anchor="mm")
    shear = rng.uniform(-0.3, 0.3)
    slant = (1, shear, -shear * CANVAS, 0, 1, 0)
    canvas = canvas.transform(canvas.size, Image.Transform.AFFINE, slant, Image.Resampling.BILINEAR)
    canvas = canvas.rotate(rng.uniform(-15, 15), Image.Resampling.BILINEAR)
    if (grow := int(rng.choice([0, 0, 3, 5]))) > 0:
        canvas = canvas.filter(ImageFilter.MaxFilter(grow))
    centre = (left + width / 2, top + height / 2)
    return canvas.crop((round(CANVAS - centre[0]), round(CANVAS - centre[1]),
                        round(2 * CANVAS - centre[0]), round(2 * CANVAS - centre[1])))  # fmt: skip


DRAWERS = {"scribble": scribble, "line": line, "blot": blot, "noise": noise,
           "specks": specks, "piece": piece, "overlay": overlay}  # fmt: skip


def ink_of(kind: str, rng: np.random.Generator, digits: np.ndarray, purpose: str) -> np.ndarray:
    """One non-digit of `kind` as ink in [0, 1], [CANVAS, CANVAS]; noise and specks cover an
    image of their own size. A mark shaped like a 1 (a stroke far taller than wide: a band of
    a digit, a steep line, an arc) is drawn again: a writer's 1 can look like any of them."""
    while True:
        if kind in ("letter", "symbol"):
            characters = LETTERS if kind == "letter" else SYMBOLS
            image = glyph(characters[rng.integers(len(characters))], FONTS[purpose], rng)
        else:
            image = Image.new("L", (CANVAS, CANVAS))
            image = DRAWERS[kind](rng, ImageDraw.Draw(image), digits) or image
        ink = np.asarray(image, np.float32) / 255
        if not like_a_one(ink):
            return ink


def like_a_one(ink: np.ndarray) -> bool:
    """Whether the ink's extent is less than 45% as wide as it is tall (or there is none)."""
    rows, cols = np.flatnonzero((ink > 0.3).any(axis=1)), np.flatnonzero((ink > 0.3).any(axis=0))
    if not len(rows):
        return True
    return cols[-1] - cols[0] + 1 < 0.45 * (rows[-1] - rows[0] + 1)


def image(kind: str, rng: np.random.Generator, digits: np.ndarray, purpose: str) -> Image.Image:
    """One non-digit of `kind` on paper, as a user's photo shows it."""
    from mnist_nas.reading.synthetic import on_paper

    return on_paper(ink_of(kind, rng, digits, purpose), rng)


def chunk(kind: str, count: int, digits: np.ndarray, purpose: str, seed: list) -> np.ndarray:
    """`count` non-digits of one kind framed as predict frames a digit: uint8 [n, 28, 28]. One
    whose ink the ink finder does not find (faint noise) is refused before the reader sees it,
    and drawn again."""
    from mnist_nas.reading.images import to_mnist

    rng = np.random.default_rng(seed)
    frames = []
    while len(frames) < count:
        try:
            frames.append(to_mnist(image(kind, rng, digits, purpose)))
        except UserError:
            continue
    return np.stack(frames)


def frames(
    count: int, digits: np.ndarray, purpose: str, seed: int, jobs: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """`count` non-digits of each kind for `purpose`, framed as predict frames a digit, made
    from `digits` (uint8 [n, 28, 28]; pieces and overlays) with the seed and fonts of the
    purpose: (frames uint8 [kinds * count, 28, 28], each one's kind [kinds * count]). The same
    arguments give the same bytes, for any number of jobs."""
    from concurrent.futures import ProcessPoolExecutor

    work = [(kind, count, digits, purpose, [seed, PURPOSES.index(purpose), i])
            for i, kind in enumerate(KINDS)]  # fmt: skip
    with ProcessPoolExecutor(jobs) as pool:
        parts = list(pool.map(chunk, *zip(*work, strict=True)))
    return np.concatenate(parts), np.repeat(np.array(KINDS), count)


BLOCK = 500  # digits drawn with one seed: the same bytes for any number of jobs


def digit_block(digits: np.ndarray, seed: list) -> np.ndarray:
    """Digits drawn on paper as the non-digits are (scaled and placed by `box`, the same papers,
    inks, noise and blur) and framed as predict frames a digit: uint8 [n, 28, 28]. One whose ink
    is not found is drawn again, on other paper."""
    from mnist_nas.reading.images import to_mnist
    from mnist_nas.reading.synthetic import on_paper

    rng, frames = np.random.default_rng(seed), []
    for digit in digits:
        for _ in range(10):
            try:
                ink = np.asarray(digit_ink(digit, rng), np.float32) / 255
                frames.append(to_mnist(on_paper(ink, rng)))
                break
            except UserError:
                continue
        else:
            raise UserError("a digit whose ink was not found on 10 papers: is it blank?")
    return np.stack(frames)


def digit_frames(digits: np.ndarray, purpose: str, seed: int, jobs: int = 2) -> np.ndarray:
    """Each of these digits (uint8 [n, 28, 28]) as predict sees it in a photo, drawn and framed
    as the non-digits are, with the purpose's seeds: so that what tells the two apart is the
    shape, never the drawing. The same arguments give the same bytes, for any number of jobs."""
    from concurrent.futures import ProcessPoolExecutor

    blocks = [digits[start : start + BLOCK] for start in range(0, len(digits), BLOCK)]
    seeds = [[seed, PURPOSES.index(purpose), len(KINDS), i] for i in range(len(blocks))]
    with ProcessPoolExecutor(jobs) as pool:
        return np.concatenate(list(pool.map(digit_block, blocks, seeds)))


def material(
    digits: np.ndarray, labels: np.ndarray, count: int, purpose: str, seed: int
) -> dict[str, np.ndarray]:
    """What the detector learns from (`fit`, from training digits) or its threshold is chosen
    on (`choose`, from validation digits): `count` non-digits of each kind made from the digits,
    and every one of the digits drawn alike, with its label (mnist_nas.data.material.KEYS)."""
    made, kinds = frames(count, digits, purpose, seed)
    return {"nondigits": made, "kinds": kinds, "digits": digit_frames(digits, purpose, seed),
            "labels": labels}  # fmt: skip
