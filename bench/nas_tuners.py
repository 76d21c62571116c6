"""Which AutoKeras tuner fits the default search budget best: the same search with each tuner.

    python bench/nas_tuners.py [--tuners greedy bayesian hyperband] [--final-epochs 1]

Runs the nas stage in a scratch copy of the project for each tuner, with every other param as in
params.yaml, and prints the best proxy score (validation accuracy of the trials), how many
different architectures the trials built, and the search time. The final training is cut to
--final-epochs: this compares searches, not final models. Full MNIST (data.limit as in params).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def project(folder: Path, tuner: str, final_epochs: int) -> Path:
    folder.mkdir(parents=True)
    shutil.copytree(REPO / "stages", folder / "stages")
    (folder / "data").mkdir()
    shutil.copy(REPO / "data" / "mnist.npz", folder / "data" / "mnist.npz")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["nas"] |= {"tuner": tuner, "epochs": final_epochs}
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return folder


def stage(name: str, cwd: Path) -> None:
    subprocess.run([sys.executable, "-m", f"stages.{name}"], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tuners", nargs="+", default=["greedy", "bayesian", "hyperband"])
    parser.add_argument("--final-epochs", type=int, default=1)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="nas-tuners-"))
    print(f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    print(f"{'tuner':<10} {'trials':>6} {'best proxy':>10} {'architectures':>13} {'search':>8}")
    for tuner in args.tuners:
        folder = project(root / tuner, tuner, args.final_epochs)
        for name in ("fetch", "prepare", "nas"):
            stage(name, folder)
        with (folder / "metrics/nas/trials.csv").open() as table:
            trials = [row for row in csv.DictReader(table) if row["status"] == "COMPLETED"]
        seconds = json.loads((folder / "metrics/nas/time.json").read_text())["search_time_s"]
        best = max(float(row["score"]) for row in trials)
        shapes = len({row["architecture"].split(" |")[0] for row in trials})
        print(f"{tuner:<10} {len(trials):>6} {best:>10.4f} {shapes:>13} {seconds:>7.0f}s")
        for row in trials:
            print(f"    {row['trial']:>2} {float(row['score']):.4f} lr {row['learning_rate']:<6} "
                  f"{row['mflops']:>6} MFLOPs  {row['architecture']}")  # fmt: skip
    shutil.rmtree(root)
    print("command: python bench/nas_tuners.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
