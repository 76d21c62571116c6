"""Fail unless every output, metric and plot that dvc.yaml declares exists, is not empty, and
no stage is out of date: run after a pipeline (make small) to prove it produced everything.
The default pipeline only: the studies' (studies/dvc.yaml) runs on demand."""

import sys
from pathlib import Path

from dvc.repo import Repo


def empty(path: Path) -> bool:
    return path.stat().st_size == 0 if path.is_file() else not any(path.iterdir())


PIPELINE = Path("dvc.yaml").resolve()

with Repo() as repo:
    stages = [stage for stage in repo.index.stages if Path(stage.path).resolve() == PIPELINE]
    declared = [Path(out.fs_path) for stage in stages for out in stage.outs]
    missing = [str(path) for path in declared if not path.exists()]
    hollow = [str(path) for path in declared if path.exists() and empty(path)]
    stale = sorted(repo.status(targets=[str(PIPELINE)]))
for problem, paths in (("missing", missing), ("empty", hollow), ("not up to date", stale)):
    if paths:
        print(f"check_outputs: {problem}: {', '.join(paths)}", file=sys.stderr)
if missing or hollow or stale:
    sys.exit(1)
print(f"check_outputs: all {len(declared)} declared outputs, metrics and plots are present")
