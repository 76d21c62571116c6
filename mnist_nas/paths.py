"""Every path the pipeline reads or writes, named once. dvc.yaml declares the same ones as the
stages' deps and outs (tests/test_dvc_contract.py checks that each stage writes only those)."""

from __future__ import annotations

from pathlib import Path

PARAMS = Path("params.yaml")

# data
BUNDLED = Path("data/mnist.npz")  # the full MNIST, in git: the default source, offline
RAW = Path("data/raw/mnist.npz")  # fetch: the four official arrays, checked
PREPARED = Path("data/prepared")  # prepare: train.npz, val.npz and test.npz, uint8 digits

# models
TRAINED = Path("models/trained")  # <name>/model.keras: every candidate and nas
ENSEMBLE = Path("models/ensemble")  # beside, not inside: it is made from everything in TRAINED
BEST = Path("models/best")  # export: the chosen model, its SavedModel, calibration and card
SAVED_MODEL = BEST / "saved_model"
CALIBRATION_FILE = BEST / "calibration.json"  # the temperature and reject threshold
READER = Path("models/reader")  # digits.keras, pairs.keras, confidence.json: the number reader
REFUSAL = Path("models/refusal")  # what is not a digit: the detector and its threshold
DETECTOR = REFUSAL / "detector.keras"  # stage detector
REFUSAL_THRESHOLD = REFUSAL / "threshold.json"  # stage refusal

# metrics: the declared metrics (headline figures), then tracked tables, plots and timings
METRICS = Path("metrics")
DATA_COUNTS = METRICS / "data.json"  # images per split
DATA_CLASSES = METRICS / "data_classes.csv"  # images per digit and split
NAS = METRICS / "nas"  # metrics.json, trials.csv, time.json
ENSEMBLE_CHOICE = METRICS / "ensemble.json"  # the members and the scores that chose them
EVAL = METRICS / "eval"
ACCURACY = EVAL / "accuracy.json"  # metric: each model's validation and test accuracy
LEADERBOARD = EVAL / "leaderboard.json"  # every score of every model
LATENCY = EVAL / "latency.json"  # timings: a plain output, never a metric
EXPORTED = METRICS / "export.json"  # metric: the exported model, its test accuracy and ECE
CALIBRATION = METRICS / "calibration"  # calibration.json, reliability/{raw,calibrated}.csv
READER_SCORES = METRICS / "reader.json"  # metric: the reader's pieces and validation numbers
REFUSAL_SCORES = METRICS / "refusal.json"  # metric: the detector on validation material
NUMBERS = METRICS / "numbers"  # summary.json (metric), details.json, risk_coverage.csv,
# nondigits.json (metric) and nondigits.csv: the refusal on the report's non-digits
FIGURES = METRICS / "figures"

# studies (run on demand, never by the default `dvc repro`): what each declares, the transfer
# study's pipeline and its outputs (small, kept in git), and every study's table and figure
STUDIES = Path("studies")
DECLARATIONS = STUDIES / "studies.yaml"
TRANSFER = STUDIES / "transfer"
TRANSFER_BASE = TRANSFER / "base.keras"  # digits 0-4; base.json: its validation score
TRANSFER_RUN = TRANSFER / "run"  # DVCLive's metrics.json and plots/, time.json
STUDY_RESULTS = METRICS / "studies"  # <name>.csv and <name>.png

# resume state of interrupted runs: outside every DVC output, so DVC's clean-up keeps it
RESUME = Path(".dvc/tmp")
WRITES = RESUME / "writes"  # where mnist_nas.files.atomic_path prepares each output


def split_file(name: str) -> Path:
    """A prepared split: "train", "val" or "test"."""
    return PREPARED / f"{name}.npz"


def model_file(name: str) -> Path:
    """Where the model `name` (a candidate, "nas" or "ensemble") is saved."""
    return (ENSEMBLE if name == "ensemble" else TRAINED / name) / "model.keras"


def train_metrics(name: str) -> Path:
    """A candidate's training record: DVCLive's metrics.json and plots/, and time.json."""
    return METRICS / "train" / name
