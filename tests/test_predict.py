"""python -m stages.predict on real test digits saved as images, and on a file that is not one."""

import json

import numpy as np
import pytest
from conftest import REPO, read_line, run
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image
from skimage import morphology

from mnist_nas.errors import UserError
from mnist_nas.reading.images import read_image, to_mnist
from mnist_nas.reading.ink import opening_by_reconstruction
from mnist_nas.reading.photos import photo


@pytest.fixture(scope="module")
def digits(mnist):
    return mnist["x_test"][:8], mnist["y_test"][:8]


def on_paper(image: np.ndarray) -> Image.Image:
    """The digit as a scan would show it: dark ink on white paper, 5x larger, off centre, RGB."""
    paper = Image.new("RGB", (200, 240), "white")
    paper.paste(Image.fromarray(255 - image).resize((140, 140)), (40, 70))
    return paper


def similarity(a, b):
    return np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1]


def test_mnist_digits_survive_the_preprocessing(digits):
    for image in digits[0]:
        white_on_black = to_mnist(Image.fromarray(image))
        assert white_on_black.dtype == np.uint8 and white_on_black.shape == (28, 28)
        assert similarity(white_on_black, image) > 0.95
        assert similarity(to_mnist(on_paper(image)), image) > 0.9


@settings(max_examples=300, deadline=None)
@given(
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=40),
               elements=st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]) | st.floats(0, 1)),
    st.integers(1, 9),
)  # fmt: skip
def test_the_opening_by_reconstruction_is_skimages_to_the_bit(image, side):
    """Ranked before skimage sees it (for speed), the paper's level comes out as skimage
    computes it from the values themselves: equal values, few levels or many, any shape."""
    square = morphology.footprint_rectangle((side, side), decomposition="separable")
    plain = morphology.reconstruction(morphology.erosion(image, square), image)
    assert np.array_equal(opening_by_reconstruction(image, square), plain)


@pytest.mark.parametrize("levels", [5, 256, 2**20])
def test_the_opening_of_an_image_over_65536_pixels_is_skimages_too(levels):
    """Past 2**16 pixels the ranks no longer fit the 16 bits of numpy's radix sort."""
    image = np.random.default_rng(levels).integers(0, levels, (300, 260)) / levels
    square = morphology.footprint_rectangle((41, 41), decomposition="separable")
    plain = morphology.reconstruction(morphology.erosion(image, square), image)
    assert np.array_equal(opening_by_reconstruction(image, square), plain)


@pytest.mark.parametrize(
    "blank",
    [Image.new("L", (40, 40), 255), Image.new("RGB", (300, 200), (240, 230, 200)),
     Image.fromarray(np.linspace(90, 250, 200 * 300).reshape(200, 300).astype(np.uint8))],
    ids=["white", "coloured paper", "lighting gradient only"],
)  # fmt: skip
def test_no_ink_is_said_never_answered(blank):
    with pytest.raises(UserError, match="no ink found"):
        to_mnist(blank)


def scan(digit: np.ndarray, mode: str) -> Image.Image:
    """The digit as dark ink on white paper, 3x larger, in Pillow mode `mode`."""
    paper = Image.fromarray(255 - digit).resize((84, 84), Image.Resampling.BICUBIC)
    grey = np.pad(np.asarray(paper), 20, constant_values=255)
    if mode == "I;16":
        return Image.fromarray(grey.astype(np.uint16) * 257)  # the full 16-bit range
    if mode == "I":
        return Image.fromarray(grey.astype(np.int32) * 257, mode="I")
    if mode == "1":  # a scanner's black-and-white mode: thresholded, no dithering
        return Image.fromarray(grey).convert("1", dither=Image.Dither.NONE)
    if mode == "LA":
        return Image.merge("LA", [Image.fromarray(grey), Image.new("L", (124, 124), 255)])
    if mode == "RGBA":  # ink drawn on a transparent sheet: the alpha channel holds the digit
        ink = Image.new("RGBA", (124, 124), (20, 30, 120, 0))
        ink.putalpha(Image.fromarray(255 - grey))
        return ink
    return Image.fromarray(grey).convert(mode)


