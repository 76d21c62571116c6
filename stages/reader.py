"""reader: the number reader, trained for written rows on the training split only, its
number-level confidence fitted, and its threshold chosen, on numbers of validation digits.

1. Rows of training (and, to score the fits, validation) digits are written with more variety
   than the test numbers (pen width, size, slant, touching) and cut by the project's own
   segmentation graph; each piece is labelled by the digits its ink comes from
   (mnist_nas.reading.pieces): a digit, or "not one digit" (a fragment, a merge).
2. The digit reader: deep_convnet with an 11th output, "not one digit", fine-tuned on them,
   with deep_convnet's own random rotations, shifts and zooms.
3. The pair reader: two touching digits read whole (28x56), on the digit reader's
   convolutions, trained on the pairs of those rows.
4. reader.val_numbers numbers of each kind built from validation digits are read; a logistic
   regression maps each reading's evidence to the probability that it is right, and the
   threshold is the lowest at which at most numbers.max_wrong_accepted of those sent are wrong.

Reads   data/prepared/{train,val}.npz, models/trained/deep_convnet, models/best (the exported
        classifier: one digit alone, and the second reader); params seed, reader,
        numbers.digits, numbers.max_wrong_accepted, train.backend, deep_convnet's augmentation
Writes  models/reader/digits.keras, pairs.keras, confidence.json (the regression, threshold)
        metrics/reader.json (metric): the readers on validation pieces, the validation numbers
"""

from __future__ import annotations

from mnist_nas import paths
from mnist_nas.cli import cli, stage_args
from mnist_nas.errors import UserError
from mnist_nas.files import atomic_path, save_model, write_json
from mnist_nas.params import load_params
from mnist_nas.training.backend import select as select_backend

BASE = "deep_convnet"  # the candidate the digit reader is fine-tuned from


@cli
def main(argv: list[str] | None = None) -> None:
    stage_args("stages.reader", __doc__, argv)
    params = load_params()
    p, digits = params.reader, params.numbers.digits
    select_backend(params.train.backend)
    from mnist_nas.data.splits import load_split
    from mnist_nas.reading.pieces import examples

    train, val = load_split("train"), load_split("val")
    pieces = examples(*train, p.rows, digits, params.seed)  # before TensorFlow starts: it forks
    val_pieces = examples(*val, p.val_rows, digits, params.seed + 1)
    for key, made in (("rows", pieces), ("val_rows", val_pieces)):
        for kind, labels in (("single", made["y"]), ("pair", made["y_pair"])):
            if not len(labels):
                rows = getattr(p, key)
                raise UserError(f"reader.{key}: {rows} rows gave no {kind} pieces; write more")

    from mnist_nas.files import load_model
    from mnist_nas.reading import confidence
    from mnist_nas.reading.evaluation import read_numbers
    from mnist_nas.reading.number import NumberReader
    from mnist_nas.serving import keras_function, load_classifier, reject_threshold
    from mnist_nas.training import runtime
    from mnist_nas.training.augment import without_augmentation
    from mnist_nas.training.number_reader import train_readers, with_augmentation

    runtime.setup(params.seed, False)  # the base's layers keep their own precision
    base, trained_as = load_model(paths.model_file(BASE)), params.deep_convnet
    if trained_as.augment:  # fine-tuned with the augmentation the base was trained with
        base = with_augmentation(base, trained_as.rotation, trained_as.shift, trained_as.zoom)
    digit_model, pair_model, scores = train_readers(
        base, pieces, val_pieces, p.epochs, p.pair_epochs,
        p.pair_units, dropout=0.3, lr=p.lr, batch=p.batch_size, seed=params.seed,
    )  # fmt: skip

    reader = NumberReader(
        load_classifier(),
        reject_threshold(),
        keras_function(digit_model),
        keras_function(pair_model),
    )
    table = read_numbers(*val, p.val_numbers, digits, params.seed, reader)
    fitted, measures = confidence.choose(table, params.numbers.max_wrong_accepted, params.seed)
    with atomic_path(paths.READER) as tmp:
        tmp.mkdir()
        save_model(without_augmentation(digit_model), tmp / "digits.keras")
        save_model(pair_model, tmp / "pairs.keras")
        write_json(tmp / "confidence.json", fitted)
    write_json(paths.READER_SCORES, {**scores, "validation_numbers": measures})
    print(f"reader: pieces {scores}; validation numbers {measures}")


if __name__ == "__main__":
    main()
