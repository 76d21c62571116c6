"""What a study is: its question, the stage it runs, its settings and its grid
(studies/studies.yaml), expanded into the runs it queues, each checked against the params schema
before anything runs."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mnist_nas import paths
from mnist_nas.errors import UserError
from mnist_nas.params import Params, read_yaml, refused

# A grid axis value that is a mapping may name itself and its stage with these; its other keys
# are params.
LABEL, TARGET = "label", "target"


class Study(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    question: Annotated[str, Field(min_length=1)]
    target: Annotated[str, Field(pattern=r"^(train@\w+|studies/dvc\.yaml:\w+)$")]
    reach: Annotated[float, Field(gt=0, lt=1)]  # epochs to this validation accuracy are counted
    report_test: bool = False  # also the test accuracy, only to compare with a book's table
    settings: dict[str, Any] = {}
    grid: Annotated[dict[str, Annotated[list, Field(min_length=1)]], Field(min_length=1)]


class Declarations(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    defaults: dict[str, Any] = {}
    studies: Annotated[dict[str, Study], Field(min_length=1)]


class Run(BaseModel):
    """One point of a study's grid: one DVC experiment."""

    model_config = ConfigDict(frozen=True)

    study: str
    label: str  # what the point is, e.g. `lr=0.001` or `mlp`
    target: str
    varied: dict[str, Any]  # the grid's params at this point
    settings: dict[str, Any]  # every param the experiment sets (-S), the grid's included

    @property
    def experiment(self) -> str:
        """The DVC experiment's name: the study's, then the label in characters git allows."""
        return f"{self.study}-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", self.label).strip("_.")

    def set_args(self) -> list[str]:
        """dvc exp run's -S arguments: every value as YAML flow (JSON is valid YAML)."""
        return [arg for key, value in self.settings.items()
                for arg in ("-S", f"{key}={json.dumps(value, separators=(',', ':'))}")]  # fmt: skip


def load(path: Path = paths.DECLARATIONS) -> Declarations:
    try:
        return Declarations.model_validate(read_yaml(path))
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except ValidationError as err:
        raise UserError(f"{path}: {refused(err)}") from None


def show(value: Any) -> str:
    """A value as YAML flow, compact: [32,64], null, true, 0.001, adam."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def axis_point(axis: str, value: Any) -> tuple[str, str | None, dict[str, Any]]:
    """(label, target or None, params) of one value of a grid axis."""
    if isinstance(value, dict):
        params = {k: v for k, v in value.items() if k not in (LABEL, TARGET)}
        label = value.get(LABEL) or ",".join(show(v) for v in params.values())
        return str(label), value.get(TARGET), params
    return f"{axis.split('.')[-1]}={show(value)}", None, {axis: value}


def runs(declarations: Declarations, name: str) -> list[Run]:
    """The study's runs in grid order (the first axis varies slowest)."""
    if name not in declarations.studies:
        raise UserError(f"study {name!r}: not in {paths.DECLARATIONS}; the studies are "
                        f"{', '.join(declarations.studies)}")  # fmt: skip
    study = declarations.studies[name]
    axes = [[axis_point(axis, value) for value in values] for axis, values in study.grid.items()]
    points = []
    for combination in itertools.product(*axes):
        varied = {k: v for _, _, params in combination for k, v in params.items()}
        target = next((t for _, t, _ in combination if t), study.target)
        points.append(Run(
            study=name, label=" ".join(label for label, _, _ in combination), target=target,
            varied=varied, settings={**declarations.defaults, **study.settings, **varied},
        ))  # fmt: skip
    return points


def apply(params: dict, settings: dict[str, Any]) -> dict:
    """A copy of params.yaml's content with dotted keys set, as `dvc exp run -S` sets them."""
    params = json.loads(json.dumps(params))
    for dotted, value in settings.items():
        *parents, leaf = dotted.split(".")
        section = params
        for key in parents:
            if not isinstance(section.get(key), dict):
                raise UserError(f"{dotted}: no such section in params.yaml")
            section = section[key]
        if leaf not in section:
            raise UserError(f"{dotted}: no such key in params.yaml")
        section[leaf] = value
    return params


def check(run: Run, params_file: Path = paths.PARAMS) -> None:
    """A UserError naming the run and the offending key unless params.yaml, with the run's
    settings, passes the schema every stage checks."""
    try:
        Params.model_validate(apply(read_yaml(params_file), run.settings))
    except UserError as err:
        raise UserError(f"{run.experiment}: {err}") from None
    except ValidationError as err:
        raise UserError(f"{run.experiment}: {refused(err)}") from None
