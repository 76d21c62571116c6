"""Kill anywhere, lose nothing: `dvc repro` of the small pipeline SIGKILLed at seeded moments
over the whole run (inside every stage, and while models/best is being written), rerun after
each kill, ends up complete, up to date, without temporary files, and byte-identical to an
uninterrupted run. CI runs two kills (--kills 2: the models/best write and a seeded stage);
`python bench/kill_anywhere.py` runs many, each stage aimed at once per pass. A killed
`dvc push` is in test_remote.py."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import STAGE_LINE, git_project, run, start

pytestmark = pytest.mark.kill_anywhere

WRITING_BEST = "export, writing models/best"  # the kill that waits for the SavedModel's write


@dataclass
class Kill:
    stage: str  # the stage to kill inside, or WRITING_BEST
    fraction: float  # how far into the stage's uninterrupted duration
    hit: str = ""  # the stage that was running when the kill came
    seconds: float = 0.0  # into the `dvc repro` that was killed


def plan(seed: int, kills: int, stage_seconds: dict[str, float]) -> list[list[Kill]]:
    """`kills` seeded kills in passes (each a fresh run), each pass killing the write of
    models/best and then every stage in a seeded order, once each, in the order they run."""
    rng = random.Random(seed)
    stages = list(stage_seconds)
    targets: list[str] = []
    while len(targets) < kills:
        targets += [WRITING_BEST, *rng.sample(stages, len(stages))]
    order = {stage: at for at, stage in enumerate(stages)} | {WRITING_BEST: stages.index("export")}
    passes: list[list[Kill]] = []
    for target in targets[:kills]:
        if not passes or any(kill.stage == target for kill in passes[-1]):
            passes.append([])
        passes[-1].append(Kill(target, rng.uniform(0.05, 0.95)))
    return [sorted(kills, key=lambda kill: order[kill.stage]) for kills in passes]


SKIPPED_LINE = re.compile(r"^Stage '(.+)' (?:is cached|didn't change)")  # restored, unchanged


def start_repro(root: Path) -> tuple[subprocess.Popen, list[tuple[str, str, float]]]:
    """`dvc repro` in its own process group (SIGKILLed whole), and a list its stage lines go into
    as they come: ("run" or "skip", stage, time)."""
    process = start(["dvc", "repro"], root)
    events: list[tuple[str, str, float]] = []

    def follow() -> None:
        for line in process.stdout:
            for kind, pattern in (("run", STAGE_LINE), ("skip", SKIPPED_LINE)):
                if found := pattern.match(line):
                    events.append((kind, found[1], time.monotonic()))

    threading.Thread(target=follow, daemon=True).start()
    return process, events


def moment(kill: Kill, events: list, stage_seconds: dict) -> float | None:
    """When to kill: `fraction` of the stage's duration after its stage line. A stage that
    the rerun restores (its run had finished when an earlier kill came) passes the kill on to
    the next stage that runs."""
    named = [at for at, (_, stage, _) in enumerate(events) if stage == kill.stage]
    if not named:
        return None
    later = [(stage, at) for kind, stage, at in events[named[0] :] if kind == "run"]
    if not later:
        return None
    stage, began = later[0]
    return began + kill.fraction * stage_seconds[stage]


def wait_for_moment(root: Path, kill: Kill, process, events: list, stage_seconds: dict) -> None:
    """Return at the kill's moment, or when the run has ended. For WRITING_BEST: that fraction
    of a second after the SavedModel's folder appears in the temporary copy of models/best."""
    while process.poll() is None:
        if kill.stage == WRITING_BEST:
            if next(root.glob(".dvc/tmp/writes/*/best/saved_model"), None):
                time.sleep(kill.fraction)
                return
        elif (at := moment(kill, events, stage_seconds)) is not None:
            time.sleep(max(0.0, at - time.monotonic()))
            return
        time.sleep(0.005)


