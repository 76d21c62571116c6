"""deep_convnet's training step with its augmentation as one RandomAffine (the project's) or as
Keras' three layers (RandomRotation, RandomTranslation, RandomZoom; before issue 33), on each
Keras backend.

    python bench/augmentation.py [--backends tensorflow jax] [--steps 30] [--rounds 2]
                                  [--timeout 900]

Each (backend, augmentation) runs in a fresh process, alternated over the rounds: deep_convnet
from params.yaml, built and compiled as the train stage does (train.mixed_precision,
train.jit_compile), fits `--steps` batches of real training digits. Reported: the first step
(tracing or compiling included) and the median of the others, in ms, and the mean training
loss over the steps (it falls from about 2.3 as the model learns). A process that has not
ended within `--timeout` seconds is stopped and shown as such, and the others still run: on an
H200 the three Keras layers on JAX once did not finish an epoch in 200 s (bench/device_check.sh).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, time
import numpy as np
from mnist_nas.params import load_params
from mnist_nas.training.backend import select
backend, variant, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
params = load_params()
select(backend)
import keras
from keras import layers
from mnist_nas.training import candidates, runtime

def keras_layers(x, rotation, shift, zoom):
    x = layers.RandomRotation(rotation / 360, fill_mode="constant")(x)
    x = layers.RandomTranslation(shift, shift, fill_mode="constant")(x)
    return layers.RandomZoom(zoom, fill_mode="constant")(x)

if variant == "keras layers":
    candidates.augmentation = keras_layers
runtime.setup(params.seed, params.precision("deep_convnet"))
lr, _, batch = params.fit_settings("deep_convnet")
model = candidates.build("deep_convnet", params)
runtime.compile_model(model, lr, steps, "constant", params.train.jit_compile)
with np.load("data/mnist.npz") as mnist:
    x, y = mnist["x_train"][: steps * batch], mnist["y_train"][: steps * batch]

class Clock(keras.callbacks.Callback):
    ends = []
    def on_train_batch_end(self, batch, logs=None):
        keras.ops.convert_to_numpy(logs["loss"])  # the step done, not only dispatched
        self.ends.append(time.perf_counter())

started = time.perf_counter()
history = model.fit(runtime.dataset(x, y, batch), epochs=1, callbacks=[Clock()], verbose=0)
times = np.diff([started, *Clock.ends]) * 1000
print(json.dumps({"first_ms": float(times[0]), "median_ms": float(np.median(times[1:])),
                  "loss": float(history.history["loss"][-1])}))
"""

VARIANTS = ["keras layers", "RandomAffine"]


def measure(backend: str, variant: str, steps: int, timeout: float) -> str:
    """The row's last three cells: the first step, the median of the others and the loss, or
    why there are none."""
    try:
        result = subprocess.run(
            [sys.executable, "-c", CHILD, backend, variant, str(steps)],
            cwd=REPO, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return f"not done in {timeout:.0f} s | | "
    if result.returncode:
        raise SystemExit(f"{backend}, {variant}: failed\n{result.stderr[-2000:]}")
    shown = json.loads(result.stdout.strip().splitlines()[-1])
    return f"{shown['first_ms']:.0f} | {shown['median_ms']:.1f} | {shown['loss']:.3f}"


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("--backends", nargs="+", default=["tensorflow", "jax"])
    args.add_argument("--steps", type=int, default=30)
    args.add_argument("--rounds", type=int, default=2)
    args.add_argument("--timeout", type=float, default=900, help="seconds for each process")
    options = args.parse_args()
    print("| backend | augmentation | round | first step (ms) | later steps, median (ms) | loss |")
    print("| --- | --- | --- | --- | --- | --- |")
    for round_ in range(1, options.rounds + 1):
        for backend in options.backends:
            order = VARIANTS if round_ % 2 else VARIANTS[::-1]  # alternated
            for variant in order:
                cells = measure(backend, variant, options.steps, options.timeout)
                print(f"| {backend} | {variant} | {round_} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
