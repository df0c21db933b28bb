"""``sipsniff stats``: the figures of ``tshark -z sip,stat`` and call, registration and transaction
KPIs, as text or one JSON document."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.text import Text

from sipsniff.analysis.findings import PeerRow, finding_dict, peer_dict, peer_table
from sipsniff.analysis.rtp import RtpObserver, RtpStream, streams_of
from sipsniff.analysis.stats import REASONS, TSHARK_CODES, Spread, Stats
from sipsniff.analysis.summary import Summary
from sipsniff.cli.common import (
    cli,
    limit_options,
    make_console,
    make_selection,
    open_output,
    report_damage,
    report_limits,
    report_no_sip,
    selection_options,
    warn,
)
from sipsniff.errors import UsageError
from sipsniff.pipeline import Limits, read_trace
from sipsniff.render.base import duration, no_sip
from sipsniff.render.json import json_safe
from sipsniff.render.safe import clean, one_line
from sipsniff.render.terminal import findings_lines

FORMATS = ("text", "json")
"""The formats of this command (not every renderer of ``read``: this is a report, not a trace)."""

HOLD = 20_000
"""Default of ``--max-dialogs``: sngrep's default limit of calls; about 100 MB of a capture."""

STATS_SCHEMA = "sipsniff-stats/2"
"""The version of ``stats -f json``'s document (docs/stats.md). Version 1 went by ``sipsniff/1``,
the id of ``read``'s document, and gave a call's final status code as its ``outcome``."""

DIALOG_ROWS = 30
"""Calls listed one by one in text; JSON lists them all."""


@cli.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text: tables; json: one document (docs/stats.md).",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None)
@click.option(
    "--top", type=click.IntRange(min=1), default=10, show_default=True, help="Top talkers shown."
)
@click.option(
    "--rtp", is_flag=True, help="RTP streams the SDP announced: packets, loss, delta, jitter."
)
@click.option(
    "--max-dialogs",
    "hold",
    type=click.IntRange(min=1),
    default=HOLD,
    show_default=True,
    metavar="N",
    help="Dialogs held in memory at once, for captures of any size: beyond it, the oldest that "
    "are over are counted and forgotten (a call still in progress only when it must: a warning "
    "says so).",
)
@selection_options
@limit_options
def stats(
    files: tuple[str, ...],
    fmt: str,
    output: str | None,
    top: int,
    rtp: bool,
    hold: int,
    limits: Limits,
    **sel: Any,
) -> None:
    """Count and measure the SIP in FILEs: what tshark -z sip,stat shows, and call KPIs."""
    selection = make_selection(**sel)
    observer = RtpObserver() if rtp else None
    summary = Summary(selection, rtp=observer is not None)
    trace = read_trace(
        files,
        media=[observer] if observer is not None else [],
        limits=limits,
        summarize=summary.add,
        hold=hold,
    )
    summary.add(trace)
    if selection.dialog is not None and not summary.chosen:
        raise UsageError(f"--dialog {selection.dialog}: there are {summary.dialogs} dialogs")
    result = summary.totals.result(top=top)
    found_items = summary.findings.result().about(summary.shown)
    peer_rows = peer_table(summary.peers)
    streams = None
    if observer is not None:
        streams = streams_of(summary.sdp or {}, observer, summary.shown)
    with open_output(output) as out:
        if fmt == "json":
            document = stats_document(result)
            if streams is not None:
                document["rtp_streams"] = [stream_dict(st) for st in streams]
            document["findings"] = [finding_dict(f) for f in found_items]
            document["peers"] = [peer_dict(p) for p in peer_rows]
            out.write(json_safe(json.dumps(document, ensure_ascii=False, separators=(",", ":"))))
            out.write("\n")
        elif summary.messages == 0:
            make_console(out).print(Text(no_sip(trace) or ""), overflow="ignore", crop=False)
        else:
            console = make_console(out)
            lines = stats_lines(result, trace.resolution)
            if streams is not None:
                lines += [Text(""), *rtp_lines(streams)]
            lines += [Text(""), *findings_lines(found_items)]
            lines += [Text(""), *peer_lines(peer_rows[:top], trace.resolution)]
            for line in lines:
                console.print(line, overflow="ignore", crop=False)
    cut = trace.counts.dialogs_cut_short
    if cut:
        warn(
            f"{cut} dialog{'s' * (cut != 1)} not over yet had to be summed up early, to hold "
            f"{hold} at most (--max-dialogs): messages of theirs that came later count as new "
            "dialogs; raise --max-dialogs for exact figures"
        )
    report_limits(trace, limits)
    if fmt != "text" or output is not None:
        report_no_sip(trace)  # the text on a terminal says it already
    report_damage(trace)


# -- findings -----------------------------------------------------------------------------------


def peer_lines(rows: list[PeerRow], resolution: int) -> list[Text]:
    """Per destination: requests and replies, calls answered (ASR), reply time, post-dial delay."""
    lines = [_title("Peers (by destination)")]
    lines.append(
        Text(
            f"  {'peer':<28}{'requests':>9}{'replied':>9}{'calls':>7}{'ASR':>7}"
            f"{'reply':>11}{'PDD':>11}  failures"
        )
    )
    for p in rows:
        failures = " ".join(f"{code}×{n}" for code, n in sorted(p.failures.items()))
        lines.append(
            Text(
                f"  {clean(str(p.peer), 28):<28}{p.requests:>9}{p.replied:>9}{p.attempts:>7}"
                f"{_pct(p.asr):>7}{_d(p.avg_reply_ns, resolution):>11}"
                f"{_d(p.avg_pdd_ns, resolution):>11}  {failures}"
            )
        )
    return lines


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


