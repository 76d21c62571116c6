"""The plot stage's figures, as `dvc plots show` renders them and a browser shows them."""

import os
import shutil
import subprocess

import numpy as np
import pytest
import yaml
from conftest import run, stale_stages
from PIL import Image

FIGURES = [
    "training_curves.png",
    "confusion.png",
    "accuracy_vs_cost.png",
    "errors.png",
    "reliability.png",
    "risk_coverage.png",
    "saliency.png",
    "architecture.png",
]


def test_every_figure_is_drawn(project):
    figures = project / "metrics" / "figures"
    assert sorted(path.name for path in figures.iterdir()) == sorted(FIGURES)
    for name in FIGURES:
        with Image.open(figures / name) as image:
            pixels = np.asarray(image.convert("L"))
        assert min(pixels.shape) > 100, name
        assert pixels.std() > 10, f"{name} is blank"


def test_plot_settings_rerun_only_the_plot_stage(project):
    backup = (project / "params.yaml").read_text()
    try:
        params = yaml.safe_load(backup)
        params["plot"]["dpi"] = 80
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        assert stale_stages(project) == {"plot"}
    finally:
        (project / "params.yaml").write_text(backup)


@pytest.fixture(scope="module")
def plots_html(project, tmp_path_factory):
    out = tmp_path_factory.mktemp("plots")
    run(["dvc", "plots", "show", "-o", str(out)], project)
    return out / "index.html"


def test_dvc_plots_show_renders_every_plot(plots_html):
    html = plots_html.read_text()
    for name in FIGURES:
        assert f"metrics_figures_{name}" in html
        assert (plots_html.parent / "static" / f"workspace_metrics_figures_{name}").is_file()
    for name in ("mlp", "convnet", "deep_convnet", "nas"):
        assert f"metrics/eval/confusion/{name}.csv" in html
    assert "metrics/train/mlp/plots/metrics/eval/accuracy.tsv" in html


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    not CHROMIUM and not os.environ.get("CI"), reason="needs Debian's chromium (CI installs it)"
)
def test_plots_page_renders_in_a_browser(plots_html, tmp_path):
    assert CHROMIUM, "chromium is not installed"
    screenshot = tmp_path / "page.png"
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,2400",
        "--virtual-time-budget=5000", f"--screenshot={screenshot}",
    ]  # fmt: skip
    subprocess.run([CHROMIUM, *flags, plots_html.as_uri()], timeout=120, capture_output=True)
    with Image.open(screenshot) as image:
        pixels = np.asarray(image.convert("L"))
    assert pixels.shape == (2400, 1200)
    assert pixels.std() > 20, "the screenshot is blank"
    assert (pixels < 128).mean() > 0.01, "nothing dark (text, axes, figures) on the page"
