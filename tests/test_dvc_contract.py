"""The DVC contract, checked from the code: each stage's code deps in dvc.yaml are exactly the
project files it imports, an edit reruns exactly the stages that import the file, each stage
declares the params it reads, and --help does nothing but print."""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import BIN, REPO, run

PACKAGES = ("stages", "mnist_nas")  # the project's own code; everything else is a library
# the default pipeline, then the studies' (run on demand): stage name -> its definition
PIPELINES = {
    "dvc.yaml": yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"],
    "studies/dvc.yaml": yaml.safe_load((REPO / "studies/dvc.yaml").read_text())["stages"],
}
DEFINITIONS = {stage: definition for stages in PIPELINES.values()
               for stage, definition in stages.items()}  # fmt: skip
STAGES = sorted(DEFINITIONS)
PROGRAMS = ["mnist-predict", "mnist-demo", "mnist-study"]
# fetch reads these for some data.source only (the run here reads the bundled file)
BY_SOURCE = {"data.path", "data.url", "data.sha256", "data.tfds_download"}
SECTIONS = {key for key, value in yaml.safe_load((REPO / "params.yaml").read_text()).items()
            if isinstance(value, dict)}  # fmt: skip


def module_file(name: str) -> Path | None:
    path = REPO.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_files(path: Path) -> set[Path]:
    """The project files that importing `path` imports: every import statement in it, at the
    top or inside a function, with the packages above each module (Python runs them too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: a relative import"
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    files = set()
    for name in names:
        parts = name.split(".")
        if parts[0] in PACKAGES:
            files |= {module_file(".".join(parts[:i])) for i in range(1, len(parts) + 1)}
    return files - {None}


def holds_code(path: Path) -> bool:
    """False for a package's __init__.py that is only a docstring: it runs no code, so editing
    it changes no output and is no dep."""
    body = ast.parse(path.read_text()).body
    return not (path.name == "__init__.py" and all(
        isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body
    ))  # fmt: skip


def import_closure(stage_module: str) -> set[str]:
    """Every project file with code that `python -m stage_module` imports, transitively,
    relative to REPO."""
    seen, todo = set(), [module_file(stage_module), module_file(stage_module.split(".")[0])]
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo.extend(imported_files(path))
    return {str(path.relative_to(REPO)) for path in seen if holds_code(path)}


def stage_module(stage: str) -> str:
    definition = DEFINITIONS[stage]
    cmd = (definition.get("do") or definition)["cmd"]
    return re.match(r"python -m (stages\.\w+)", cmd)[1]


def declared_code(stage: str) -> set[str]:
    definition = DEFINITIONS[stage]
    deps = (definition.get("do") or definition)["deps"]
    return {dep for dep in deps if dep.endswith(".py")}


@pytest.mark.parametrize("stage", STAGES)
def test_code_deps_are_exactly_the_import_closure(stage):
    imported, declared = import_closure(stage_module(stage)), declared_code(stage)
    missing, extra = sorted(imported - declared), sorted(declared - imported)
    assert not missing, f"{stage} imports {missing}, which dvc.yaml does not list as deps"
    assert not extra, f"dvc.yaml lists {extra} as deps of {stage}, which never imports them"


def test_no_stage_imports_another_and_no_test_imports_a_test():
    for path in (REPO / "stages").glob("*.py"):
        others = {f for f in imported_files(path) if f.parent.name == "stages"} - {
            path,
            REPO / "stages" / "__init__.py",
        }
        assert not others, f"{path.name} imports the stage(s) {others}"
    for path in [*(REPO / "tests").glob("*.py"), *(REPO / "bench").glob("*.py")]:
        tree = ast.parse(path.read_text())
        modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                   for alias in node.names}  # fmt: skip
        modules |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not {m for m in modules if m and m.startswith("test_")}, path
        if path.parent.name == "bench":
            assert "conftest" not in modules and "sys.path" not in path.read_text(), path


EDITS = [  # library files of different closures: training, reading, plotting
    "mnist_nas/training/candidates.py",
    "mnist_nas/reading/segment.py",
    "mnist_nas/scoring/attributions.py",
]


def foreach_items(stage: str) -> dict:
    """A foreach stage's items (a list in params.yaml, or a dict in dvc.yaml), each with its
    values; empty for a plain stage."""
    items = DEFINITIONS[stage].get("foreach") or {}
    if isinstance(items, str):
        listed = yaml.safe_load((REPO / "params.yaml").read_text())[items.strip("${}")]
        return {item: item for item in listed}
    return items


def stages_holding(path: str) -> set[str]:
    """The stages of the expanded pipeline (train@NAME) whose code imports `path`."""
    names = set()
    for stage in STAGES:
        if path in import_closure(stage_module(stage)):
            if items := foreach_items(stage):
                names |= {f"{stage}@{item}" for item in items}
            elif stage in PIPELINES["dvc.yaml"]:
                names.add(stage)
            else:  # how dvc status names a stage of another dvc.yaml
                names.add(f"studies/dvc.yaml:{stage}")
    return names


@pytest.mark.parametrize("path", EDITS)
def test_one_edit_makes_exactly_its_importers_stale(project, path):
    expected = stages_holding(path)
    assert expected, f"no stage imports {path}"
    original = (project / path).read_text()
    try:
        (project / path).write_text(original + "\n# an edit\n")
        status = json.loads(run(["dvc", "status", "--json"], project).stdout)
    finally:
        (project / path).write_text(original)
    changed = {stage for stage, changes in status.items()
               if any(path in change.get("changed deps", {}) for change in changes
                      if isinstance(change, dict))}  # fmt: skip
    assert changed == expected
    assert set(status) == expected  # nothing else is out of date


def covered(key: str, declared: set[str]) -> bool:
    """A read key is declared when it, or a section above it, is listed."""
    parts = key.split(".")
    return any(".".join(parts[:i]) in declared for i in range(1, len(parts) + 1))


def stage_of(argv: list[str]) -> tuple[str, str | None]:
    """(stage, foreach item) of a traced command line: ['.../stages/train.py', 'mlp']."""
    stage = Path(argv[0]).stem
    return stage, (argv[1] if len(argv) > 1 else None)


def declared_params(stage: str, item: str | None) -> set[str]:
    """The params a stage (of a foreach, the one for `item`) declares, interpolated."""
    definition = DEFINITIONS[stage]
    params = (definition.get("do") or definition).get("params", [])
    values = foreach_items(stage).get(item)
    return {re.sub(r"\$\{item(?:\.(\w+))?\}",
                   lambda found: values[found[1]] if found[1] else values, key)
            for key in params}  # fmt: skip


def test_each_stage_declares_exactly_the_params_it_reads(project):
    """Each stage of the project's small `dvc repro` recorded the params it read (conftest sets
    MNIST_NAS_PARAMS_TRACE): every key read is declared in dvc.yaml, and every declared key was
    read. A declared whole section may go unread in one run (export's model card copies the
    training params of the one model it chose), and so may a top-level key that a candidate
    overrides (convnet.lr over lr, mlp.mixed_precision over train.mixed_precision: DVC cannot
    make a dependency conditional), or a data source
    other than the one read."""
    traces = [json.loads(path.read_text())
              for path in (project / ".dvc" / "tmp" / "params-trace").glob("*.json")]  # fmt: skip
    runs = {stage_of(trace["argv"]): set(trace["read"]) for trace in traces
            if "stages" in Path(trace["argv"][0]).parts}  # fmt: skip
    assert {stage for stage, _ in runs} == set(STAGES)
    for (stage, item), read in runs.items():
        declared = declared_params(stage, item)
        values = {key for key in read if key not in SECTIONS}  # a section object holds no value
        assert {key for key in values if not covered(key, declared)} == set(), (stage, item)
        unread = {key for key in declared if not any(k == key or k.startswith(f"{key}.")
                                                     for k in read)}  # fmt: skip
        whole_sections = {key for key in unread if key in SECTIONS}
        # convnet.lr over lr, mlp.mixed_precision over train.mixed_precision
        overridden = {key for key in unread if f"{item}.{key.split('.')[-1]}" in read}
        assert unread - whole_sections - overridden - BY_SOURCE == set(), (stage, item)


@pytest.mark.parametrize("stage", STAGES)
def test_help_prints_what_the_stage_reads_and_writes_and_does_nothing(stage, tmp_path):
    module = stage_module(stage)
    script = (
        "import runpy, sys\n"
        f"sys.argv = [{module!r}, '--help']\n"
        "try:\n"
        f"    runpy.run_module({module!r}, run_name='__main__')\n"
        "except SystemExit as done:\n"
        "    assert done.code in (0, None), done.code\n"
        "heavy = {'tensorflow', 'keras', 'autokeras', 'dvclive'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m {module}")
    assert "Reads" in result.stdout and "Writes" in result.stdout
    assert list(tmp_path.iterdir()) == []  # nothing written where it ran

    arguments = list(foreach_items(stage))[:1]  # a foreach stage's first item
    unknown = run(["python", "-m", module, *arguments, "--no-such-flag"], tmp_path, check=False)
    assert unknown.returncode == 2 and len(unknown.stderr.strip().splitlines()) == 1
    assert "unrecognized arguments: --no-such-flag" in unknown.stderr


@pytest.mark.parametrize("program", PROGRAMS)
def test_programs_are_console_scripts_with_help(program, tmp_path):
    result = run([str(BIN / program), "--help"], tmp_path)
    assert result.stdout.startswith(f"usage: {program}")
    assert list(tmp_path.iterdir()) == []