def stats_document(s: Stats) -> dict[str, Any]:
    """The JSON document of ``sipsniff stats --format json`` (docs/stats.md)."""
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
            "outcomes": _outcomes(c.outcome for c in calls),
            "statuses": _outcomes(c.status for c in calls),
            "post_dial_delay": spread_dict(
                Spread.of([c.pdd_ns for c in calls if c.pdd_ns is not None])
            ),
            "setup_time": spread_dict(
                Spread.of([c.setup_ns for c in calls if c.setup_ns is not None])
            ),
            "duration": spread_dict(
                Spread.of([c.duration_ns for c in calls if c.duration_ns is not None])
            ),
        },
        "registrations": {
            "attempts": len(regs),
            "succeeded": sum(1 for r in regs if r.succeeded),
            "success": _ratio(s.registration_success),
            "outcomes": _outcomes(r.outcome for r in regs),
            "delay": spread_dict(Spread.of([r.delay_ns for r in regs if r.delay_ns is not None])),
            "unregistrations": len(removals),
            "unregistration_outcomes": _outcomes(r.outcome for r in removals),
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


def _outcomes(codes: Any) -> dict[str, int]:
    """How many of each value (a status code or an outcome; None counts as "none")."""
    counts: dict[str, int] = {}
    for code in codes:
        key = "none" if code is None else str(code)
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


# -- text --------------------------------------------------------------------------------------


def _d(ns: int | None, res: int) -> str:
    return "-" if ns is None else duration(ns, res)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _spread_row(name: str, s: Spread, res: int) -> str:
    return (
        f"  {name:<34}{s.count:>6}  {_d(s.p50, res):>10}  {_d(s.p95, res):>10}  "
        f"{_d(s.max, res):>10}"
    )


def _title(text: str) -> Text:
    return Text(text, style="bold")


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
    header = f"  {'':<34}{'count':>6}  {'p50':>10}  {'p95':>10}  {'max':>10}"
    calls = s.calls
    out.append(
        _title(
            f"Calls  {len(calls)} call{'s' * (len(calls) != 1)}, {s.answered} answered"
            f"  ASR {_pct(s.asr)}  SEER {_pct(s.seer)}"
        )
    )
    if calls:
        out.append(Text(header, style="dim"))
        out.append(
            Text(
                _spread_row(
                    "post-dial delay (INVITE -> 18x)",
                    Spread.of([c.pdd_ns for c in calls if c.pdd_ns is not None]),
                    res,
                )
            )
        )
        out.append(
            Text(
                _spread_row(
                    "setup time (INVITE -> 2xx)",
                    Spread.of([c.setup_ns for c in calls if c.setup_ns is not None]),
                    res,
                )
            )
        )
        out.append(
            Text(
                _spread_row(
                    "duration (2xx -> BYE)",
                    Spread.of([c.duration_ns for c in calls if c.duration_ns is not None]),
                    res,
                )
            )
        )
        outcomes = _outcomes(c.outcome for c in calls)
        out.append(Text("  outcomes: " + ", ".join(f"{k} x{v}" for k, v in outcomes.items())))
        statuses = _outcomes(c.status for c in calls)
        out.append(Text("  final statuses: " + ", ".join(f"{k} x{v}" for k, v in statuses.items())))
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
        out.append(Text(header, style="dim"))
        out.append(
            Text(
                _spread_row(
                    "delay (first REGISTER -> 2xx)",
                    Spread.of([r.delay_ns for r in regs if r.delay_ns is not None]),
                    res,
                )
            )
        )
        outcomes = _outcomes(r.outcome for r in regs)
        out.append(Text("  outcomes: " + ", ".join(f"{k} x{v}" for k, v in outcomes.items())))
    out.append(Text(""))
    if s.response_times:
        out.append(
            _title("Transaction response times (request -> first response / final response)")
        )
        out.append(Text(header, style="dim"))
        for method, mt in s.response_times.items():
            m = one_line(method, 20)
            out.append(Text(_spread_row(f"{m} first", Spread.of(mt.first), res)))
            row = _spread_row(f"{m} final", Spread.of(mt.final), res)
            if mt.unanswered:
                row += f"  ({mt.unanswered} without a final response)"
            out.append(Text(row))
        out.append(Text(""))
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
    if calls:
        out.append(_title("Calls by dialog"))
        out.append(
            Text(
                f"  {'dialog':>6}  {'outcome':<12}  {'status':>6}  {'PDD':>10}  {'setup':>10}  "
                f"{'duration':>10}  {'ended by':<8}  Call-ID",
                style="dim",
            )
        )
        for c in calls[:DIALOG_ROWS]:
            status = "-" if c.status is None else str(c.status)
            out.append(
                Text(
                    f"  {c.dialog:>6}  {c.outcome:<12}  {status:>6}  {_d(c.pdd_ns, res):>10}  "
                    f"{_d(c.setup_ns, res):>10}  {_d(c.duration_ns, res):>10}  "
                    f"{c.ended_by or '-':<8}  {one_line(c.call_id, 60)}"
                )
            )
        if len(calls) > DIALOG_ROWS:
            out.append(
                Text(
                    f"  ... {len(calls) - DIALOG_ROWS} more (--format json lists them all)",
                    style="dim",
                )
            )
    while out and not out[-1].plain:
        out.pop()
    return out


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
