"""`dvc exp` as users run it: two queued experiments on two workers (one trains every training
stage on Keras' JAX backend, the other one candidate at its own learning rate), a revisit of the
JAX one that DVC's run-cache restores without training (studies: test_studies.py)."""

import json
import os
import re
import shutil
import subprocess
import time

import pytest
from conftest import BIN, REPO, run

from mnist_nas.study.runs import saved_experiments


@pytest.fixture(scope="module")
def experiments(project, tmp_path_factory):
    """A committed copy of the small project, with mlp.lr=0.01 (typed the short way,
    `-S mlp.lr=1E-2`, which YAML 1.2 reads as a number) and train.backend=jax run from the
    queue."""
    root = tmp_path_factory.mktemp("experiments") / "repo"
    shutil.copytree(project, root, symlinks=True)
    run(["git", "add", "-A"], root)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "baseline"], root)
    for name, param in (("mlp-lr", "mlp.lr=1E-2"), ("jax", "train.backend=jax")):
        run(["dvc", "exp", "run", "--queue", "-S", param, "--name", name], root)
    # the workers outlive this call: no pipes for them to hold open. The thread settings are
    # what `make queue` sets for 2 jobs on 2 cores; the stages must see them through the queue.
    env = {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "HOME": str(root.parent),
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "1",
        "JAX_COMPILATION_CACHE_DIR": os.environ["JAX_COMPILATION_CACHE_DIR"],
    }
    subprocess.run(
        [BIN / "dvc", "queue", "start", "--jobs", "2"],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
    )  # fmt: skip
    baseline = run(["git", "rev-parse", "HEAD"], root).stdout.strip()
    # a guard against a hung queue, not a speed test: alone it takes 2 to 4 minutes
    deadline, next_check = time.monotonic() + 1500, time.monotonic() + 30
    try:
        # a finished experiment is a git ref (cheap to read); `dvc queue status` costs a DVC
        # start, so it is asked only every 30 s, for a failure
        while not saved_experiments(baseline, root) >= {"mlp-lr", "jax"}:
            assert time.monotonic() < deadline, "the queue did not finish in 25 minutes"
            if time.monotonic() > next_check:
                assert "Failed" not in queue_status(root)
                next_check = time.monotonic() + 30
            time.sleep(1)
        while "Running" in (status := queue_status(root)):  # saved, not yet marked done
            time.sleep(1)
    finally:
        run(["dvc", "queue", "stop"], root, check=False)
    assert status.count("Success") == 2, status
    return root


def queue_status(root) -> str:
    """`dvc queue status`, asked again while the queue's broker is between two states."""
    for _ in range(30):
        shown = run(["dvc", "queue", "status"], root, check=False)
        if shown.returncode == 0:
            return shown.stdout
        time.sleep(1)
    raise AssertionError(shown.stderr)


@pytest.fixture(scope="module")
def revisited(experiments):
    """train.backend=jax again, in the workspace this time: (its output, its wall time in
    seconds)."""
    started = time.monotonic()
    command = ["dvc", "exp", "run", "-S", "train.backend=jax", "--name", "jax-again"]
    result = run(command, experiments)
    return result.stdout + result.stderr, time.monotonic() - started


def exp_runs(root) -> dict[str, dict]:
    """Each experiment of the baseline by name: its params and metrics, as exp show has them."""
    shown = json.loads(run(["dvc", "exp", "show", "--json"], root).stdout)
    baseline = next(row for row in shown if row["rev"] != "workspace")
    return {exp["revs"][0]["name"]: exp["revs"][0]["data"] for exp in baseline["experiments"]}


def test_exp_show_holds_both_experiments_with_their_own_metrics(experiments):
    runs = exp_runs(experiments)
    params = {name: runs[name]["params"]["params.yaml"]["data"] for name in ("mlp-lr", "jax")}
    assert params["mlp-lr"]["mlp"]["lr"] == 0.01 and params["jax"]["mlp"].get("lr") is None
    assert params["mlp-lr"]["train"]["backend"] == "tensorflow"
    assert params["jax"]["train"]["backend"] == "jax"
    accuracy = {name: runs[name]["metrics"]["metrics/eval/accuracy.json"]["data"]
                for name in ("mlp-lr", "jax")}  # fmt: skip
    assert accuracy["mlp-lr"]["mlp"] != accuracy["jax"]["mlp"]
    # every model trained on JAX was evaluated (and exported) on TensorFlow
    assert set(accuracy["jax"]) >= {"mlp", "convnet", "deep_convnet", "nas", "ensemble"}


