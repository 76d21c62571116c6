"""mnist-demo: a page to try the exported model, and a JSON API beside it (make demo; PORT=).

Draw a digit or a row of them, or upload a photo or scan: the page shows the digits read, each
one's calibrated probability, the doubtful ones marked and whether the reading needs a person,
exactly as `mnist-predict` reads the same image; for a single digit, also the
integrated-gradients map of what the model looked at. Programs POST the bytes of a PNG or JPEG
(any image Pillow reads) to /api/read and get the same reading as JSON.

It serves on 127.0.0.1 and works offline: Gradio's analytics and run history are off, nothing
is fetched from a hub, and the page's scripts and fonts come from the installed package.
"""

from __future__ import annotations

import os

# Before Gradio and huggingface_hub are imported: they read these at import time.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import html
import io
import json
import socket
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np
import uvicorn
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from matplotlib import colormaps
from matplotlib.figure import Figure

from mnist_nas import paths
from mnist_nas.cli import cli, parser
from mnist_nas.errors import UserError
from mnist_nas.files import load_model
from mnist_nas.programs import model_folders
from mnist_nas.reading.images import Reading, open_image, read_image
from mnist_nas.reading.refusal import Refusal, judge
from mnist_nas.reading.refusal import load as load_refusal
from mnist_nas.serving import load_classifier, reject_threshold

MAX_UPLOAD_MB = 20  # a phone photo is a few MB; Pillow's pixel limit guards against bombs
SHOWN_SIDE = 112  # pixels a side for each 28x28 digit the page shows


@dataclass
class Served:
    """The exported model with what the page and the API need to answer: the calibrated
    classifier, its reject threshold, the Keras model (for integrated gradients), best.json."""

    classify: object
    threshold: float
    keras_model: object
    model: dict
    numbers: object = None  # the number reader (models/reader), when it is there
    refusal: Refusal | None = None  # the non-digit detector (models/refusal), when it is there

    @classmethod
    def load(
        cls, saved_model: Path, number_reader: Path = paths.READER, refusal: Path = paths.REFUSAL
    ) -> Served:
        folder = saved_model.parent
        classify = load_classifier(saved_model)
        try:
            best = json.loads((folder / "best.json").read_text())
            model = {"name": best["model"], "test_accuracy": best["test_accuracy"],
                     "sha256": best["sha256"]}  # fmt: skip
        except (OSError, ValueError, KeyError) as err:
            message = f"{folder / 'best.json'}: unreadable ({err}); run `dvc repro export`"
            raise UserError(message) from None
        keras_model = load_model(folder / "model.keras")
        numbers = None
        if (number_reader / "confidence.json").is_file():
            from mnist_nas.reading import number

            numbers = number.load(number_reader, saved_model, refusal)
        detector = numbers.refusal if numbers else load_refusal(refusal)
        return cls(classify, reject_threshold(saved_model), keras_model, model, numbers, detector)

    def read(self, source, digits: int | None = None, name: str | None = None):
        """The Reading of an image (a path or an open binary file) and the 28x28 frames read:
        by the number reader when there is one (predict's path), else the exported model."""
        if self.numbers is not None:
            reading, frames = open_image(source, lambda im: self.numbers.read(im, digits), name)
            return reading, np.stack(frames)
        frames = read_image(source, self.classify, digits, name)
        probs = self.classify(frames)
        return Reading.of(probs, self.threshold, digits, **judge(self.refusal, frames)), frames

    def as_json(self, reading: Reading) -> dict:
        return {
            "digits": reading.digits,
            "probabilities": reading.probabilities,
            "doubtful": reading.doubtful,
            "needs_person": reading.needs_person,
            "expected_digits": reading.expected,
            "threshold": self.threshold,
            "number_confidence": reading.confidence,
            "number_threshold": reading.number_threshold,
            "not_a_digit": reading.refused,
            "not_digit_probability": reading.not_digit,
            "refusal_threshold": reading.refusal_threshold,
            "verdict": reading.verdict,
            "model": self.model,
        }

    def attribution(self, frame: np.ndarray, digit: int) -> np.ndarray:
        """Integrated gradients of the digit's class over the frame, as an RGB image: red
        pixels raised the class, blue lowered it."""
        from mnist_nas.scoring.attributions import integrated_gradients

        attribution = integrated_gradients(self.keras_model, frame[None], np.array([digit]))[0]
        limit = np.abs(attribution).max() or 1.0
        rgb = colormaps["RdBu_r"](0.5 + attribution / (2 * limit))[..., :3]
        return enlarge((rgb * 255).astype(np.uint8))


