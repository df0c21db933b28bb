"""The ``sipsniff`` command: parse options, wire the pipeline, map errors to exit statuses.

Data goes to stdout, warnings and errors to stderr (one line each, never a traceback). One module per
command; each attaches itself to the group ``cli`` when imported, which ``cli.lazy`` does when the
command is asked for.
"""

from __future__ import annotations

import io
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

import click

from sipsniff.cli.common import cli
from sipsniff.cli.env import Environment
from sipsniff.errors import ExitStatus

__all__ = ["cli", "main"]

# Each module registers its command when imported; a command is imported when it is asked for.
cli.lazy = {
    name: f"sipsniff.cli.{name}" for name in ("auth", "browse", "hep", "live", "read", "stats")
}


def _terminated(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM: unwind like Ctrl-C, so that an output being written is removed and the file it
    would have replaced stays whole (``live`` and ``hep`` take SIGTERM as a stop instead)."""
    raise SystemExit(ExitStatus.TERMINATED)


def _buffered_stdout() -> None:
    """Under ``PYTHONUNBUFFERED`` (``python -u``) standard output is a text layer straight over
    the file descriptor, which drops what a partial write left over (a pipe whose reader goes
    away mid-write): the rest would be lost without an error, and the exit status would say all
    was written. A buffered layer that writes through retries partial writes, and its
    ``BrokenPipeError`` ends the run as a closed pipe should."""
    stdout = sys.stdout
    if isinstance(stdout, io.TextIOWrapper) and isinstance(stdout.buffer, io.RawIOBase):
        encoding, errors, lines = stdout.encoding, stdout.errors, stdout.line_buffering
        # Detached, the old layer no longer owns the file: when nothing refers to it any more
        # (a wrapper made by an embedding program), collecting it does not close standard output.
        raw = stdout.detach()
        sys.stdout = io.TextIOWrapper(
            io.BufferedWriter(raw),
            encoding=encoding,
            errors=errors,
            line_buffering=lines,
            write_through=True,
        )


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point. ``_Group`` turns usage errors, sipsniff's own errors and a closed pipe
    into one line (or none) and their exit status; what is left is a bug, reported in one line
    too (docs/exit-status.md)."""
    signal.signal(signal.SIGTERM, _terminated)
    _buffered_stdout()
    env = Environment.from_process(ends_with_command=True)
    try:
        cli.main(args=argv, prog_name="sipsniff", obj=env)
    except KeyboardInterrupt:
        click.echo("sipsniff: interrupted", err=True)
        sys.exit(ExitStatus.INTERRUPTED)
    except Exception as exc:
        if os.environ.get("SIPSNIFF_DEBUG"):
            raise
        click.echo(
            f"sipsniff: internal error: {type(exc).__name__}: {exc} "
            "(please report it; SIPSNIFF_DEBUG=1 shows the traceback)",
            err=True,
        )
        sys.exit(ExitStatus.ERROR)
