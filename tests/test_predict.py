"""python -m stages.predict on real test digits saved as images, and on a file that is not one."""

import numpy as np
import pytest
from conftest import run
from PIL import Image

from stages.predict import to_mnist


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


def test_blank_image_gives_a_blank_digit():
    assert not to_mnist(Image.new("L", (40, 40), 255)).any()


def test_predict_prints_each_digit_and_reports_non_images(project, digits, tmp_path):
    images, _ = digits
    files = []
    for i, image in enumerate(images[:3]):
        Image.fromarray(image).save(tmp_path / f"{i}.png")
        on_paper(image).save(tmp_path / f"{i}_paper.jpg", quality=95)
        files += [tmp_path / f"{i}.png", tmp_path / f"{i}_paper.jpg"]
    (tmp_path / "notes.txt").write_text("not an image")
    files.insert(1, tmp_path / "notes.txt")

    result = run(["python", "-m", "stages.predict", *map(str, files)], project, check=False)
    assert result.returncode == 1
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith(f"error: {tmp_path / 'notes.txt'}: not a")
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
        "from stages.predict import SAVED_MODEL, load_classifier, to_mnist\n"
        "x = np.stack([to_mnist(Image.open(path)) for path in sys.argv[1:]])\n"
        "print(*load_classifier(SAVED_MODEL)(x).argmax(axis=1))\n"
    )
    images_only = [str(path) for path in files if path.suffix != ".txt"]
    expected = run(["python", "-c", script, *images_only], project).stdout.split()
    assert [printed[path].split()[0] for path in images_only] == expected
