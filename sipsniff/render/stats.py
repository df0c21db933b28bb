"""The output of ``sipsniff stats``: tables as text (``text``), or one JSON document (``json``,
schema ``sipsniff-stats/2``, docs/stats.md).

Both lay out a ``StatsReport`` (``analysis.summary``): the figures of ``tshark -z sip,stat``, the
call, registration and transaction KPIs, the RTP streams with ``--rtp``, the findings and the
peers. Text reaching a terminal is cleaned (``safe``); the JSON keeps packet text exact.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TextIO

from rich.text import Text

from sipsniff.analysis.findings import PeerRow, finding_dict, peer_dict
from sipsniff.analysis.rtp import RtpStream
from sipsniff.analysis.stats import REASONS, TSHARK_CODES, Spread, Stats
from sipsniff.analysis.summary import StatsReport
from sipsniff.render.base import (
    STATS_RENDERERS,
    StatsOptions,
    console_of,
    duration,
    no_sip,
    stream_of,
)
from sipsniff.render.json import json_safe
from sipsniff.render.safe import one_line
from sipsniff.render.terminal import findings_lines
from sipsniff.render.terminal.cells import CELL_LIMIT, WHOLE_LIMIT, fold

if TYPE_CHECKING:
    from rich.console import Console

STATS_SCHEMA = "sipsniff-stats/2"
"""The version of ``stats -f json``'s document (docs/stats.md). Version 1 went by ``sipsniff/1``,
the id of ``read``'s document, and gave a call's final status code as its ``outcome``."""

DIALOG_ROWS = 30
"""Calls listed one by one in text; JSON lists them all."""


@STATS_RENDERERS.register
class StatsTextRenderer:
    """Tables for a person (format name ``text``)."""

    name = "text"
    description = "tables"
    console = True

    def write(self, report: StatsReport, options: StatsOptions, out: TextIO | Console) -> None:
        console = console_of(out)
        width = console.width
        if report.messages == 0:
            for line in fold(Text(no_sip(report.trace) or ""), width, 0):
                console.print(line, overflow="ignore", crop=False)
            return
        resolution = report.resolution
        lines = stats_lines(report.stats, resolution)
        if report.streams is not None:
            lines += [Text(""), *rtp_lines(report.streams)]
        # Laid out for the terminal's width: a row wider than it goes on under itself, indented,
        # never cut; in a file or a pipe every row is one line.
        lines = [piece for line in lines for piece in fold(line, width, 4)]
        lines += [Text(""), *findings_lines(report.findings, width)]
        peers = peer_lines(report.peers[: options.top], resolution)
        lines += [Text(""), *(piece for line in peers for piece in fold(line, width, 4))]
        for line in lines:
            console.print(line, overflow="ignore", crop=False)


@STATS_RENDERERS.register
class StatsJsonRenderer:
    """One JSON document (format name ``json``)."""

    name = "json"
    description = "one document (docs/stats.md)"
    console = False

    def write(self, report: StatsReport, options: StatsOptions, out: TextIO | Console) -> None:
        text = json.dumps(stats_document(report), ensure_ascii=False, separators=(",", ":"))
        stream = stream_of(out)
        stream.write(json_safe(text))
        stream.write("\n")


# -- JSON --------------------------------------------------------------------------------------


def _s(ns: int | None) -> float | None:
    return None if ns is None else ns / 1e9


def spread_dict(s: Spread) -> dict[str, Any]:
    return {
        "count": s.count,
        "p50": _s(s.p50),
        "p95": _s(s.p95),
        "max": _s(s.max),
        "mean": _s(s.mean),
    }


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def stats_document(report: StatsReport) -> dict[str, Any]:
    """The JSON document of ``sipsniff stats --format json`` (docs/stats.md)."""
    document = figures_dict(report.stats)
    if report.streams is not None:
        document["rtp_streams"] = [stream_dict(st) for st in report.streams]
    document["findings"] = [finding_dict(f) for f in report.findings]
    document["peers"] = [peer_dict(p) for p in report.peers]
    return document


def figures_dict(s: Stats) -> dict[str, Any]:
    """The figures of the document: everything but the RTP streams, findings and peers."""
    t = s.tshark
    calls = s.calls
    regs = [r for r in s.registrations if not r.removal]
    removals = [r for r in s.registrations if r.removal]
    return {
        "schema": STATS_SCHEMA,
        "messages": t.messages,
        "requests": s.requests,
        "responses": s.responses,
        "resent": t.resent,
        "methods": dict(sorted(t.methods.items(), key=lambda kv: (-kv[1], kv[0]))),
        "status_codes": {str(c): n for c, n in sorted(t.status_codes.items())},
        "setup_time_ms": {
            "count": len(t.setup_times_ms),
            "avg": t.setup_avg_ms,
            "min": t.setup_min_ms,
            "max": t.setup_max_ms,
        },
        "calls": {
            "attempts": len(calls),
            "answered": s.answered,
            "asr": _ratio(s.asr),
            "seer": _ratio(s.seer),
            "outcomes": _tally(c.outcome for c in calls),
            "statuses": _tally(c.status for c in calls),
            "post_dial_delay": spread_dict(s.post_dial_delay),
            "setup_time": spread_dict(s.setup_time),
            "duration": spread_dict(s.call_duration),
        },
        "registrations": {
            "attempts": len(regs),
            "succeeded": sum(1 for r in regs if r.succeeded),
            "success": _ratio(s.registration_success),
            "outcomes": _tally(r.outcome for r in regs),
            "delay": spread_dict(s.registration_delay),
            "unregistrations": len(removals),
            "unregistration_outcomes": _tally(r.outcome for r in removals),
        },
        "response_times": {
            method: {
                "first": spread_dict(Spread.of(mt.first)),
                "final": spread_dict(Spread.of(mt.final)),
                "unanswered": mt.unanswered,
            }
            for method, mt in s.response_times.items()
        },
        "top_talkers": [
            {
                "ip": tk.ip,
                "sent": tk.sent,
                "received": tk.received,
                "bytes_sent": tk.bytes_sent,
                "bytes_received": tk.bytes_received,
            }
            for tk in s.talkers
        ],
        "retransmissions": {
            m: {"requests": req, "responses": resp} for m, (req, resp) in s.retransmissions.items()
        },
        "dialogs": [
            {
                "dialog": c.dialog,
                "call_id": c.call_id,
                "state": c.state,
                "outcome": c.outcome,
                "answered": c.answered,
                "status": c.status,
                "post_dial_delay": _s(c.pdd_ns),
                "setup_time": _s(c.setup_ns),
                "duration": _s(c.duration_ns),
                "ended_by": c.ended_by,
            }
            for c in calls
        ],
    }


def _tally(values: Iterable[object]) -> dict[str, int]:
    """How many of each value (a status code or an outcome; None counts as "none")."""
    counts: dict[str, int] = {}
    for value in values:
        key = "none" if value is None else str(value)
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


# -- text --------------------------------------------------------------------------------------


def _d(ns: int | None, res: int) -> str:
    return "-" if ns is None else duration(ns, res)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _spread_row(name: str, s: Spread, res: int) -> Text:
    return Text(
        f"  {name:<34}{s.count:>6}  {_d(s.p50, res):>10}  {_d(s.p95, res):>10}  "
        f"{_d(s.max, res):>10}"
    )


def _title(text: str) -> Text:
    return Text(text, style="bold")


def _counts(name: str, counts: dict[str, int]) -> Text:
    """``  outcomes: answered x3, busy x1``."""
    return Text(f"  {name}: " + ", ".join(f"{k} x{v}" for k, v in counts.items()))


def stats_lines(s: Stats, res: int) -> list[Text]:
    """The text of ``sipsniff stats``; ``res``: digits of the capture's timestamps."""
    t = s.tshark
    out: list[Text] = [
        _title("SIP messages"),
        Text(f"  messages {t.messages}  (requests {s.requests}, responses {s.responses})"),
        Text(f"  resent   {t.resent}  (tshark's rule: UDP, same CSeq and direction)"),
    ]
    if s.retransmissions:
        parts = [f"{m} {req}+{resp}" for m, (req, resp) in s.retransmissions.items()]
        out.append(Text("  retransmissions by method (requests+responses): " + ", ".join(parts)))
    out.append(Text(""))
    out.append(_title("Requests by method"))
    for method, n in sorted(t.methods.items(), key=lambda kv: (-kv[1], kv[0])):
        out.append(Text(f"  {one_line(method, 24):<24}{n:>7}"))
    out.append(Text(""))
    out.append(_title("Responses by status"))
    for code, n in sorted(t.status_codes.items()):
        reason = REASONS.get(code) or s.reasons.get(code) or TSHARK_CODES.get(code, "")
        out.append(Text(f"  {code} {one_line(reason, 30):<30}{n:>7}"))
    out.append(Text(""))
    if t.setup_times_ms:
        out.append(
            Text(
                f"Setup time (tshark: INVITE to ACK over UDP)  avg {t.setup_avg_ms} ms  "
                f"min {t.setup_min_ms} ms  max {t.setup_max_ms} ms  "
                f"({len(t.setup_times_ms)} ACK{'s' * (len(t.setup_times_ms) != 1)})"
            )
        )
    else:
        out.append(Text("Setup time (tshark: INVITE to ACK over UDP)  no ACK over UDP to measure"))
    out.append(Text(""))
    out += _kpi_lines(s, res)
    if s.talkers:
        out.append(_title("Top talkers"))
        out.append(
            Text(
                f"  {'ip':<40}{'sent':>7}{'recv':>7}{'bytes out':>11}{'bytes in':>11}", style="dim"
            )
        )
        for tk in s.talkers:
            out.append(
                Text(
                    f"  {one_line(tk.ip, 40):<40}{tk.sent:>7}{tk.received:>7}"
                    f"{tk.bytes_sent:>11}{tk.bytes_received:>11}"
                )
            )
        out.append(Text(""))
    out += _call_rows(s, res)
    while out and not out[-1].plain:
        out.pop()
    return out


