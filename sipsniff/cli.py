"""The ``sipsniff`` command: parse options, wire the pipeline, map errors to exit statuses.

Data goes to stdout, warnings and errors to stderr (one line each, never a traceback).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any, TextIO

import click
from rich.console import Console

from sipsniff import __version__
from sipsniff.analysis.select import Selection, select
from sipsniff.errors import ExitStatus, SipsniffError, UsageError
from sipsniff.model import Trace
from sipsniff.pipeline import DEFAULT_LINK_HEADERS, read_trace
from sipsniff.render.base import RENDERERS, RenderOptions
from sipsniff.render import terminal as _terminal  # noqa: F401  (registers "text")
from sipsniff.render.json import write_json

LADDER_LIMIT = 30
"""Without a selection, ladders are drawn for at most this many dialogs (the call list shows all)."""

FORMATS = ("text", "json")


def _selection_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options that choose dialogs; shared by ``read`` and (later) ``live``."""
    opts = [
        click.option("--call-id", "call_ids", multiple=True, help="Only this Call-ID (repeatable)."),
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


def _selection(
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


def _warn(message: str) -> None:
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


@cli.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text: call list and ladders in the terminal; json: one document (docs/json.md).",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None)
@click.option(
    "--time",
    "time_mode",
    type=click.Choice(["abs", "rel", "dialog", "delta"]),
    default="dialog",
    show_default=True,
    help="Time column: wall clock, since the capture's start, since the dialog's start (+delta), "
    "or since the previous message.",
)
@click.option("--utc", is_flag=True, help="Absolute times in UTC instead of local time.")
@click.option("--by-host", is_flag=True, help="One ladder column per IP address, ports merged.")
@click.option("-v", "--full", is_flag=True, help="Print each message's text under its arrow.")
@click.option("--list", "list_only", is_flag=True, help="The call list only, no ladders.")
@click.option(
    "--link-header",
    "link_headers",
    multiple=True,
    help="Header that carries the other leg's Call-ID (B2BUA); default X-Call-ID and X-CID.",
)
@_selection_options
def read(
    files: tuple[str, ...],
    fmt: str,
    output: str | None,
    time_mode: str,
    utc: bool,
    by_host: bool,
    full: bool,
    list_only: bool,
    link_headers: tuple[str, ...],
    **sel: Any,
) -> None:
    """Read pcap/pcapng FILEs (gzip too; - for stdin), several merged in time order."""
    selection = _selection(**sel)
    trace = read_trace(files, link_headers=link_headers or DEFAULT_LINK_HEADERS)
    dialogs = select(trace, selection)
    if selection.dialog is not None and not dialogs:
        raise UsageError(f"--dialog {selection.dialog}: there are {len(trace.dialogs)} dialogs")
    with ExitStack() as stack:
        out: TextIO = sys.stdout
        if output is not None and output != "-":
            out = stack.enter_context(open(output, "w", encoding="utf-8"))  # noqa: SIM115
        if fmt == "json":
            write_json(trace, dialogs, out, full=full, all_dialogs=selection.empty)
        else:
            _text(trace, dialogs, out, selection, time_mode, utc, by_host, full, list_only)
    _report_damage(trace)


def _text(
    trace: Trace,
    dialogs: Sequence[Any],
    out: TextIO,
    selection: Selection,
    time_mode: str,
    utc: bool,
    by_host: bool,
    full: bool,
    list_only: bool,
) -> None:
    console = make_console(out)
    view = "list" if list_only else "both"
    if view == "both" and selection.empty and len(dialogs) > LADDER_LIMIT:
        view = "list"
        _warn(
            f"{len(dialogs)} dialogs: ladders are drawn for {LADDER_LIMIT} at most; "
            "choose some with --dialog N, --call-id, --method, --user, --host or --grep"
        )
    options = RenderOptions(time=time_mode, utc=utc, by_host=by_host, full=full, view=view)
    RENDERERS["text"]().render(trace, dialogs, options, console)


def _report_damage(trace: Trace) -> None:
    damaged = False
    for info in trace.inputs:
        for w in info.warnings:
            _warn(w)
            damaged = True
    if damaged:
        raise SystemExit(ExitStatus.INPUT_DAMAGED)


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
