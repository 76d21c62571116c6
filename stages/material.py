"""material: what the non-digit detector learns from (`fit`) and what its threshold is chosen
on (`choose`), drawn on paper and framed as predict frames a digit
(python -m stages.material PURPOSE).

- fit: refusal.nondigits non-digits of each kind (letters, symbols, scribbles, lines, blots,
  noise, specks, pieces and overlays of digits: mnist_nas.reading.nondigits, with the `fit`
  seeds and fonts) made from the training digits, and every training digit drawn alike.
- choose: refusal.val_nondigits of each kind made from the validation digits, with the
  `choose` seeds and fonts the detector never sees, and every validation digit drawn alike.

A stage of its own, so that training the detector again (refusal.epochs, train.backend, its
code) or choosing its threshold again (refusal.max_sent) does not draw the images again:
drawing and framing the 126,000 of `fit` takes about 8.5 minutes on 2 cores.

Reads   data/prepared/train.npz (fit) or val.npz (choose); params seed, refusal.nondigits
        (fit) or refusal.val_nondigits (choose)
Writes  data/material/PURPOSE.npz: nondigits (uint8 [n, 28, 28]) and their kinds, digits
        (uint8 [m, 28, 28]) and their labels
"""

from __future__ import annotations

from mnist_nas.cli import cli, parser
from mnist_nas.data import material
from mnist_nas.params import load_params

SPLITS = {"fit": "train", "choose": "val"}  # where each purpose's digits come from


@cli
def main(argv: list[str] | None = None) -> None:
    args = parser("python -m stages.material", __doc__)
    args.add_argument("purpose", choices=list(SPLITS))
    purpose = args.parse_args(argv).purpose
    params = load_params()
    p = params.refusal
    from mnist_nas.data.splits import load_split
    from mnist_nas.reading import nondigits

    count = p.nondigits if purpose == "fit" else p.val_nondigits
    arrays = nondigits.material(*load_split(SPLITS[purpose]), count, purpose, params.seed)
    material.save(purpose, arrays)
    print(f"material: {purpose}: {len(arrays['nondigits'])} non-digits, "
          f"{len(arrays['digits'])} digits -> {material.file(purpose)}")  # fmt: skip


if __name__ == "__main__":
    main()
