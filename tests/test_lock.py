"""The lock files agree with pyproject.toml: every pinned dependency locked at its pin."""

import re
import tomllib

import pytest
from conftest import REPO
from packaging.markers import Marker
from packaging.requirements import Requirement

EXTRAS = ["cpu", "gpu", "jax-gpu"]  # requirements-<extra>.lock, all made by `make lock`
# Checked as installed on CI: Linux x86_64, Python 3.11 (packaging's marker environment).
LINUX = {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
         "python_version": "3.11", "python_full_version": "3.11.0"}  # fmt: skip


def locked(extra: str) -> dict[str, list[tuple[str, Marker | None]]]:
    """name -> [(version, marker)] of every package in requirements-<extra>.lock."""
    pins = {}
    for line in (REPO / f"requirements-{extra}.lock").read_text().splitlines():
        if not line or line[0] in "# ":
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", line
        pins.setdefault(canonical(requirement.name), []).append(
            (specifier.version, requirement.marker)
        )
    return pins


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.mark.parametrize("extra", EXTRAS)
def test_lock_pins_every_dependency_at_its_pyproject_version(extra):
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"][extra],
              *project["optional-dependencies"]["dev"],
              *project["optional-dependencies"]["demo"]]  # fmt: skip
    pins = locked(extra)
    for line in wanted:
        requirement = Requirement(line)
        if requirement.marker and not requirement.marker.evaluate(LINUX):
            continue
        versions = [
            version
            for version, marker in pins.get(canonical(requirement.name), [])
            if marker is None or marker.evaluate(LINUX)
        ]
        assert versions, f"{requirement.name} is in pyproject.toml but not in the {extra} lock"
        assert all(version in requirement.specifier for version in versions), (
            f"{requirement.name}: pyproject.toml wants {requirement.specifier}, "
            f"requirements-{extra}.lock has {versions}; run `make lock`"
        )


@pytest.mark.parametrize("extra", EXTRAS)
def test_lock_was_made_by_make_lock_for_this_extra(extra):
    header = (REPO / f"requirements-{extra}.lock").read_text().splitlines()[1]
    assert "uv pip compile pyproject.toml" in header
    assert f"--extra {extra}" in header and "--extra dev" in header and "--extra demo" in header
