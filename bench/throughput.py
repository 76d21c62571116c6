"""Training throughput of each candidate, and how far it is from the CPU's peak.

    python bench/throughput.py [--models mlp convnet deep_convnet] [--repeats 3] [--settings ...]
    python bench/throughput.py --settings "as configured" "XLA off" float32 --peak-gflops 60000

(the second on a GPU machine, giving the GPU's peak).

For each candidate (default params) and each setting, a fresh process builds the model exactly as
the train stage does and fits one warm-up epoch (it includes tracing) plus `--repeats` timed epochs
on the prepared full training split. It reports the median epoch and the spread (min to max):
a single epoch on a shared VM varies by up to 2x. FLOPs per image are counted from the layers
(2 x multiply-adds of every Conv2D and Dense; training ~ 3x the forward pass), so achieved
FLOP/s = 3 x forward FLOPs x images/s. Peak FLOP/s = cores x clock x FLOPs per cycle, taking two
256-bit FMA pipes per core (32 fp32 FLOPs per cycle: Zen 4, and AVX2 cores such as Skylake;
cores with two full 512-bit FMA units reach 64, so there the fraction is half of what is shown).
Needs `dvc repro prepare` first.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Each setting: (label, environment variables, batch size or None for the params' own).
# "as configured" is what the train stage runs: train.jit_compile and train.mixed_precision
# are `auto`, so off on CPUs and on with a GPU; the XLA and mixed-precision rows force them.
SETTINGS = [
    ("as configured", {}, None),
    ("batch 256", {}, 256),
    ("oneDNN off", {"TF_ENABLE_ONEDNN_OPTS": "0"}, None),
    ("XLA (jit_compile)", {"BENCH_JIT": "1"}, None),
    ("XLA off", {"BENCH_JIT": "0"}, None),
    ("mixed precision", {"BENCH_MIXED": "1"}, None),
    ("float32", {"BENCH_MIXED": "0"}, None),
    ("index-gather input", {"BENCH_GATHER": "1"}, None),
    ("1 intra-op thread", {"TF_NUM_INTRAOP_THREADS": "1"}, None),
    ("1 inter-op thread", {"TF_NUM_INTEROP_THREADS": "1"}, None),
]
# On CPUs the default run skips the rows equal to "as configured" there, and float16 (slow).
CPU_DEFAULT = [
    label for label, _, _ in SETTINGS if label not in ("XLA off", "mixed precision", "float32")
]

CHILD = """
import json, os, sys, time
import keras
from mnist_nas.data.splits import load_split
from mnist_nas.params import load_params
from mnist_nas.training import candidates, runtime

name, repeats, batch_size = sys.argv[1], int(sys.argv[2]), sys.argv[3]
params = load_params({params!r})
lr, _, default_batch = params.fit_settings(name)
batch_size = int(batch_size) if batch_size != "None" else default_batch
forced = {{"1": True, "0": False}}
jit_compile = forced.get(os.environ.get("BENCH_JIT"), params.train.jit_compile)
mixed = forced.get(os.environ.get("BENCH_MIXED"), params.train.mixed_precision)
runtime.setup(params.seed, mixed_precision=mixed)
x, y = load_split("train")
model = candidates.build(name, params)
model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"], jit_compile=jit_compile)

class EpochTimer(keras.callbacks.Callback):
    seconds = []
    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()
    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.started)

def gather_dataset(x, y, batch_size, seed):
    # Shuffle indices, not images, and gather whole batches: one op per batch, not per image.
    import tensorflow as tf
    images, labels = tf.constant(x), tf.constant(y)
    ds = tf.data.Dataset.range(len(y)).shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(lambda i: (tf.gather(images, i), tf.gather(labels, i)))
    return ds.prefetch(tf.data.AUTOTUNE)

dataset = gather_dataset if os.environ.get("BENCH_GATHER") else runtime.dataset
timer = EpochTimer()
model.fit(dataset(x, y, batch_size, 0), epochs=1 + repeats, callbacks=[timer], verbose=0)
flops = 0
for layer in model.layers:
    if isinstance(layer, keras.layers.Conv2D):
        k_h, k_w = layer.kernel_size
        _, h, w, c_out = layer.output.shape
        flops += 2 * k_h * k_w * layer.input.shape[-1] * c_out * h * w
    elif isinstance(layer, keras.layers.Dense):
        flops += 2 * layer.input.shape[-1] * layer.units
rates = sorted(len(y) / seconds for seconds in timer.seconds[1:])
print(json.dumps({{"images_per_s": rates[len(rates) // 2], "low": rates[0], "high": rates[-1],
                  "forward_flops": flops, "batch_size": batch_size}}))
"""


def peak_flops() -> tuple[float, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    mhz = max(float(line.split(":")[1]) for line in cpuinfo.splitlines() if "cpu MHz" in line)
    cores = len(os.sched_getaffinity(0))
    peak = cores * mhz * 1e6 * 32
    model = next(
        line.split(":")[1].strip() for line in cpuinfo.splitlines() if "model name" in line
    )
    return peak, f"{model}, {cores} cores at {mhz:.0f} MHz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="+", default=["mlp", "convnet", "deep_convnet"])
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs after the warm-up")
    parser.add_argument(
        "--settings", nargs="+", default=CPU_DEFAULT, metavar="SETTING",
        choices=[label for label, _, _ in SETTINGS], help="default: every one that differs on CPUs",
    )  # fmt: skip
    parser.add_argument(
        "--peak-gflops", type=float, help="the device's peak (a GPU's), instead of the CPU's"
    )
    args = parser.parse_args()
    if not (REPO / "data/prepared/train.npz").exists():
        sys.exit("run `dvc repro prepare` first")

    peak, machine = peak_flops()
    if args.peak_gflops:
        peak, machine = args.peak_gflops * 1e9, f"{machine}; given peak {args.peak_gflops:.0f}"
    print(f"{machine}: peak {peak / 1e9:.0f} GFLOP/s (CPU: fp32, 32 FLOPs/cycle/core)")
    script = CHILD.format(params=str(REPO / "params.yaml"))
    print(
        f"{'model':<14}{'setting':<20}{'batch':>6}{'images/s':>10}{'min-max':>16}"
        f"{'GFLOP/s':>9}{'of peak':>9}"
    )
    settings = [setting for setting in SETTINGS if setting[0] in args.settings]
    for name in args.models:
        for label, extra_env, batch_size in settings:
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **extra_env}
            result = subprocess.run(
                [sys.executable, "-c", script, name, str(args.repeats), str(batch_size)],
                cwd=REPO, env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            measured = json.loads(result.stdout.strip().splitlines()[-1])
            achieved = 3 * measured["forward_flops"] * measured["images_per_s"]
            spread = f"{measured['low']:,.0f}-{measured['high']:,.0f}"
            print(
                f"{name:<14}{label:<20}{measured['batch_size']:>6}"
                f"{measured['images_per_s']:>10,.0f}{spread:>16}"
                f"{achieved / 1e9:>9.1f}{achieved / peak:>9.1%}",
                flush=True,
            )
    print("command: python bench/throughput.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
