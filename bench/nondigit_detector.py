"""Can a detector trained for it alone tell digits from non-digits? (issue 35's next step.)
A small convnet, digit (0) against not a digit (1), on training digits and as many non-digits
made for fitting (mnist_nas.reading.nondigits, `fit` seeds and fonts); its threshold chosen on
`choose` non-digits made from validation digits, as the refusal would be; then the share of
validation and test digits it would refuse, and of `choose` non-digits it would let through,
per kind. Frames only (no paper, no segmentation): an upper bound for the reading path.

    python bench/nondigit_detector.py [--count 2000] [--epochs 4] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def detector():
    import keras

    return keras.Sequential([
        keras.Input((28, 28), dtype="uint8"), keras.layers.Reshape((28, 28, 1)),
        keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(64, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Flatten(), keras.layers.Dropout(0.3),
        keras.layers.Dense(128, activation="relu"), keras.layers.Dense(1, activation="sigmoid"),
    ])  # fmt: skip


def highest_threshold(scores: np.ndarray, max_sent: float) -> float:
    """The highest threshold at which at most max_sent of these non-digits score below it."""
    ranked = np.sort(scores)
    return float(ranked[int(np.floor(max_sent * len(ranked)))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000, help="fitting non-digits per kind")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from mnist_nas.data.splits import load_split
    from mnist_nas.reading import nondigits

    (train, _), (val, _), (test, _) = load_split("train"), load_split("val"), load_split("test")
    started = time.perf_counter()
    negatives, _ = nondigits.frames(args.count, train, "fit", args.seed)
    choose, kinds = nondigits.frames(150, val, "choose", args.seed)
    made = time.perf_counter() - started
    import keras

    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    positives = train[rng.choice(len(train), len(negatives), replace=False)]
    x = np.concatenate([positives, negatives])
    y = np.r_[np.zeros(len(positives)), np.ones(len(negatives))].astype("float32")
    model = detector()
    model.compile("adam", "binary_crossentropy")
    model.fit(x, y, batch_size=128, epochs=args.epochs, shuffle=True, verbose=0)
    trained = time.perf_counter() - started - made

    def score(frames):
        return model.predict(frames, batch_size=512, verbose=0)[:, 0]

    on_choose, on_val, on_test = score(choose), score(val), score(test)
    print(f"{len(negatives)} fitting non-digits made in {made:.0f} s; trained in {trained:.0f} s")
    for max_sent in (0.01, 0.02, 0.05):
        threshold = highest_threshold(on_choose, max_sent)
        sent = {kind: f"{(on_choose[kinds == kind] < threshold).mean():.1%}"
                for kind in nondigits.KINDS}  # fmt: skip
        refused = (on_val >= threshold).mean(), (on_test >= threshold).mean()
        print(
            f"max sent {max_sent:.0%}: threshold {threshold:.4f}, validation digits refused"
            f" {refused[0]:.2%}, test digits {refused[1]:.2%}; non-digits read per kind {sent}"
        )


if __name__ == "__main__":
    main()
