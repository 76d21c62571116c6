"""mnist-study: run a study declared in studies/studies.yaml (mnist-study NAME, or
`make study NAME=...`), as DVC experiments.

Queues one experiment per point of the study's grid (dvc exp run --queue --name NAME-POINT
-S key=value ... STAGE), runs the queue with --jobs workers, waits, and writes what each run
recorded on the validation split: metrics/studies/NAME.csv (the params varied, best and final
validation accuracy, the first epoch that reached the study's accuracy, parameters, seconds per
epoch) and NAME.png (every run's validation curve in one figure). The test set decides nothing
here; a study with report_test (the ladder) reports it beside validation, to compare with a book.

Experiments run from the current commit and your uncommitted changes to tracked files; every
stage a run shares with an earlier one comes back from DVC's run-cache. `dvc exp show` lists
them; --collect rewrites the CSV and figure from the finished experiments without running any
(--rev: those of another baseline commit than HEAD).

    mnist-study --list
    mnist-study optimizer --jobs 2
"""

from __future__ import annotations

from pathlib import Path

from mnist_nas import paths
from mnist_nas.cli import cli, parser
from mnist_nas.errors import UserError
from mnist_nas.files import atomic_path, write_csv
from mnist_nas.study import declaration


def parse(argv):
    args = parser("mnist-study", __doc__)
    args.add_argument("name", nargs="?", help="a study in studies/studies.yaml, or `all`")
    args.add_argument("--jobs", type=int, default=2, help="queue workers at once (default 2)")
    args.add_argument("--collect", action="store_true", help="only collect finished runs")
    args.add_argument("--rev", default="HEAD", help="--collect: the experiments' baseline commit")
    args.add_argument("--list", action="store_true", help="list the studies and their runs")
    args.add_argument("--file", default=str(paths.DECLARATIONS), help="the declarations")
    args = args.parse_args(argv)
    if not args.list and not args.name:
        args.error("name a study (or --list)")
    if args.jobs < 1:
        args.error(f"--jobs: {args.jobs} is not a positive number of workers")
    return args


def collect(name: str, study, runs, baseline: str) -> None:
    """Write the study's CSV and figure from its experiments finished on commit `baseline`."""
    from mnist_nas.study import report
    from mnist_nas.study.runs import finished_experiments, record, test_accuracy

    finished = finished_experiments(baseline)
    missing = [run.experiment for run in runs if run.experiment not in finished]
    if missing:
        raise UserError(
            f"study {name}: no finished experiment {', '.join(missing)} based on {baseline}"
        )
    revs = [finished[run.experiment] for run in runs]
    pairs = list(zip(runs, revs, strict=True))
    records = [record(run, rev) for run, rev in pairs]
    tests = [test_accuracy(run, rev) for run, rev in pairs] if study.report_test else None
    frame = report.table(runs, records, study, tests)
    write_csv(paths.STUDY_RESULTS / f"{name}.csv", frame)
    with atomic_path(paths.STUDY_RESULTS / f"{name}.png") as tmp:
        report.figure(name, study, runs, records).savefig(tmp, dpi=100, format="png")
    print(frame.drop(columns="experiment").to_string(index=False))
    print(f"study {name}: {len(runs)} runs -> {paths.STUDY_RESULTS / name}.csv and .png")


@cli
def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    declared = declaration.load(Path(args.file))
    if args.list:
        for name in declared.studies:
            runs = declaration.runs(declared, name)
            print(f"{name} ({len(runs)} runs): {declared.studies[name].question}")
        return
    names = list(declared.studies) if args.name == "all" else [args.name]
    plans = {name: declaration.runs(declared, name) for name in names}
    for runs in plans.values():
        for run in runs:
            declaration.check(run)  # every run's params, before anything is queued
    baseline = args.rev
    if not args.collect:
        from mnist_nas.study.runs import head, queue, run_queue

        baseline = head()  # the experiments' baseline, even if a commit follows meanwhile
        every = [run for runs in plans.values() for run in runs]
        queue(every)
        print(f"mnist-study: {len(every)} experiments queued; running {args.jobs} at a time")
        run_queue(every, args.jobs)
    for name, runs in plans.items():
        collect(name, declared.studies[name], runs, baseline)


if __name__ == "__main__":
    main()
