"""numbers: how the number reader reads handwritten phone numbers, the way the restaurant case
asks (docs/reading.md). Builds numbers.count numbers of numbers.digits digits of each kind,
separated digits and touching ones, from the official test digits only (seeded), and reads
each image through predict's own path (ink, segmentation graph with the digit and pair
readers, number-level confidence and the threshold the reader stage chose on validation).

Not digits: numbers.nondigits of each kind (letters, symbols, scribbles, noise...:
mnist_nas.reading.nondigits, with the report's seeds and fonts, pieces from validation digits)
are read as predict reads an image, and the test digits alone, drawn on paper alike, are judged
as predict judges one.

Reads   data/prepared/test.npz, data/prepared/val.npz (the non-digits' pieces and overlays),
        models/best, models/reader, models/refusal; params seed, numbers.count,
        numbers.digits, numbers.nondigits
Writes  metrics/numbers/summary.json (metric): per kind, the share of numbers read right
        (`read`), the share accepted at the reader's threshold, sent without a person (`sent`),
        and the share of the sent read wrong (`wrong_sent`)
        metrics/numbers/details.json: per kind, digit and number accuracy without reject,
        segmentation errors, accepted, wrong among the accepted, number-level calibration
        error, and what that makes of 2,100 numbers a day
        metrics/numbers/risk_coverage.csv: the share of accepted numbers read wrong against the
        share accepted, most confident first (a DVC plot; plot draws it too)
        metrics/numbers/nondigits.json (metric): the non-digits sent without a person (in all,
        of each kind), the test digits alone accepted and wrong among them, with and without
        the refusal
        metrics/numbers/nondigits.csv: non-digits sent against test digits accepted as the
        refusal threshold moves (a DVC plot)
"""

from __future__ import annotations

from mnist_nas import paths
from mnist_nas.cli import cli, stage_args
from mnist_nas.data.splits import load_split
from mnist_nas.files import write_csv, write_json
from mnist_nas.params import load_params
from mnist_nas.reading.evaluation import KINDS, read_numbers, risk_coverage, summary


@cli
def main(argv: list[str] | None = None) -> None:
    stage_args("stages.numbers", __doc__, argv)
    params = load_params()
    from mnist_nas.reading import nondigits, number, refusal_report

    x, y = load_split("test")
    drawn = nondigits.digit_frames(x, "report", params.seed)  # before TensorFlow: it forks
    reader = number.load(paths.READER, paths.SAVED_MODEL, paths.REFUSAL)
    count, digits = params.numbers.count, params.numbers.digits
    table = read_numbers(x, y, count, digits, params.seed, reader)
    details = {kind: summary(numbers) for kind, numbers in table.groupby("kind")}
    details["all"] = summary(table)
    details["threshold"] = round(reader.number_threshold, 6)
    # read: numbers read right, without reject; sent: accepted, sent without a person
    headline = {
        kind: {
            "read": details[kind]["number_accuracy"],
            "sent": details[kind]["accepted"],
            "wrong_sent": details[kind]["wrong_among_accepted"],
        }
        for kind in KINDS
    }
    write_json(paths.NUMBERS / "details.json", details)
    write_json(paths.NUMBERS / "summary.json", headline)
    write_csv(paths.NUMBERS / "risk_coverage.csv", risk_coverage(table))
    made = refusal_report.read_nondigits(load_split("val")[0], params.numbers.nondigits,
                                         params.seed, reader)  # fmt: skip
    alone = refusal_report.on_digits(reader, drawn, y)
    refused = refusal_report.report(made, alone, reader)
    write_json(paths.NUMBERS / "nondigits.json", refused)
    write_csv(paths.NUMBERS / "nondigits.csv", refusal_report.curve(made, alone, reader))
    for kind in KINDS:
        m = details[kind]
        print(
            f"numbers: {kind}: {m['digit_accuracy']:.2%} of digits and {m['number_accuracy']:.2%}"
            f" of numbers read right; {m['accepted']:.1%} accepted, of which"
            f" {m['wrong_among_accepted']:.2%} wrong; number-level ECE {m['number_ece']:.2%}"
        )
    print(
        f"numbers: non-digits sent {refused['nondigits_sent']:.2%}; test digits alone accepted"
        f" {refused['digits_accepted']:.2%}, {refused['digits_wrong_among_accepted']:.3%} wrong"
    )


if __name__ == "__main__":
    main()
