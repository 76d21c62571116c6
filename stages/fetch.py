"""fetch: get MNIST from the configured source into data/raw/mnist.npz, checked.

Reads   params data.*: the source (bundled data/mnist.npz, offline; a keras download; a local
        .npz, IDX files or TFDS folder at data.path) and whether to verify the official hashes
Writes  data/raw/mnist.npz: x_train, y_train, x_test, y_test, uint8
"""

from __future__ import annotations

from pathlib import Path

from mnist_nas import paths
from mnist_nas.cli import cli, stage_args
from mnist_nas.data import sources
from mnist_nas.errors import UserError
from mnist_nas.files import save_npz
from mnist_nas.params import load_params


@cli
def main(argv: list[str] | None = None) -> None:
    stage_args("stages.fetch", __doc__, argv)
    data = load_params().data
    if data.source == "bundled":
        arrays = sources.load_npz_source(paths.BUNDLED)
    elif data.source == "npz":
        if not Path(data.path).is_file():
            raise UserError(f"data.path: no such file {data.path!r} (source npz needs a .npz file)")
        arrays = sources.load_npz_source(data.path)
    elif data.source == "idx":
        arrays = sources.load_idx_source(data.path)
    elif data.source == "tfds":
        arrays = sources.load_tfds_source(data.path, data.tfds_download)
    else:
        arrays = sources.download(data.url, data.sha256)
    arrays = sources.check_arrays(arrays, verify_hashes=data.verify_hashes)
    save_npz(paths.RAW, **arrays)
    print(
        f"fetch: {data.source} -> {paths.RAW}: "
        f"{len(arrays['y_train'])} train, {len(arrays['y_test'])} test images"
    )


if __name__ == "__main__":
    main()