def enlarge(image: np.ndarray) -> np.ndarray:
    """A 28x28 image at SHOWN_SIDE pixels a side, pixels kept square and sharp."""
    factor = SHOWN_SIDE // 28
    return image.repeat(factor, axis=0).repeat(factor, axis=1)


def short(sha256: str) -> str:
    """A file's sha256 as people compare it: its first 12 hex digits."""
    return sha256[:12]


def answer_html(reading: Reading) -> str:
    """The digit string, doubtful digits [in brackets] and red, and the verdict; for what is
    not a digit, only the verdict."""
    verdict = reading.verdict[0].upper() + reading.verdict[1:] + "."
    if reading.refused:
        return f'<div id="digits">?</div><p id="verdict">{html.escape(verdict)}</p>'
    marks = "".join(
        f'<span class="doubtful" title="{p:.1%}">[{d}]</span>' if doubtful else d
        for d, p, doubtful in zip(
            reading.digits, reading.probabilities, reading.doubtful, strict=True
        )
    )
    percents = " ".join(f"{p:.1%}" for p in reading.probabilities)
    return (
        f'<div id="digits">{marks}</div><p id="probabilities">{percents}</p>'
        f'<p id="verdict">{html.escape(verdict)}</p>'
    )


def probability_chart(reading: Reading, threshold: float) -> Figure:
    """One bar per digit, red when doubtful, and the reject threshold as a dashed line."""
    figure = Figure(figsize=(6, 2.2), layout="constrained")
    ax = figure.subplots()
    colours = ["#d62728" if doubtful else "#3b7dd8" for doubtful in reading.doubtful]
    positions = range(len(reading.digits))
    ax.bar(positions, reading.probabilities, color=colours)
    ax.axhline(threshold, color="black", linestyle="--", linewidth=1, label="reject threshold")
    ax.set_xticks(positions, list(reading.digits))
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    ax.legend(loc="lower right", fontsize=8, framealpha=1)
    return figure


def page(served: Served) -> gr.Blocks:
    """The page: a canvas and an upload on the left, the answer and what the model saw on the
    right."""
    model = served.model
    with gr.Blocks(title="MNIST digit reader", analytics_enabled=False) as blocks:
        gr.Markdown(
            f"# Read handwritten digits\nModel `{model['name']}`, test accuracy "
            f"{model['test_accuracy']:.2%}, model.keras sha256 `{short(model['sha256'])}` "
            f"(models/best/MODEL_CARD.md). Digits below {served.threshold:.1%} probability "
            "are doubtful. Programs: `POST /api/read` with the image's bytes (README)."
        )
        with gr.Row():
            with gr.Column():
                drawing, read_drawing, upload, read_upload, expected = input_column()
            with gr.Column():
                outputs = output_column()
        from_drawing, from_upload = handlers(served)
        read_drawing.click(from_drawing, [drawing, expected], outputs, api_visibility="private")
        read_upload.click(from_upload, [upload, expected], outputs, api_visibility="private")
    return blocks


def input_column() -> tuple:
    """(the canvas, its button, the upload, its button, the digits expected)."""
    with gr.Tab("Draw"):
        drawing = gr.Sketchpad(
            label="Pick the brush (left), then draw one digit or a row of them",
            type="pil",
            image_mode="RGB",
            canvas_size=(840, 280),
            brush=gr.Brush(colors=["#000000"], color_mode="fixed", default_size=9),
            layers=False,
            transforms=(),
            elem_id="drawing",
        )
        read_drawing = gr.Button("Read the drawing", variant="primary")
    with gr.Tab("Upload"):
        upload = gr.File(
            label="A photo or scan (PNG, JPEG, ...)",
            file_types=["image"],
            type="filepath",
            elem_id="upload",
        )
        read_upload = gr.Button("Read the upload", variant="primary")
    expected = gr.Number(
        label="Digits expected (0: any)", value=0, minimum=0, maximum=40, precision=0
    )
    return drawing, read_drawing, upload, read_upload, expected


