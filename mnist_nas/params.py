"""The typed schema of params.yaml. Every stage validates the whole file before doing work, and
reads it as DVC does."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mnist_nas import paths
from mnist_nas.errors import UserError

PositiveInt = Annotated[int, Field(gt=0)]
# Layer widths: a bound keeps a typo (units: 5120000) from a run that cannot fit in memory.
Width = Annotated[int, Field(gt=0, le=8192)]


class Section(BaseModel):
    # No defaults: params.yaml is the one place values live, and DVC tracks them by key there.
    # strict: "0.1" stays a string and is rejected, instead of being coerced silently.
    # allow_inf_nan=False: .inf and .nan are valid YAML floats, and never a valid setting here.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class DataParams(Section):
    source: Literal["bundled", "keras", "npz", "idx", "tfds"]
    path: Annotated[str, Field(min_length=1)]
    url: Annotated[str, Field(pattern=r"^(https?|file)://")]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    tfds_download: bool  # source tfds: let TFDS download and prepare mnist into data.path
    verify_hashes: bool
    limit: Annotated[int, Field(ge=10)] | None


class PrepareParams(Section):
    val_fraction: Annotated[float, Field(gt=0, lt=1)]
    train_fraction: Annotated[float, Field(gt=0, le=1)]  # of the training split kept
    per_class: PositiveInt | None  # then at most this many images of each digit; null: all


# train.mixed_precision: auto is float16 on a GPU, bfloat16 on a CPU with AVX512-BF16 or AMX,
# float32 elsewhere; true is float16, false float32.
Precision = Literal["auto", "float16", "bfloat16", True, False]
Backend = Literal["tensorflow", "jax"]  # Keras 3's backend for the training stages

# train.optimizer: every one at the candidate's lr; momentum and nesterov are SGD with momentum 0.9.
Optimizer = Literal[
    "adam", "adamw", "sgd", "momentum", "nesterov", "rmsprop", "adagrad", "adadelta"
]

ModelName = Literal["mlp", "convnet", "deep_convnet"]
CANDIDATES: tuple[str, ...] = get_args(ModelName)  # the hand-designed candidates, in order


class TrainParams(Section):
    patience: PositiveInt
    optimizer: Optimizer
    lr_schedule: Literal["cosine", "constant"]
    # gradient steps per epoch; null: one pass over the training split. Fixed, a data-size study
    # gives every training set the same number of steps (a small one is repeated).
    steps_per_epoch: PositiveInt | None
    mixed_precision: Precision
    jit_compile: Literal["auto"] | bool  # auto: Keras' choice, XLA on GPUs, off on CPUs
    input_size: Annotated[int, Field(ge=7, le=28)]  # digits resized to this inside the model
    backend: Backend  # train, nas and reader; the stages after them read the .keras files on TF


class CandidateParams(Section):
    """What every candidate may set; a null lr, epochs or batch_size takes the top-level one, a
    null mixed_precision train.mixed_precision."""

    lr: Annotated[float, Field(gt=0)] | None
    epochs: PositiveInt | None
    batch_size: PositiveInt | None
    mixed_precision: Precision | None  # null: train.mixed_precision


class MlpParams(CandidateParams):
    units: Annotated[list[Width], Field(min_length=1)]
    dropout: Annotated[float, Field(ge=0, lt=1)]


class ConvnetParams(CandidateParams):
    filters: Annotated[list[Width], Field(min_length=1, max_length=4)]
    pool: bool  # 2x2 max-pooling after each conv
    dense_units: Annotated[int, Field(ge=0, le=8192)]  # 0: none
    dropout: Annotated[float, Field(ge=0, lt=1)]


class DeepConvnetParams(CandidateParams):
    filters: Annotated[list[Width], Field(min_length=1, max_length=4)]
    kernel_size: Literal[3, 5, 7]  # of the first convolution, on the single-channel input
    # batch normalisation after every conv, after each block's last (strided) conv, or none
    batch_norm: Literal["every", "last", "none"]
    dense_units: Width
    dropout: Annotated[float, Field(ge=0, lt=1)]
    global_pool: bool
    augment: bool
    rotation: Annotated[float, Field(ge=0, le=180)]  # degrees, either way
    shift: Annotated[float, Field(ge=0, lt=1)]  # fraction of the image size, either way
    zoom: Annotated[float, Field(ge=0, lt=1)]  # fraction of the image size, in or out


class NasParams(Section):
    max_trials: PositiveInt
    trial_epochs: PositiveInt  # per trial: the cheap proxy
    trial_fraction: Annotated[float, Field(gt=0, le=1)]  # of the training split, per trial
    epochs: PositiveInt  # the winner's final training on the whole training split
    batch_size: PositiveInt
    tuner: Literal["greedy", "bayesian", "hyperband", "random"]
    objective: Literal["val_accuracy", "val_loss"]
    max_model_size: PositiveInt  # parameters; bigger candidates are skipped
    max_mflops: Annotated[float, Field(gt=0)]  # per image, forward; costlier ones are skipped


class TransferParams(Section):
    """The transfer study (studies/dvc.yaml): a base convnet (the convnet section's layers) learns
    digits 0-4, then digits 5-9 are learnt from scratch, on the base's frozen convolutions, or
    with its last `finetune_layers` convolutions trained too; a new dense head each time."""

    base_epochs: PositiveInt
    epochs: PositiveInt
    steps_per_epoch: PositiveInt  # the same number of steps at every data size
    batch_size: PositiveInt
    lr: Annotated[float, Field(gt=0)]
    per_class: PositiveInt | None  # training images of each digit 5-9; null: all
    method: Literal["scratch", "frozen", "finetune"]
    finetune_layers: PositiveInt  # finetune: the base's last k convolutions train


class EvaluateParams(Section):
    latency_runs: PositiveInt  # timed predictions per batch size; the median is reported


class EnsembleParams(Section):
    max_members: PositiveInt  # at most this many models averaged, chosen on validation


class ExportParams(Section):
    # on the validation split; ties go to the smaller model
    select_by: Literal["val_accuracy", "val_macro_f1", "val_loss"]
    # the share of wrongly read digits among those accepted, on the validation split
    max_wrong_accepted: Annotated[float, Field(gt=0, lt=1)]


class ReaderParams(Section):
    """The number reader (stages/reader.py): deep_convnet fine-tuned on pieces cut from
    synthetic rows of training digits, with a "not one digit" output; a pair reader for
    touching digits; a number-level confidence fitted on numbers of validation digits."""

    rows: Annotated[int, Field(gt=0, le=1_000_000)]  # rows of training digits cut for examples
    val_rows: Annotated[int, Field(gt=0, le=100_000)]  # rows of validation digits, to score fits
    epochs: PositiveInt  # the digit reader's fine-tuning
    pair_epochs: PositiveInt
    lr: Annotated[float, Field(gt=0)]
    batch_size: PositiveInt
    pair_units: Width  # the pair reader's dense layer
    val_numbers: Annotated[int, Field(gt=0, le=100_000)]  # of each kind: confidence fit, threshold


class RefusalParams(Section):
    """Refusing what is not a digit: the detector (stages/detector.py), trained on non-digits
    made from training digits; its threshold (stages/refusal.py), chosen on others made from
    validation digits and on the validation digits."""

    nondigits: Annotated[int, Field(gt=0, le=100_000)]  # of each kind, to learn from
    epochs: PositiveInt
    batch_size: PositiveInt
    val_nondigits: Annotated[int, Field(gt=0, le=100_000)]  # of each kind: the threshold
    max_sent: Annotated[float, Field(ge=0, lt=1)]  # of each kind, sent without a person
    max_refused: Annotated[float, Field(ge=0, lt=1)]  # of the validation digits, refused


class NumbersParams(Section):
    count: Annotated[int, Field(gt=0, le=100_000)]  # numbers of each kind
    digits: Annotated[int, Field(ge=1, le=40)]  # per number
    # the share of wrong numbers among those sent without a person, on validation numbers
    max_wrong_accepted: Annotated[float, Field(gt=0, lt=1)]
    nondigits: Annotated[int, Field(gt=0, le=100_000)]  # of each kind, read for the report


class PlotParams(Section):
    # Bounded so that every figure stays under matplotlib's limit of 2**16 pixels a side;
    # below 10 dpi FreeType cannot size the fonts (a 1-pixel glyph), so matplotlib raises.
    errors: Annotated[int, Field(gt=0, le=240)]  # misclassified test digits shown
    saliency: Annotated[int, Field(gt=0, le=24)]  # test digits with an integrated-gradients map
    dpi: Annotated[int, Field(ge=10, le=600)]


class Params(Section):
    seed: Annotated[int, Field(ge=0, lt=2**32)]  # NumPy's and scikit-learn's seed range
    lr: Annotated[float, Field(gt=0)]
    epochs: PositiveInt
    batch_size: PositiveInt
    data: DataParams
    prepare: PrepareParams
    models: Annotated[list[ModelName], Field(min_length=1)]
    train: TrainParams
    mlp: MlpParams
    convnet: ConvnetParams
    deep_convnet: DeepConvnetParams
    nas: NasParams
    ensemble: EnsembleParams
    evaluate: EvaluateParams
    export: ExportParams
    reader: ReaderParams
    refusal: RefusalParams
    numbers: NumbersParams
    plot: PlotParams
    transfer: TransferParams

    @field_validator("models")
    @classmethod
    def no_repeats(cls, models: list[str]) -> list[str]:
        if len(set(models)) != len(models):
            raise ValueError("lists a model twice")
        return models

    def fit_settings(self, name: str) -> tuple[float, int, int]:
        """(lr, epochs, batch_size) for candidate `name`: its own where set, else top-level."""
        own = getattr(self, name)
        return (
            own.lr or self.lr,
            own.epochs or self.epochs,
            own.batch_size or self.batch_size,
        )

    def precision(self, name: str) -> Precision:
        """train.mixed_precision for candidate `name`: its own where set, else train's."""
        own = getattr(self, name).mixed_precision
        return self.train.mixed_precision if own is None else own

    def compared(self, ensemble: bool = True) -> list[str]:
        """Every model compared: the listed candidates, the NAS model, then their ensemble."""
        return [*self.models, "nas", *(["ensemble"] if ensemble else [])]


def refused(err: ValidationError) -> str:
    """`key: message (got value)` of the first thing pydantic refused, and how many more."""
    errors = err.errors()
    first = errors[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{key}: {message} (got {first['input']!r}){more}"


def read_yaml(path: str | Path) -> object:
    """params.yaml as DVC reads it: ruamel.yaml's safe loader, YAML 1.2, where `1e-3` is a
    number (PyYAML follows YAML 1.1 and reads it as a string)."""
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(Path(path).read_text())


TRACE = "MNIST_NAS_PARAMS_TRACE"  # a folder: each process records the params keys it read there


def trace_reads(folder: str) -> None:
    """Record every params key this process reads (a field, or a whole section dumped) and
    write them to folder/<pid>.json at exit, with the command that read them: how
    tests/test_dvc_contract.py checks that each stage declares exactly the params it reads."""
    import atexit
    import json
    import os
    import sys

    sections = {field.annotation: name for name, field in Params.model_fields.items()}
    read: set[str] = set()

    def key(model: BaseModel, name: str) -> str:
        section = sections.get(type(model))
        return f"{section}.{name}" if section else name

    plain_getattribute, plain_dump = Section.__getattribute__, Section.model_dump

    def getattribute(self, name):
        if name in type(self).model_fields:
            read.add(key(self, name))
        return plain_getattribute(self, name)

    def model_dump(self, *args, include=None, **kwargs):
        read.update(key(self, name) for name in include or type(self).model_fields)
        return plain_dump(self, *args, include=include, **kwargs)

    def save():
        record = {"argv": sys.argv, "read": sorted(read)}
        Path(folder, f"{os.getpid()}.json").write_text(json.dumps(record))

    Section.__getattribute__, Section.model_dump = getattribute, model_dump
    atexit.register(save)


def load_params(path: str | Path = paths.PARAMS) -> Params:
    """Read and validate params.yaml; a UserError names the first offending key and value."""
    import os

    if os.environ.get(TRACE) and Section.__getattribute__ is BaseModel.__getattribute__:
        trace_reads(os.environ[TRACE])  # once a process
    from ruamel.yaml import YAMLError

    try:
        raw = read_yaml(path)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except YAMLError as err:
        raise UserError(f"{path}: not valid YAML ({' '.join(str(err).split())})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of keys to values, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        raise UserError(f"{path}: {refused(err)}") from None
