"""detector: the non-digit detector, trained on training material only.

A convnet learns the ten digits and "not a digit" (mnist_nas.training.detector) from the
`material` stage's `fit` material: non-digits of each kind made from training digits, and
every training digit drawn on paper and framed alike, keeping its class (learning the whole
split's digits, not as many as the non-digits, lets the threshold refuse fewer of them). The
refusal stage chooses the threshold it refuses at.

Reads   data/material/fit.npz; params seed, refusal.epochs, refusal.batch_size, train.backend,
        train.mixed_precision (auto: bfloat16 on a CPU with it, float16 on a GPU)
Writes  models/refusal/detector.keras
"""

from __future__ import annotations

from mnist_nas import paths
from mnist_nas.cli import cli, stage_args
from mnist_nas.files import save_model
from mnist_nas.params import load_params
from mnist_nas.training.backend import select as select_backend


@cli
def main(argv: list[str] | None = None) -> None:
    stage_args("stages.detector", __doc__, argv)
    params = load_params()
    p = params.refusal
    select_backend(params.train.backend)
    from mnist_nas.data import material
    from mnist_nas.training import detector, runtime

    fit = material.load("fit")
    runtime.setup(params.seed, params.train.mixed_precision)
    examples = detector.examples(fit["digits"], fit["labels"], fit["nondigits"])
    model = detector.train(*examples, p.epochs, p.batch_size, params.seed)
    save_model(model, paths.DETECTOR)
    print(f"detector: {len(fit['digits'])} digits and {len(fit['nondigits'])} non-digits, "
          f"{p.epochs} epochs")  # fmt: skip


if __name__ == "__main__":
    main()
