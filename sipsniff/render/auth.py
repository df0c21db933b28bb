"""The output of ``sipsniff auth``: per dialog, every Digest challenge and the request answering it,
the outcome and whether a password fits, step by step (``text``), or one JSON document (``json``,
schema ``sipsniff-auth/1``, docs/auth.md).

Both lay out an ``AuthReport`` (``analysis.auth``); passwords are masked unless
``AuthOptions.show_password``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TextIO

from rich.text import Text

from sipsniff.analysis.auth import (
    ACCEPTED,
    CHALLENGED,
    FAILED,
    FORBIDDEN,
    STALE,
    Attempt,
    AuthReport,
    Challenge,
    summary,
)
from sipsniff.model import Dialog, Trace
from sipsniff.render.base import AUTH_RENDERERS, AuthOptions, console_of, seconds, stream_of
from sipsniff.render.safe import clean, one_line
from sipsniff.sip.digest import DigestSteps, algorithm

if TYPE_CHECKING:
    from rich.console import Console

AUTH_SCHEMA = "sipsniff-auth/1"
"""The version of ``auth -f json``'s document (docs/auth.md). Before it had an id of its own, the
document went by ``sipsniff/1``, the id of ``read``'s."""

MASK = "***"

_OUTCOME_STYLE = {
    ACCEPTED: "green",
    CHALLENGED: "yellow",
    STALE: "yellow",
    FORBIDDEN: "red",
    FAILED: "red",
}
_OUTCOME_TEXT = {
    ACCEPTED: "accepted",
    CHALLENGED: "challenged again",
    STALE: "challenged again: nonce stale",
    FORBIDDEN: "refused",
    FAILED: "got past authentication, then failed",
}


@AUTH_RENDERERS.register
class AuthTextRenderer:
    """Per dialog, step by step (format name ``text``)."""

    name = "text"
    description = "per dialog, step by step"
    console = True

    def write(
        self, trace: Trace, report: AuthReport, options: AuthOptions, out: TextIO | Console
    ) -> None:
        console = console_of(out)
        for line in report_lines(trace, report, show_password=options.show_password):
            console.print(line, overflow="ignore", crop=False)


@AUTH_RENDERERS.register
class AuthJsonRenderer:
    """One JSON document (format name ``json``)."""

    name = "json"
    description = "one document (docs/auth.md)"
    console = False

    def write(
        self, trace: Trace, report: AuthReport, options: AuthOptions, out: TextIO | Console
    ) -> None:
        stream = stream_of(out)
        document = report_document(trace, report, show_password=options.show_password)
        json.dump(document, stream, ensure_ascii=False, separators=(",", ":"))
        stream.write("\n")


# -- JSON --------------------------------------------------------------------------------------


def _algorithm_name(name: str | None) -> str:
    algo = algorithm(name)
    return algo.name if algo is not None else (name or "")


def steps_dict(steps: DigestSteps, *, show_password: bool) -> dict[str, Any]:
    return {
        "algorithm": steps.algorithm.name,
        "a1": steps.a1 if show_password else steps.a1_masked(MASK),
        "ha1": steps.ha1,
        "session_a1": steps.session_a1,
        "session_ha1": steps.session_ha1,
        "body_hash": steps.body_hash,
        "a2": steps.a2,
        "ha2": steps.ha2,
        "kd": steps.kd,
        "response": steps.response,
    }


def challenge_dict(trace: Trace, c: Challenge, report: AuthReport) -> dict[str, Any]:
    d = c.digest
    return {
        "dialog": c.dialog,
        "call_id": trace.dialogs[c.dialog].call_id,
        "index": c.entry,
        "frame": c.frame,
        "ts": c.ts_ns / 1e9,
        "status": c.status,
        "reason": c.reason,
        "header": c.header,
        "method": c.method,
        "scheme": d.scheme,
        "realm": d.realm,
        "nonce": d.nonce,
        "opaque": d.opaque,
        "algorithm": _algorithm_name(d.algorithm),
        "qop": list(d.qop),
        "stale": d.stale,
        "problems": list(d.problems),
        "answered_by": [report.attempts[i].frame for i in c.answered_by],
    }


