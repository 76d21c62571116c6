"""DVC's own overhead on this pipeline: a no-op `dvc repro`, and a plot-only change.

    python bench/dvc_overhead.py [--repeats 5]

Run in the repo after a full `dvc repro` (everything cached). Times `dvc repro` when nothing
changed (goal <= 3 s), then changes `plot.dpi`, times the `dvc repro` that follows and checks
that only the plot stage ran, and puts params.yaml and the outputs back as they were.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
ENV_BIN = Path(sys.executable).parent


def repro() -> tuple[float, list[str]]:
    started = time.perf_counter()
    result = subprocess.run(
        [ENV_BIN / "dvc", "repro"], cwd=REPO, capture_output=True, text=True, check=True
    )
    ran = re.findall(r"^Running stage '(.+)':", result.stdout, flags=re.MULTILINE)
    return time.perf_counter() - started, ran


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    _, ran = repro()
    if ran:
        sys.exit(f"the pipeline was not up to date ({', '.join(ran)} ran); run it again")
    no_op = [repro()[0] for _ in range(args.repeats)]

    params_file = REPO / "params.yaml"
    original = params_file.read_text()
    params = yaml.safe_load(original)
    params["plot"]["dpi"] += 1
    try:
        params_file.write_text(yaml.safe_dump(params, sort_keys=False))
        plot_only, ran = repro()
    finally:
        params_file.write_text(original)
        restore, _ = repro()  # back to the committed outputs (from DVC's run cache)

    print(
        f"no-op dvc repro: median {statistics.median(no_op):.2f} s over {args.repeats} runs "
        f"(min {min(no_op):.2f}, max {max(no_op):.2f}); goal <= 3 s"
    )
    print(f"plot.dpi change: {plot_only:.1f} s, stages run: {', '.join(ran)}")
    print(f"putting it back: {restore:.1f} s")
    print("command: python bench/dvc_overhead.py")


if __name__ == "__main__":
    main()
