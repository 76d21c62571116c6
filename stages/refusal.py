"""refusal: the threshold at which the non-digit detector refuses, chosen on validation
material only, for the exported classifier it guards.

1. The `material` stage's `choose` material: non-digits of each kind made from validation
   digits, with seeds and fonts the detector never saw, and the validation digits drawn on
   paper and framed alike.
2. A non-digit is sent without a person when the exported classifier's probability reaches
   its digit threshold and the detector's is below the refusal threshold. The threshold is the
   highest at which at most refusal.max_sent of each kind are sent, unless that refuses more
   than refusal.max_refused of the validation digits the classifier accepts: then the lowest
   that refuses no more (mnist_nas.reading.refusal.threshold).

Reads   data/material/choose.npz, models/refusal/detector.keras, models/best (the classifier
        and its threshold); params refusal.max_sent, refusal.max_refused
Writes  models/refusal/threshold.json
        metrics/refusal.json (metric): the threshold, the validation non-digits sent (in all
        and of each kind) and the validation digits refused though accepted
"""

from __future__ import annotations

from mnist_nas import paths
from mnist_nas.cli import cli, stage_args
from mnist_nas.files import write_json
from mnist_nas.params import load_params


@cli
def main(argv: list[str] | None = None) -> None:
    stage_args("stages.refusal", __doc__, argv)
    params = load_params()
    p = params.refusal
    from mnist_nas.data import material
    from mnist_nas.files import load_model
    from mnist_nas.reading import refusal
    from mnist_nas.serving import keras_function, load_classifier, reject_threshold

    choose = material.load("choose")
    made, kinds, digits = choose["nondigits"], choose["kinds"], choose["digits"]
    classify, digit_threshold = load_classifier(), reject_threshold()
    scored = refusal.Refusal(keras_function(load_model(paths.DETECTOR)), 0.0)
    passing = classify(made).max(axis=1) >= digit_threshold
    accepted = classify(digits).max(axis=1) >= digit_threshold
    on_made, on_digits = scored.scores(made), scored.scores(digits)
    chosen = refusal.threshold((on_made, kinds, passing), (on_digits, accepted), p.max_sent,
                               p.max_refused)  # fmt: skip
    measures = {
        "threshold": round(chosen, 6),
        **refusal.shares(passing & (on_made < chosen), kinds),
        "digits_refused": round(float((accepted & (on_digits >= chosen)).mean()), 6),
    }
    write_json(paths.REFUSAL_THRESHOLD, {"threshold": chosen, "max_sent": p.max_sent,
                                         "max_refused": p.max_refused})  # fmt: skip
    write_json(paths.REFUSAL_SCORES, measures)
    print(f"refusal: {measures}")


if __name__ == "__main__":
    main()
