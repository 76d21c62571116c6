"""A NAS budget searched by one process, then by a Keras Tuner chief and N workers on loopback.

    python bench/distributed_nas.py [--trials 4] [--epochs 1] [--workers 2]

Needs `dvc repro prepare` first. Each run gets its own project folder (params.yaml with
nas.max_trials and nas.trial_epochs set, and the prepared data); the workers' folders share one
search folder with the chief's, as separate machines would over a shared filesystem. On one
machine the workers share its cores, so each gets cores/workers intra-op threads and one
inter-op thread, as `make queue` gives parallel jobs. Prints the wall time of each and who ran
which trial.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def project(folder: Path, trials: int, epochs: int) -> Path:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    # the trials are what spreads out; the chief alone trains the winner, kept to one epoch here
    params["nas"] |= {"max_trials": trials, "trial_epochs": epochs, "trial_fraction": 1.0,
                      "epochs": 1}  # fmt: skip
    folder.mkdir(parents=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    shutil.copytree(REPO / "data/prepared", folder / "data/prepared")
    return folder


def nas(folder: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "stages.nas"], cwd=folder, env={**os.environ, **env},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def finish(processes: dict[str, subprocess.Popen]) -> None:
    for name, process in processes.items():
        log, _ = process.communicate()
        if process.returncode:
            sys.exit(f"{name} failed:\n{log}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not (REPO / "data/prepared/train.npz").exists():
        sys.exit("run `dvc repro prepare` first")
    cores = len(os.sched_getaffinity(0))
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        single = project(root / "single", args.trials, args.epochs)
        started = time.perf_counter()
        finish({"single": nas(single)})
        single_s = time.perf_counter() - started

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = str(probe.getsockname()[1])
        shared = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": port,
                  "NAS_SEARCH_DIR": str(root / "search")}  # fmt: skip
        threads = {
            "TF_NUM_INTRAOP_THREADS": str(max(1, cores // args.workers)),
            "TF_NUM_INTEROP_THREADS": "1",
        }
        chief = project(root / "chief", args.trials, args.epochs)
        started = time.perf_counter()
        processes = {"chief": nas(chief, KERASTUNER_TUNER_ID="chief", **shared)}
        for index in range(1, args.workers + 1):
            name = f"worker{index}"
            folder = project(root / name, args.trials, args.epochs)
            processes[name] = nas(folder, KERASTUNER_TUNER_ID=name, **shared, **threads)
        finish(processes)
        distributed_s = time.perf_counter() - started
        with (chief / "metrics/nas/trials.csv").open() as table:
            ran_by = {row["trial"]: row["worker"] for row in csv.DictReader(table)}

    print(f"{args.trials} trials x {args.epochs} epoch(s), full training split, {cores} cores")
    print(f"one process:               {single_s:7.1f} s")
    print(f"chief + {args.workers} workers (loopback): {distributed_s:7.1f} s")
    print("trials run by: " + ", ".join(f"{trial} {worker}" for trial, worker in ran_by.items()))
    print("command: python bench/distributed_nas.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
