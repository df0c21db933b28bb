"""What a command takes from the process it runs in, in one object it is handed: the streams, whether
standard output is a terminal and how wide, ``NO_COLOR``, the clocks and the local time zone.

A command gets it with ``environment(ctx)`` (or the ``pass_environment`` decorator). By default it
is ``Environment.from_process()``, made when the command runs; a test gives its own as the context
object (``CliRunner().invoke(cli, args, obj=Environment(...))``) to fix the width, the terminal,
the clock and the zone, and reads what the command wrote from streams of its own::

    out = io.StringIO()
    env = Environment(stdout=out, stderr=io.StringIO(), width=80, tz=datetime.UTC)
    CliRunner().invoke(cli, ["read", "x.pcap"], obj=env)
    out.getvalue()

Data goes to ``stdout``, warnings and errors to ``stderr``; colour only when ``isatty`` and not
``no_color`` (``console``).
"""

from __future__ import annotations

import datetime
import functools
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TextIO, TypeVar, cast

import click
from rich.console import Console

from sipsniff.render.base import UNBOUNDED


class _Console(Console):
    """A console that lets a closed pipe be a ``BrokenPipeError`` (which the command group ends
    quietly, docs/exit-status.md), where rich would exit with status 1."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError(32, "Broken pipe")


@dataclass(frozen=True)
class Environment:
    """The process as a command sees it."""

    stdout: TextIO
    """Where data goes (``-o -`` and no ``-o`` too)."""
    stderr: TextIO
    """Where warnings and errors go, one line each."""
    isatty: bool = False
    """``stdout`` is a terminal: the text it gets is coloured (unless ``no_color``)."""
    width: int | None = None
    """Columns of text output; None: the terminal's (``COLUMNS`` when set), asked when text is
    laid out, so a live display follows a resize. Output that is not a terminal, without
    ``COLUMNS``, has no width at all (``render.base.UNBOUNDED``): nothing cut, nothing wrapped."""
    no_color: bool = False
    """``NO_COLOR`` is set: no colour even on a terminal."""
    tz: datetime.tzinfo | None = None
    """The zone of wall-clock times that are not UTC; None: the local zone of the process."""
    clock: Callable[[], int] = time.time_ns
    """Wall-clock time now, in nanoseconds since the epoch."""
    monotonic: Callable[[], float] = time.monotonic
    """Seconds of a clock that never goes back, for durations and deadlines."""
    ends_with_command: bool = False
    """The process ends when the command does (``cli.main``, the program itself, not a caller
    that goes on): what the command holds to its end need not be freed (``keep_until_exit``)."""

    @classmethod
    def from_process(cls, *, ends_with_command: bool = False) -> Environment:
        """The real one: ``sys.stdout`` (in UTF-8 when it is no terminal: ``portable``) and
        ``sys.stderr`` as they are now, whether stdout is a terminal as rich sees it
        (``FORCE_COLOR`` and ``TTY_COMPATIBLE`` included), the terminal's width, ``NO_COLOR`` from
        the environment, the system clocks and the local zone."""
        isatty = Console(file=sys.stdout).is_terminal
        return cls(
            stdout=portable(sys.stdout, terminal=sys.stdout.isatty()),
            stderr=sys.stderr,
            isatty=isatty,
            no_color=bool(os.environ.get("NO_COLOR")),
            ends_with_command=ends_with_command,
        )

    def console(self, out: TextIO | None = None) -> Console:
        """A console for data on ``out`` (default ``stdout``): this environment's width, colour on
        ``stdout`` only when it is a terminal and ``no_color`` is off; a file of ``-o`` is asked
        itself whether it is a terminal."""
        target = self.stdout if out is None else out
        terminal = self.isatty if target is self.stdout else None
        return _Console(
            file=target,
            width=self.layout_width(target),
            force_terminal=terminal,
            no_color=self.no_color,
            highlight=False,
            soft_wrap=False,
            emoji=False,
            markup=False,
        )

    def layout_width(self, out: TextIO | None = None) -> int | None:
        """The width text for ``out`` (default ``stdout``) is laid out to: ``width`` when set;
        None (the terminal's, asked by rich) on a terminal or with ``COLUMNS`` set; else
        ``UNBOUNDED``: a file or a pipe gets every line whole, as a script or a ticket needs it."""
        target = self.stdout if out is None else out
        if self.width is not None:
            return self.width
        if os.environ.get("COLUMNS", "").strip().isdigit():
            return None
        if target is self.stdout:
            return None if self.isatty else UNBOUNDED
        isatty = getattr(target, "isatty", None)
        return None if isatty is not None and isatty() else UNBOUNDED

    def say(self, message: str) -> None:
        """``sipsniff: message`` on ``stderr``: progress and summaries, never data."""
        self.stderr.write(f"sipsniff: {message}\n")
        self.stderr.flush()

    def warn(self, message: str) -> None:
        """``sipsniff: warning: message`` on ``stderr``."""
        self.stderr.write(f"sipsniff: warning: {message}\n")
        self.stderr.flush()


GLYPHS: Final = "─▶◀│→…µ"
"""Characters of the ladders, call lists and durations beyond ASCII."""


def carries(stream: TextIO, text: str = GLYPHS) -> bool:
    """Whether ``stream``'s encoding can write ``text``."""
    try:
        text.encode(stream.encoding or "ascii", errors="strict")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def portable(stream: TextIO, *, terminal: bool) -> TextIO:
    """Standard output made able to write what sipsniff writes, whatever the system's encoding.

    Redirected to a file or a pipe, it is written in UTF-8 on every system: Windows gives it the
    ANSI code page (cp1252...), which has no ladder glyphs, and the first arrow would raise
    ``UnicodeEncodeError``. UTF-8 is what Wireshark's exports, PowerShell 7 and every other
    reader of such a file expect. A terminal that cannot show a glyph shows ``?`` instead of
    failing (Windows terminals take Unicode: Python writes to the console as UTF-16, so this is
    rare). Standard error needs nothing: Python writes it with ``backslashreplace``.
    """
    if carries(stream):
        return stream
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is None:  # not one of io's text files: left as it is
        return stream
    if terminal:
        reconfigure(errors="replace")
    else:
        reconfigure(encoding="utf-8", errors="strict")
    return stream


def environment(ctx: click.Context | None = None) -> Environment:
    """The environment of the command running in ``ctx`` (the current context when None): the
    context object when it is one, else one made from the process (and kept there). Outside any
    command, one made from the process."""
    ctx = ctx or click.get_current_context(silent=True)
    if ctx is None:
        return Environment.from_process()
    root = ctx.find_root()
    if not isinstance(root.obj, Environment):
        root.obj = Environment.from_process()
    return root.obj


F = TypeVar("F", bound=Callable[..., Any])


def pass_environment(f: F) -> F:
    """Command decorator: call ``f`` with the ``Environment`` as its first argument."""

    @functools.wraps(f)
    def command(*args: Any, **kwargs: Any) -> Any:
        return f(environment(), *args, **kwargs)

    return cast(F, command)