_SPREAD_HEADER = f"  {'':<34}{'count':>6}  {'p50':>10}  {'p95':>10}  {'max':>10}"


def _kpi_lines(s: Stats, res: int) -> list[Text]:
    """Calls, registrations and transaction response times: counts, then spreads of durations."""
    calls = s.calls
    out = [
        _title(
            f"Calls  {len(calls)} call{'s' * (len(calls) != 1)}, {s.answered} answered"
            f"  ASR {_pct(s.asr)}  SEER {_pct(s.seer)}"
        )
    ]
    if calls:
        out.append(Text(_SPREAD_HEADER, style="dim"))
        out.append(_spread_row("post-dial delay (INVITE -> 18x)", s.post_dial_delay, res))
        out.append(_spread_row("setup time (INVITE -> 2xx)", s.setup_time, res))
        out.append(_spread_row("duration (2xx -> BYE)", s.call_duration, res))
        out.append(_counts("outcomes", _tally(c.outcome for c in calls)))
        out.append(_counts("final statuses", _tally(c.status for c in calls)))
    out.append(Text(""))
    regs = [r for r in s.registrations if not r.removal]
    removals = sum(1 for r in s.registrations if r.removal)
    ok = sum(1 for r in regs if r.succeeded)
    out.append(
        _title(
            f"Registrations  {len(regs)} attempt{'s' * (len(regs) != 1)}, {ok} succeeded"
            f"  success {_pct(s.registration_success)}"
            + (f"  ({removals} un-registration{'s' * (removals != 1)})" if removals else "")
        )
    )
    if regs:
        out.append(Text(_SPREAD_HEADER, style="dim"))
        out.append(_spread_row("delay (first REGISTER -> 2xx)", s.registration_delay, res))
        out.append(_counts("outcomes", _tally(r.outcome for r in regs)))
    out.append(Text(""))
    if s.response_times:
        out.append(
            _title("Transaction response times (request -> first response / final response)")
        )
        out.append(Text(_SPREAD_HEADER, style="dim"))
        for method, mt in s.response_times.items():
            m = one_line(method, 20)
            out.append(_spread_row(f"{m} first", Spread.of(mt.first), res))
            row = _spread_row(f"{m} final", Spread.of(mt.final), res)
            if mt.unanswered:
                row.append(f"  ({mt.unanswered} without a final response)")
            out.append(row)
        out.append(Text(""))
    return out