FORMATS = [("1", "png"), ("L", "png"), ("I;16", "png"), ("I", "tiff"), ("P", "gif"),
           ("RGB", "jpg"), ("RGBA", "png"), ("LA", "png"), ("CMYK", "jpg"), ("CMYK", "tiff"),
           ("F", "tiff")]  # fmt: skip


@pytest.mark.parametrize(("mode", "suffix"), FORMATS, ids=[f"{m}-{s}" for m, s in FORMATS])
def test_every_pillow_mode_reads_the_digit(digits, tmp_path, mode, suffix):
    for i, digit in enumerate(digits[0][:4]):
        path = tmp_path / f"{i}.{suffix}"
        image = scan(digit, mode)
        image.save(path)
        with Image.open(path) as saved:
            assert saved.mode.startswith(mode[0]), saved.mode  # the file really is that mode
        assert similarity(read_image(path), digit) > 0.85, (mode, i)


def test_multi_frame_files_read_their_first_frame(digits, tmp_path):
    first, second = digits[0][0], digits[0][1]
    for suffix in ("gif", "tiff"):
        path = tmp_path / f"frames.{suffix}"
        scan(first, "L").save(path, save_all=True, append_images=[scan(second, "L")])
        with Image.open(path) as saved:
            assert saved.n_frames == 2
        assert similarity(read_image(path), first) > 0.85


@pytest.mark.parametrize("side", [3, 6, 12, 2480])
def test_any_size_reads_or_says_why(digits, tmp_path, side):
    """From a few pixels to a full A4 page at 300 dpi with the digit in a corner."""
    digit = digits[0][0]
    if side < 28:
        image = Image.fromarray(digit).resize((side, side), Image.Resampling.BOX)
    else:
        page = np.full((3508, side), 255, np.uint8)
        page[300:580, 200:480] = 255 - np.asarray(Image.fromarray(digit).resize((280, 280)))
        image = Image.fromarray(page)
    image.save(tmp_path / "digit.png")
    try:
        result = read_image(tmp_path / "digit.png")
    except UserError as err:
        assert side < 12 and "no ink found" in str(err)
    else:
        assert result.shape == (1, 28, 28) and result.any()
        if side >= 12:
            assert similarity(result, digit) > 0.7