def test_a_revisited_experiment_comes_back_from_the_run_cache(experiments, revisited):
    """JAX (queued beside another experiment), then JAX again: every stage that the first
    ran is restored from DVC's run-cache, nothing trains, and the metrics are the first's."""
    output, seconds = revisited
    log = run(["dvc", "queue", "logs", "jax"], experiments).stdout
    ran_first = set(re.findall(r"Running stage '(.+?)'", log))
    assert {"train@mlp", "train@deep_convnet", "nas", "evaluate", "export"} <= ran_first
    assert re.findall(r"Running stage '(.+?)'", output) == [], output
    restored = set(re.findall(r"Stage '(.+?)' is cached - skipping run", output))
    assert restored == ran_first, output
    runs = exp_runs(experiments)
    assert runs["jax-again"]["metrics"] == runs["jax"]["metrics"]
    print(f"revisit of JAX: {seconds:.1f} s for {len(restored)} stages from the run-cache")


def test_queued_jobs_train_with_the_thread_settings_the_queue_started_with(experiments):
    log = run(["dvc", "queue", "logs", "mlp-lr"], experiments).stdout
    assert "Running stage 'train@mlp'" in log
    assert "runtime: tensorflow" in log and "TensorFlow threads: intra-op 1, inter-op 1" in log


def test_the_jax_experiment_trains_on_jax_and_the_rest_runs_on_tensorflow(experiments):
    """train.backend: jax reruns exactly the training stages (the detector's too) and what reads
    their models; the training stages ran on JAX, and evaluate and export read their .keras
    files on TensorFlow."""
    log = run(["dvc", "queue", "logs", "jax"], experiments).stdout
    ran = re.findall(r"Running stage '(.+?)'", log)
    trained = {"train@mlp", "train@convnet", "train@deep_convnet", "nas", "reader", "detector"}
    assert trained <= set(ran)
    assert {"evaluate", "export"} <= set(ran) and "prepare" not in ran
    assert log.count("runtime: jax") == 6 and "runtime: tensorflow" not in log, log


def test_exp_diff_shows_the_changed_param_and_metrics(experiments):
    diff = run(["dvc", "exp", "diff", "jax", "mlp-lr", "--md"], experiments).stdout
    assert "| params.yaml | mlp.lr" in diff and "0.01" in diff
    assert "| params.yaml | train.backend" in diff and "jax" in diff and "tensorflow" in diff
    assert "metrics/eval/accuracy.json" in diff and "latency" not in diff


def test_make_compare_fits_a_120_column_terminal(experiments, revisited, tmp_path):
    """The README's comparison of experiments of one param: every column readable in 120
    columns. In a copy, with the JAX experiments alone (every model retrained), without the
    mlp.lr one, whose param would be a second column."""
    root = tmp_path / "repo"
    shutil.copytree(experiments, root, symlinks=True)
    run(["dvc", "exp", "remove", "mlp-lr"], root)
    dry_run = run(["make", "--dry-run", "--no-print-directory", "compare"], REPO).stdout
    command = dry_run.replace("\\\n", " ").strip().splitlines()[-1]
    shown = run(["bash", "-c", command], root, env={"COLUMNS": "120"}).stdout
    lines = shown.rstrip().splitlines()
    assert max(len(line) for line in lines) <= 120 and "…" not in shown, shown
    header = lines[1].split()
    assert {"Experiment", "train.backend", "mlp.val", "deep_convnet.val"} <= set(header), shown
    assert "jax-again" in shown and "mlp-lr" not in shown


def test_an_experiment_on_one_candidate_shows_its_own_training(experiments):
    """`dvc exp run -S convnet.lr=0.002 train@convnet`: `dvc exp show` has that experiment's
    own training summary (DVCLive's, a declared metric), and `dvc plots diff` draws its curves
    beside the baseline's."""
    name, summary = "convnet-lr", "metrics/train/convnet/metrics.json"
    run(["git", "checkout", "--", "."], experiments)  # the revisit's backend: back to baseline
    run(["dvc", "checkout"], experiments)
    run(["dvc", "exp", "run", "-S", "convnet.lr=0.002", "--name", name, "train@convnet"],
        experiments)  # fmt: skip
    shown = json.loads(run(["dvc", "exp", "show", "--json"], experiments).stdout)
    baseline = next(row for row in shown if row["rev"] != "workspace")
    revision = next(exp["revs"][0] for exp in baseline["experiments"]
                    if exp["revs"][0]["name"] == name)  # fmt: skip
    experiment = revision["data"]["metrics"]
    own, before = experiment[summary]["data"], baseline["data"]["metrics"][summary]["data"]
    assert {"best_val_accuracy", "best_epoch", "step", "params"} <= own.keys()
    assert own != before  # trained anew, at its own learning rate
    committed = run(["git", "show", f"{revision['rev']}:{summary}"], experiments).stdout
    assert own == json.loads(committed)
    mlp = "metrics/train/mlp/metrics.json"  # untouched: the baseline's
    assert experiment[mlp] == baseline["data"]["metrics"][mlp]

    diff = run(["dvc", "plots", "diff", "HEAD", name, "--json"], experiments).stdout
    curve = json.loads(diff)["data"]["metrics/train/convnet/plots/metrics/eval/accuracy.tsv"]
    points = curve[0]["content"]["data"]["values"]
    assert {point["rev"] for point in points} == {"HEAD", name}
    assert all("step" in point for point in points)
