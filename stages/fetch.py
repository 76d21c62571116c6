"""fetch: get MNIST from the configured source into data/raw/mnist.npz, checked."""

from __future__ import annotations

from pathlib import Path

from stages import mnist
from stages.common import UserError, cli, save_npz
from stages.params import load_params

OUTPUT = "data/raw/mnist.npz"


@cli
def main() -> None:
    data = load_params().data
    if data.source == "bundled":
        arrays = mnist.load_npz_source(mnist.BUNDLED_PATH)
    elif data.source == "npz":
        if not Path(data.path).is_file():
            raise UserError(f"data.path: no such file {data.path!r} (source npz needs a .npz file)")
        arrays = mnist.load_npz_source(data.path)
    elif data.source == "idx":
        arrays = mnist.load_idx_source(data.path)
    elif data.source == "tfds":
        arrays = mnist.load_tfds_source(data.path, data.tfds_download)
    else:
        arrays = mnist.download(data.url, data.sha256)
    arrays = mnist.check_arrays(arrays, verify_hashes=data.verify_hashes)
    save_npz(OUTPUT, **arrays)
    print(
        f"fetch: {data.source} -> {OUTPUT}: "
        f"{len(arrays['y_train'])} train, {len(arrays['y_test'])} test images"
    )


if __name__ == "__main__":
    main()
