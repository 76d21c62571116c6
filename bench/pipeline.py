"""The full pipeline from a clean clone: wall time and peak memory per stage, and the leaderboard.

    python bench/pipeline.py [--keep]

Clones the repo (committed state) into a temporary folder, then runs every stage in pipeline
order with `dvc repro --single-item`, each in its own process, timing it and reading its peak
resident memory. Goals: the whole pipeline <= 30 minutes on 2 CPU cores; the exported model,
chosen on validation, >= 99.70% test accuracy. Uses the environment this script runs in
(python bench/pipeline.py from .venv).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENV_BIN = Path(sys.executable).parent


def dvc(*args: str, cwd: Path, capture: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{ENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [ENV_BIN / "dvc", *args], cwd=cwd, env=env, capture_output=capture, text=True, check=True
    )


def timed_stage(stage: str, cwd: Path) -> tuple[float, float]:
    """(seconds, peak resident MiB) of `dvc repro --single-item stage` and everything it ran."""
    env = {**os.environ, "PATH": f"{ENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    started = time.perf_counter()
    process = subprocess.Popen(
        [ENV_BIN / "dvc", "repro", "--single-item", stage],
        cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        sys.exit(f"stage {stage} failed ({process.returncode})")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", action="store_true", help="keep the clone")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="pipeline-bench-")) / "repo"
    subprocess.run(["git", "clone", "-q", str(REPO), str(root)], check=True)
    shared = REPO.parent / "shared"
    if shared.exists() and not (root.parent / "shared").exists():
        (root.parent / "shared").symlink_to(shared)
    dry = dvc("repro", "--dry", "--force", cwd=root).stdout
    stages = re.findall(r"^Running stage '(.+)':", dry, flags=re.MULTILINE)

    print(f"{platform.node()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    total = 0.0
    for stage in stages:
        seconds, peak = timed_stage(stage, root)
        total += seconds
        print(f"{stage:<22} {seconds:8.1f} s   peak {peak:7.0f} MiB", flush=True)
    print(f"{'total':<22} {total:8.1f} s   ({total / 60:.1f} min; goal <= 30 min)")

    leaderboard = json.loads((root / "metrics/eval/leaderboard.json").read_text())
    for name, m in sorted(leaderboard.items(), key=lambda item: -item[1]["val_accuracy"]):
        print(
            f"{name:<14} val {m['val_accuracy']:.2%}  test {m['test_accuracy']:.2%} "
            f"[{m['test_accuracy_ci95_low']:.2%}, {m['test_accuracy_ci95_high']:.2%}]  "
            f"params {m['params']:,}"
        )
    best = json.loads((root / "models/best/best.json").read_text())
    print(
        f"exported (chosen on validation): {best['model']}, test {best['test_accuracy']:.2%} "
        "(goal >= 99.70%)"
    )
    print("command: python bench/pipeline.py")
    if not args.keep:
        shutil.rmtree(root.parent)


if __name__ == "__main__":
    main()
