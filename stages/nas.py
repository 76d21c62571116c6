"""nas: AutoKeras architecture search on the prepared data, then the winner's full training.

Reads   data/prepared/{train,val}.npz; params seed, nas, train.patience, train.optimizer,
        train.lr_schedule, train.mixed_precision, train.jit_compile, train.backend
Writes  models/trained/nas/model.keras (a plain Keras model with the candidates' uint8 input)
        metrics/nas/trials.csv (each trial's architecture, size, cost, proxy score, and the
        winner's final score), metrics/nas/metrics.json, metrics/nas/time.json (timings),
        metrics/nas/plots/ (DVCLive: the final training's per-epoch curves)
Keeps   NAS_SEARCH_DIR (default .dvc/tmp/nas)/search-<key>: the search, resumed if killed

Trials are a cheap proxy: a few epochs on a stratified share of the training split, scored on
the validation split. The best trial's architecture is then trained from scratch on all the
training data with the candidates' schedule.

Distributed search uses Keras Tuner's own mode. With KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT
and KERASTUNER_TUNER_ID set, a process whose id contains "chief" serves the oracle over gRPC
(run it as `dvc repro nas`); every other id is a worker that runs trials and writes nothing but
its trials' checkpoints (`python -m stages.nas`). All of them must see the same search folder
(NAS_SEARCH_DIR on a shared filesystem). The chief alone writes the outputs.
"""

from __future__ import annotations

import os
import shutil
import time

from mnist_nas import paths
from mnist_nas.cli import cli, stage_args
from mnist_nas.params import load_params
from mnist_nas.training.backend import select as select_backend


@cli
def main(argv: list[str] | None = None) -> None:
    stage_args("stages.nas", __doc__, argv)
    params = load_params()
    nas = params.nas
    select_backend(params.train.backend)
    from mnist_nas.search.trials import distributed_role, search_folder, trial_subset

    role = distributed_role()

    # Imported after the params are checked, so a bad param fails without Keras' start-up.
    from mnist_nas.data.splits import load_split
    from mnist_nas.search.automodel import automodel, run_trials
    from mnist_nas.search.final import final_training, write_outputs
    from mnist_nas.search.space import WorkerFinished, describe
    from mnist_nas.training import runtime
    from mnist_nas.training.resume import FitState

    strategy = runtime.setup(params.seed, mixed_precision=False)  # AutoKeras' head: float32
    x_train, y_train = load_split("train")
    trial_data = trial_subset(x_train, y_train, nas.trial_fraction, params.seed)
    directory = search_folder(params, role)
    # AutoKeras and keras-tuner treat seed 0 as "no seed"; the global Keras seed is set too.
    search, block = automodel(nas, params.seed or 1, directory)
    if role == "chief":
        address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
        print(f"nas chief: serving {nas.max_trials} trials on {address}, search in {directory}")
    started = time.perf_counter()
    try:
        run_trials(search, nas, trial_data, load_split("val"))
    except WorkerFinished as finished:
        tuner_id = os.environ["KERASTUNER_TUNER_ID"]
        print(f"nas worker {tuner_id}: ran trials {', '.join(finished.args[0]) or 'none'}")
        return
    search_time = time.perf_counter() - started
    best = search.tuner.oracle.get_best_trials(1)[0]
    arch = block.architecture(best.hyperparameters.values)
    print(f"nas: best trial {best.trial_id} ({nas.objective} {best.score:.4f}): {describe(arch)}")

    started = time.perf_counter()
    state = FitState(directory / "final")
    lr = best.hyperparameters.get("learning_rate")
    model, history = final_training(params, arch, lr, state, strategy)
    final_time = time.perf_counter() - started
    seconds = {"search_time_s": round(search_time, 1), "final_training_s": round(final_time, 1)}
    write_outputs(params, search, block, best, model, history, seconds)
    state.publish(paths.NAS, summary=False)
    shutil.rmtree(directory)
    print(
        f"nas: trial {best.trial_id} trained in {final_time:.0f}s after a {search_time:.0f}s "
        f"search: val_accuracy {max(history.history['val_accuracy']):.4f} -> "
        f"{paths.model_file('nas')}"
    )


if __name__ == "__main__":
    main()