def attempt_dict(
    trace: Trace, a: Attempt, report: AuthReport, *, show_password: bool
) -> dict[str, Any]:
    c = a.credentials
    ch = None if a.challenge is None else report.challenges[a.challenge]
    d: dict[str, Any] = {
        "dialog": a.dialog,
        "call_id": trace.dialogs[a.dialog].call_id,
        "index": a.entry,
        "frame": a.frame,
        "ts": a.ts_ns / 1e9,
        "method": a.method,
        "header": a.header,
        "scheme": c.scheme,
        "username": c.username,
        "user": a.user,
        "realm": c.realm,
        "nonce": c.nonce,
        "uri": c.uri,
        "algorithm": _algorithm_name(c.algorithm),
        "qop": c.qop,
        "nc": c.nc,
        "cnonce": c.cnonce,
        "opaque": c.opaque,
        "response": c.response,
        "challenge": None if ch is None else {"frame": ch.frame, "status": ch.status},
        "first_answer": a.first_answer,
        "repeats_frame": a.repeats_frame,
        "retransmission_frames": list(a.retransmission_frames),
        "outcome": a.outcome,
        "outcome_reason": a.outcome_reason,
        "outcome_frame": a.outcome_frame,
        "outcome_label": a.outcome_label,
        "verified": a.verified,
        "note": a.note,
        "steps": None if a.steps is None else steps_dict(a.steps, show_password=show_password),
        "flags": [{"code": f.code, "text": f.text} for f in a.flags],
    }
    if show_password and a.steps is not None:
        d["password"] = a.steps.password
    return d


def report_document(trace: Trace, report: AuthReport, *, show_password: bool) -> dict[str, Any]:
    """The JSON document of ``sipsniff auth --format json`` (docs/auth.md)."""
    return {
        "schema": AUTH_SCHEMA,
        "attempts": [
            attempt_dict(trace, a, report, show_password=show_password)
            for a in report.shown_attempts
        ],
        "challenges": [challenge_dict(trace, c, report) for c in report.shown_challenges],
        "summary": summary(report),
    }


# -- text --------------------------------------------------------------------------------------


def _q(value: str | None) -> str:
    return "(none)" if value is None else f'"{clean(value)}"'


def _label(name: str) -> str:
    return f"      {name:<11} "


def _kv(name: str, value: str | None) -> str:
    return f"{name}={_q(value)}"


def _heading(trace: Trace, d: Dialog) -> Text:
    t = Text()
    t.append(f"Dialog {d.id}", style="bold")
    t.append(f"  {one_line(d.first_method, 20)}  {one_line(d.from_uri, 60)}")
    if d.to_uri != d.from_uri:
        t.append(f" -> {one_line(d.to_uri, 60)}")
    t.append(f"  Call-ID {one_line(d.call_id, 80)}", style="dim")
    return t


def _when(trace: Trace, d: Dialog, ts_ns: int) -> str:
    return "+" + seconds(ts_ns - d.start_ns, trace.resolution)


def _challenge_lines(trace: Trace, d: Dialog, c: Challenge, report: AuthReport) -> list[Text]:
    ch = c.digest
    head = Text(f"  frame {c.frame:<6} {_when(trace, d, c.ts_ns)}  ")
    head.append(f"{c.status} {one_line(c.reason, 60)}", style="yellow")
    head.append(f"  to {one_line(c.method, 20)}, {c.header}")
    lines = [head]
    parts = [
        f"{clean(ch.scheme)}",
        _kv("realm", ch.realm),
        _kv("nonce", ch.nonce),
        f"algorithm={clean(ch.algorithm) if ch.algorithm else 'MD5 (default)'}",
        f"qop={','.join(ch.qop) if ch.qop else '(none)'}",
    ]
    if ch.opaque is not None:
        parts.append(_kv("opaque", ch.opaque))
    if ch.stale:
        parts.append("stale=true")
    lines.append(Text(_label("challenge") + " ".join(parts)))
    if ch.problems:
        lines.append(Text(_label("problems") + clean("; ".join(ch.problems)), style="red"))
    if not c.answered_by:
        lines.append(Text(_label("answered") + "by no request in the capture", style="dim"))
    return lines


