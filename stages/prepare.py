"""prepare: seeded, stratified train/validation split; the official test set kept as it is.

Reads   data/raw/mnist.npz; params seed, data.limit, prepare.val_fraction, prepare.train_fraction,
        prepare.per_class
Writes  data/prepared/{train,val,test}.npz (uint8 28x28: the models scale the pixels
        themselves, so exported models take raw pixels)
        metrics/data.json (images per split), metrics/data_classes.csv (per digit and split)
"""

from __future__ import annotations

from mnist_nas import paths
from mnist_nas.cli import cli, stage_args
from mnist_nas.data import sources
from mnist_nas.data.splits import class_counts, split
from mnist_nas.files import atomic_path, load_npz, save_npz, write_csv, write_json
from mnist_nas.params import load_params


@cli
def main(argv: list[str] | None = None) -> None:
    stage_args("stages.prepare", __doc__, argv)
    params = load_params()
    arrays = load_npz(paths.RAW, sources.SPLITS)
    prepare = params.prepare
    splits = split(
        arrays,
        prepare.val_fraction,
        prepare.train_fraction,
        params.data.limit,
        params.seed,
        prepare.per_class,
    )
    with atomic_path(paths.PREPARED) as tmp:
        for name, (x, y) in splits.items():
            save_npz(tmp / f"{name}.npz", x=x, y=y)
    write_json(paths.DATA_COUNTS, {name: len(y) for name, (_, y) in splits.items()})
    write_csv(paths.DATA_CLASSES, class_counts(splits))
    sizes = ", ".join(f"{len(y)} {name}" for name, (_, y) in splits.items())
    print(f"prepare: {paths.PREPARED}: {sizes}")


if __name__ == "__main__":
    main()
