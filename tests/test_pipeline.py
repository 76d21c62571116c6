"""A real `dvc repro` of the pipeline in a temporary git repository."""

import json
import re
from pathlib import Path

import yaml
from conftest import run, stale_stages

from mnist_nas.reading.nondigits import KINDS


def edit_params(root, section, key, value):
    path = root / "params.yaml"
    params = yaml.safe_load(path.read_text())
    (params[section] if section else params)[key] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def test_repro_outputs_and_clean_status(project):
    assert (project / "data" / "raw" / "mnist.npz").is_file()
    for name in ("train", "val", "test"):
        assert (project / "data" / "prepared" / f"{name}.npz").is_file()
    assert json.loads((project / "metrics" / "data.json").read_text())["val"] == 200
    for name in ("mlp", "convnet", "deep_convnet", "nas"):
        assert (project / "models" / "trained" / name / "model.keras").is_file()
    assert (project / "models" / "ensemble" / "model.keras").is_file()
    assert (project / "models" / "best" / "saved_model" / "saved_model.pb").is_file()
    for name in ("train/mlp", "train/convnet", "train/deep_convnet", "nas"):
        assert (project / "metrics" / name / "metrics.json").is_file()
    assert "Data and pipelines are up to date" in run(["dvc", "status"], project).stdout
    assert stale_stages(project) == set()
    assert "data/raw" not in run(["git", "status", "--porcelain"], project).stdout


def test_no_stage_logs_a_tensorflow_error(project):
    """TensorFlow's C++ log lines ("2026-12-04 21:30:00.637257: E tensorflow/...") of level E:
    a user reads them as something broken. Under op determinism, a fit or predict fed numpy
    arrays with a partial last batch logged one; the small run has partial batches everywhere."""
    log = (project / ".dvc" / "tmp" / "repro.log").read_text()
    assert "Running stage 'nas'" in log and "Running stage 'reader'" in log
    errors = re.findall(r"^.*\d: [EF] \S+\.cc:\d+\].*$", log, re.MULTILINE)
    assert errors == [], errors[:3]


TRAIN = {"train@mlp", "train@convnet", "train@deep_convnet"}


def test_each_change_reruns_only_what_it_affects(project):
    backup = (project / "params.yaml").read_text()
    try:
        # export is stale with any model's params: its model card records the chosen one's
        edit_params(project, "deep_convnet", "dropout", 0.25)
        assert stale_stages(project) == {"train@deep_convnet", "export"}
        edit_params(project, "mlp", "lr", 0.01)  # an override of its own
        assert stale_stages(project) == {"train@deep_convnet", "train@mlp", "export"}
        (project / "params.yaml").write_text(backup)
        edit_params(project, None, "lr", 0.0003)
        assert stale_stages(project) == TRAIN | {"export"}
        (project / "params.yaml").write_text(backup)
        # the training stages change backend; the stages after them read .keras files on TF
        edit_params(project, "train", "backend", "jax")
        assert stale_stages(project) == TRAIN | {"nas", "reader", "detector", "export"}
        (project / "params.yaml").write_text(backup)
        edit_params(project, "train", "mixed_precision", False)  # the detector's too
        assert stale_stages(project) == TRAIN | {"nas", "detector", "export"}
        (project / "params.yaml").write_text(backup)
        # the report's non-digits are read by numbers alone: no threshold or model is chosen anew
        edit_params(project, "numbers", "nondigits", 4)
        assert stale_stages(project) == {"numbers"}
        edit_params(project, "refusal", "max_sent", 0.05)
        assert stale_stages(project) == {"refusal", "numbers"}
        edit_params(project, "refusal", "epochs", 2)  # the detector's material is not redrawn
        assert stale_stages(project) == {"detector", "refusal", "numbers"}
        (project / "params.yaml").write_text(backup)
        edit_params(project, "refusal", "val_nondigits", 4)
        assert stale_stages(project) == {"material@choose"}
        edit_params(project, "refusal", "nondigits", 4)
        assert stale_stages(project) == {"material@choose", "material@fit"}
        (project / "params.yaml").write_text(backup)
        edit_params(project, "nas", "max_trials", 2)
        assert stale_stages(project) == {"nas", "export"}
        edit_params(project, "ensemble", "max_members", 2)
        assert stale_stages(project) == {"nas", "ensemble", "export"}
        edit_params(project, "export", "select_by", "val_accuracy")
        assert stale_stages(project) == {"nas", "ensemble", "export"}
        edit_params(project, "numbers", "count", 12)
        assert stale_stages(project) == {"nas", "ensemble", "export", "numbers"}
        (project / "params.yaml").write_text(backup)
        edit_params(project, "export", "max_wrong_accepted", 0.01)
        assert stale_stages(project) == {"export"}
        (project / "params.yaml").write_text(backup)
        edit_params(project, "prepare", "val_fraction", 0.2)
        assert stale_stages(project) == {"prepare"}
        edit_params(project, "data", "verify_hashes", False)
        assert stale_stages(project) == {"fetch", "prepare"}
    finally:
        (project / "params.yaml").write_text(backup)
    assert stale_stages(project) == set()


