"""Studies (studies/studies.yaml, mnist-study): the ladder's exact sizes, every optimizer,
transfer learning's frozen and fine-tuned layers, and each kind of study run end to end through
a real DVC queue on a small slice of real MNIST."""

import json
import math
import shutil
import time
from typing import get_args

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, run

from mnist_nas.errors import UserError
from mnist_nas.params import Optimizer, Params, load_params, read_yaml
from mnist_nas.study import declaration

BOOK_SIZES = {"mlp": 328_810, "conv": 2_770_634, "conv+pool": 693_962,
              "conv+pool+dropout": 693_962, "deeper": 110_474}  # fmt: skip


def test_the_ladder_has_the_books_parameter_counts():
    from mnist_nas.training import candidates

    declared = declaration.load(REPO / "studies" / "studies.yaml")
    sizes = {}
    for point in declaration.runs(declared, "ladder"):
        params = Params.model_validate(
            declaration.apply(read_yaml(REPO / "params.yaml"), point.settings)
        )
        sizes[point.label] = candidates.build(point.target.split("@")[1], params).count_params()
    assert sizes == BOOK_SIZES


def test_every_declared_run_passes_the_params_schema():
    declared = declaration.load(REPO / "studies" / "studies.yaml")
    for name in declared.studies:
        points = declaration.runs(declared, name)
        assert len({point.experiment for point in points}) == len(points)
        for point in points:
            declaration.check(point, REPO / "params.yaml")


@pytest.mark.parametrize("name", get_args(Optimizer))
def test_every_optimizer_trains_a_few_steps_and_lowers_the_loss(name, mnist):
    import keras

    from mnist_nas.training import candidates, runtime

    keras.utils.set_random_seed(0)
    x, y = mnist["x_train"][:512], mnist["y_train"][:512]
    model = candidates.build("mlp", load_params(REPO / "params.yaml"))
    runtime.compile_model(model, 0.01, 1, "constant", jit_compile=False, optimizer_name=name)
    before = model.evaluate(x, y, verbose=0)[0]
    model.fit(x, y, batch_size=64, epochs=2, verbose=0)
    assert model.evaluate(x, y, verbose=0)[0] < before


def test_an_unknown_optimizer_names_the_key():
    from mnist_nas.training import runtime

    with pytest.raises(UserError, match=r"^train.optimizer: 'lion' is not one of adam, "):
        runtime.optimizer("lion", 0.001)


@pytest.mark.parametrize(
    ("method", "layers", "trained"),
    [("frozen", 1, []), ("finetune", 1, [1]), ("finetune", 2, [0, 1])],
)
def test_only_the_layers_asked_for_train(method, layers, trained, mnist):
    """Frozen: the base's convolutions keep their weights while the new head learns; fine-tuning
    k of them changes exactly the last k."""
    import keras

    from mnist_nas.training import runtime, transfer

    keras.utils.set_random_seed(0)
    convnet = load_params(REPO / "params.yaml").convnet
    base = transfer.base_model(convnet)
    before = [conv.get_weights()[0].copy() for conv in transfer.convolutions(base)]
    model = transfer.new_task_model(base, convnet, method, layers)
    head = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    head_before = [layer.get_weights()[0].copy() for layer in head]
    x, y = transfer.digits_task((mnist["x_train"][:3000], mnist["y_train"][:3000]),
                                transfer.NEW_DIGITS)  # fmt: skip
    runtime.compile_model(model, 0.01, 1, "constant", jit_compile=False)
    model.fit(x, y, batch_size=64, epochs=1, verbose=0)
    after = [conv.get_weights()[0] for conv in transfer.convolutions(base)]
    changed = [i for i, (b, a) in enumerate(zip(before, after, strict=True))
               if not np.array_equal(b, a)]  # fmt: skip
    assert changed == trained
    assert all(not np.array_equal(b, layer.get_weights()[0])
               for b, layer in zip(head_before, head, strict=True))  # fmt: skip


def test_fine_tuning_more_layers_than_the_base_has_names_the_key():
    from mnist_nas.training import transfer

    convnet = load_params(REPO / "params.yaml").convnet
    with pytest.raises(UserError, match=r"^transfer.finetune_layers: 3 is more than the base's 2"):
        transfer.new_task_model(transfer.base_model(convnet), convnet, "finetune", 3)


def test_the_base_saw_digits_0_to_4_only(project, mnist):
    """The real transfer_base stage of the small project: 0-4 only, and five outputs."""
    from mnist_nas.files import load_model

    record = json.loads((project / "studies" / "transfer" / "base.json").read_text())
    with np.load(project / "data" / "prepared" / "train.npz") as train:
        labels = train["y"]
    assert record["digits"] == [0, 1, 2, 3, 4]
    assert record["train_images"] == int((labels < 5).sum()) < len(labels)
    assert load_model(project / "studies" / "transfer" / "base.keras").output_shape == (None, 5)


def test_the_default_repro_runs_no_study(project):
    """What `dvc repro` ran in the project: the whole default pipeline, and no study stage."""
    log = (project / ".dvc" / "tmp" / "repro.log").read_text()
    assert "Running stage 'evaluate'" in log and "transfer" not in log


def test_a_wrong_key_in_a_study_is_one_line_naming_it(tmp_path):
    bad = tmp_path / "studies.yaml"
    bad.write_text(yaml.safe_dump({"studies": {"s": {
        "question": "q", "target": "train@mlp", "reach": 0.9, "grid": {"mlp.unitz": [[8]]},
    }}}))  # fmt: skip
    result = run(["mnist-study", "s", "--file", str(bad)], REPO, check=False)
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "s-unitz_8: mlp.unitz: no such key in params.yaml" in result.stderr


