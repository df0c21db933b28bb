"""``sipsniff live``: capture on interfaces and watch the ladder grow.

How this works. ``LiveCapture`` (capture/live.py) hands over the frames of its ring a block at a
time; each frame goes to the pcap writer (``--write-pcap``) and to the same ``Pipeline`` that reads
files, which returns the SIP messages it completed. Each message is shown as it comes (a ladder
line, an NDJSON object, or a refresh of the call list with ``--table``) when its dialog, as far as it
is known so far, matches the selection. Stopping (Ctrl-C, SIGTERM, ``--count``, ``--duration``)
drains the ring first, so nothing captured is lost; then come the call list and ladders, or the
JSON document, as ``read`` writes them, and the summary on stderr.

Long runs: every so often, dialogs that are over and older than ``--keep`` seconds, and the oldest
beyond ``--max-dialogs``, are dropped from memory (``Correlator.expire``); their numbers are gone
with them, but the counters of the summary keep them. The ids of messages, transactions and
dialogs are the correlator's, for the whole run, never renumbered: ``[12]`` in a ladder line and
``dialog`` in NDJSON are a ``Dialog.id``, ``index`` and ``transaction`` an ``Entry.id`` and a
``Transaction.id`` (what ``sipsniff read`` finds in the written pcap, too).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any, TextIO

import click
from rich.console import Group
from rich.live import Live
from rich.text import Text

from sipsniff.analysis.select import Selection, Shown, Watch, select
from sipsniff.capture.live import (
    DEFAULT_BUFFER,
    DEFAULT_FILTER,
    RETIRE_MS,
    LiveCapture,
    PcapWriter,
    interfaces,
)
from sipsniff.capture.source import batches
from sipsniff.cli.common import (
    LADDER_LIMIT,
    SIZE,
    Stop,
    cli,
    limit_options,
    make_console,
    make_selection,
    memory_options,
    positive,
    report_limits,
    selection_options,
    stop_options,
    stop_signals,
    warn,
    write_output,
)
from sipsniff.cli.hep import close_agent, hep_agent, hep_options
from sipsniff.errors import UsageError
from sipsniff.model import CaptureInfo, Entry, Trace
from sipsniff.pipeline import DEFAULT_LIMITS, DEFAULT_LINK_HEADERS, Limits, Retention, Session
from sipsniff.render.base import RenderOptions
from sipsniff.render.json import message_dict
from sipsniff.render.stream import LineRenderer
from sipsniff.render.terminal import TerminalRenderer, call_list

LIVE_FORMATS = ("text", "ndjson", "json", "html", "mermaid", "plantuml", "csv")
DOCUMENTS = frozenset({"json", "html", "mermaid", "plantuml", "csv"})
"""Formats written once, at the end of the capture (nothing is printed while it runs)."""
_NS = 1_000_000_000
_TICK = 0.1
"""Longest wait for packets before looking at the clock, the signals and the screen again."""


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def live_session(
    *,
    link_headers: Sequence[str] = DEFAULT_LINK_HEADERS,
    keep_s: float = 300.0,
    max_dialogs: int = 10000,
    limits: Limits = DEFAULT_LIMITS,
) -> Session:
    """The session of a capture that runs on: dialogs over for ``keep_s`` seconds, and the oldest
    beyond ``max_dialogs``, leave memory (``Retention.forgetting``). The dialog cap of ``limits``
    (read's: the later dialogs are not kept) is not for a capture that runs on."""
    return Session(
        link_headers=link_headers,
        limits=limits._replace(max_dialogs=0),
        retention=Retention.forgetting(int(keep_s * _NS), max_dialogs),
    )


def summary_lines(
    session: Session, cap: LiveCapture, seconds: float, pcaps: list[str]
) -> list[str]:
    """The summary of a run, a few lines for stderr."""
    stats = cap.stats
    where = ", ".join(cap.names)
    lines = [
        f"{_plural(stats.frames, 'packet')} captured on {where} in {seconds:.1f} s, "
        f"{stats.dropped} dropped by the kernel"
    ]
    states = ", ".join(f"{state or '?'} {n}" for state, n in session.states().items())
    counts = session.counts
    skipped = len(session.skipped) + session.skipped.not_kept
    line = f"{_plural(session.messages, 'SIP message')}, {_plural(session.dialogs, 'dialog')}"
    lines.append(line + (f": {states}" if states else ""))
    tail = [
        f"{skipped} skipped (undecodable)",
        _plural(counts.keepalive, "keep-alive"),
    ]
    if session.evicted:
        tail.append(f"{session.evicted} dialogs dropped from memory (--keep, --max-dialogs)")
    lines.append(", ".join(tail))
    if pcaps:
        lines.append("written to " + ", ".join(pcaps))
    return lines


def _list_interfaces(out: TextIO) -> None:
    found = interfaces()
    width = max((len(i.name) for i in found), default=2)
    for i in found:
        out.write(f"{i.index:>3}  {i.name:<{width}}  {i.describe()}\n")
    out.write(f"{'-':>3}  {'any':<{width}}  every interface (Linux cooked headers)\n")


@cli.command()
@click.argument("filter_words", nargs=-1, metavar="[FILTER]...")
@click.option(
    "-i",
    "--interface",
    "names",
    multiple=True,
    help="Interface to capture on (repeatable); 'any' for all. Default: the first one that is up, "
    "not the loopback (as tcpdump).",
)
@click.option("--list-interfaces", "list_only", is_flag=True, help="List the interfaces and exit.")
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(LIVE_FORMATS),
    default="text",
    show_default=True,
    help="text: a ladder line per message, then call list and ladders; ndjson: one JSON object "
    "per message as it comes; json, html, mermaid, plantuml, csv: one document at the end "
    "(docs/json.md, docs/export.md).",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None)
