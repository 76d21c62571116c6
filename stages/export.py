"""export: package the best model of the leaderboard, chosen on the validation split, in
models/best for serving. The test set is for reporting only: nothing here chooses by it.

Reads   metrics/eval/leaderboard.json, metrics/data.json, metrics/ensemble.json, models/trained,
        models/ensemble, data/prepared/val.npz (calibration is fitted here) and test.npz
        (reported only); params export.*, and what the model card records
Writes  models/best/model.keras         the chosen model as trained
        models/best/saved_model/        SavedModel: serving_default takes `images`, uint8
                                        [batch, 28, 28], white digit on black, and returns
                                        `probabilities`, float32 [batch, 10], calibrated
        models/best/calibration.json    the temperature and the reject threshold
        models/best/MODEL_CARD.md       which model, why, its metrics, data, params, provenance
        models/best/best.json           the chosen model's name, scores and model.keras' sha256
        metrics/export.json (metric)    which model was exported, its test accuracy and
                                        calibration error (after temperature scaling)
        metrics/calibration/            calibration.json (every measure before and after
                                        scaling), reliability/{raw,calibrated}.csv

Calibration: temperature scaling fitted on the validation split, so that a digit read at 97% is
right about 97 times in 100; the reject threshold is the lowest confidence at which at most
export.max_wrong_accepted of the accepted validation digits are wrong.
"""

from __future__ import annotations

import hashlib
import json
import shutil

from mnist_nas import paths
from mnist_nas.cli import cli, stage_args
from mnist_nas.files import atomic_path, write_csv, write_json
from mnist_nas.params import load_params
from mnist_nas.scoring.selection import select_best


@cli
def main(argv: list[str] | None = None) -> None:
    stage_args("stages.export", __doc__, argv)
    params = load_params()
    leaderboard = json.loads(paths.LEADERBOARD.read_text())
    name = select_best(leaderboard, params.export.select_by)

    import keras

    from mnist_nas.card import model_card
    from mnist_nas.data.splits import load_split
    from mnist_nas.files import load_model
    from mnist_nas.scoring.calibration import calibrate
    from mnist_nas.serving import export_saved_model

    keras.utils.set_random_seed(params.seed)  # the state of the layers' seed generators
    source = paths.model_file(name)
    model = load_model(source)
    val, test = load_split("val"), load_split("test")
    fitted, measures, reliability = calibrate(
        (val[1], model.predict(val[0], batch_size=256, verbose=0)),
        (test[1], model.predict(test[0], batch_size=256, verbose=0)),
        params.export.max_wrong_accepted,
    )
    data = json.loads(paths.DATA_COUNTS.read_text())
    sha256 = hashlib.sha256(source.read_bytes()).hexdigest()
    with atomic_path(paths.BEST) as tmp:
        tmp.mkdir()
        shutil.copyfile(source, tmp / "model.keras")
        export_saved_model(model, tmp / "saved_model", fitted["temperature"])
        write_json(tmp / "calibration.json", fitted)
        card = model_card(name, params, leaderboard, data, measures, sha256)
        (tmp / "MODEL_CARD.md").write_text(card)
        best = {"model": name, "select_by": params.export.select_by, "sha256": sha256,
                **leaderboard[name]}  # fmt: skip
        write_json(tmp / "best.json", best)
    write_json(paths.CALIBRATION / "calibration.json", measures)
    for which, table in reliability.items():
        write_csv(paths.CALIBRATION / "reliability" / f"{which}.csv", table)
    write_json(
        paths.EXPORTED,
        {
            "exported": name,
            "test_accuracy": leaderboard[name]["test_accuracy"],
            "test_ece": measures["test_ece_after"],
        },
    )
    print(
        f"export: {name} ({params.export.select_by} {leaderboard[name][params.export.select_by]})"
        f" -> {paths.BEST}/model.keras, saved_model; temperature {fitted['temperature']:.3f},"
        f" test ECE {measures['test_ece_before']:.2%} -> {measures['test_ece_after']:.2%},"
        f" reject threshold {fitted['threshold']:.4f}"
    )


if __name__ == "__main__":
    main()