def test_grids_expand_into_every_combination():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    values = st.lists(st.one_of(st.integers(0, 999), st.sampled_from(["adam", "sgd", None])),
                      min_size=1, max_size=3, unique=True)  # fmt: skip

    @settings(max_examples=50, deadline=None)
    @given(st.dictionaries(st.sampled_from(["lr", "epochs", "mlp.dropout"]), values,
                           min_size=1, max_size=3))  # fmt: skip
    def check(grid):
        study = {"question": "q", "target": "train@mlp", "reach": 0.5, "grid": grid}
        declared = declaration.Declarations.model_validate({"studies": {"s": study}})
        points = declaration.runs(declared, "s")
        assert len(points) == math.prod(len(v) for v in grid.values())
        assert len({json.dumps(p.varied, sort_keys=True) for p in points}) == len(points)
        assert len({p.experiment for p in points}) == len(points)
        for point in points:
            assert set(point.varied) == set(grid)
            assert all(point.settings[k] == v for k, v in point.varied.items())

    check()


SMALL_STUDIES = {"studies": {
    "grid": {"question": "two learning rates", "target": "train@mlp", "reach": 0.3,
             "settings": {"epochs": 2}, "grid": {"lr": [0.01, 0.001]}},
    "ladder": {"question": "two named steps on two stages", "target": "train@convnet",
               "reach": 0.3, "report_test": True, "settings": {"convnet.epochs": 2},
               "grid": {"step": [
                   {"label": "mlp", "target": "train@mlp", "mlp.units": [32]},
                   {"label": "conv", "convnet.filters": [8], "convnet.pool": False}]}},
    "transfer": {"question": "scratch or frozen", "target": "studies/dvc.yaml:transfer",
                 "reach": 0.3, "grid": {"way": [{"transfer.method": "scratch"},
                                                {"transfer.method": "frozen"}]}},
}}  # fmt: skip


@pytest.fixture(scope="module")
def studied(project, tmp_path_factory):
    """A committed copy of the small project, every kind of study run in it through the queue,
    then the grid study again: (the repo, the CSVs of the first run, the second run's output)."""
    root = tmp_path_factory.mktemp("studies") / "repo"
    shutil.copytree(project, root, symlinks=True)
    (root / "studies" / "small.yaml").write_text(yaml.safe_dump(SMALL_STUDIES))
    run(["git", "add", "-A"], root)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base"], root)
    command = ["mnist-study", "all", "--file", "studies/small.yaml", "--jobs", "2"]
    run(command, root)
    first = {name: pd.read_csv(root / "metrics" / "studies" / f"{name}.csv")
             for name in SMALL_STUDIES["studies"]}  # fmt: skip
    again = ["mnist-study", "grid", "--file", "studies/small.yaml", "--jobs", "2"]
    return root, first, run(again, root).stdout


def test_each_kind_of_study_writes_its_table_and_figure(studied):
    root, tables, _ = studied
    assert list(tables["grid"]["lr"]) == [0.01, 0.001]
    assert list(tables["ladder"]["run"]) == ["mlp", "conv"]
    assert list(tables["transfer"]["transfer.method"]) == ["scratch", "frozen"]
    for name, table in tables.items():
        assert table["best_val_accuracy"].between(0, 1).all(), name
        assert (table["best_val_accuracy"] >= table["final_val_accuracy"]).all(), name
        assert (table["seconds_per_epoch"] > 0).all(), name
        png = (root / "metrics" / "studies" / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG"), name
    assert list(tables["grid"]["epochs"]) == [2, 2]
    assert tables["ladder"]["params"][0] == 784 * 32 + 32 + 33 * 10  # the mlp with [32]
    assert tables["ladder"]["test_accuracy"].between(0, 1).all()
    assert "test_accuracy" not in tables["grid"]  # only a study that asks reports it
    # transfer: the frozen base trains only its new head
    assert tables["transfer"]["params"].nunique() == 1


def test_the_experiments_are_dvc_experiments(studied):
    root, tables, _ = studied
    shown = run(["dvc", "exp", "show", "--json"], root).stdout
    for table in tables.values():
        assert all(name in shown for name in table["experiment"])


def test_a_rerun_gives_the_same_tables_apart_from_timings(studied):
    from mnist_nas.study.report import TIMING

    root, first, output = studied
    assert "experiments queued" in output
    again = pd.read_csv(root / "metrics" / "studies" / "grid.csv")
    pd.testing.assert_frame_equal(again.drop(columns=TIMING), first["grid"].drop(columns=TIMING))


def test_a_queued_experiment_is_not_read_as_finished(studied, monkeypatch):
    """dvc exp show lists queued experiments with their baseline's files: they are not results."""
    from mnist_nas.study.runs import finished_experiments

    root, tables, _ = studied
    # the study's queue workers stay alive, idle, and would run it at once: stopped first, so
    # that it stays queued (exp show during a queued run failed once in CI, and hung here)
    run(["dvc", "queue", "stop"], root)
    deadline = time.monotonic() + 120
    while "0 active, 0 idle" not in run(["dvc", "queue", "status"], root, check=False).stdout:
        assert time.monotonic() < deadline, "the queue's workers did not stop in 2 minutes"
        time.sleep(1)
    run(["dvc", "exp", "run", "--queue", "--name", "pending", "-S", "lr=0.02", "train@mlp"], root)
    monkeypatch.chdir(root)
    try:
        finished = finished_experiments()
    finally:
        run(["dvc", "queue", "remove", "pending"], root, check=False)
    assert "pending" not in finished
    assert set(tables["grid"]["experiment"]) <= set(finished)
