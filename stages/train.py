"""train: fit one hand-designed candidate on the prepared data (python -m stages.train NAME).

Reads   data/prepared/{train,val}.npz; params seed, lr, epochs, batch_size, train, NAME
        (train.backend: Keras' backend, TensorFlow or JAX)
Writes  models/trained/NAME/model.keras
        metrics/train/NAME/metrics.json and plots/ (DVCLive: the summary, per-epoch curves)
        metrics/train/NAME/time.json (wall time: a timing, never a metric)
Keeps   .dvc/tmp/train/NAME-<key>/: the resume state of an interrupted fit (Keras' backup,
        DVCLive's history); .dvc/tmp/tensorboard/NAME: TensorBoard logs, outside the outputs
"""

from __future__ import annotations

from mnist_nas import paths
from mnist_nas.cli import cli, parser
from mnist_nas.errors import UserError
from mnist_nas.files import save_model, write_json
from mnist_nas.params import CANDIDATES, load_params
from mnist_nas.training.backend import select as select_backend


def parse_name(argv) -> str:
    args = parser("python -m stages.train", __doc__)
    args.add_argument("name", help="a candidate listed under `models` in params.yaml")
    return args.parse_args(argv).name


@cli
def main(argv: list[str] | None = None) -> None:
    name = parse_name(argv)
    params = load_params()
    if name not in CANDIDATES:
        raise UserError(f"{name!r} is not a candidate; the candidates are {', '.join(CANDIDATES)}")

    select_backend(params.train.backend)
    # Imported after the params are checked, so a bad param fails without Keras' start-up.
    from mnist_nas.training.augment import without_augmentation
    from mnist_nas.training.fit import fit_candidate
    from mnist_nas.training.runtime import best_epoch

    model, history, state, timing = fit_candidate(name, params)
    save_model(without_augmentation(model), paths.model_file(name))
    state.publish(paths.train_metrics(name))
    write_json(paths.train_metrics(name) / "time.json", timing)
    best, score = best_epoch(history)
    print(
        f"train: {name}: best val_accuracy {score:.4f} (epoch {history.epoch[best] + 1}) "
        f"in {timing['wall_time_s']:.0f}s -> {paths.model_file(name)}"
    )


if __name__ == "__main__":
    main()
