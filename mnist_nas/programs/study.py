"""mnist-study: compare finished experiments that change one param (mnist-study PARAM).

Collects the experiments in `dvc exp show --json` whose params differ from their baseline in PARAM
alone (the baseline itself included), and plots the validation accuracy of each model they
retrained (metrics/eval/accuracy.json) against PARAM: metrics/studies/PARAM.png, with the
numbers in PARAM.csv. Validation, not test, accuracy: a study chooses settings, and choosing on
the test set would overfit it.

    dvc exp run --queue -S 'convnet.lr=0.0003,0.001,0.003,0.01'
    dvc queue start && dvc queue status   # wait until they are done
    mnist-study convnet.lr
"""

from __future__ import annotations

import json
import subprocess

import matplotlib.pyplot as plt
import pandas as pd

from mnist_nas import paths
from mnist_nas.cli import cli, parser
from mnist_nas.errors import UserError
from mnist_nas.files import atomic_path, write_csv

STUDIES = paths.METRICS / "studies"
MISSING = object()


def lookup(params: dict, dotted: str):
    value = params
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return MISSING
        value = value[key]
    return value


def without(params: dict, dotted: str) -> dict:
    """A copy of params with the dotted key removed."""
    *parents, leaf = dotted.split(".")
    copy = json.loads(json.dumps(params))
    section = copy
    for key in parents:
        section = section.get(key, {})
    section.pop(leaf, None)
    return copy


def finished_runs(exp_show: list[dict]) -> list[tuple[dict, dict]]:
    """(baseline, run) pairs of every finished experiment, each baseline paired with itself."""
    runs = []
    for baseline in exp_show:
        if baseline["rev"] == "workspace" or not baseline.get("data"):
            continue
        runs.append((baseline, baseline))
        for experiment in baseline.get("experiments") or []:
            head = experiment["revs"][0]
            if head.get("data") and not head.get("error"):
                runs.append((baseline, head))
    return runs


def params_of(run: dict) -> dict:
    return run["data"]["params"]["params.yaml"]["data"]


def collect(exp_show: list[dict], param: str) -> pd.DataFrame:
    """One row per run that changes only `param`: its value and each model's validation accuracy."""
    rows = []
    for baseline, run in finished_runs(exp_show):
        base, own = params_of(baseline), params_of(run)
        if lookup(own, param) is MISSING or without(own, param) != without(base, param):
            continue
        row = {param: json.dumps(lookup(own, param)), "experiment": run.get("name") or run["rev"]}
        accuracy = run["data"]["metrics"].get(str(paths.ACCURACY), {}).get("data", {})
        row |= {name: scores["val"] for name, scores in accuracy.items()}
        rows.append(row)
    table = pd.DataFrame(rows).drop_duplicates(subset=param, keep="last")
    if len(table) < 2:
        raise UserError(
            f"{param}: fewer than two finished experiments differ from their baseline in it alone"
        )
    retrained = [c for c in table.columns[2:] if table[c].nunique() > 1]  # the rest did not rerun
    values = table[param].map(json.loads)
    order = values.map(lambda v: (0, v, "") if isinstance(v, int | float) else (1, 0, str(v)))
    return table.assign(_order=order).sort_values("_order")[[param, "experiment", *retrained]]


def plot(table: pd.DataFrame, param: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    values = table[param].map(json.loads)
    numeric = all(isinstance(v, int | float) and v > 0 for v in values)
    x = values if numeric else range(len(values))
    for candidate in table.columns[2:]:
        ax.plot(x, table[candidate], marker="o", label=candidate)
    if numeric and values.max() / values.min() >= 10:
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(list(x), table[param])
    ax.set(xlabel=param, ylabel="validation accuracy", title=f"Study: {param}")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


@cli
def main(argv: list[str] | None = None) -> None:
    args = parser("mnist-study", __doc__)
    args.add_argument("param", help="dotted params.yaml key the experiments vary, e.g. lr")
    args = args.parse_args(argv)
    shown = subprocess.run(["dvc", "exp", "show", "--json"], capture_output=True, text=True)
    if shown.returncode != 0:
        raise UserError(f"dvc exp show failed: {shown.stderr.strip().splitlines()[-1]}")
    table = collect(json.loads(shown.stdout), args.param)
    write_csv(STUDIES / f"{args.param}.csv", table)
    fig = plot(table, args.param)
    with atomic_path(STUDIES / f"{args.param}.png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    print(table.to_string(index=False))
    print(f"study: {len(table)} runs -> {STUDIES / args.param}.png")


if __name__ == "__main__":
    main()
