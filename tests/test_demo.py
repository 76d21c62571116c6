"""The demo page and its API, served for real on a loopback port: a headless Chromium (Debian's,
driven by Playwright) draws and uploads; programs post image bytes; a bounded load test."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import BIN, REPO, free_port, read_line, run
from PIL import Image
from skimage.morphology import skeletonize

from mnist_nas.programs.demo import answer_html
from mnist_nas.reading.images import Reading
from mnist_nas.reading.synthetic import number_image

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    not CHROMIUM and not os.environ.get("CI"), reason="needs Debian's chromium (CI installs it)"
)


@pytest.fixture(scope="module")
def exported(served) -> Path:
    """models/best as `export` writes it, for the small convnet (conftest's `served`)."""
    return served / "best"


@pytest.fixture(scope="module")
def server(exported, tmp_path_factory):
    """`python -m stages.demo` on a free loopback port: (its URL, its process)."""
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "GRADIO_TEMP_DIR": str(tmp_path_factory.mktemp("gradio")),
    }
    command = [str(BIN / "mnist-demo"), "--model", str(exported / "saved_model"),
               "--reader", str(exported.parent / "reader"),
               "--refusal", str(exported.parent / "refusal"), "--port", str(port)]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(url, timeout=5).close()
            break
        except OSError:
            assert process.poll() is None, f"the demo exited with {process.returncode}"
            assert time.monotonic() < deadline, "the demo did not answer in 180 s"
            time.sleep(0.5)
    yield url, process
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def sure_digits(mnist, small_convnet) -> tuple[np.ndarray, np.ndarray]:
    """Test digits the model reads right with a probability over 0.99, one of each class per
    row of 10, so that a page or API error cannot hide behind the model's own."""
    x, y = mnist["x_test"][:2000], mnist["y_test"][:2000]
    probs = small_convnet.predict(x, verbose=0)
    sure = (probs.argmax(1) == y) & (probs.max(1) > 0.99)
    return x[sure], y[sure]


@pytest.fixture(scope="module")
def number_files(sure_digits, tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """A 10-digit number as PNG and as JPEG, and a single digit: {name: (file, its digits)}."""
    x, y = sure_digits
    rng = np.random.default_rng(7)
    picked = [rng.choice(np.flatnonzero(y == digit)) for digit in rng.permutation(10)]
    folder = tmp_path_factory.mktemp("numbers")
    image = number_image(list(x[picked]), touching=False, rng=rng)
    digits = "".join(str(y[i]) for i in picked)
    image.save(folder / "number.png")
    image.save(folder / "number.jpg", quality=90)
    Image.fromarray(255 - x[picked[0]]).resize((140, 140)).save(folder / "digit.png")
    return {
        "number.png": (folder / "number.png", digits),
        "number.jpg": (folder / "number.jpg", digits),
        "digit.png": (folder / "digit.png", digits[0]),
    }


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """A 50 kB PNG of 400 million pixels: a decompression bomb, past Pillow's limit."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    Image.new("1", (20_000, 20_000), 1).save(path)
    return path


def post(url: str, body: bytes, query: str = "") -> tuple[int, dict]:
    request = urllib.request.Request(f"{url}/api/read{query}", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def strokes_of(digit: np.ndarray) -> list[list[tuple[int, int]]]:
    """The pen strokes that draw a digit: its skeleton, traced as polylines of (x, y) pixels."""
    points = {(int(y), int(x)) for y, x in zip(*np.nonzero(skeletonize(digit > 96)), strict=True)}

    def neighbours(p):
        return [(p[0] + dy, p[1] + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                if (dy or dx) and (p[0] + dy, p[1] + dx) in points]  # fmt: skip

    edges = {frozenset((p, q)) for p in points for q in neighbours(p)}
    lines = []
    while edges:
        ends = [p for p in points if sum(frozenset((p, q)) in edges for q in neighbours(p)) == 1]
        line = [min(ends) if ends else min(next(iter(edges)))]
        while step := [q for q in neighbours(line[-1]) if frozenset((line[-1], q)) in edges]:
            edges.discard(frozenset((line[-1], step[0])))
            line.append(step[0])
        lines.append([(x, y) for y, x in line])
    return lines


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert CHROMIUM, "chromium is not installed"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    """The demo page, loaded; every host it sends a request to is collected in page.hosts."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.hosts = set()
    page.on("request", lambda request: page.hosts.add(request.url.split("/")[2]))
    page.goto(server[0])
    page.locator("#drawing canvas").first.wait_for(timeout=60_000)
    yield page
    page.close()


def answer_of(page) -> str:
    """The digit string the page shows, once it shows one (doubtful digits unbracketed)."""
    page.wait_for_selector("#digits", timeout=60_000)
    return re.sub(r"[\[\]]", "", page.inner_text("#digits"))


def shows_error(page, text: str) -> bool:
    """Whether the page shows an error message (Gradio's toast) with this text, within 60 s."""
    page.locator(".toast-body").filter(has_text=text).first.wait_for(timeout=60_000)
    return True


def not_blank(page, path: Path) -> None:
    page.screenshot(path=path, full_page=True)
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 20, "the screenshot is blank"


def test_a_digit_drawn_on_the_canvas_is_read(page, sure_digits, served, tmp_path):
    """A real test digit, drawn with the mouse as strokes along its skeleton."""
    x, y = sure_digits
    digit, label = x[0], y[0]
    page.get_by_role("button", name="Brush").click()
    box = page.locator("#drawing canvas").first.bounding_box()
    centre_x, centre_y, scale = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, 6
    for line in strokes_of(digit):
        points = [(centre_x + (px - 14) * scale, centre_y + (py - 14) * scale) for px, py in line]
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point, steps=2)
        page.mouse.up()
    page.get_by_role("button", name="Read the drawing").click()
    assert answer_of(page) == str(label)
    page.locator("#saliency img").wait_for(timeout=30_000)  # the integrated-gradients map
    assert "small_convnet" in page.inner_text("body")  # which model answered
    sha256 = hashlib.sha256((served / "best" / "model.keras").read_bytes()).hexdigest()
    assert sha256[:12] in page.inner_text("body")  # which file: its sha256, from best.json
    not_blank(page, tmp_path / "drawn.png")
    assert page.hosts == {server_host(page)}, f"the page called out: {page.hosts}"


