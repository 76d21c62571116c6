"""Which non-digit detector refuses the fewest digits for the non-digits it stops? Each variant
learns from the material stage's `fit` material (data/material/fit.npz: non-digits of each
kind made from training digits, and every training digit, drawn alike: what the detector
stage learns from) and is judged on its `choose` material (the refusal stage's: non-digits
made from validation digits and the validation digits, drawn alike), with the exported
classifier's digit threshold (a non-digit is sent when it passes it and is not refused):

- at the threshold that sends at most 1% / 2% of each kind: the validation digits it refuses
  though the classifier accepts them;
- at the threshold that refuses at most 0.1% / 0.2% / 0.5% of them: the non-digits sent.

    python bench/nondigit_detector.py [--digits N] [--precision bfloat16] [VARIANT...]

A variant is `stage` (models/refusal/detector.keras as the detector stage last made it, not
trained again) or ARCH:EPOCHS:TARGET: ARCH `pipeline` (mnist_nas.training.detector, trained as the
stage trains it) or `small` (two convolutions, a constant learning rate), TARGET `classes`
(ten digits and not a digit) or `binary` (digit or not). --digits sets how many of the training
digits are learnt (default: every one, as the stage learns them); --precision trains in
mixed bfloat16. Other material first, for example more non-digits of each kind:
`dvc exp run -S refusal.nondigits=16000 material@fit`.
Needs the material stage's outputs and models/best; run it from the project folder.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mnist_nas.reading import refusal


def fit_material(digits: int | None, seed: int) -> dict:
    """The material stage's `fit` material, with a seeded subset of its digits if asked."""
    from mnist_nas.data import material

    fit = material.load("fit")
    if digits is not None and digits < len(fit["digits"]):
        picked = np.random.default_rng(seed).choice(len(fit["digits"]), digits, replace=False)
        fit["digits"], fit["labels"] = fit["digits"][picked], fit["labels"][picked]
    return fit


def small(outputs: int):
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input((28, 28), dtype="uint8"), layers.Reshape((28, 28, 1)),
        layers.Rescaling(1 / 255),
        layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Flatten(), layers.Dropout(0.3), layers.Dense(128, activation="relu"),
        layers.Dense(outputs, activation="softmax"),
    ])  # fmt: skip


def scorer(variant: str, fit: dict, seed: int):
    """The variant trained; a function of frames to their probability of not a digit."""
    import keras

    from mnist_nas.serving import keras_function
    from mnist_nas.training import detector, runtime

    if variant == "stage":
        from mnist_nas.paths import REFUSAL

        return refusal.load(REFUSAL).scores
    arch, epochs, target = variant.split(":")
    x, y = detector.examples(fit["digits"], fit["labels"], fit["nondigits"])
    if target == "binary":
        y = (y == detector.NOT_A_DIGIT).astype("int32")
    keras.utils.set_random_seed(seed)
    outputs = 2 if target == "binary" else detector.NOT_A_DIGIT + 1
    if arch == "pipeline" and target == "binary":
        raise SystemExit("the pipeline's detector has eleven outputs: use `classes`")
    if arch == "pipeline":  # exactly as the detector stage trains it
        model = detector.train(x, y, int(epochs), 128, seed)
    else:
        model = small(outputs)
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(runtime.dataset(x, y, 128, shuffle_seed=seed), epochs=int(epochs), verbose=0)
    call, column = keras_function(model), outputs - 1
    return lambda frames: np.concatenate([call(frames[i : i + 512])[:, column]
                                          for i in range(0, len(frames), 512)])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("variants", nargs="*", default=["pipeline:12:classes", "small:4:binary"])
    parser.add_argument(
        "--digits",
        type=int,
        help="training digits learnt (default: all, as the stage learns them)",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--precision", default="false", choices=["false", "bfloat16"])
    args = parser.parse_args()
    from mnist_nas.data import material
    from mnist_nas.serving import load_classifier, reject_threshold
    from mnist_nas.training import runtime

    fit, choose = fit_material(args.digits, args.seed), material.load("choose")
    classify, digit_threshold = load_classifier(), reject_threshold()
    made, kinds, digits = choose["nondigits"], choose["kinds"], choose["digits"]
    passing = classify(made).max(axis=1) >= digit_threshold
    accepted = classify(digits).max(axis=1) >= digit_threshold
    print(f"without refusal: {passing.mean():.1%} of the non-digits sent")
    runtime.setup(args.seed, False if args.precision == "false" else args.precision)
    for variant in args.variants:
        started = time.perf_counter()
        score = scorer(variant, fit, args.seed)
        on_made, on_digits = score(made), score(digits)
        print(f"{variant} (trained in {time.perf_counter() - started:.0f} s)")
        for max_sent in (0.01, 0.02):
            t = refusal.highest_sending_at_most(on_made, kinds, passing, max_sent)
            print(f"  at most {max_sent:.0%} of each kind sent: digits refused"
                  f" {(accepted & (on_digits >= t)).mean():.2%}")  # fmt: skip
        for max_refused in (0.001, 0.002, 0.005):
            t = refusal.lowest_refusing_at_most(on_digits, accepted, max_refused)
            sent = refusal.shares(passing & (on_made < t), kinds)
            by_kind = " ".join(f"{k} {v:.1%}" for k, v in sent["nondigits_sent_by_kind"].items())
            print(f"  at most {max_refused:.1%} of digits refused: non-digits sent"
                  f" {sent['nondigits_sent']:.1%} ({by_kind})")  # fmt: skip


if __name__ == "__main__":
    main()
