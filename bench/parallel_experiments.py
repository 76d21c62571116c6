"""Wall time of queued experiments: one job at a time, several at once, with and without limits.

    python bench/parallel_experiments.py [--experiments 2] [--epochs 3] [--jobs 2]

Clones the repo (HEAD) into a temporary folder and prepares the data there. Then, for each
setting, it queues `--experiments` runs of `train@convnet` on full MNIST (`--epochs` epochs; each
run has its own lr, so DVC's run cache never skips one), times `dvc queue start` until the queue
is empty, and checks that every run succeeded. The settings:
  - one job at a time;
  - `--jobs` at once, each TensorFlow process with its default threads (all cores);
  - `--jobs` at once, TF_NUM_INTRAOP_THREADS=cores/jobs;
  - `--jobs` at once, TF_NUM_INTRAOP_THREADS=cores/jobs and TF_NUM_INTEROP_THREADS=1.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENV_BIN = Path(sys.executable).parent


def run(cmd: list[str], cwd: Path, env: dict | None = None) -> str:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout


def run_queue(repo: Path, jobs: int, threads: dict, lrs: list[float], epochs: int) -> float:
    for lr in lrs:
        run(
            [ENV_BIN / "dvc", "exp", "run", "--queue", "-S", f"convnet.lr={lr}",
             "-S", f"convnet.epochs={epochs}", "train@convnet"],
            repo,
        )  # fmt: skip
    env = {**os.environ, "PATH": f"{ENV_BIN}{os.pathsep}{os.environ['PATH']}", **threads}
    started = time.perf_counter()
    # the queue's workers outlive this call: give them no pipes to hold open
    subprocess.run(
        [ENV_BIN / "dvc", "queue", "start", "--jobs", str(jobs)], cwd=repo, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
    )  # fmt: skip
    while True:
        status = run([ENV_BIN / "dvc", "queue", "status"], repo)
        if "Queued" not in status and "Running" not in status:
            break
        if "Running" not in status and "0 active" in status:
            # DVC's workers sometimes exit with experiments still queued (treeverse/dvc#10562)
            subprocess.run(
                [ENV_BIN / "dvc", "queue", "start", "--jobs", str(jobs)], cwd=repo, env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
            )  # fmt: skip
        time.sleep(2)
    seconds = time.perf_counter() - started
    run([ENV_BIN / "dvc", "queue", "stop"], repo)
    if status.count("Success") < len(lrs):
        sys.exit(f"an experiment failed:\n{status}")
    run([ENV_BIN / "dvc", "queue", "remove", "--success"], repo)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--experiments", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--settings", type=int, nargs="+", help="run only these (1 to 4)")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    intra = {"TF_NUM_INTRAOP_THREADS": str(max(1, cores // args.jobs))}
    settings = [
        ("1 job", 1, {}),
        (f"{args.jobs} jobs, default threads", args.jobs, {}),
        (f"{args.jobs} jobs, intra-op cores/jobs", args.jobs, intra),
        (f"{args.jobs} jobs, + inter-op 1", args.jobs, intra | {"TF_NUM_INTEROP_THREADS": "1"}),
    ]
    settings = [settings[index - 1] for index in args.settings or range(1, len(settings) + 1)]
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        run(["git", "clone", "-q", str(REPO), str(repo)], Path(tmp))
        run([ENV_BIN / "dvc", "repro", "prepare"], repo)
        print(f"{args.experiments} x train@convnet, {args.epochs} epochs, {cores} cores")
        for index, (label, jobs, threads) in enumerate(settings):
            lrs = [round(0.001 + 0.0001 * (index * args.experiments + i), 6)
                   for i in range(args.experiments)]  # fmt: skip
            seconds = run_queue(repo, jobs, threads, lrs, args.epochs)
            print(f"{label:<32}{seconds:>8.1f} s", flush=True)
    print("command: python bench/parallel_experiments.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
