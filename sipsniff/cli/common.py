"""What every command shares: the group, the selection and limit options, output and exit statuses."""

from __future__ import annotations

import datetime
import functools
import gc
import importlib
import math
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import click

from sipsniff import __version__
from sipsniff.cli.env import Environment, environment
from sipsniff.errors import ExitStatus, OutputError, SipsniffError, UsageError
from sipsniff.pipeline import DEFAULT_LIMITS, Limits, Session

if TYPE_CHECKING:
    from rich.console import Console

    from sipsniff.analysis.select import Selection, Shown
    from sipsniff.model import Dialog, Entry, Trace
    from sipsniff.render.base import Registry, RenderOptions

# The analyses and the renderers are imported where they are used, not here: every command
# imports this module first, and the browser forks its reading process early, before it needs
# them. Imported here, they were in the pages the two processes share at the fork, and the
# worker ended up with a copy of each page either one wrote to (its PSS: 16 MB, against 18 to
# 20 MB with them, on 30,000 calls).

LADDER_LIMIT = 30
"""Without a selection, ladders are drawn for at most this many dialogs (the call list shows all)."""

T = TypeVar("T")


link_header_option = click.option(
    "--link-header",
    "link_headers",
    multiple=True,
    help="Header that carries the other leg's Call-ID (B2BUA); default X-Call-ID and X-CID.",
)
"""``--link-header``, for every command that correlates."""


def selection_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options that choose dialogs (``analysis.select.Selection``); ``make_selection`` reads
    them. Shared by every command that selects: read, stats, auth, live, hep."""
    opts = [
        click.option(
            "--call-id",
            "call_ids",
            multiple=True,
            metavar="ID",
            help="Only this Call-ID; ID* a prefix, *ID a suffix, *ID* a part (repeatable).",
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
            "--user",
            "users",
            multiple=True,
            help="User part of From, To or Request-URI; numbers match by their digits, without "
            "+, 00 or a trunk 0 (repeatable).",
        ),
        click.option(
            "--host",
            "hosts",
            multiple=True,
            help="An endpoint: ip, ip:port ([v6]:port) or a network, 10.0.0.0/8 (repeatable).",
        ),
        click.option("--grep", "grep", default=None, help="Regular expression on message text."),
        click.option(
            "--grep-first",
            "grep_first",
            default=None,
            metavar="RE",
            help="Regular expression on the text of each dialog's first message (sngrep's "
            "match expression).",
        ),
        click.option(
            "--state",
            "states",
            multiple=True,
            help='A state of the call list or an outcome: rejected, "in call", busy... '
            "(repeatable; docs/states.md).",
        ),
        click.option(
            "--status",
            "statuses",
            multiple=True,
            metavar="CODE",
            help="A response to the dialog's INVITE (or first request) with this code: 486, 4xx, "
            "or failed (400 and up but 401/407) (repeatable).",
        ),
        click.option(
            "--since",
            default=None,
            metavar="TIME",
            help="Dialogs still going at or after TIME: 10:00:00, 2024-05-01T10:00:00, or +30s "
            "after the capture's start.",
        ),
        click.option(
            "--until",
            default=None,
            metavar="TIME",
            help="Dialogs begun at or before TIME (as --since).",
        ),
        click.option(
            "--min-duration",
            "min_duration",
            default=None,
            metavar="DURATION",
            help="Dialogs that lasted at least this long: 1.5, 2s, 500ms, 2m.",
        ),
        click.option(
            "--calls",
            "calls_only",
            is_flag=True,
            help="Calls only: dialogs that carried an INVITE (docs/states.md).",
        ),
        click.option("--dialog", "dialog", type=int, default=None, help="One dialog, by index."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _option_value(option: str, parse: Callable[[str], T], text: str) -> T:
    """``parse(text)``; a bad value is a usage error naming ``option``."""
    try:
        return parse(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def _pattern(option: str, text: str | None) -> re.Pattern[bytes] | None:
    if text is None:
        return None
    try:
        return re.compile(text.encode("utf-8"))
    except re.error as exc:
        raise UsageError(f"{option}: not a valid regular expression: {exc}") from None


_OPTION_OF = {
    "call_ids": "--call-id",
    "methods": "--method",
    "exclude_methods": "--exclude-method",
    "users": "--user",
    "hosts": "--host",
    "grep": "--grep",
    "grep_first": "--grep-first",
    "states": "--state",
    "statuses": "--status",
    "since": "--since",
    "until": "--until",
    "min_duration": "--min-duration",
    "calls_only": "--calls",
    "dialog": "--dialog",
}
"""The option of each parameter of ``selection_options``."""


def selection_query(**sel: Any) -> str:
    """The selection options given, as the browser's filter box reads them (``method:INVITE``)."""
    pairs: list[tuple[str, str]] = []
    for name, option in _OPTION_OF.items():
        value = sel.get(name)
        if value is None or value is False or value == ():
            continue
        if value is True:
            pairs.append((option, ""))
        elif isinstance(value, tuple):
            pairs += [(option, str(v)) for v in value]
        else:
            pairs.append((option, str(value)))
    from sipsniff.analysis.query import query_of

    return query_of(pairs)