@click.option("--table", is_flag=True, help="A call list refreshing in place instead of lines.")
@stop_options
@click.option(
    "-w",
    "--write-pcap",
    "pcap",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write every captured packet to this pcap file.",
)
@click.option(
    "--rotate",
    type=SIZE,
    default=None,
    metavar="SIZE",
    help="With --write-pcap: a new file (FILE.1, FILE.2...) past SIZE, e.g. 100M.",
)
@memory_options
@click.option(
    "-B",
    "--buffer",
    "buffer_mb",
    type=int,
    default=DEFAULT_BUFFER >> 20,
    show_default=True,
    callback=positive,
    help="MiB of the kernel receive ring.",
)
@click.option(
    "--time",
    "time_mode",
    type=click.Choice(["abs", "rel", "dialog", "delta"]),
    default="dialog",
    show_default=True,
    help="Time column of the final ladders (lines show the wall clock).",
)
@click.option("--utc", is_flag=True, help="Wall-clock times in UTC instead of local time.")
@click.option("--by-host", is_flag=True, help="Final ladders: one column per IP address.")
@click.option("-v", "--full", is_flag=True, help="Message text in the final ladders and in JSON.")
@click.option(
    "--link-header",
    "link_headers",
    multiple=True,
    help="Header that carries the other leg's Call-ID (B2BUA).",
)
@limit_options
@selection_options
@hep_options
def live(
    filter_words: tuple[str, ...],
    names: tuple[str, ...],
    list_only: bool,
    fmt: str,
    output: str | None,
    table: bool,
    count: int | None,
    duration: float | None,
    pcap: str | None,
    rotate: int | None,
    keep_s: float,
    max_dialogs: int,
    buffer_mb: int,
    time_mode: str,
    utc: bool,
    by_host: bool,
    full: bool,
    link_headers: tuple[str, ...],
    limits: Limits,
    hep: str | None,
    hep_id: int,
    hep_password: str | None,
    **sel: Any,
) -> None:
    """Capture SIP on interfaces and show each message as it comes.

    FILTER is a tcpdump expression (default: every UDP, TCP and SCTP packet, IP fragments and
    IPv6). Stop with Ctrl-C, --count or --duration: then come the call list and ladders (or the
    JSON document) as `read` shows them, and a summary on stderr. Needs root or CAP_NET_RAW
    (docs/live.md).
    """
    if list_only:
        _list_interfaces(sys.stdout)
        return
    selection = make_selection(**sel)
    if rotate is not None and pcap is None:
        raise UsageError("--rotate needs --write-pcap FILE")
    to_stdout = output is None or output == "-"
    tty = to_stdout and sys.stdout.isatty()
    if table and (fmt != "text" or not tty):
        raise UsageError("--table shows a call list in a terminal: use it with -f text on a tty")
    expression = " ".join(filter_words) if filter_words else None
    options = RenderOptions(time=time_mode, utc=utc, by_host=by_host, full=full)
    session = live_session(
        link_headers=link_headers or DEFAULT_LINK_HEADERS,
        keep_s=keep_s,
        max_dialogs=max_dialogs,
        limits=limits,
    )
    stop = Stop()
    with ExitStack() as stack:
        sender = hep_agent(hep, hep_id, hep_password)
        if sender is not None:
            session.observers.append(lambda e: sender.send(e.msg))
            stack.callback(close_agent, sender)
        out: TextIO = sys.stdout
        if not to_stdout:
            assert output is not None
            # Opened first, so that a capture never ends with nowhere to write what it found (the
            # JSON document is written there again by ``write_output`` at the end).
            try:
                out = stack.enter_context(open(output, "w", encoding="utf-8"))
            except OSError as exc:
                raise UsageError(f"cannot write {output}: {exc.strerror}") from None
        cap = stack.enter_context(LiveCapture(names, expression, buffer_bytes=buffer_mb << 20))
        for name in cap.down:
            warn(f"interface {name} is down: nothing will be captured on it")
        writer = None
        if pcap is not None:
            writer = PcapWriter(pcap, cap.linktype, rotate=rotate)
            stack.callback(writer.close)
        show = _Shower(session, Watch(selection), fmt, out, tty=tty, table=table, options=options)
        stack.enter_context(stop_signals(stop))
        click.echo(
            f"sipsniff: capturing on {', '.join(cap.names)} "
            f"({cap.expression if expression else 'default filter: ' + DEFAULT_FILTER})",
            err=True,
        )
        started = time.monotonic()
        with show:
            _run(cap, session, writer, show, stop, count=count, duration=duration)
        seconds = time.monotonic() - started
        session.finish()
        show.pending.clear()
        cap.update_stats()
        if writer is not None:
            writer.close()
        if (fmt == "text" or fmt in DOCUMENTS) and not show.broken:
            _report(session, cap, fmt, output, out, selection, options)
        # Last, so that it is what a person sees at the end of the ladders.
        for line in summary_lines(session, cap, seconds, writer.paths if writer else []):
            click.echo(f"sipsniff: {line}", err=True)
        if cap.stats.dropped:
            warn(
                f"the kernel dropped {cap.stats.dropped} packets (sipsniff fell behind): a "
                "bigger --buffer or a narrower FILTER helps"
            )
        report_limits(Trace(counts=session.counts), limits)