def server_host(page) -> str:
    return page.url.split("/")[2]


def test_an_uploaded_number_is_read_with_a_chart(page, number_files, tmp_path):
    path, digits = number_files["number.png"]
    page.get_by_role("tab", name="Upload").click()
    page.locator("#upload input[type=file]").set_input_files(path)
    page.get_by_role("button", name="Read the upload").click()
    assert answer_of(page) == digits
    page.locator("#chart img").wait_for(timeout=30_000)  # the probability chart
    assert page.locator("#saliency img").count() == 0  # only for a single digit
    not_blank(page, tmp_path / "uploaded.png")
    assert page.hosts == {server_host(page)}, f"the page called out: {page.hosts}"


def test_bad_input_gets_a_message_and_the_page_keeps_serving(page, number_files, bomb, tmp_path):
    """An empty canvas, a file that is not an image, one over the upload limit, a decompression
    bomb: each a message in the page; then a number still reads."""
    page.get_by_role("button", name="Read the drawing").click()
    assert shows_error(page, "The canvas is empty: draw a digit first.")
    page.get_by_role("tab", name="Upload").click()
    (tmp_path / "notes.png").write_text("a shopping list, not an image")
    page.locator("#upload input[type=file]").set_input_files(tmp_path / "notes.png")
    page.get_by_role("button", name="Read the upload").click()
    assert shows_error(page, "notes.png: not a readable image (no image format Pillow knows)")
    clear = page.locator("#upload").get_by_role("button", name="Clear")
    clear.click()
    (tmp_path / "huge.png").write_bytes(b"\0" * (21 * 2**20))  # over the 20 MB upload limit
    page.locator("#upload input[type=file]").set_input_files(tmp_path / "huge.png")
    assert shows_error(page, 'exceed the maximum allowed size of 20.0 Mb: "huge.png"')
    page.locator("#upload input[type=file]").set_input_files(bomb)
    page.get_by_role("button", name="Read the upload").click()
    assert shows_error(page, "bomb.png: too large to read safely")
    path, digits = number_files["number.jpg"]
    clear.click()
    page.locator("#upload input[type=file]").set_input_files(path)
    page.get_by_role("button", name="Read the upload").click()
    assert answer_of(page) == digits


