"""What every stage and program shares at its command line: argparse with one-line errors, and
UserError turned into `error: ...` and exit code 1."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable, Sequence

from mnist_nas.errors import UserError


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error in one line (`error: PROG: ...`, exit code 2) instead of
    the usage block followed by the error."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def parser(prog: str, doc: str | None) -> Parser:
    """A parser whose --help prints the usage and `doc` (what the stage or program reads and
    writes), then exits 0 having done nothing."""
    return Parser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def stage_args(module: str, doc: str | None, argv: Sequence[str] | None = None) -> None:
    """Parse the arguments of a stage that takes none: --help, or a one-line error."""
    parser(f"python -m {module}", doc).parse_args(argv)


def cli(main: Callable[..., None]) -> Callable[..., None]:
    """Run a main(): a UserError becomes `error: <message>` on stderr and exit code 1."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs) -> None:
        try:
            main(*args, **kwargs)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(1)

    return wrapper
