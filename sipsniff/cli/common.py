"""What every command shares: the group, the selection options, output and exit statuses."""

from __future__ import annotations

import os
import re
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any, TextIO

import click
from rich.console import Console

from sipsniff import __version__
from sipsniff.analysis.select import Selection
from sipsniff.errors import ExitStatus, SipsniffError, UsageError
from sipsniff.model import Dialog, Trace
from sipsniff.render import diagram, html, ndjson, terminal  # noqa: F401  (they register)
from sipsniff.render.base import RENDERERS, RenderOptions
from sipsniff.render.json import write_json

LADDER_LIMIT = 30
"""Without a selection, ladders are drawn for at most this many dialogs (the call list shows all)."""

FORMATS = ("text", "json", "html", "mermaid", "plantuml", "ndjson", "csv")


def selection_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options that choose dialogs; shared by ``read`` and (later) ``live``."""
    opts = [
        click.option(
            "--call-id", "call_ids", multiple=True, help="Only this Call-ID (repeatable)."
        ),
        click.option(
            "--method",
            "methods",
            multiple=True,
            help="Only dialogs started by this method, e.g. INVITE (repeatable).",
        ),
        click.option(
            "--exclude-method",
            "exclude_methods",
            multiple=True,
            help="Leave out dialogs started by this method, e.g. OPTIONS (repeatable).",
        ),
        click.option(
            "--user", "users", multiple=True, help="User part of From, To or Request-URI."
        ),
        click.option(
            "--host", "hosts", multiple=True, help="An endpoint, ip or ip:port ([v6]:port)."
        ),
        click.option("--grep", "grep", default=None, help="Regular expression on message text."),
        click.option("--calls", "calls_only", is_flag=True, help="INVITE dialogs only."),
        click.option("--dialog", "dialog", type=int, default=None, help="One dialog, by index."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def make_selection(
    call_ids: Sequence[str],
    methods: Sequence[str],
    exclude_methods: Sequence[str],
    users: Sequence[str],
    hosts: Sequence[str],
    grep: str | None,
    calls_only: bool,
    dialog: int | None,
) -> Selection:
    pattern = None
    if grep is not None:
        try:
            pattern = re.compile(grep.encode("utf-8"))
        except re.error as exc:
            raise UsageError(f"--grep: not a valid regular expression: {exc}") from None
    return Selection(
        call_ids=tuple(call_ids),
        methods=tuple(methods),
        exclude_methods=tuple(exclude_methods),
        users=tuple(users),
        hosts=tuple(hosts),
        grep=pattern,
        calls_only=calls_only,
        dialog=dialog,
    )


def make_console(out: TextIO) -> Console:
    """A console for data on ``out``: colour only on a terminal and without NO_COLOR."""
    no_color = bool(os.environ.get("NO_COLOR"))
    return Console(
        file=out,
        highlight=False,
        soft_wrap=False,
        no_color=no_color,
        emoji=False,
        markup=False,
    )


def warn(message: str) -> None:
    click.echo(f"sipsniff: warning: {message}", err=True)


class _Group(click.Group):
    """Turns sipsniff's own errors into one line on stderr and their exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SipsniffError as exc:
            click.echo(f"sipsniff: error: {exc}", err=True)
            ctx.exit(exc.exit_status)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sipsniff")
def cli() -> None:
    """SIP traffic analyzer: call lists and ladder diagrams with a time column."""


def report_damage(trace: Trace) -> None:
    damaged = False
    for info in trace.inputs:
        for w in info.warnings:
            warn(w)
            damaged = True
    if damaged:
        raise SystemExit(ExitStatus.INPUT_DAMAGED)


@contextmanager
def open_output(output: str | None) -> Iterator[TextIO]:
    """``output`` opened for writing (stdout when None or ``-``); failing to open it is a usage
    error named in one line."""
    if output is None or output == "-":
        yield sys.stdout
        return
    try:
        f = open(output, "w", encoding="utf-8", newline="")  # noqa: SIM115  (closed below)
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror}") from None
    with f:
        yield f


def write_output(
    trace: Trace,
    dialogs: Sequence[Dialog],
    *,
    fmt: str,
    output: str | None,
    selection: Selection,
    options: RenderOptions,
) -> None:
    """Write ``dialogs`` of ``trace`` in format ``fmt`` to ``output`` (stdout when None or -)."""
    with open_output(output) as out:
        if fmt == "json":
            write_json(trace, dialogs, out, full=options.full, all_dialogs=selection.empty)
        elif fmt == "text":
            RENDERERS["text"]().render(trace, dialogs, options, make_console(out))
        else:
            RENDERERS[fmt]().render(trace, dialogs, options, out)


class Stop:
    """Why a capture stops: set by the signal handlers (SIGINT, SIGTERM) and by the loop."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        self.reason = signal.Signals(signum).name
        # A second Ctrl-C during the drain and the report interrupts them.
        signal.signal(signum, signal.default_int_handler)


@contextmanager
def stop_signals(stop: Stop) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop.reason`` instead of raising, while the block runs."""
    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def positive(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None and value <= 0:
        raise click.BadParameter("must be greater than 0")
    return value


def stop_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``-c/--count N`` and ``--duration S``: when a capture (live, or the HEP collector) stops."""
    f = click.option(
        "--duration", type=float, default=None, callback=positive, help="Stop after S seconds."
    )(f)
    return click.option(
        "-c",
        "--count",
        type=int,
        default=None,
        callback=positive,
        help="Stop after N SIP messages.",
    )(f)