def _call_rows(s: Stats, res: int) -> list[Text]:
    """The calls one by one: the first ``DIALOG_ROWS`` of them."""
    calls = s.calls
    if not calls:
        return []
    out = [
        _title("Calls by dialog"),
        Text(
            f"  {'dialog':>6}  {'outcome':<12}  {'status':>6}  {'PDD':>10}  {'setup':>10}  "
            f"{'duration':>10}  {'ended by':<8}  Call-ID",
            style="dim",
        ),
    ]
    for c in calls[:DIALOG_ROWS]:
        status = "-" if c.status is None else str(c.status)
        out.append(
            Text(
                f"  {c.dialog:>6}  {c.outcome:<12}  {status:>6}  {_d(c.pdd_ns, res):>10}  "
                f"{_d(c.setup_ns, res):>10}  {_d(c.duration_ns, res):>10}  "
                f"{c.ended_by or '-':<8}  {one_line(c.call_id, WHOLE_LIMIT)}"
            )
        )
    if len(calls) > DIALOG_ROWS:
        out.append(
            Text(
                f"  ... {len(calls) - DIALOG_ROWS} more (--format json lists them all)", style="dim"
            )
        )
    return out


def peer_lines(rows: list[PeerRow], resolution: int) -> list[Text]:
    """Per destination: requests and replies, calls answered (ASR), reply time, post-dial delay."""
    lines = [_title("Peers (by destination)")]
    peers = [one_line(str(p.peer), CELL_LIMIT) for p in rows]
    w = max([28, *(len(peer) + 1 for peer in peers)])  # an address whole: no peer is cut
    lines.append(
        Text(
            f"  {'peer':<{w}}{'requests':>9}{'replied':>9}{'calls':>7}{'ASR':>7}"
            f"{'reply':>11}{'PDD':>11}  failures"
        )
    )
    for p, peer in zip(rows, peers, strict=True):
        failures = " ".join(f"{code}×{n}" for code, n in sorted(p.failures.items()))
        lines.append(
            Text(
                f"  {peer:<{w}}{p.requests:>9}{p.replied:>9}{p.attempts:>7}"
                f"{_pct(p.asr):>7}{_d(p.avg_reply_ns, resolution):>11}"
                f"{_d(p.avg_pdd_ns, resolution):>11}  {failures}"
            )
        )
    return lines