def _steps_lines(steps: DigestSteps, *, show_password: bool) -> list[Text]:
    h = steps.algorithm.hash_label
    a1 = steps.a1 if show_password else steps.a1_masked(MASK)
    rows: list[tuple[str, str, str]] = [("HA1", f'{h}("{clean(a1)}")', steps.ha1)]
    if steps.session_a1 is not None and steps.session_ha1 is not None:
        rows.append(("HA1-sess", f'{h}("{clean(steps.session_a1)}")', steps.session_ha1))
    if steps.body_hash is not None:
        rows.append(("H(body)", f"{h}(the request's body)", steps.body_hash))
    rows.append(("HA2", f'{h}("{clean(steps.a2)}")', steps.ha2))
    form = "HA1:nonce:HA2" if steps.kd.count(":") == 2 else "HA1:nonce:nc:cnonce:qop:HA2"
    rows.append(("response", f'{h}({form}) = {h}("{clean(steps.kd)}")', steps.response))
    out = []
    for name, expr, value in rows:
        out.append(Text(f"          {name:<9}= {expr}"))
        out.append(Text(f"          {'':<9}= {value}", style="bold"))
    return out


def _attempt_lines(
    trace: Trace, d: Dialog, a: Attempt, report: AuthReport, *, show_password: bool
) -> list[Text]:
    c = a.credentials
    head = Text(f"  frame {a.frame:<6} {_when(trace, d, a.ts_ns)}  ")
    head.append(one_line(a.method, 20), style="bold")
    head.append(f"  {a.header}")
    if a.retransmission_frames:
        frames = ", ".join(str(f) for f in a.retransmission_frames)
        head.append(f"  (sent again in frame {frames})", style="dim")
    lines = [head]
    parts = [
        clean(c.scheme),
        _kv("username", c.username),
        _kv("realm", c.realm),
        _kv("uri", c.uri),
        f"algorithm={clean(c.algorithm) if c.algorithm else 'MD5 (default)'}",
        f"qop={clean(c.qop) if c.qop else '(none)'}",
    ]
    if c.qop is not None:
        parts += [f"nc={clean(c.nc or '(none)')}", _kv("cnonce", c.cnonce)]
    lines.append(Text(_label("credentials") + " ".join(parts)))
    lines.append(Text(_label("nonce") + f"{_q(c.nonce)}  response {_q(c.response)}"))
    if a.challenge is None:
        answers = "no challenge in the capture"
    else:
        ch = report.challenges[a.challenge]
        same = c.nonce is not None and c.nonce == ch.digest.nonce
        answers = f"the {ch.status} in frame {ch.frame}" + (" (its nonce)" if same else "")
        if a.repeats_frame is not None:
            answers += f"; repeats the credentials of frame {a.repeats_frame}"
        elif not a.first_answer:
            answers += "; not the first request to use this nonce"
    lines.append(Text(_label("answers") + answers))
    out = Text(_label("outcome"))
    if a.outcome is None:
        out.append(
            "no response (an ACK has none)" if a.method.upper() == "ACK" else "no final response",
            style="dim",
        )
    else:
        out.append(
            f"{a.outcome} {one_line(a.outcome_reason or '', 60)} (frame {a.outcome_frame}): "
            f"{_OUTCOME_TEXT.get(a.outcome_label, a.outcome_label)}",
            style=_OUTCOME_STYLE.get(a.outcome_label, ""),
        )
    lines.append(out)
    pw = Text(_label("password"))
    if a.verified is True:
        pw.append("fits", style="bold green")
    elif a.verified is False:
        pw.append("does not fit", style="bold red")
    else:
        pw.append("not checked", style="dim")
    if a.steps is not None:
        shown = clean(a.steps.password) if show_password else MASK
        pw.append(f"  (user {clean(a.steps.username)}, password {shown})")
    elif a.verified is None:
        pw.append(f"  ({clean(a.note)})", style="dim")
    lines.append(pw)
    if a.steps is not None:
        lines += _steps_lines(a.steps, show_password=show_password)
        sent = Text(f"          {'sent':<9}= {clean(c.response or '(none)')}  ")
        sent.append(
            "same" if a.verified else "different",
            style="green" if a.verified else "red",
        )
        lines.append(sent)
    hint = _hint(a)
    if hint:
        lines.append(Text(_label("so") + hint, style="italic"))
    for f in a.flags:
        lines.append(Text(f"      ! {f.code}: {clean(f.text)}", style="magenta"))
    return lines