def test_the_api_answers_as_predict_does(server, exported, number_files):
    """The same files through `python -m stages.predict` and POST /api/read: same digits,
    same probabilities (to the 0.1% predict prints), same flags."""
    url, _ = server
    files = [path for path, _ in number_files.values()]
    command = ["mnist-predict", *served_by(exported), *files]
    lines = run(command, REPO).stdout.strip().splitlines()
    for (path, digits), line in zip(number_files.values(), lines, strict=True):
        printed, probabilities, verdict = read_line(line)
        status, answer = post(url, path.read_bytes())
        assert status == 200, answer
        assert answer["digits"] == digits == printed.replace("[", "").replace("]", "")
        assert np.allclose(answer["probabilities"], probabilities, atol=0.0005 + 1e-9)
        assert answer["needs_person"] == verdict.endswith("needs a person")
        if answer["number_confidence"] is None:  # a digit alone: judged by the digit threshold
            doubtful = [p < answer["threshold"] for p in answer["probabilities"]]
            assert answer["doubtful"] == doubtful
        else:
            assert answer["needs_person"] == (
                answer["number_confidence"] < answer["number_threshold"]
            )
        assert answer["model"]["name"] == "small_convnet"
    status, answer = post(url, files[0].read_bytes(), "?digits=9")
    assert (status, answer["needs_person"], answer["expected_digits"]) == (200, True, 9)


def served_by(exported: Path) -> list[str]:
    """mnist-predict's flags for the models the demo serves."""
    return ["--model", str(exported / "saved_model"), "--reader", str(exported.parent / "reader"),
            "--refusal", str(exported.parent / "refusal")]  # fmt: skip


def nondigit_files(folder: Path) -> list[Path]:
    """Images no one would read as a digit, made here as a user would: a printed A, K and #,
    200x200 random pixels, paper with 3% ink specks, a thick horizontal dash."""
    import matplotlib
    from PIL import ImageDraw, ImageFont

    rng = np.random.default_rng(3)
    fonts = Path(matplotlib.get_data_path(), "fonts", "ttf")
    made = {}
    for name, text, face in (("A", "A", "DejaVuSans.ttf"), ("K", "K", "DejaVuSerif-Bold.ttf"),
                             ("hash", "#", "DejaVuSans.ttf")):  # fmt: skip
        made[name] = Image.new("L", (160, 160), 255)
        font = ImageFont.truetype(str(fonts / face), 110)
        ImageDraw.Draw(made[name]).text((80, 80), text, fill=0, font=font, anchor="mm")
    made["noise"] = Image.fromarray(rng.integers(0, 256, (200, 200), dtype=np.uint8))
    made["specks"] = Image.fromarray(np.where(rng.uniform(size=(200, 200)) < 0.03, 0, 255)
                                     .astype(np.uint8))  # fmt: skip
    made["dash"] = Image.new("L", (160, 160), 255)
    ImageDraw.Draw(made["dash"]).rectangle((30, 70, 130, 90), fill=0)
    for name, image in made.items():
        image.save(folder / f"{name}.png")
    return [folder / f"{name}.png" for name in made]


def test_what_is_not_a_digit_is_refused_by_predict_and_the_api(
    server, exported, sure_digits, tmp_path
):
    """A letter, a symbol, noise, specks and a dash: `not a digit` from mnist-predict (exit
    code 0: reading succeeded) and `not_a_digit` from the API; a sure test digit of each class
    is read by both, not refused."""
    url, _ = server
    refused = nondigit_files(tmp_path)
    x, y = sure_digits
    digits = []
    for digit in range(10):
        digits.append(tmp_path / f"digit{digit}.png")
        Image.fromarray(255 - x[np.flatnonzero(y == digit)[0]]).resize((140, 140)).save(digits[-1])
    result = run(["mnist-predict", *served_by(exported), *map(str, refused + digits)], REPO)
    lines = dict(line.split(": ", 1) for line in result.stdout.strip().splitlines())
    for path in refused:
        assert lines[str(path)].startswith("not a digit ("), (path.name, lines[str(path)])
        status, answer = post(url, path.read_bytes())
        assert status == 200 and answer["not_a_digit"] and answer["needs_person"], answer
        assert answer["verdict"].startswith("not a digit")
        assert answer["not_digit_probability"] >= answer["refusal_threshold"]
    for digit, path in enumerate(digits):
        assert lines[str(path)].startswith(str(digit)), (path.name, lines[str(path)])
        status, answer = post(url, path.read_bytes())
        assert status == 200 and not answer["not_a_digit"] and answer["digits"] == str(digit)
    assert result.returncode == 0


