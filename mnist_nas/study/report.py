"""A study's results: one row per run (metrics/studies/NAME.csv) and the validation curves of
every run in one figure (NAME.png), as the books draw them."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from mnist_nas.study.declaration import Run, Study  # noqa: E402

TIMING = ["seconds_per_epoch"]  # the columns that differ between two runs of the same study


def epochs_to_reach(val: pd.Series, reach: float) -> int | None:
    """The first epoch whose validation accuracy is at least `reach` (None: never)."""
    reached = val[val >= reach]
    return int(reached.index[0]) if len(reached) else None


def row(run: Run, recorded: dict, reach: float) -> dict:
    val, train = recorded["val"], recorded["train"]
    return {
        "run": run.label,
        "experiment": run.experiment,
        **{key: json_value(value) for key, value in run.varied.items()},
        "best_val_accuracy": round(float(val.max()), 6),
        "best_epoch": int(val.idxmax()),
        "final_val_accuracy": round(float(val.iloc[-1]), 6),
        "final_train_accuracy": round(float(train.iloc[-1]), 6),
        f"epochs_to_{reach:g}": epochs_to_reach(val, reach),
        "epochs": len(val),
        "params": recorded["params"],
        "seconds_per_epoch": round(recorded["seconds_per_epoch"], 2),
    }


def json_value(value):
    """Lists as their JSON text in a CSV cell ([32, 64]); scalars as they are (null: empty)."""
    import json

    return json.dumps(value) if isinstance(value, list) else value


def table(runs: list[Run], records: list[dict], study: Study, tests: list | None) -> pd.DataFrame:
    pairs = zip(runs, records, strict=True)
    frame = pd.DataFrame([row(run, recorded, study.reach) for run, recorded in pairs])
    reach = f"epochs_to_{study.reach:g}"
    frame[reach] = frame[reach].astype("Int64")  # whole epochs, empty where never reached
    if tests is not None:
        frame.insert(frame.columns.get_loc("final_train_accuracy"), "test_accuracy",
                     [round(t, 6) for t in tests])  # fmt: skip
    return frame


def figure(name: str, study: Study, runs: list[Run], records: list[dict]) -> plt.Figure:
    """Left: the validation curve of every run; right: each run's best validation accuracy."""
    fig, (curves, best) = plt.subplots(
        1, 2, figsize=(13, 5), layout="constrained", gridspec_kw={"width_ratios": [3, 2]}
    )
    colors = plt.colormaps["viridis" if len(runs) > 10 else "tab10"]
    for i, (run, recorded) in enumerate(zip(runs, records, strict=True)):
        color = colors(i / max(len(runs) - 1, 1)) if len(runs) > 10 else colors(i)
        curves.plot(recorded["val"].index, recorded["val"], color=color, label=run.label, lw=1.4)
    curves.axhline(study.reach, color="grey", ls=":", lw=1)
    floor = min(float(rec["val"].quantile(0.25)) for rec in records)
    curves.set(xlabel="epoch", ylabel="validation accuracy", ylim=(max(floor, 0) * 0.98, 1.0),
               title=f"every run's validation curve (dotted: {study.reach:g})")  # fmt: skip
    curves.grid(alpha=0.3)
    curves.legend(fontsize=7, ncol=2 if len(runs) > 8 else 1, loc="lower right")
    labels = [run.label for run in runs]
    best.barh(labels, [float(rec["val"].max()) for rec in records], color="tab:blue")
    best.invert_yaxis()
    low = min(float(rec["val"].max()) for rec in records)
    best.set(xlim=(max(low - 0.02, 0), 1.0), xlabel="best validation accuracy")
    best.tick_params(axis="y", labelsize=7)
    best.grid(axis="x", alpha=0.3)
    fig.suptitle(f"Study {name}: {study.question}")
    return fig
