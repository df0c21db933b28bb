"""``sipsniff live``: capture on interfaces and watch the ladder grow.

How this works. The capture backend (``--backend``: Linux's packet socket ring, capture/live.py, or
libpcap / Npcap, capture/pcap.py; capture/backends.py chooses) hands over frames a batch at a
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
import datetime
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from typing import Any, TextIO

import click
from rich.live import Live

from sipsniff.analysis.report import TraceReport
from sipsniff.analysis.select import Selection, select
from sipsniff.capture.backends import BACKENDS, choose, list_devices, open_capture
from sipsniff.capture.base import ANY, DEFAULT_BUFFER, DEFAULT_FILTER, Capture, Device
from sipsniff.capture.live import PcapWriter
from sipsniff.capture.source import batches
from sipsniff.cli.common import (
    LADDER_LIMIT,
    SIZE,
    Stop,
    check_outputs,
    cli,
    ladder_limit_hint,
    limit_options,
    link_header_option,
    make_selection,
    memory_options,
    open_output,
    positive,
    report_limits,
    report_matches,
    selection_options,
    selection_query,
    stdout_gone,
    stop_options,
    stop_signals,
    watch,
    write_output,
)
from sipsniff.cli.env import Environment, environment
from sipsniff.cli.hep import close_agent, hep_agent, hep_options
from sipsniff.errors import ExitStatus, UsageError
from sipsniff.model import CaptureInfo, Frame, Trace
from sipsniff.pipeline import DEFAULT_LIMITS, DEFAULT_LINK_HEADERS, Limits, Retention, Session
from sipsniff.render.base import RENDERERS, RenderOptions
from sipsniff.render.stream import STREAMS, LineRenderer, StreamWriter, board

DOCUMENTS = frozenset(RENDERERS.names()) - set(STREAMS)
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


def summary_lines(session: Session, cap: Capture, seconds: float, pcaps: list[str]) -> list[str]:
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


def list_lines(found: list[Device], backend: str) -> list[str]:
    """``--list-interfaces``: a line per interface (number, name, state, addresses), and one
    more, indented, with its description and the device name the system uses when they say
    more; ``any`` last for the ring."""
    name_w = max((len(d.name) for d in found), default=3)
    state_w = max((len(d.state()) for d in found), default=2)
    lines = []
    for d in found:
        addresses = ", ".join(d.addresses)
        lines.append(
            f"{d.index:>3}  {d.name:<{name_w}}  {d.state():<{state_w}}  {addresses}".rstrip()
        )
        more = [w for w in (d.description, d.device) if w and w != d.name]
        if more:
            lines.append(f"{'':>3}  {'  '.join(more)}")
    if backend == "ring":
        lines.append(f"{'-':>3}  {ANY:<{name_w}}  every interface (Linux cooked headers)")
    return lines


@cli.command()
@click.argument("filter_words", nargs=-1, metavar="[FILTER]...")
@click.option(
    "-i",
    "--interface",
    "names",
    multiple=True,
    help="Interface to capture on, by any name --list-interfaces shows or its number "
    "(repeatable); 'any' for all (Linux). Default: the first one that is up, not the loopback "
    "(as tcpdump).",
)
@click.option(
    "-D",
    "--list-interfaces",
    "list_only",
    is_flag=True,
    help="List the interfaces (names -i takes, addresses) and exit.",
)
@click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    default="auto",
    show_default=True,
    help="How to capture: ring (Linux's packet socket, the fastest), pcap (libpcap; Npcap on "
    "Windows), auto (ring on Linux, pcap elsewhere).",
)
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(RENDERERS.names()),
    default="text",
    show_default=True,
    help="text: a ladder line per message, then call list and ladders; ndjson: one JSON object "
    "per message as it comes; json, html, mermaid, plantuml, csv: one document at the end "
    "(docs/json.md, docs/export.md).",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None)
@click.option("--table", is_flag=True, help="A call list refreshing in place instead of lines.")
@click.option(
    "--browse",
    "browsing",
    is_flag=True,
    help="The interactive browser (as `sipsniff browse`), growing as packets come.",
)
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
    help="MiB of the kernel's receive buffer (the ring, or libpcap's).",
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
@link_header_option
@limit_options
@selection_options
@hep_options
def live(
    filter_words: tuple[str, ...],
    names: tuple[str, ...],
    list_only: bool,
    backend: str,
    fmt: str,
    output: str | None,
    table: bool,
    browsing: bool,
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
    JSON document) as `read` shows them, and a summary on stderr. Needs root or CAP_NET_RAW on
    Linux, access to /dev/bpf* on macOS, Npcap on Windows (docs/live.md).
    """
    env = environment()
    if list_only:
        for line in list_lines(list_devices(backend), choose(backend)):
            env.stdout.write(line + "\n")
        return
    selection = make_selection(tz=datetime.UTC if utc else env.tz, **sel)
    if rotate is not None and pcap is None:
        raise UsageError("--rotate needs --write-pcap FILE")
    to_stdout = output is None or output == "-"
    tty = to_stdout and env.isatty
    if table and (fmt != "text" or not tty):
        raise UsageError("--table shows a call list in a terminal: use it with -f text on a tty")
    if browsing and (not env.isatty or table or fmt != "text" or output is not None):
        raise UsageError("--browse needs a terminal, and no --table, --format or --output")
    check_outputs([("-o", output), ("--write-pcap", pcap)], [])
    expression = " ".join(filter_words) if filter_words else None
    options = RenderOptions(time=time_mode, utc=utc, by_host=by_host, full=full, tz=env.tz)
    session = live_session(
        link_headers=link_headers or DEFAULT_LINK_HEADERS,
        keep_s=keep_s,
        max_dialogs=max_dialogs,
        limits=limits,
    )
    shown = watch(session, selection)
    stop = Stop()
    with ExitStack() as stack:
        sender = hep_agent(hep, hep_id, hep_password)
        if sender is not None:
            session.observers.append(sender.send)
            stack.callback(close_agent, sender)
        # Opened first, so that a capture never ends with nowhere to write what it found.
        out = stack.enter_context(open_output(output, env))
        cap = stack.enter_context(
            open_capture(backend, names, expression, buffer_bytes=buffer_mb << 20)
        )
        for name in cap.down:
            env.warn(f"interface {name} is down: nothing will be captured on it")
        writer = None
        if pcap is not None:
            writer = PcapWriter(pcap, cap.linktype, rotate=rotate)
            stack.callback(writer.close)
        stream = None
        if fmt in STREAMS and not table:
            lines = LineRenderer(
                color=tty and not env.no_color,
                width=env.console().width if tty else None,
                utc=utc,
                tz=env.tz,
            )
            stream = StreamWriter(fmt, out, lines, full=full)
        if browsing:  # the selection options start the filter box, where they can be changed
            _browse(env, session, cap, writer, options, duration, count, selection_query(**sel))
            for line in summary_lines(session, cap, 0.0, writer.paths if writer else [])[:1]:
                env.say(line)
            return
        board = stack.enter_context(_Board(env, session, options)) if table else None
        stack.enter_context(stop_signals(stop))
        env.say(
            f"capturing on {', '.join(cap.names)} "
            f"({cap.expression if expression else 'default filter: ' + DEFAULT_FILTER})"
        )
        started = env.monotonic()
        deadline = None if duration is None else started + duration
        source = batches(
            cap.read,
            stopped=lambda: stop.reason is not None,
            deadline=deadline,
            tick=_TICK,
            # What the kernel still holds (the ring's last block comes RETIRE_MS after its
            # first packet).
            drain=cap.drain,
            clock=env.monotonic,
        )
        last_tick = started
        for frames in source:
            for frame in frames:
                if writer is not None:
                    writer.write(frame)
                session.feed(frame)
                if stream is not None:
                    stream.write(shown)
                shown.clear()
                if count is not None and session.messages >= count:
                    break
            if count is not None and session.messages >= count:
                break
            if stream is not None and stream.broken:
                stop.reason = "closed output"
            now = env.monotonic()
            if now - last_tick >= (0.25 if board is not None else 1.0):
                last_tick = now
                if writer is not None:
                    writer.flush()
                cap.update_stats()
                session.tick(env.clock())
                if board is not None:
                    board.refresh()
        seconds = env.monotonic() - started
        session.finish()
        shown.clear()
        cap.update_stats()
        if writer is not None:
            writer.close()
        broken = stream is not None and stream.broken
        if broken:
            stdout_gone()
        if (fmt == "text" or fmt in DOCUMENTS) and not broken:
            _report(session, cap, fmt, out, selection, options)
        # Last, so that it is what a person sees at the end of the ladders.
        for line in summary_lines(session, cap, seconds, writer.paths if writer else []):
            env.say(line)
        if cap.stats.dropped:
            env.warn(
                f"the kernel dropped {cap.stats.dropped} packets (sipsniff fell behind): a "
                "bigger --buffer or a narrower FILTER helps"
            )
        report_limits(Trace(counts=session.counts), limits)
    if broken:
        raise SystemExit(ExitStatus.CLOSED_OUTPUT)  # after the summary: what the run wrote


