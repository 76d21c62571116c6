"""numbers: how the number reader reads handwritten phone numbers, the way the restaurant case
asks (docs/reading.md). Builds numbers.count numbers of numbers.digits digits of each kind,
separated digits and touching ones, from the official test digits only (seeded), and reads
each image through predict's own path (ink, segmentation graph with the digit and pair
readers, number-level confidence and the threshold the reader stage chose on validation).

Reads   data/prepared/test.npz, models/best, models/reader; params seed, numbers.count,
        numbers.digits
Writes  metrics/numbers/summary.json (metric): per kind, the share of numbers read right
        (`read`), the share accepted at the reader's threshold, sent without a person (`sent`),
        and the share of the sent read wrong (`wrong_sent`)
        metrics/numbers/details.json: per kind, digit and number accuracy without reject,
        segmentation errors, accepted, wrong among the accepted, number-level calibration
        error, and what that makes of 2,100 numbers a day
        metrics/numbers/risk_coverage.csv: the share of accepted numbers read wrong against the
        share accepted, most confident first (a DVC plot; plot draws it too)
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
    from mnist_nas.reading import number

    x, y = load_split("test")
    reader = number.load(paths.READER, paths.SAVED_MODEL)
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
    for kind in KINDS:
        m = details[kind]
        print(
            f"numbers: {kind}: {m['digit_accuracy']:.2%} of digits and {m['number_accuracy']:.2%}"
            f" of numbers read right; {m['accepted']:.1%} accepted, of which"
            f" {m['wrong_among_accepted']:.2%} wrong; number-level ECE {m['number_ece']:.2%}"
        )


if __name__ == "__main__":
    main()
