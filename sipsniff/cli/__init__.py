"""The ``sipsniff`` command: parse options, wire the pipeline, map errors to exit statuses.

Data goes to stdout, warnings and errors to stderr (one line each, never a traceback). One module per
command; each attaches itself to the group ``cli`` when imported.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

from sipsniff.cli import auth as _auth  # noqa: F401  (each registers its command)
from sipsniff.cli import browse as _browse  # noqa: F401
from sipsniff.cli import hep as _hep  # noqa: F401
from sipsniff.cli import live as _live  # noqa: F401
from sipsniff.cli import read as _read  # noqa: F401
from sipsniff.cli import stats as _stats  # noqa: F401
from sipsniff.cli.common import cli
from sipsniff.errors import ExitStatus

__all__ = ["cli", "main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point. Click handles usage errors (status 2) and sipsniff's own errors are
    turned into one line by ``_Group``; what is left is a bug, reported in one line too."""
    try:
        cli.main(args=argv, prog_name="sipsniff")
    except KeyboardInterrupt:
        click.echo("sipsniff: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("SIPSNIFF_DEBUG"):
            raise
        click.echo(
            f"sipsniff: internal error: {type(exc).__name__}: {exc} "
            "(please report it; SIPSNIFF_DEBUG=1 shows the traceback)",
            err=True,
        )
        sys.exit(ExitStatus.ERROR)
