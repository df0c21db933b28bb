"""``sipsniff hep``: a HEP collector; and ``--hep``, the agent options of ``read`` and ``live``.

The collector listens on UDP and TCP addresses for HEPv2/v3 from any number of agents (sngrep -H,
heplify, Kamailio sipcapture, ``sipsniff --hep``), shows each SIP message as it comes with the id of
the agent that sent it, and at the end (Ctrl-C, SIGTERM, ``--count``, ``--duration``) writes the
call list, or a document, as ``read`` does. docs/hep.md shows it at work.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any, TextIO

import click

from sipsniff.analysis.select import Watch, select
from sipsniff.capture.hep import HepListener, HepSender, parse_hep_url
from sipsniff.capture.live import PcapWriter
from sipsniff.capture.source import batches
from sipsniff.cli.common import (
    FORMATS,
    Stop,
    cli,
    limit_options,
    make_console,
    make_selection,
    memory_options,
    report_limits,
    selection_options,
    stop_options,
    stop_signals,
    warn,
    write_output,
)
from sipsniff.errors import UsageError
from sipsniff.model import CaptureInfo, Endpoint, Entry
from sipsniff.net.encode import LINKTYPE_ETHERNET, FrameMaker
from sipsniff.pipeline import DEFAULT_LINK_HEADERS, Limits, Retention, Session
from sipsniff.render.base import RENDERERS, RenderOptions
from sipsniff.render.json import message_dict
from sipsniff.render.stream import LineRenderer

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
    """Send what is queued, stop, and say on stderr what was sent and dropped."""
    if sender is None:
        return
    stats = sender.close()
    click.echo(f"sipsniff: hep: {stats.describe()} to {sender.url}", err=True)
    if stats.dropped:
        warn(f"{stats.dropped} SIP messages were not sent to {sender.url}")


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
    type=click.Choice(FORMATS),
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
@click.option(
    "--link-header",
    "link_headers",
    multiple=True,
    help="Header that carries the other leg's Call-ID (B2BUA); default X-Call-ID and X-CID.",
)
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
    selection = make_selection(**sel)
    session = Session(
        link_headers=link_headers or DEFAULT_LINK_HEADERS,
        limits=limits._replace(max_dialogs=0),
        retention=Retention.forgetting(int(keep_s * 1e9), max_dialogs),
        agents=agents,
        password=password,
    )
    watch = Watch(selection)
    session.expired.append(watch.forget)
    stop = Stop()
    streaming = fmt in ("text", "ndjson")
    with ExitStack() as stack:
        out: TextIO = sys.stdout
        if streaming and output is not None and output != "-":
            try:
                out = stack.enter_context(open(output, "w", encoding="utf-8"))
            except OSError as exc:
                raise UsageError(f"cannot write {output}: {exc.strerror}") from None
        listener = stack.enter_context(HepListener(list(listen), max_buffer=limits.max_buffer))
        writer = None
        maker = FrameMaker()
        if pcap is not None:
            writer = PcapWriter(pcap, LINKTYPE_ETHERNET)
            stack.callback(writer.close)
        stack.enter_context(stop_signals(stop))
        click.echo(
            "sipsniff: listening for HEP on " + ", ".join(str(u) for u in listener.bound),
            err=True,
        )
        lines = LineRenderer(utc=False)
        dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        started = time.monotonic()
        source = batches(
            listener.poll,
            stopped=lambda: stop.reason is not None,
            deadline=None if duration is None else started + duration,
            tick=_TICK,
        )
        messages = 0
        for received in source:
            for got in received:
                peer = Endpoint(got.peer[0], got.peer[1])
                for entry in session.feed_hep(got.data, time.time_ns(), peer):
                    messages += 1
                    agent = session.agents[entry.id]
                    if writer is not None:
                        frame = maker.frame(messages, entry.msg)
                        if frame is not None:
                            writer.write(frame)
                    shown = watch.see(entry, session.correlator.dialogs[entry.dialog])
                    if shown is not None and fmt == "text":
                        out.write(
                            f"{lines.line(entry, shown.state, shown.outcome)}  agent {agent}\n"
                        )
                    elif shown is not None and fmt == "ndjson":
                        out.write(dumps(_ndjson(entry, agent, full)) + "\n")
                if count is not None and messages >= count:
                    break
            if count is not None and messages >= count:
                break
            if streaming:
                out.flush()
        seconds = time.monotonic() - started
        session.finish()
        if writer is not None:
            writer.close()
        trace = session.trace()
        if listener.capped:
            trace.counts.hep_streams_at_cap = listener.capped
        trace.counts.dialogs_dropped_from_memory = session.evicted
        trace.inputs = [
            CaptureInfo(
                "hep:" + ",".join(str(u) for u in listener.bound), "hep", (), 6, session.hep.packets
            )
        ]
        dialogs = select(trace, selection)
        options = RenderOptions(time="abs", full=full, view="list" if fmt == "text" else "both")
        if fmt == "text":
            out.write("\n")
            out.flush()
            RENDERERS["text"]().render(trace, dialogs, options, make_console(out))
        elif fmt != "ndjson":
            write_output(
                trace, dialogs, fmt=fmt, output=output, selection=selection, options=options
            )
        per_agent = ", ".join(f"agent {a}: {n}" for a, n in sorted(session.per_agent.items()))
        click.echo(
            f"sipsniff: {session.hep.packets} HEP packets in {seconds:.1f} s, {messages} SIP "
            f"messages, {session.dialogs} dialogs" + (f" ({per_agent})" if per_agent else ""),
            err=True,
        )
        bad = session.counts.hep_bad
        if bad:
            warn(f"{bad} packets were not usable HEP (see --format json, skipped)")
        if session.evicted:
            click.echo(
                f"sipsniff: {session.evicted} dialogs dropped from memory (--keep, --max-dialogs)",
                err=True,
            )
        if writer is not None:
            click.echo(f"sipsniff: written to {', '.join(writer.paths)}", err=True)
        report_limits(trace, limits)


def _ndjson(entry: Entry, agent: int, full: bool) -> dict[str, Any]:
    d = message_dict(entry, full=full)
    d["agent"] = agent
    return d