class _Shower:
    """Shows the messages as they come: ladder lines, NDJSON lines, or the call list in place."""

    def __init__(
        self,
        session: Session,
        watch: Watch,
        fmt: str,
        out: TextIO,
        *,
        tty: bool,
        table: bool,
        options: RenderOptions,
    ) -> None:
        self.session = session
        self.watch = watch
        session.observers.append(self.see)
        session.expired.append(watch.forget)
        self.pending: list[Shown] = []
        """The messages to show of the last frame."""
        self.fmt = fmt
        self.out = out
        self.full = options.full
        self.broken = False
        """The reader of our output went away (a closed pipe)."""
        self.options = options
        width = shutil.get_terminal_size().columns if tty else None
        color = tty and not os.environ.get("NO_COLOR")
        self.lines = LineRenderer(color=color, width=width, utc=options.utc)
        self.live: Live | None = None
        if table:
            self.live = Live(console=make_console(out), auto_refresh=False, transient=False)
        self._dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        self._shown = 0

    def __enter__(self) -> _Shower:
        if self.live is not None:
            self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.refresh()
            self.live.stop()

    def see(self, entry: Entry) -> None:
        """An observer of the session: each message it correlates, to show or not."""
        shown = self.watch.see(entry, self.session.correlator.dialogs[entry.dialog])
        if shown is not None:
            self.pending.append(shown)

    def entries(self, shown: list[Shown]) -> None:
        if self.broken or self.live is not None or self.fmt in DOCUMENTS:
            self._shown += len(shown)
            return
        try:
            w = self.out.write
            if self.fmt == "ndjson":
                for one in shown:
                    d = message_dict(one.entry, full=self.full)
                    w(self._dumps(d) + "\n")
                    self.out.flush()
            else:
                for one in shown:
                    w(self.lines.line(one.entry, one.state, one.outcome) + "\n")
                self.out.flush()
        except BrokenPipeError:
            self.broken = True
            # Nothing more can go there; keep Python from failing to flush it at exit.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)

    def refresh(self) -> None:
        """Redraw the call list (``--table``): the latest dialogs that fit the screen."""
        if self.live is None:
            return
        c = self.session.correlator
        console = self.live.console
        rows = max(3, console.height - 4)
        shown = list(c.dialogs.values())[-rows:]
        trace = Trace.of(dialogs=shown, inputs=[_info(None, 0)])
        options = dataclasses.replace(self.options, time="abs")
        s = self.session
        head = Text(
            f"{s.messages} messages, {s.dialogs} dialogs"
            + (f" ({s.evicted} dropped from memory)" if s.evicted else "")
            + "  (Ctrl-C stops)",
            style="dim",
        )
        self.live.update(Group(head, call_list(trace, shown, options, console.width)), refresh=True)