# -- RTP ---------------------------------------------------------------------------------------


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def stream_dict(st: RtpStream) -> dict[str, Any]:
    return {
        "src": str(st.src),
        "dst": str(st.dst),
        "ssrc": f"0x{st.ssrc:08X}",
        "pt": st.pt,
        "codec": st.codec,
        "clock": st.clock,
        "dialog": st.dialog,
        "sdp_frame": st.sdp_frame,
        "first_frame": st.first_frame,
        "last_frame": st.last_frame,
        "start": st.start_ns / 1e9,
        "end": st.end_ns / 1e9,
        "packets": st.packets,
        "lost": st.lost,
        "sequence_errors": st.sequence_errors,
        "out_of_order": st.out_of_order,
        "delta_ms": {
            "min": _ms(st.min_delta),
            "mean": _ms(st.mean_delta),
            "max": _ms(st.max_delta),
        },
        "jitter_ms": {
            "min": _ms(st.min_jitter),
            "mean": _ms(st.mean_jitter),
            "max": _ms(st.max_jitter),
        },
    }


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def rtp_lines(streams: list[RtpStream]) -> list[Text]:
    """The RTP table of ``sipsniff stats --rtp``."""
    out = [_title(f"RTP streams  {len(streams)} announced by SDP")]
    if not streams:
        return out
    out.append(
        Text(
            f"  {'source':<22} {'destination':<22} {'SSRC':<10} {'codec':<12} {'pkts':>6} "
            f"{'lost':>5} {'seq.err':>7} {'max delta':>10} {'jitter':>8} {'max jit.':>8}  dialog",
            style="dim",
        )
    )
    for st in streams:
        lost = Text(f"{st.lost:>5}", style="red" if st.lost > 0 else "")
        row = Text(
            f"  {one_line(str(st.src), 22):<22} {one_line(str(st.dst), 22):<22} "
            f"{st.ssrc:08X}   {one_line(st.codec or str(st.pt), 12):<12} {st.packets:>6} "
        )
        row.append_text(lost)
        row.append(
            f" {st.sequence_errors:>7} {_f(st.max_delta):>10} {_f(st.mean_jitter):>8} "
            f"{_f(st.max_jitter):>8}  {st.dialog if st.dialog is not None else '-'}"
        )
        out.append(row)
    out.append(
        Text(
            "  delta and jitter in ms; jitter is the mean of RFC 3550's running estimate",
            style="dim",
        )
    )
    return out