def test_every_file_the_stages_write_is_a_declared_output(project):
    """Nothing under metrics/ or models/ escapes DVC: each file lies in a declared output,
    metric or plot; the declared metrics are the few headline figures, never a timing."""
    from dvc.repo import Repo

    with Repo(str(project)) as repo:
        outs = {Path(out.fs_path).relative_to(project): out for stage in repo.index.stages
                for out in stage.outs}  # fmt: skip
    written = [path.relative_to(project) for folder in ("metrics", "models")
               for path in (project / folder).rglob("*")
               if path.is_file() and path.name != ".gitignore"]  # fmt: skip
    for path in written:
        assert any(path == out or out in path.parents for out in outs), path
    kinds = {path: ("metric" if out.metric else "plot" if out.plot else "out")
             for path, out in outs.items()}  # fmt: skip
    studies = {path for path, out in outs.items() if path.parts[0] == "studies"}
    kinds = {path: kind for path, kind in kinds.items() if path not in studies}
    # the default pipeline's metrics are the headline figures and each fit's summary (what
    # an experiment that retrains one model shows in `dvc exp show`), and only those: timings
    # and tables are plain outs (the studies' pipeline has its own, studies/transfer/...)
    assert {path for path, kind in kinds.items() if kind == "metric"} == {
        Path("metrics/eval/accuracy.json"), Path("metrics/export.json"),
        Path("metrics/reader.json"), Path("metrics/numbers/summary.json"),
        Path("metrics/refusal.json"), Path("metrics/numbers/nondigits.json"),
        Path("metrics/nas/metrics.json"),
        *(Path(f"metrics/train/{name}/metrics.json") for name in ("mlp", "convnet",
                                                                  "deep_convnet")),
    }  # fmt: skip
    for timings in ("metrics/eval/latency.json", "metrics/nas/time.json",
                    "metrics/train/mlp/time.json"):  # fmt: skip
        assert kinds[Path(timings)] == "out"
    assert kinds[Path("metrics/numbers/risk_coverage.csv")] == "plot"
    assert kinds[Path("metrics/numbers/nondigits.csv")] == "plot"
    assert kinds[Path("metrics/calibration/reliability")] == "plot"
    numbers = {p.name for p in written if p.parent == Path("metrics/numbers")}
    assert numbers == {"summary.json", "details.json", "risk_coverage.csv", "nondigits.json",
                       "nondigits.csv"}  # fmt: skip
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], project).stdout)
    metrics = shown[""]["data"]
    assert set(metrics["metrics/eval/accuracy.json"]["data"]) == {
        "mlp", "convnet", "deep_convnet", "nas", "ensemble"
    }  # fmt: skip
    assert set(metrics["metrics/export.json"]["data"]) == {"exported", "test_accuracy", "test_ece"}
    assert set(metrics["metrics/numbers/summary.json"]["data"]["touching"]) == {
        "read", "sent", "wrong_sent"
    }  # fmt: skip
    assert set(metrics["metrics/reader.json"]["data"]) == {"digits", "pairs", "validation_numbers"}
    refusal = metrics["metrics/numbers/nondigits.json"]["data"]
    assert set(refusal["nondigits_sent_by_kind"]) == set(KINDS)
    assert 0 <= refusal["digits_accepted"] <= refusal["digits_accepted_without_refusal"] <= 1