def _info(cap: LiveCapture | None, frames: int) -> CaptureInfo:
    names = ",".join(cap.names) if cap is not None else "?"
    linktypes = (cap.linktype,) if cap is not None else ()
    return CaptureInfo(f"live:{names}", "live", linktypes, 6, frames)


def _run(
    cap: LiveCapture,
    session: Session,
    writer: PcapWriter | None,
    show: _Shower,
    stop: Stop,
    *,
    count: int | None,
    duration: float | None,
) -> None:
    """The capture loop, then the drain."""
    deadline = None if duration is None else time.monotonic() + duration
    last_tick = time.monotonic()
    source = batches(
        cap.read,
        stopped=lambda: stop.reason is not None,
        deadline=deadline,
        tick=_TICK,
        # What the kernel still holds, and the block it hands over RETIRE_MS after its first
        # packet.
        drain=lambda: cap.drain(3 * RETIRE_MS / 1000),
    )
    for frames in source:
        for frame in frames:
            if writer is not None:
                writer.write(frame)
            session.feed(frame)
            if show.pending:
                show.entries(show.pending)
                show.pending = []
            if count is not None and session.messages >= count:
                return
        if show.broken:
            stop.reason = "closed output"
        now = time.monotonic()
        if now - last_tick >= 1.0 or (show.live is not None and now - last_tick >= 0.25):
            last_tick = now
            if writer is not None:
                writer.flush()
            cap.update_stats()
            session.tick(time.time_ns())
            show.refresh()


def _report(
    session: Session,
    cap: LiveCapture,
    fmt: str,
    output: str | None,
    out: TextIO,
    selection: Selection,
    options: RenderOptions,
) -> None:
    """The call list and ladders, or the JSON document, of the dialogs still in memory."""
    trace = session.trace()
    trace.inputs = [_info(cap, cap.stats.frames)]
    trace.counts.dropped_by_kernel = cap.stats.dropped
    trace.counts.dialogs_dropped_from_memory = session.evicted
    dialogs = select(trace, selection)
    if fmt in DOCUMENTS:
        write_output(trace, dialogs, fmt=fmt, output=output, selection=selection, options=options)
        return
    view = "both"
    if selection.empty and len(dialogs) > LADDER_LIMIT:
        view = "list"
        warn(
            f"{len(dialogs)} dialogs: ladders are drawn for {LADDER_LIMIT} at most; "
            "choose some with --call-id, --method, --user, --host or --grep"
        )
    out.write("\n")
    out.flush()
    TerminalRenderer().render(
        trace, dialogs, dataclasses.replace(options, view=view), make_console(out)
    )
