"""The kill-anywhere sweep at length: many seeded SIGKILLs of `dvc repro` on small params.

    python bench/kill_anywhere.py [--kills 40] [--seed 0]

Runs tests/test_kill.py (the suite runs it with 2 kills) with --kills N: the first kill of
each pass lands while models/best is being written, then every stage of the pipeline is killed
once per pass, in a seeded order at a seeded moment. After each pass's kills a last `dvc repro`
must complete with `dvc status` clean, no temporary folder left among the outputs and the
outputs of an uninterrupted run, byte for byte. Prints each kill (what it hit, when) and how
many hit each stage; exits non-zero if the sweep failed or a stage was never hit.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    report = Path(tempfile.mkdtemp()) / "kills.json"
    sweep = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_kill.py", "-q", "-p", "no:cacheprovider",
         f"--kills={args.kills}", f"--kill-seed={args.seed}", f"--kill-report={report}"],
        cwd=REPO,
    )  # fmt: skip
    kills = json.loads(report.read_text()) if report.exists() else []
    print(f"\n{'aimed at':<32} {'hit':<24} {'fraction':>8} {'s into the run':>14}")
    for kill in kills:
        print(f"{kill['stage']:<32} {kill['hit']:<24} {kill['fraction']:>8.2f} "
              f"{kill['seconds']:>14.1f}")  # fmt: skip
    listed = [sys.executable, "-m", "dvc", "stage", "list", "--name-only"]
    stages = subprocess.run(listed, cwd=REPO, capture_output=True, text=True, check=True)
    stages = stages.stdout.split()
    hits = collections.Counter(kill["hit"] for kill in kills)
    print("\nkills per stage:", ", ".join(f"{stage} {hits[stage]}" for stage in stages))
    missed = [stage for stage in stages if not hits[stage]]
    print(
        f"{len(kills)} kills in passes that all recovered: {sweep.returncode == 0}; "
        f"stages never hit: {', '.join(missed) or 'none'}"
    )
    sys.exit(1 if sweep.returncode or missed else 0)


if __name__ == "__main__":
    main()