def _hint(a: Attempt) -> str:
    """What the outcome and the password check say together."""
    if a.verified is True and a.outcome_label in (CHALLENGED, FORBIDDEN):
        return (
            "the password is right, yet the server refused: look at the nonce, realm and uri, "
            "or at the account's permissions"
        )
    if a.verified is False and a.outcome_label in (ACCEPTED, FAILED):
        return "the server accepted a response this password does not give: it has another one"
    if a.verified is False:
        return "the client sent a response of another password"
    return ""


def report_lines(trace: Trace, report: AuthReport, *, show_password: bool) -> list[Text]:
    """The text of ``sipsniff auth``: per dialog, challenges and attempts in capture order."""
    events: dict[int, list[tuple[int, int, Challenge | Attempt]]] = {}
    for c in report.shown_challenges:
        events.setdefault(c.dialog, []).append((c.entry, 0, c))
    for a in report.shown_attempts:
        events.setdefault(a.dialog, []).append((a.entry, 1, a))
    lines: list[Text] = []
    for dialog_index in sorted(events):
        d = trace.dialogs[dialog_index]
        if lines:
            lines.append(Text(""))
        lines.append(_heading(trace, d))
        for _, _, item in sorted(events[dialog_index], key=lambda x: (x[0], x[1])):
            if isinstance(item, Challenge):
                lines += _challenge_lines(trace, d, item, report)
            else:
                lines += _attempt_lines(trace, d, item, report, show_password=show_password)
    if lines:
        lines.append(Text(""))
    lines.append(_summary_line(report))
    return lines


def _summary_line(report: AuthReport) -> Text:
    s = summary(report)
    if not s["challenges"] and not s["attempts"]:
        return Text("No Digest challenge or credentials in the selection.")
    parts = [
        f"{s['challenges']} challenge{'s' * (s['challenges'] != 1)}",
        f"{s['attempts']} attempt{'s' * (s['attempts'] != 1)}",
    ]
    outcomes = [
        f"{s[k]} {_OUTCOME_TEXT.get(k, k)}"
        for k in (ACCEPTED, CHALLENGED, STALE, FORBIDDEN, FAILED)
        if s.get(k)
    ]
    if s.get("none"):
        outcomes.append(f"{s['none']} without a final response")
    checks = [
        f"{s.get('fits', 0)} fit",
        f"{s.get('does_not_fit', 0)} do not",
        f"{s.get('unverified', 0)} not checked",
    ]
    text = ", ".join(parts) + ": " + ", ".join(outcomes) + ". Password: " + ", ".join(checks)
    if s["unanswered"]:
        text += f". {s['unanswered']} challenge{'s' * (s['unanswered'] != 1)} never answered"
    return Text(text + ".", style="bold")
