"""Pipeline overhead: the convnet trained by the train stage versus a bare Keras script.

    python bench/train_overhead.py [--epochs 3] [--repeats 1]

Both run in fresh processes on the same prepared full MNIST split (54k train, 6k val), the
same model, optimizer settings, batch size and epochs; each time covers the whole process
(TensorFlow start-up, data loading, training with validation, saving the model). Prints both
wall times, their ratio (goal <= 1.05) and training images per second.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]

BARE_SCRIPT = """
import sys, time, numpy as np, keras
from keras import layers
epochs, lr, batch_size = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
keras.utils.set_random_seed(0)
with np.load("data/prepared/train.npz") as d: x, y = d["x"], d["y"]
with np.load("data/prepared/val.npz") as d: xv, yv = d["x"], d["y"]
x = x.astype("float32")[..., None] / 255
xv = xv.astype("float32")[..., None] / 255
model = keras.Sequential([
    keras.Input((28, 28, 1)),
    layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
    layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(),
    layers.Flatten(), layers.Dropout(0.5),
    layers.Dense(128, activation="relu"), layers.Dropout(0.5),
    layers.Dense(10, activation="softmax"),
])
model.compile(
    optimizer=keras.optimizers.Adam(lr),
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
start = time.perf_counter()
model.fit(x, y, batch_size=batch_size, epochs=epochs, validation_data=(xv, yv), verbose=2)
print("FIT_SECONDS", time.perf_counter() - start)
model.save("bare.keras")
"""


def timed(cmd: list[str], cwd: Path) -> float:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="train-overhead-"))
    try:
        shutil.copytree(REPO / "stages", work / "stages")
        (work / "data").mkdir()
        shutil.copy(REPO / "data" / "mnist.npz", work / "data")
        params = yaml.safe_load((REPO / "params.yaml").read_text())
        params.update(epochs=args.epochs, models=["convnet"])
        params["data"]["limit"] = None
        params["train"].update(lr_schedule="constant", patience=args.epochs + 1)
        params["convnet"].update(
            lr=None, epochs=None, batch_size=None, filters=[32, 64], dense_units=128, dropout=0.5
        )
        (work / "params.yaml").write_text(yaml.safe_dump(params))
        (work / "bare.py").write_text(BARE_SCRIPT)
        for stage in ("fetch", "prepare"):
            timed([sys.executable, "-m", f"stages.{stage}"], work)

        stage_times, bare_times = [], []
        bare_cmd = [sys.executable, "bare.py", str(args.epochs), str(params["lr"])]
        for _ in range(args.repeats):
            stage_times.append(timed([sys.executable, "-m", "stages.train", "convnet"], work))
            bare_times.append(timed([*bare_cmd, str(params["batch_size"])], work))
        stage_s, bare_s = statistics.median(stage_times), statistics.median(bare_times)
        fit = json.loads((work / "metrics/train/convnet/time.json").read_text())
    finally:
        shutil.rmtree(work, ignore_errors=True)

    images = 54000 * args.epochs
    print(f"convnet, {args.epochs} epochs on 54,000 images, median of {args.repeats} run(s):")
    print(f"  train stage   {stage_s:7.1f} s  ({images / stage_s:,.0f} images/s end to end)")
    print(f"  bare Keras    {bare_s:7.1f} s  ({images / bare_s:,.0f} images/s end to end)")
    print(f"  ratio stage/bare: {stage_s / bare_s:.3f}  (goal <= 1.05)")
    print(f"  stage fit alone: {fit['wall_time_s']} s, {fit['train_images_per_s']:,} images/s")
    print(
        f"reproduce: python bench/train_overhead.py --epochs {args.epochs} --repeats {args.repeats}"
    )


if __name__ == "__main__":
    main()
