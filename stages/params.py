"""The typed schema of params.yaml. Every stage validates the whole file before doing work."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stages.common import UserError

PARAMS_FILE = "params.yaml"

PositiveInt = Annotated[int, Field(gt=0)]


class Section(BaseModel):
    # No defaults: params.yaml is the one place values live, and DVC tracks them by key there.
    # strict: "0.1" stays a string and is rejected, instead of being coerced silently.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DataParams(Section):
    source: Literal["bundled", "keras", "npz", "idx"]
    path: Annotated[str, Field(min_length=1)]
    url: Annotated[str, Field(pattern=r"^(https?|file)://")]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    verify_hashes: bool
    limit: Annotated[int, Field(ge=10)] | None


class PrepareParams(Section):
    val_fraction: Annotated[float, Field(gt=0, lt=1)]


class Params(Section):
    seed: Annotated[int, Field(ge=0)]
    lr: Annotated[float, Field(gt=0)]
    epochs: PositiveInt
    batch_size: PositiveInt
    data: DataParams
    prepare: PrepareParams


def _describe(error: dict) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
    return f"{key}: {message} (got {error['input']!r})"


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    """Read and validate params.yaml; a UserError names the first offending key and value."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except yaml.YAMLError as err:
        raise UserError(f"{path}: not valid YAML ({' '.join(str(err).split())})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of keys to values, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        errors = err.errors()
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise UserError(f"{path}: {_describe(errors[0])}{more}") from None
