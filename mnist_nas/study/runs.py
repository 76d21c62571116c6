"""Running a study's experiments through DVC's queue, and reading back what each recorded:
its per-epoch validation curve (DVCLive), its size and its timing, from the experiment's commit
and DVC's cache."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mnist_nas import paths
from mnist_nas.errors import UserError
from mnist_nas.study.declaration import Run

ACTIVE = ("Queued", "Running")


def dvc(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["dvc", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines() or ["no output"]
        # DVC ends with a "Having any troubles? ..." footer; its error is the ERROR: line
        error = next((line for line in lines if line.startswith("ERROR")), lines[-1])
        raise UserError(f"dvc {' '.join(args[:3])} failed: {error}")
    return result


def head() -> str:
    """The current commit: the baseline of the experiments queued now."""
    result = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
    if result.returncode != 0:
        raise UserError("a study runs in a git repository with a commit (git rev-parse HEAD)")
    return result.stdout.strip()


def finished_experiments(baseline: str = "HEAD") -> dict[str, str]:
    """{name: commit} of the finished experiments based on the commit `baseline`."""
    shown = json.loads(dvc("exp", "show", "--json", "--rev", baseline).stdout)
    baseline = next(row for row in shown if row["rev"] != "workspace")
    found = {}
    for experiment in baseline.get("experiments") or []:
        head = experiment["revs"][0]
        # a queued or running experiment is listed too, with its baseline's files
        state = (experiment.get("executor") or {}).get("state", "success")
        if state == "success" and head.get("name") and head.get("data") and not head.get("error"):
            found[head["name"]] = head["rev"]
    return found


def queue(runs: list[Run]) -> None:
    """Queue one experiment per run, replacing earlier ones of the same name (DVC's run-cache
    still restores every stage they ran)."""
    names = [run.experiment for run in runs]
    stale = sorted(set(names) & set(finished_experiments()))
    if stale:
        dvc("exp", "remove", *stale)
    dvc("queue", "remove", *names, check=False)  # earlier tasks of the same names, done
    for run in runs:
        dvc("exp", "run", "--queue", "--name", run.experiment, *run.set_args(), run.target)


def thread_settings(jobs: int, threads: str | None = None, cores: int | None = None) -> dict:
    """TensorFlow's threads for each of `jobs` parallel jobs: `threads` (default cores/jobs)
    intra-op threads and one inter-op thread; a single job keeps TensorFlow's own."""
    if jobs == 1:
        return {}
    threads = threads or str(max(1, (cores or os.cpu_count() or 1) // jobs))
    return {"TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": "1"}


def queue_states(names: set[str]) -> tuple[dict[str, str], int] | None:
    """({name: status} of the named experiments, workers alive) from `dvc queue status`; None
    while the queue cannot tell (its broker between two states)."""
    result = dvc("queue", "status", check=False)
    if result.returncode != 0:
        return None
    states = {}
    for line in result.stdout.splitlines():
        words = line.split()
        for name in names & set(words):
            states[name] = next((w for w in words if w in (*ACTIVE, "Success", "Failed")), "")
    workers = re.search(r"Worker status: (\d+) active, (\d+) idle", result.stdout)
    return states, sum(map(int, workers.groups())) if workers else 0


def start_workers(jobs: int, threads: str | None = None) -> None:
    """Bring the queue up to `jobs` workers (DVC starts only the missing ones), each with
    thread_settings(jobs, threads): `make queue` and mnist-study."""
    env = {**os.environ, **thread_settings(jobs, threads)}
    subprocess.run(["dvc", "queue", "start", "--jobs", str(jobs)], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def saved_experiments(baseline: str, repo: Path | None = None) -> set[str]:
    """The names of the experiments saved on the commit `baseline` (in `repo`, or here): the
    git refs DVC writes when one ends, read in milliseconds where `dvc queue status` costs a
    DVC start (about a second of a core, taken from the experiments running beside it)."""
    refs = subprocess.run(["git", "for-each-ref", "--format=%(refname)",
                           f"refs/exps/{baseline[:2]}/{baseline[2:]}/"],
                          cwd=repo, capture_output=True, text=True, check=True).stdout  # fmt: skip
    return {ref.rsplit("/", 1)[-1] for ref in refs.split()}


def run_queue(runs: list[Run], jobs: int, status_s: float = 30) -> None:
    """Start `jobs` queue workers and wait until every run has finished, starting workers
    again if some stop while runs still wait (seen after tens of minutes); a UserError names
    the failed runs. Finished runs are read from git each second; the queue's own status,
    which tells failed runs and stopped workers, every `status_s` seconds and at the end."""
    start_workers(jobs)
    names, baseline = {run.experiment for run in runs}, head()
    asked = time.monotonic()
    while True:
        if names <= saved_experiments(baseline) or time.monotonic() - asked > status_s:
            shown = queue_states(names)
            asked = time.monotonic()
            if shown is not None:
                states, workers = shown
                if not any(state in ACTIVE for state in states.values()):
                    break
                if workers < jobs and "Queued" in states.values():
                    start_workers(jobs)
        time.sleep(1)
    failed = sorted(name for name, state in states.items() if state == "Failed")
    if failed:
        raise UserError(f"experiments failed: {', '.join(failed)} (dvc queue logs {failed[0]})")


def live_folder(target: str) -> Path:
    """Where the stage `target` keeps DVCLive's record and time.json."""
    if target.startswith("train@"):
        return paths.train_metrics(target.removeprefix("train@"))
    return paths.TRANSFER_RUN


def read(path: Path, rev: str, mode: str = "r"):
    import dvc.api

    return dvc.api.read(str(path), rev=rev, mode=mode)


def curve(folder: Path, split: str, rev: str) -> pd.Series:
    """The per-epoch accuracy DVCLive logged on `split` (train or eval), by epoch from 1."""
    table = pd.read_csv(io.StringIO(read(folder / f"plots/metrics/{split}/accuracy.tsv", rev)),
                        sep="\t")  # fmt: skip
    return pd.Series(table["accuracy"].to_numpy(), index=table["step"].to_numpy() + 1)


def record(run: Run, rev: str) -> dict:
    """What one finished run recorded: its validation and training curves, size and timing."""
    folder = live_folder(run.target)
    summary = json.loads(read(folder / "metrics.json", rev))
    timing = json.loads(read(folder / "time.json", rev))
    return {
        "val": curve(folder, "eval", rev),
        "train": curve(folder, "train", rev),
        "params": summary["params"],
        "seconds_per_epoch": timing["wall_time_s"] / timing["epochs_run"],
    }


def test_accuracy(run: Run, rev: str) -> float:
    """The run's model on the official test set: reported beside a book's table, never chosen by."""
    from mnist_nas.files import load_model

    name = run.target.removeprefix("train@")
    archive = io.BytesIO(read(paths.split_file("test"), rev, "rb"))
    with np.load(archive, allow_pickle=False) as test:
        x, y = test["x"], test["y"]
    with tempfile.TemporaryDirectory() as folder:
        model_path = Path(folder) / "model.keras"
        model_path.write_bytes(read(paths.model_file(name), rev, "rb"))
        probs = load_model(model_path).predict(x, batch_size=1024, verbose=0)
    return float((probs.argmax(axis=1) == y).mean())
