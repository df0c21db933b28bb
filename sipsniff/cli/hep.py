"""``sipsniff hep``: a HEP collector; and ``--hep``, the agent options of ``read`` and ``live``.

The collector listens on UDP and TCP addresses for HEPv2/v3 from any number of agents (sngrep -H,
heplify, Kamailio sipcapture, ``sipsniff --hep``), shows each SIP message as it comes with the id of
the agent that sent it, and at the end (Ctrl-C, SIGTERM, ``--count``, ``--duration``) writes the
call list, or a document, as ``read`` does. docs/hep.md shows it at work.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import click

from sipsniff.analysis.report import TraceReport
from sipsniff.analysis.select import select
from sipsniff.capture.hep import HepListener, HepSender, parse_hep_url
from sipsniff.capture.source import batches
from sipsniff.cli.common import (
    Stop,
    check_outputs,
    cli,
    limit_options,
    link_header_option,
    make_selection,
    memory_options,
    open_output,
    report_limits,
    report_matches,
    selection_options,
    stdout_gone,
    stop_options,
    stop_signals,
    watch,
    write_output,
)
from sipsniff.cli.env import environment
from sipsniff.errors import ExitStatus, UsageError
from sipsniff.model import CaptureInfo, Endpoint
from sipsniff.net.encode import LINKTYPE_ETHERNET, FrameMaker
from sipsniff.pipeline import DEFAULT_LINK_HEADERS, Limits, Retention, Session
from sipsniff.render.base import RENDERERS, RenderOptions
from sipsniff.render.stream import STREAMS, LineRenderer, StreamWriter

_TICK = 0.2


# -- the agent: options for read and live ---------------------------------------------------------


def _hep_url(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None:
        try:
            parse_hep_url(value)
        except UsageError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


def hep_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--hep URL``, ``--hep-id N``, ``--hep-password P``: send every SIP message as HEPv3."""
    opts = [
        click.option(
            "--hep",
            "hep",
            default=None,
            metavar="URL",
            callback=_hep_url,
            help="Send every SIP message as HEPv3 to a collector: udp:HOST:PORT or tcp:HOST:PORT "
            "(HOMER's heplify-server listens on 9060).",
        ),
        click.option(
            "--hep-id",
            "hep_id",
            type=click.IntRange(0, 0xFFFFFFFF),
            default=2001,
            show_default=True,
            help="Capture agent id carried by the HEP packets.",
        ),
        click.option(
            "--hep-password",
            "hep_password",
            default=None,
            help="Authentication key of the collector.",
        ),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def hep_agent(hep: str | None, hep_id: int, hep_password: str | None) -> HepSender | None:
    """The sender the ``hep_options`` ask for; None without ``--hep``."""
    if hep is None:
        return None
    return HepSender(hep, hep_id, hep_password)


def close_agent(sender: HepSender | None) -> None:
    """Send what is queued, stop, and say on stderr what was sent, dropped and (over TCP)
    acknowledged by the collector."""
    if sender is None:
        return
    stats = sender.close()
    env = environment()
    env.say(f"hep: {stats.describe()} to {sender.url}")
    if stats.dropped:
        env.warn(f"{stats.dropped} SIP messages were not sent to {sender.url}")
    if stats.unacked:
        env.warn(
            f"{stats.unacked:,} bytes of HEP written to {sender.url} were never acknowledged "
            "by the collector: the SIP messages they carried did not arrive"
        )


# -- the collector --------------------------------------------------------------------------------


@cli.command()
@click.option(
    "-l",
    "--listen",
    "listen",
    multiple=True,
    required=True,
    metavar="URL",
    help="Where to listen: udp:HOST:PORT or tcp:HOST:PORT (repeatable), e.g. udp:0.0.0.0:9060.",
)
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(RENDERERS.names()),
    default="text",
    show_default=True,
    help="text: a line per message as it comes, then the call list; ndjson: a JSON object per "
    "message as it comes (with its agent); json, html, ...: one document at the end, as read.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None)
@stop_options
@click.option(
    "-w",
    "--write-pcap",
    "pcap",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the messages to this pcap file as Ethernet/IP/UDP|TCP frames with the addresses "
    "their agents saw.",
)
@memory_options
@click.option("--agent", "agents", type=int, multiple=True, help="Only this agent id (repeatable).")
@click.option("--password", default=None, help="Refuse HEP packets that do not carry this key.")
@click.option("-v", "--full", is_flag=True, help="Message text too (ladders, ndjson).")
@link_header_option
@limit_options
@selection_options
def hep(
    listen: tuple[str, ...],
    fmt: str,
    output: str | None,
    count: int | None,
    duration: float | None,
    pcap: str | None,
    keep_s: float,
    max_dialogs: int,
    agents: tuple[int, ...],
    password: str | None,
    full: bool,
    link_headers: tuple[str, ...],
    limits: Limits,
    **sel: Any,
) -> None:
    """Collect SIP sent as HEP (v2, v3) by capture agents, over UDP or TCP.

    Each message is shown as it arrives with the id of the agent that sent it; at the end
    (Ctrl-C, SIGTERM, --count, --duration) comes the call list, or the document of --format.
    The selection options choose the dialogs of that report.
    """
    env = environment()
    selection = make_selection(tz=env.tz, **sel)
    check_outputs([("-o", output), ("--write-pcap", pcap)], [])
    session = Session(
        link_headers=link_headers or DEFAULT_LINK_HEADERS,
        limits=limits._replace(max_dialogs=0),
        retention=Retention.forgetting(int(keep_s * 1e9), max_dialogs),
        agents=agents,
        password=password,
    )
    shown = watch(session, selection)
    stop = Stop()
    with ExitStack() as stack:
        out = stack.enter_context(open_output(output, env))
        listener = stack.enter_context(HepListener(list(listen), max_buffer=limits.max_buffer))
        writer = None
        maker = FrameMaker()
        if pcap is not None:
            from sipsniff.capture.live import PcapWriter  # 15 ms to import: only for --write-pcap

            writer = PcapWriter(pcap, LINKTYPE_ETHERNET)
            stack.callback(writer.close)
        stack.enter_context(stop_signals(stop))
        env.say("listening for HEP on " + ", ".join(str(u) for u in listener.bound))
        stream = None
        if fmt in STREAMS:
            tty = out is env.stdout and env.isatty
            lines = LineRenderer(
                color=tty and not env.no_color,
                width=env.console().width if tty else None,
                tz=env.tz,
            )
            stream = StreamWriter(fmt, out, lines, full=full, agent_of=session.agent_of)
        started = env.monotonic()
        source = batches(
            listener.poll,
            stopped=lambda: stop.reason is not None,
            deadline=None if duration is None else started + duration,
            tick=_TICK,
            clock=env.monotonic,
        )
        messages = 0
        for received in source:
            for got in received:
                peer = Endpoint(got.peer[0], got.peer[1])
                for entry in session.feed_hep(got.data, env.clock(), peer):
                    messages += 1
                    if writer is not None:
                        frame = maker.frame(messages, entry)
                        if frame is not None:
                            writer.write(frame)
                if stream is not None:
                    stream.write(shown)
                shown.clear()
                if count is not None and messages >= count:
                    break
            if (count is not None and messages >= count) or (stream and stream.broken):
                break
        seconds = env.monotonic() - started
        session.finish()
        shown.clear()
        if writer is not None:
            writer.close()
        if stream is not None and stream.broken:
            stdout_gone()
        trace = session.trace()
        if listener.capped:
            trace.counts.hep_streams_at_cap = listener.capped
        trace.counts.dialogs_dropped_from_memory = session.evicted
        where = "hep:" + ",".join(str(u) for u in listener.bound)
        trace.inputs = [CaptureInfo(where, "hep", (), 6, session.hep.packets)]
        dialogs = select(trace, selection)
        report_matches(env, selection, len(dialogs), len(trace.dialogs))
        options = RenderOptions(time="abs", full=full, view="list" if fmt == "text" else "both")
        if fmt == "text" and not (stream and stream.broken):
            out.write("\n")
            out.flush()
            report = TraceReport(trace, dialogs, by_host=False, whole=selection.empty)
            RENDERERS["text"]().write(report, options, env.console(out))
        elif fmt not in STREAMS:
            write_output(trace, dialogs, fmt=fmt, out=out, selection=selection, options=options)
        per_agent = ", ".join(f"agent {a}: {n}" for a, n in sorted(session.per_agent.items()))
        env.say(
            f"{session.hep.packets} HEP packets in {seconds:.1f} s, {messages} SIP "
            f"messages, {session.dialogs} dialogs" + (f" ({per_agent})" if per_agent else "")
        )
        bad = session.counts.hep_bad
        if bad:
            env.warn(f"{bad} packets were not usable HEP (see --format json, skipped)")
        if session.evicted:
            env.say(f"{session.evicted} dialogs dropped from memory (--keep, --max-dialogs)")
        if writer is not None:
            env.say(f"written to {', '.join(writer.paths)}")
        report_limits(trace, limits)
    if stream is not None and stream.broken:
        raise SystemExit(ExitStatus.CLOSED_OUTPUT)