def output_column() -> list:
    """[the answer, the probability chart, the digits as the model saw them, the saliency]."""
    answer = gr.HTML(label="Answer", elem_id="answer")
    chart = gr.Plot(label="Calibrated probability of each digit", elem_id="chart")
    seen = gr.Image(
        label="What the model read (28x28 each)",
        height=SHOWN_SIDE + 40,
        buttons=["download"],
        elem_id="seen",
    )
    saliency = gr.Image(
        label="Integrated gradients, single digit: red raised the answer",
        height=SHOWN_SIDE + 40,
        buttons=["download"],
        elem_id="saliency",
    )
    return [answer, chart, seen, saliency]


def handlers(served: Served) -> tuple:
    """(read the drawing, read the upload): each gives output_column's four values, or shows
    one line of error on the page."""

    def respond(source, digits, name):
        count = int(digits) if digits else None
        if count is not None and not 1 <= count <= 40:
            raise gr.Error(f"digits expected: {count} is not between 1 and 40")
        try:
            reading, frames = served.read(source, count, name)
        except UserError as err:
            raise gr.Error(str(err), print_exception=False) from None
        chart = probability_chart(reading, served.threshold)
        strip = enlarge(np.concatenate(list(frames), axis=1))
        ig = served.attribution(frames[0], int(reading.digits)) if len(frames) == 1 else None
        return answer_html(reading), chart, strip, ig

    def from_drawing(sketch, digits):
        composite = sketch and sketch.get("composite")
        if composite is None or np.asarray(composite.convert("L")).min() > 200:
            raise gr.Error("The canvas is empty: draw a digit first.", print_exception=False)
        png = io.BytesIO()
        composite.save(png, format="PNG")
        png.seek(0)
        return respond(png, digits, "the drawing")

    def from_upload(path, digits):
        if not path:
            raise gr.Error("No file uploaded yet.", print_exception=False)
        return respond(Path(path), digits, Path(path).name)

    return from_drawing, from_upload


def app(served: Served) -> FastAPI:
    """The page at /, and POST /api/read: image bytes in (?digits=N optional), JSON out."""
    api = FastAPI(title="MNIST digit reader")
    limit = MAX_UPLOAD_MB * 2**20

    @api.post("/api/read")
    async def read(request: Request, digits: int | None = None) -> JSONResponse:
        if digits is not None and not 1 <= digits <= 40:
            return JSONResponse({"error": f"digits: {digits} is not between 1 and 40"}, 400)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                error = f"request body: more than {MAX_UPLOAD_MB} MB"
                return JSONResponse({"error": error}, 413)
        if not body:
            return JSONResponse({"error": "request body: empty; send the image's bytes"}, 400)
        try:
            reading, _ = await run_in_threadpool(
                served.read, io.BytesIO(bytes(body)), digits, "request body"
            )
        except UserError as err:
            return JSONResponse({"error": str(err)}, 400)
        return JSONResponse(served.as_json(reading))

    return gr.mount_gradio_app(
        api,
        page(served),
        path="/",
        max_file_size=f"{MAX_UPLOAD_MB}mb",
        footer_links=["gradio", "settings"],
        run_history=False,
        mcp_server=False,
        ssr_mode=False,
        css="#digits {font: 600 2.4em monospace; letter-spacing: .1em} .doubtful {color: #d62728}",
    )


def check_port(host: str, port: int) -> None:
    """A UserError unless the server can listen there, said before the model is loaded."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as err:
            reason = err.strerror
            raise UserError(f"--port {port}: cannot serve on {host}:{port} ({reason})") from None


@cli
def main(argv: list[str] | None = None) -> None:
    args = parser("mnist-demo", __doc__)
    model_folders(args)
    args.add_argument("--host", default="127.0.0.1", help="address to serve on")
    args.add_argument("--port", type=int, default=7860, help="port to serve on")
    args = args.parse_args(argv)

    check_port(args.host, args.port)
    served = Served.load(args.model, args.reader, args.refusal)
    print(f"demo: {served.model['name']} on http://{args.host}:{args.port}", flush=True)
    uvicorn.run(app(served), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