def test_too_large_or_empty_files_fail_in_one_line(tmp_path, monkeypatch):
    Image.new("L", (200, 200), 255).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # Pillow's limit, scaled down
    with pytest.raises(UserError, match="big.png: too large to read safely"):
        read_image(tmp_path / "big.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(UserError, match="empty.png: not a readable image") as err:
        read_image(tmp_path / "empty.png")
    assert "\n" not in str(err.value)


def test_photos_of_digits_come_out_as_the_digit(mnist):
    """Photo-like images (uneven light, coloured paper and ink, noise, JPEG) of test digits:
    the preprocessed photo looks like the digit it was made from."""
    rng = np.random.default_rng(1)
    picked = rng.choice(len(mnist["y_test"]), 40, replace=False)
    scores = []
    for index in picked:
        digit = mnist["x_test"][index]
        try:
            scores.append(similarity(to_mnist(photo(digit, rng)), to_mnist(Image.fromarray(digit))))
        except UserError:
            scores.append(0.0)
    # blur, JPEG and two resamplings lower the likeness; a wrong crop or polarity drops it to ~0
    assert np.mean(np.array(scores) > 0.5) >= 0.9, sorted(scores)[:8]


def test_predict_prints_each_digit_and_reports_non_images(project, digits, tmp_path):
    images, _ = digits
    files = []
    for i, image in enumerate(images[:3]):
        Image.fromarray(image).save(tmp_path / f"{i}.png")
        on_paper(image).save(tmp_path / f"{i}_paper.jpg", quality=95)
        files += [tmp_path / f"{i}.png", tmp_path / f"{i}_paper.jpg"]
    (tmp_path / "notes.txt").write_text("not an image")
    files.insert(1, tmp_path / "notes.txt")
    Image.new("RGB", (64, 64), "white").save(tmp_path / "blank.png")
    files.append(tmp_path / "blank.png")

    # the small pipeline's detector learnt from 20 non-digits of each kind: it is left out here
    # (no folder, no refusal); the refusal is tested with a real one (test_demo.py)
    command = ["mnist-predict", "--threshold", "0", "--refusal", str(tmp_path / "none"),
               *map(str, files)]  # fmt: skip
    result = run(command, project, check=False)
    assert result.returncode == 1
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2 and errors[0].startswith(f"error: {tmp_path / 'notes.txt'}: not a")
    assert errors[1] == f"error: {tmp_path / 'blank.png'}: no ink found (a blank or uniform image)"
    printed = dict(line.rsplit(": ", 1) for line in result.stdout.strip().splitlines())
    assert len(printed) == 6
    for i in range(3):
        digit, probability = printed[str(tmp_path / f"{i}.png")].split()
        assert digit in "0123456789" and probability.startswith("(") and probability.endswith("%)")
        # the same digit on paper, at another size, gets the same answer
        assert printed[str(tmp_path / f"{i}_paper.jpg")].split()[0] == digit

    # the answers are the exported SavedModel's own on the preprocessed images
    script = (
        "import sys, numpy as np\n"
        "from PIL import Image\n"
        "from mnist_nas.paths import SAVED_MODEL\n"
        "from mnist_nas.serving import load_classifier\n"
        "from mnist_nas.reading.images import to_mnist\n"
        "x = np.stack([to_mnist(Image.open(path)) for path in sys.argv[1:]])\n"
        "print(*load_classifier(SAVED_MODEL)(x).argmax(axis=1))\n"
    )
    images_only = [str(path) for path in files if path.suffix == ".png" or path.suffix == ".jpg"]
    images_only.remove(str(tmp_path / "blank.png"))
    expected = run(["python", "-c", script, *images_only], project).stdout.split()
    assert [printed[path].split()[0] for path in images_only] == expected


def test_a_doubtful_digit_drags_the_number_below_its_threshold(served, doubtful_number):
    """A number the reader sends without a person; the same number with one doubtful digit is
    flagged as a whole (its number-level confidence below the reader's threshold), with that
    digit, and only it, marked; the exit code stays 0."""
    predict = ["mnist-predict", "--model", str(served / "best" / "saved_model"),
               "--reader", str(served / "reader"), "--digits", "10"]  # fmt: skip
    sure, doubtful = (doubtful_number[name] for name in ("sure", "doubtful"))
    result = run([*predict, str(sure), str(doubtful)], REPO)
    (digits, _, verdict), (marked, probabilities, flagged) = map(
        read_line, result.stdout.strip().splitlines()
    )
    threshold = json.loads((served / "reader" / "confidence.json").read_text())["threshold"]
    at = doubtful_number["at"]
    assert digits == doubtful_number["digits"] and verdict.startswith("number ")
    assert float(verdict.split()[1].rstrip("%")) / 100 >= threshold - 0.0005
    assert flagged.startswith("number ") and flagged.endswith("needs a person")
    assert float(flagged.split()[1].rstrip("%")) / 100 < threshold
    assert marked.index("[") == at and marked.count("[") == 1, marked
    assert result.returncode == 0

    # --threshold 0 accepts every number; a reading of another length than expected never
    accepted = run([*predict, "--threshold", "0", str(doubtful)], REPO).stdout
    assert read_line(accepted)[2].startswith("number ") and "needs" not in accepted
    wrong_length = run([*predict[:-1], "9", "--threshold", "0", str(sure)], REPO).stdout
    assert read_line(wrong_length)[2].endswith("needs a person: 10 digits, expected 9")


def test_the_threshold_flag_is_checked(project, tmp_path):
    Image.new("L", (28, 28)).save(tmp_path / "x.png")
    result = run(["mnist-predict", str(tmp_path / "x.png"), "--threshold", "2"],
                 project, check=False)  # fmt: skip
    assert result.returncode == 2 and "--threshold: 2 is not a probability" in result.stderr