def make_selection(
    call_ids: Sequence[str] = (),
    methods: Sequence[str] = (),
    exclude_methods: Sequence[str] = (),
    users: Sequence[str] = (),
    hosts: Sequence[str] = (),
    grep: str | None = None,
    calls_only: bool = False,
    dialog: int | None = None,
    grep_first: str | None = None,
    states: Sequence[str] = (),
    statuses: Sequence[str] = (),
    since: str | None = None,
    until: str | None = None,
    min_duration: str | None = None,
    *,
    tz: datetime.tzinfo | None = None,
) -> Selection:
    """The ``Selection`` of the values of ``selection_options``; a bad value is a usage error in
    one line that names its option.

    Args:
        tz: the zone times without one are read in (the zone the command shows times in;
            None: the local zone).
    """
    from sipsniff.analysis.select import Selection
    from sipsniff.analysis.terms import (
        parse_duration,
        parse_host,
        parse_state,
        parse_status,
        parse_time,
    )

    for h in hosts:
        _option_value("--host", parse_host, h)
    duration = None
    if min_duration is not None:
        duration = _option_value("--min-duration", parse_duration, min_duration)
    return Selection(
        call_ids=tuple(call_ids),
        methods=tuple(methods),
        exclude_methods=tuple(exclude_methods),
        users=tuple(users),
        hosts=tuple(hosts),
        grep=_pattern("--grep", grep),
        calls_only=calls_only,
        dialog=dialog,
        states=tuple(_option_value("--state", parse_state, s) for s in states),
        statuses=tuple(_option_value("--status", parse_status, s) for s in statuses),
        since=None
        if since is None
        else _option_value("--since", lambda t: parse_time(t, tz), since),
        until=None
        if until is None
        else _option_value("--until", lambda t: parse_time(t, tz), until),
        min_duration_ns=duration,
        grep_first=_pattern("--grep-first", grep_first),
    )


def report_matches(env: Environment, selection: Selection, chosen: int, total: int) -> None:
    """``sipsniff: 0 of 81 dialogs match`` on stderr when a selection chose none of the dialogs
    there were (nothing is said without a selection, or of a capture without dialogs)."""
    if selection.empty or chosen or not total:
        return
    env.say(f"0 of {total} dialog{'s' * (total != 1)} match{'es' * (total == 1)}")


def ladder_limit_hint(dialogs: int, *, by_number: bool = True) -> str:
    """What ``read`` and ``live`` say when they draw the call list only: too many dialogs for
    ladders, and how to choose some (``by_number``: ``--dialog N`` is an option there)."""
    first = "--dialog N, " if by_number else ""
    return (
        f"{dialogs} dialogs: ladders are drawn for {LADDER_LIMIT} at most; choose some with "
        f"{first}--call-id, --state, --status, --user, --host, --since or --grep (all of them: "
        "sipsniff read --help), or browse them with sipsniff browse"
    )