class _Board:
    """``--table``: the call list in place of the screen, refreshed as the capture goes."""

    def __init__(self, env: Environment, session: Session, options: RenderOptions) -> None:
        self.session = session
        self.options = dataclasses.replace(options, time="abs")
        self.live = Live(console=env.console(), auto_refresh=False, transient=False)

    def __enter__(self) -> _Board:
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.refresh()
        self.live.stop()

    def refresh(self) -> None:
        """Redraw: the latest dialogs that fit the screen."""
        s = self.session
        console = self.live.console
        head = (
            f"{s.messages} messages, {s.dialogs} dialogs"
            + (f" ({s.evicted} dropped from memory)" if s.evicted else "")
            + "  (Ctrl-C stops)"
        )
        held = list(s.correlator.dialogs.values())[-max(3, console.height - 4) :]
        self.live.update(board(head, held, self.options, console.width), refresh=True)


def _info(cap: Capture, frames: int) -> CaptureInfo:
    return CaptureInfo(f"live:{','.join(cap.names)}", "live", (cap.linktype,), 6, frames)


def _report(
    session: Session,
    cap: Capture,
    fmt: str,
    out: TextIO,
    selection: Selection,
    options: RenderOptions,
) -> None:
    """The call list and ladders, or the document of ``fmt``, of the dialogs still in memory."""
    env = environment()
    trace = session.trace()
    trace.inputs = [_info(cap, cap.stats.frames)]
    trace.counts.dropped_by_kernel = cap.stats.dropped
    trace.counts.dialogs_dropped_from_memory = session.evicted
    dialogs = select(trace, selection)
    report_matches(env, selection, len(dialogs), len(trace.dialogs))
    if fmt in DOCUMENTS:
        write_output(trace, dialogs, fmt=fmt, out=out, selection=selection, options=options)
        return
    view = "both"
    if selection.empty and len(dialogs) > LADDER_LIMIT:
        view = "list"
        env.warn(ladder_limit_hint(len(dialogs), by_number=False))
    out.write("\n")
    out.flush()
    report = TraceReport(trace, dialogs, by_host=options.by_host, whole=selection.empty)
    RENDERERS["text"]().write(report, dataclasses.replace(options, view=view), env.console(out))


