"""Usage: python .ci/push_run_cache.py [-r REMOTE] [-j JOBS]   (`make push` runs it)

`dvc push --run-cache`, completed. DVC 3.67 pushes the run-cache's entries and the workspace's
cached outputs, but not the objects of the `cache: false` outputs (this project's metrics and
plots) that each entry also records: another clone's `dvc repro --pull` then finds the entry,
misses those objects on the remote, and trains the stage again. This pushes every entry and
every object the entries name, through DVC's own run-cache and transfer code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dvc.exceptions import DvcException
from dvc.repo import Repo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1].split(".")[0])
    parser.add_argument("-r", "--remote", help="the remote (default: the default remote)")
    parser.add_argument("-j", "--jobs", type=int, help="parallel transfers (DVC's default)")
    args = parser.parse_args()
    try:
        with Repo() as repo:
            entries = repo.push(run_cache=True, remote=args.remote, jobs=args.jobs)
            runs = Path(repo.cache.legacy.path) / "runs"
            recorded = [(run.parent.name, run.name) for run in runs.glob("*/*/*")]
            pushed = 0
            for odb, objs in repo.stage_cache.get_used_objs(recorded).items():
                result = repo.cloud.push(objs, jobs=args.jobs, remote=args.remote, odb=odb)
                pushed += len(result.transferred)
    except DvcException as error:
        sys.exit(f"push_run_cache: {error}")
    print(f"{entries} pushed by dvc push --run-cache; {pushed} objects of {len(recorded)} "
          "run-cache entries besides")  # fmt: skip


if __name__ == "__main__":
    main()