def kill_at(root: Path, kill: Kill, stage_seconds: dict) -> None:
    process, events = start_repro(root)
    begun = time.monotonic()
    wait_for_moment(root, kill, process, events, stage_seconds)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        ran = [stage for kind, stage, _ in events if kind == "run"]
        kill.hit = ran[-1] if ran else "DVC, before any stage"
    else:  # the stages left ran faster than in the uninterrupted run, or came from the cache
        kill.hit = "nothing: the run had ended"
    process.wait()
    kill.seconds = time.monotonic() - begun


def files(root: Path) -> list[str]:
    """Every file and folder among the outputs (data, models, metrics)."""
    return sorted(str(path.relative_to(root)) for folder in ("data", "models", "metrics")
                  for path in (root / folder).rglob("*"))  # fmt: skip


def unfinished_writes(root: Path) -> list[str]:
    """What interrupted writes left where mnist_nas.files.atomic_path prepares them."""
    writes = root / ".dvc" / "tmp" / "writes"
    return sorted(path.name for path in writes.iterdir()) if writes.exists() else []


def metrics(root: Path) -> dict:
    """The default pipeline's metrics (not the studies')."""
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], root).stdout)[""]["data"]
    return {path: value for path, value in shown.items() if not path.startswith("studies/")}


# Timings vary from run to run by nature, and so does the figure drawn from them.
TIMINGS = {"latency.json", "time.json"}


def metrics_files(root: Path) -> dict[str, bytes]:
    """Every metrics, table and plot-data file of the default pipeline, by path."""
    return {str(path.relative_to(root)): path.read_bytes()
            for path in sorted((root / "metrics").rglob("*"))
            if path.is_file() and path.suffix in {".json", ".csv", ".tsv"}
            and path.name not in TIMINGS}  # fmt: skip


def out_hashes(root: Path) -> dict[str, str]:
    """Every output's hash in dvc.lock, directories (`.dir`) included."""
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    return {out["path"]: out["md5"] for stage in lock["stages"].values()
            for out in stage.get("outs", [])}  # fmt: skip


def test_killed_anywhere_the_rerun_completes_byte_identical_to_an_uninterrupted_run(
    project, tmp_path, request
):
    """Each pass is also a second run of the same params from an empty cache, as a fresh clone
    would make it: its metrics, tables and plot data are byte-identical to the `project` run's,
    and so is every output's hash (trained, ensemble and exported models included), but for the
    timings and the figures drawn from them. Outputs that are a function of deps and params are
    what DVC's run-cache rests on."""
    stage_seconds = json.loads((project / ".dvc" / "tmp" / "stage-seconds.json").read_text())
    option = request.config.getoption
    passes = plan(option("--kill-seed"), option("--kills"), stage_seconds)
    uninterrupted, uninterrupted_files = metrics(project), files(project)
    for number, kills in enumerate(passes):
        root = git_project(tmp_path / f"pass-{number}")
        for kill in kills:
            kill_at(root, kill, stage_seconds)
        run(["dvc", "repro"], root)
        assert json.loads(run(["dvc", "status", "--json", "dvc.yaml"], root).stdout) == {}, kills
        assert files(root) == uninterrupted_files, kills  # nothing half-written among them
        assert unfinished_writes(root) == [], kills
        assert metrics(root) == uninterrupted, kills
        first, again = metrics_files(project), metrics_files(root)
        assert len(first) > 20 and [name for name in first if first[name] != again.get(name)] == []
        before, after = out_hashes(project), out_hashes(root)
        assert {"models/trained/mlp", "models/trained/nas", "models/ensemble",
                "models/best"} <= before.keys() == after.keys()  # fmt: skip
        differ = {Path(path).name for path in before if before[path] != after[path]}
        assert differ <= TIMINGS | {"figures"}, (differ, kills)
        if report := option("--kill-report"):
            done = json.loads(Path(report).read_text()) if Path(report).exists() else []
            Path(report).write_text(json.dumps(done + [vars(kill) for kill in kills], indent=1))
    hit = {kill.hit.split("@")[0] for kills in passes for kill in kills}
    assert WRITING_BEST in {kill.stage for kill in passes[0]} and "export" in hit