def _browse(
    env: Environment,
    session: Session,
    cap: Capture,
    writer: PcapWriter | None,
    options: RenderOptions,
    duration: float | None,
    count: int | None,
    initial: str,
) -> None:
    """``live --browse``: the browser, fed by the capture in its worker thread."""
    from sipsniff.browse.app import Source  # Textual only for those who browse
    from sipsniff.browse.loader import Progress, feed_batches
    from sipsniff.cli.browse import run

    started = env.monotonic()

    def feed(emit: Callable[[Progress], object], stopped: Callable[[], bool]) -> None:
        def frames() -> Iterator[list[Frame]]:
            source = batches(
                cap.read,
                stopped=lambda: stopped() or (count is not None and session.messages >= count),
                deadline=None if duration is None else started + duration,
                tick=_TICK,
                drain=cap.drain,
                clock=env.monotonic,
            )
            for got in source:
                if writer is not None:
                    for frame in got:
                        writer.write(frame)
                    writer.flush()
                cap.update_stats()
                yield got

        feed_batches(session, frames(), emit)

    def status() -> str:
        stats = cap.stats
        return f"{_plural(stats.frames, 'packet')}, {stats.dropped} dropped"

    name = "live " + ", ".join(cap.names)
    run(Source(session=session, feed=feed, name=name, status=status), options, initial)
