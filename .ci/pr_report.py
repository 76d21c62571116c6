"""Usage: python .ci/pr_report.py BASE HEAD [--out DIR] > report.md

The pull request's comment, from two revisions with results (commits or experiments). DVC does
the comparing: `dvc exp diff --md` tables the changed metrics and params, `dvc plots diff --json`
renders both revisions' plots. CML posts the comment, edits it in place on each push, and
uploads the local images it links to. What is left, and done here: column names a reviewer reads
(`base`, `pull request`) instead of hashes, and only the plots that changed, as PNG images
(DVC's vega-lite specs drawn by vl-convert), the two revisions side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
from pathlib import Path

import yaml

NAMES = ("base", "pull request")


def dvc(*args: str) -> str:
    return subprocess.run(["dvc", *args], check=True, capture_output=True, text=True).stdout


def named_columns(tables: str, revs: tuple[str, str]) -> str:
    """Markdown tables (DVC's metrics table, then its params table) whose headers name the
    revisions by what they are."""
    lines = tables.splitlines()
    for at, line in enumerate(lines):
        if line.startswith("| Path"):
            for rev, name in zip(revs, NAMES, strict=True):
                line = re.sub(rf"\| {re.escape(rev)}\s+\|", f"| {name} |", line)
            lines[at] = line
    return "\n".join(lines)


def drawn_at_the_top() -> set[str]:
    """The files that dvc.yaml's top-level plots draw; their stages only declare them."""
    files = set()
    for entry in yaml.safe_load(Path("dvc.yaml").read_text()).get("plots", []):
        name, spec = next(iter(entry.items())) if isinstance(entry, dict) else (entry, None)
        spec = spec or {}
        files |= {name} if "/" in name else set()
        for axis in ("x", "y"):
            files |= set(spec.get(axis)) if isinstance(spec.get(axis), dict) else set()
    return files


def plots_once(plots: dict) -> dict:
    """DVC's plots, each drawn once: not again for the stage that declares its files."""
    declared_only = drawn_at_the_top()
    return {name: renders for name, renders in plots.items() if name not in declared_only}


def changed_plots(plots: dict, revs: tuple[str, str]) -> dict[str, list[dict]]:
    """The plots whose data or image differs between the revisions."""
    changed = {}
    for name, renders in plots.items():
        if renders[0]["type"] == "image":
            images = {render["revisions"][0]: Path(render["url"]).read_bytes()
                      for render in renders}  # fmt: skip
            differ = len(set(images.values())) > 1 or set(images) != set(revs)
        else:
            values = renders[0]["content"]["data"]["values"]
            by_rev = [[{k: v for k, v in row.items() if k != "rev"} for row in values
                       if row.get("rev") == rev] for rev in revs]  # fmt: skip
            differ = by_rev[0] != by_rev[1]
        if differ:
            changed[name] = renders
    return changed


def draw(name: str, renders: list[dict], out: Path, revs: tuple[str, str]) -> list[str]:
    """The plot as PNG files in `out`, the base's first: DVC's images as they are, its
    vega-lite specs drawn, with the revisions named in the legend."""
    import vl_convert

    if renders[0]["type"] == "image":
        order = {rev: at for at, rev in enumerate(revs)}
        renders = sorted(renders, key=lambda render: order.get(render["revisions"][0], 2))
        return [os.path.relpath(render["url"]) for render in renders]
    spec = renamed(renders[0]["content"], dict(zip(revs, NAMES, strict=True)))
    stem = re.sub(r"[^\w.-]+", "_", name.removeprefix("dvc.yaml::"))
    png = out / f"{stem}.png"
    png.write_bytes(vl_convert.vegalite_to_png(spec, scale=1.5))
    return [os.path.relpath(png)]


def renamed(spec, names: dict[str, str]):
    """The vega-lite spec with each revision's name put for it, in the data and the legend."""
    if isinstance(spec, dict):
        return {key: renamed(value, names) for key, value in spec.items()}
    if isinstance(spec, list):
        return [renamed(value, names) for value in spec]
    return names.get(spec, spec) if isinstance(spec, str) else spec


def report(base: str, head: str, out: Path) -> str:
    revs = (base, head)
    table = dvc("exp", "diff", base, head, "--md", "--precision", "4").strip()
    lines = ["## Pipeline: this pull request against its base", ""]
    lines += [named_columns(table, revs) if table else "No metric or param changed.", ""]
    plots = json.loads(dvc("plots", "diff", base, head, "--json", "-o", str(out)))["data"]
    plots = plots_once(plots)
    changed = changed_plots(plots, revs)
    lines += [f"<details><summary>Plots that changed: {len(changed)} of {len(plots)}</summary>", ""]
    for name, renders in changed.items():
        paths = draw(name, renders, out, revs)
        title = name.removeprefix("dvc.yaml::")
        labels = NAMES if len(paths) == 2 else (title,)  # an image per side, or one chart
        images = " ".join(f"![{label}]({path})" for label, path in zip(labels, paths, strict=True))
        lines += [f"**{title}**", "", images, ""]
    lines += ["</details>", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("base", help="the base's revision: a commit or an experiment")
    parser.add_argument("head", help="the pull request's revision")
    parser.add_argument("--out", type=Path, default=Path("pr_plots"), help="where images go")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(report(args.base, args.head, args.out))


if __name__ == "__main__":
    main()