def output_options(registry: Registry[Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``-f/--format`` (the formats of ``registry``, ``text`` by default, each named in the help)
    and ``-o/--output``: the command gets ``fmt`` and ``output``."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        f = click.option(
            "-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None
        )(f)
        return click.option(
            "-f",
            "--format",
            "fmt",
            type=click.Choice(registry.names()),
            default="text",
            show_default=True,
            help=registry.help(),
        )(f)

    return decorate


def watch(session: Session, selection: Selection) -> list[Shown]:
    """The messages of ``session`` that ``selection`` shows as they come (``analysis.select.Watch``):
    the returned list fills as the session correlates them; the caller empties it."""
    from sipsniff.analysis.select import Watch

    pending: list[Shown] = []
    w = Watch(selection)
    dialogs = session.correlator.dialogs

    def see(entry: Entry) -> None:
        one = w.see(entry, dialogs[entry.dialog])
        if one is not None:
            pending.append(one)

    session.observers.append(see)
    session.expired.append(w.forget)
    return pending


def stdout_gone() -> None:
    """The reader of standard output went away (a closed pipe), or it cannot be written (a full
    disk): point it at /dev/null, so that Python does not fail to flush it at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # not a real file (a test's stream)
        pass
    finally:
        os.close(devnull)


def make_console(out: TextIO) -> Console:
    """A console for data on ``out``: colour only on a terminal and without NO_COLOR
    (``Environment.console`` of the command's environment)."""
    return environment().console(out)


def warn(message: str) -> None:
    """``sipsniff: warning: message`` on the command's stderr."""
    environment().warn(message)


class _Group(click.Group):
    """Turns sipsniff's own errors into one line on stderr and their exit status, a closed pipe
    into a quiet end (``ExitStatus.CLOSED_OUTPUT``), and click's usage errors into one line in
    the same form, with where to find help (docs/exit-status.md)."""

    lazy: dict[str, str]
    """Command name -> the module that defines it (``cli/__init__.py``), imported when the command
    is asked for: a command starts without loading the others (a fifth of the start-up time)."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = getattr(self, "lazy", {}).get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            importlib.import_module(module)
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        for module in getattr(self, "lazy", {}).values():
            importlib.import_module(module)
        return super().list_commands(ctx)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SipsniffError as exc:
            err = environment(ctx).stderr
            err.write(f"sipsniff: error: {exc}\n")
            err.flush()
            ctx.exit(exc.exit_status)
        except BrokenPipeError:
            stdout_gone()
            ctx.exit(ExitStatus.CLOSED_OUTPUT)

    def main(  # one signature for click's two overloads
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **kwargs: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **kwargs)
        obj = kwargs.get("obj")
        env = obj if isinstance(obj, Environment) else None
        try:
            code = super().main(args, prog_name, complete_var, False, **kwargs)
        except click.exceptions.Abort:
            (env or environment()).stderr.write("sipsniff: interrupted\n")
            sys.exit(ExitStatus.INTERRUPTED)
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()  # no command: the help, as click shows it
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            err = (env or environment()).stderr
            err.write(f"sipsniff: error: {usage_line(exc)}\n")
            err.flush()
            sys.exit(exc.exit_code)
        sys.exit(code if isinstance(code, int) else ExitStatus.OK)


def usage_line(exc: click.ClickException) -> str:
    """Click's usage error in one line: its message, then where the help is
    (``no such option: --bogus (did you mean --by-host?); see 'sipsniff read --help'``)."""
    message = " ".join(exc.format_message().split()).rstrip(".")
    message = re.sub(r"(^|\()([A-Z])(?=[a-z ])", lambda m: m[1] + m[2].lower(), message)
    message = message.replace(". (", " (")
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        command = " ".join(["sipsniff", *ctx.command_path.split()[1:]])
        message += f"; see '{command} --help'"
    return message


def _fast_paths() -> str:
    """Which parts run with their C fast path (built at install time where a C compiler was)."""
    from sipsniff.analysis.stats import FAST_SIP_STAT
    from sipsniff.correlate.correlator import FAST_ADD
    from sipsniff.correlate.tables import new_table
    from sipsniff.net.decode import FAST_DECODE
    from sipsniff.pipeline.parallel import FAST_TAKE
    from sipsniff.render.html_text import FAST_TEXTS
    from sipsniff.sip.parser import FAST_PARSE

    there = [
        name
        for name, fast in (
            ("the decoder", FAST_DECODE),
            ("the SIP parser", FAST_PARSE),
            ("the correlator", FAST_ADD),
            ("the tables by id", None if new_table is dict else new_table),
            ("the page's texts and the JSON times", FAST_TEXTS),
            ("the sip,stat replay", FAST_SIP_STAT),
            ("the two-process reader", FAST_TAKE),
        )
        if fast is not None
    ]
    return "C fast paths: " + ", ".join(there) if there else "Python alone, no C fast path"


def _version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """``--version``: the version, and which C fast paths there are (which imports them all:
    only then)."""
    if value and not ctx.resilient_parsing:
        click.echo(f"sipsniff, version {__version__} ({_fast_paths()})")
        ctx.exit()


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_version,
    help="Show the version and exit.",
)
def cli() -> None:
    """SIP traffic analyzer: call lists and ladder diagrams with a time column."""


def keep_until_exit(kept: object) -> None:
    """What the command has read (its trace, or the browser that shows one) stays until the
    command ends: out of the cyclic garbage collector's sight (``gc.freeze``). A trace holds no
    cycles (reference counting frees it), yet each full collection would go over all of it again,
    for nothing: once or twice a second of ``stats`` on 180,000 messages, as the analyses after
    the reading allocate.

    When the process ends with the command (``Environment.ends_with_command``), it is not freed
    at all: it is held by a cycle the collector no longer looks at, and the system takes its
    memory back at exit at no cost. Freeing a trace an object at a time took 0.13-0.26 s for
    180,000 messages, 5-9% of ``read -f csv``, and as long after quitting the browser."""
    if environment().ends_with_command:
        held: list[object] = [kept]
        held.append(held)
    gc.freeze()


def report_no_sip(trace: Trace) -> None:
    """A warning on stderr when the inputs held no SIP at all (what a script reads, too)."""
    from sipsniff.render.base import no_sip

    text = no_sip(trace)
    if text is not None:
        warn(text[0].lower() + text[1:].rstrip("."))


def report_damage(trace: Trace) -> None:
    damaged = False
    for info in trace.inputs:
        for n in info.notices:
            environment().say(n)
        for w in info.warnings:
            warn(w)
            damaged = True
    if damaged:
        raise SystemExit(ExitStatus.INPUT_DAMAGED)


def _n(count: int, word: str, plural: str = "") -> str:
    return f"{count} {word if count == 1 else plural or word + 's'}"


def report_limits(trace: Trace, limits: Limits) -> None:
    """Say on stderr which limits of ``limits`` the run reached: one warning per kind (message
    size, reassembly memory, dialogs kept), with the figure and the option that raises it.

    Reaching a limit is no damage: the exit status stays 0 (docs/exit-status.md). The figures are
    counters of ``trace.counts``; where each happened is in the skipped records.
    """
    c = trace.counts
    big = c.sip_stream_oversize + c.ws_oversize + c.hep_oversize
    if big:
        warn(
            f"--max-message {format_size(limits.max_message)} reached: "
            f"{_n(big, 'SIP message')} over {limits.max_message} bytes "
            f"{'was' if big == 1 else 'were'} dropped (see the skipped records); raise it to "
            "keep such messages"
        )
    held = [
        (c.tcp_gaps_at_cap, "TCP gap", " given up without waiting for the missing bytes"),
        (c.fragment_sets_at_cap, "incomplete IP datagram", " dropped"),
        (c.sip_streams_at_cap, "SIP stream", " cut off mid-message"),
        (c.hep_streams_at_cap, "HEP TCP connection", " closed mid-packet"),
    ]
    parts = [_n(n, word) + what for n, word, what in held if n]
    if parts:
        warn(
            f"--max-buffer {format_size(limits.max_buffer)} reached: {', '.join(parts)}; "
            "raise it to hold more for reassembly"
        )
    not_kept = c.messages_not_kept
    if not_kept:
        where = ""
        frame = c.first_not_kept_frame
        if frame is not None:
            where = f" at frame {frame}"
            file = c.first_not_kept_file or 0
            if file < len(trace.inputs):
                where += f" (file {trace.inputs[file].path})"
        warn(
            f"--max-dialogs {limits.max_dialogs} reached{where}: "
            f"{_n(not_kept, 'later message')} of new dialogs "
            f"{'was' if not_kept == 1 else 'were'} not kept; raise it (0: no limit), or use "
            "`sipsniff stats`, which reads any size"
        )


def check_outputs(outputs: Sequence[tuple[str, str | None]], inputs: Sequence[str]) -> None:
    """Before anything is read: refuse an output that is an input or another output (same device
    and inode, whatever the path), as a usage error (``capture.outfile.refuse_overwrite``)."""
    from sipsniff.capture.outfile import refuse_overwrite

    refuse_overwrite(outputs, inputs)


@contextmanager
def open_output(output: str | None, env: Environment | None = None) -> Iterator[TextIO]:
    """``output`` opened for writing (``env``'s stdout when None or ``-``).

    A file is written beside its target and takes its place when the block ends normally; an
    exception leaves the old file whole (``capture.outfile.OutputFile``). Open it before the
    capture is read, so that a missing directory is found first. A write that fails is an
    ``OutputError`` that names the file (standard output too); a closed pipe is a
    ``BrokenPipeError``, which ``_Group`` ends quietly.
    """
    if output is None or output == "-":
        stdout = (env or environment()).stdout
        try:
            yield stdout
            stdout.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            stdout_gone()  # what is still buffered cannot be written either: not at exit
            raise OutputError(f"cannot write standard output: {exc.strerror}") from None
        return
    from sipsniff.capture.outfile import OutputFile

    with OutputFile(output) as f:
        yield f.text


def write_output(
    trace: Trace,
    dialogs: Sequence[Dialog],
    *,
    fmt: str,
    out: TextIO,
    selection: Selection,
    options: RenderOptions,
    env: Environment | None = None,
) -> None:
    """Write ``dialogs`` of ``trace`` in format ``fmt`` to ``out`` (``open_output``): the report
    of them (``analysis.report``), laid out by the renderer of ``fmt``."""
    from sipsniff.analysis.report import TraceReport
    from sipsniff.render.base import RENDERERS

    report = TraceReport(trace, dialogs, by_host=options.by_host, whole=selection.empty)
    renderer = RENDERERS[fmt]()
    renderer.write(report, options, renderer_target(renderer, out, env))


def renderer_target(renderer: Any, out: TextIO, env: Environment | None = None) -> TextIO | Console:
    """What ``renderer`` writes to: ``out`` as a console of ``env`` when the renderer lays text out
    with rich (``console``), else the stream itself."""
    env = env or environment()
    return env.console(out) if renderer.console else out


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


def _not_negative(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None and value < 0:
        raise click.BadParameter("must be 0 or more")
    return value


def memory_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--keep`` and ``--max-dialogs``: what a capture that runs on (``live``, ``hep``) keeps of
    its dialogs (``pipeline.Retention.forgetting``)."""
    f = click.option(
        "--max-dialogs",
        type=int,
        default=10000,
        show_default=True,
        callback=positive,
        help="Most dialogs held in memory at a time, not a cap on those seen: past it the oldest "
        "finished ones leave memory first (the summary counts them); every message is still "
        "shown as it comes.",
    )(f)
    return click.option(
        "--keep",
        "keep_s",
        type=float,
        default=300.0,
        show_default=True,
        callback=_not_negative,
        help="Seconds a finished dialog stays in memory.",
    )(f)


def parse_size(text: str) -> int:
    """``100M`` -> 104857600. Suffixes K, M, G (powers of 1024), optionally followed by B.

    Raises:
        UsageError: not a size, or not above 0.
    """
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    t = text.strip().upper().removesuffix("B")
    unit = t[-1:] if t[-1:] in "KMG" and t[-1:] else ""
    number = t[: len(t) - len(unit)]
    try:
        value = float(number) * units[unit]
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise UsageError(f"not a size: {text!r} (e.g. 500K, 100M, 2G)")
    if value < 1:
        raise UsageError(f"a size must be 1 byte or more, not {text!r}")
    return int(value)


def format_size(n: int) -> str:
    """``2048`` -> ``2K``: the largest unit of ``parse_size`` that divides ``n``, else bytes."""
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return str(n)


class Size(click.ParamType):  # type: ignore[type-arg]  # generic in click 8.4, not 8.1
    """A size in bytes: ``4096``, ``64K``, ``1M``, ``2G`` (``parse_size``). A bad one is a usage
    error in one line, naming the option (status 2)."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_size(str(value))
        except UsageError as exc:
            name = param.opts[0] if param is not None and param.opts else "size"
            raise UsageError(f"{name}: {exc}") from None


SIZE = Size()


def make_limits(max_message: int, max_buffer: int, max_dialogs: int = 0) -> Limits:
    """The ``Limits`` of the values of ``limit_options`` (and of ``read --max-dialogs``)."""
    return Limits(max_message=max_message, max_buffer=max_buffer, max_dialogs=max_dialogs)


def limit_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--max-message SIZE`` and ``--max-buffer SIZE``: what a run may hold in memory.

    The command gets them as one keyword argument, ``limits: Limits`` (``max_dialogs`` 0); a
    command with a dialog cap of its own sets it with ``limits._replace(max_dialogs=N)``. Report
    what was reached with ``report_limits``.
    """

    @functools.wraps(f)
    def command(*args: Any, max_message: int, max_buffer: int, **kwargs: Any) -> Any:
        return f(*args, limits=make_limits(max_message, max_buffer), **kwargs)

    opts = [
        click.option(
            "--max-message",
            type=SIZE,
            default=format_size(DEFAULT_LIMITS.max_message),
            show_default=True,
            metavar="SIZE",
            help="Largest SIP message kept from a stream (TCP, TLS, WebSocket) or from HEP; "
            "bigger ones are dropped, listed as skipped, and a warning counts them. SIZE: 64K, "
            "1M, 2G...",
        ),
        click.option(
            "--max-buffer",
            type=SIZE,
            default=format_size(DEFAULT_LIMITS.max_buffer),
            show_default=True,
            metavar="SIZE",
            help="Most bytes held for reassembly by each of: TCP streams, IP fragments, SIP "
            "stream framing (for hep: its TCP connections); past it the oldest are given up, "
            "and a warning counts them.",
        ),
    ]
    for opt in reversed(opts):
        command = opt(command)
    return command
