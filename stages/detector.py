"""detector: the non-digit detector, trained on training material only.

1. refusal.nondigits non-digits of each kind (letters, symbols, scribbles, lines, blots,
   noise, specks, pieces and overlays of digits: mnist_nas.reading.nondigits, `fit` seeds and
   fonts) are made from training digits, and framed as predict frames a digit.
2. Every training digit, drawn on paper and framed alike, keeps its class: learning the whole
   split's digits, not as many as the non-digits, lets the threshold refuse fewer of them.
3. A convnet learns the ten digits and "not a digit" from both (mnist_nas.training.detector).
   The refusal stage chooses the threshold it refuses at.

Reads   data/prepared/train.npz; params seed, refusal.nondigits, refusal.epochs,
        refusal.batch_size, train.backend
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
    from mnist_nas.data.splits import load_split
    from mnist_nas.reading import nondigits

    x, y = load_split("train")
    made, _ = nondigits.frames(p.nondigits, x, "fit", params.seed)  # before TensorFlow: it forks
    digits = nondigits.digit_frames(x, "fit", params.seed)

    from mnist_nas.training import detector, runtime

    runtime.setup(params.seed, False)
    examples = detector.examples(digits, y, made)
    model = detector.train(*examples, p.epochs, p.batch_size, params.seed)
    save_model(model, paths.DETECTOR)
    print(f"detector: {len(digits)} digits and {len(made)} non-digits, {p.epochs} epochs")


if __name__ == "__main__":
    main()