def test_the_page_shows_only_the_verdict_for_what_is_not_a_digit():
    refused = Reading("4", [0.99], [False], not_digit=0.97, refusal_threshold=0.5)
    verdict = "Not a digit (97.0%): a person must look at it."
    assert answer_html(refused) == f'<div id="digits">?</div><p id="verdict">{verdict}</p>'
    read = Reading("4", [0.99], [False], not_digit=0.01, refusal_threshold=0.5)
    assert answer_html(read).startswith('<div id="digits">4</div>')


def test_the_api_flags_a_number_with_one_doubtful_digit(server, doubtful_number):
    """The API answers as predict does for a number dragged below its threshold by one digit:
    flagged, that digit marked, the number's confidence and threshold given."""
    url, _ = server
    status, sure = post(url, doubtful_number["sure"].read_bytes(), "?digits=10")
    assert status == 200 and sure["digits"] == doubtful_number["digits"], sure
    assert not sure["needs_person"] and not any(sure["doubtful"])
    assert sure["number_confidence"] >= sure["number_threshold"]
    status, answer = post(url, doubtful_number["doubtful"].read_bytes(), "?digits=10")
    assert status == 200 and answer["needs_person"], answer
    assert answer["number_confidence"] < answer["number_threshold"]
    assert answer["doubtful"] == [i == doubtful_number["at"] for i in range(10)]


@pytest.mark.parametrize(
    ("body", "query", "status", "message"),
    [
        (b"not an image", "", 400, "request body: not a readable image"),
        (b"", "", 400, "request body: empty"),
        (b"\0" * (20 * 2**20 + 1), "", 413, "more than 20 MB"),
        ("bomb", "", 400, "request body: too large to read safely"),
        (None, "?digits=0", 400, "digits: 0 is not between 1 and 40"),
        (None, "?digits=ten", 422, "digits"),
    ],
)
def test_bad_requests_get_one_clear_error(server, number_files, bomb, body, query, status, message):
    url, process = server
    if body is None:
        body = number_files["digit.png"][0].read_bytes()
    elif body == "bomb":
        body = bomb.read_bytes()
    got, answer = post(url, body, query)
    assert got == status
    assert message in json.dumps(answer)
    assert process.poll() is None
    assert post(url, number_files["digit.png"][0].read_bytes())[0] == 200  # still serving


def test_a_busy_port_or_a_missing_model_is_one_line(server, tmp_path):
    from mnist_nas.errors import UserError
    from mnist_nas.programs.demo import check_port

    port = int(server[0].rsplit(":", 1)[1])
    with pytest.raises(UserError, match=f"--port {port}: cannot serve on 127.0.0.1:{port}"):
        check_port("127.0.0.1", port)
    result = run(["mnist-demo", "--model", str(tmp_path / "saved_model")],
                 REPO, check=False)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'saved_model'}: no exported model here; run `dvc repro export` first"
    ]


def resident_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status)[1]) / 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")
def test_bounded_load_on_loopback(server, number_files):
    """4 clients, 240 requests in all (a third 10-digit numbers): no errors, p50/p99 printed,
    the server's resident memory flat between the first and the last 120 requests."""
    url, process = server
    bodies = [path.read_bytes() for path, _ in number_files.values()]

    def timed(i: int) -> tuple[float, int]:
        start = time.perf_counter()
        status, _ = post(url, bodies[i % len(bodies)])
        return time.perf_counter() - start, status

    def burst(count: int) -> list[tuple[float, int]]:
        with ThreadPoolExecutor(max_workers=4) as clients:
            return list(clients.map(timed, range(count)))

    burst(120)  # warm-up: TensorFlow's and the allocator's first-call costs
    before, start = resident_mb(process.pid), time.perf_counter()
    results = burst(120)
    after, seconds = resident_mb(process.pid), time.perf_counter() - start
    latencies = np.array([seconds for seconds, _ in results]) * 1000
    assert [status for _, status in results] == [200] * 120
    print(
        f"\nload: 4 clients, 240 requests, {120 / seconds:.1f} requests/s, "
        f"p50 {np.percentile(latencies, 50):.0f} ms, "
        f"p99 {np.percentile(latencies, 99):.0f} ms; server RSS {before:.0f} -> {after:.0f} MB"
    )
    assert after - before < 0.05 * before, f"server RSS grew {before:.0f} -> {after:.0f} MB"
