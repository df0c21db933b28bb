"""``failure``: a final response 3xx-6xx (401/407 aside), explained.

How this works. The final responses of a dialog are grouped by status and method: the same status
relayed by proxies in one dialog is one finding, told from the hop that made it. The summary gives
the usual cause (``causes.CAUSES``), the Q.850 cause of a ``Reason`` header, the ``Warning`` text
and, for 488/606 to an offer, the codecs offered and answered.

Severity policy (docs/findings.md):

* info: the callee's own state or choice, or the caller's (480, 486, 600, 603, 607; 408 after the
  callee rang; 487; any 3xx; 405/489/501 to other methods than INVITE and REGISTER), and any failure
  followed later in the dialog by a 2xx to the same method (423 then a longer Expires...);
* warning: the target does not exist (404, 410, 484, 604); 408 with no ringing; 403 to a request
  without credentials (a policy); 403 to credentials followed by a 2xx;
* error: anything else (5xx, 400, loops, 488/606, 403 to credentials: credentials refused).
"""

from __future__ import annotations

from typing import Final

from sipsniff.analysis.findings.causes import CAUSES, q850, warning_text
from sipsniff.analysis.findings.context import Context, rang, succeeded
from sipsniff.analysis.findings.detector import Detector
from sipsniff.analysis.findings.model import ERROR, INFO, WARNING
from sipsniff.model import Dialog, Entry
from sipsniff.sip.sdp import Sdp, sdp_of

_USER_OUTCOMES: Final = frozenset({480, 486, 600, 603, 607})
"""Failures that are the callee's own state or answer, not a fault (info): unavailable (not logged
in, do not disturb: RFC 3261 21.4.18 says its end system was reached), busy, declined, unwanted."""
_NOBODY_ANSWERED: Final = frozenset({408})
"""Request Timeout: after the callee rang, nobody answered (info); without any ringing, the next
hop or the callee never answered in time (warning)."""
_WRONG_TARGET: Final = frozenset({404, 410, 484, 604})
"""Failures that say the target does not exist: a wrong number, or a missing account (warning)."""


class Failures(Detector):
    """One finding per status and method of a dialog's failure responses."""

    kinds = ("failure",)

    def check(self, ctx: Context, d: Dialog) -> None:
        shape = ctx.shape(d)
        if not shape.failed:
            return
        groups: dict[tuple[int, str], list[Entry]] = {}
        for e in ctx.originals(d):
            status = e.status
            if status is None or status < 300 or status in (401, 407):
                continue
            groups.setdefault((status, e.cseq_method.upper()), []).append(e)
        if not groups:
            return
        cancelled = "CANCEL" in shape.methods
        for (status, method), responses in groups.items():
            _failure(ctx, d, status, method, responses, cancelled=cancelled)


def _failure(
    ctx: Context, d: Dialog, status: int, method: str, responses: list[Entry], *, cancelled: bool
) -> None:
    """The finding of the responses ``status`` to ``method`` in ``d`` (first copies, in order)."""
    trace = ctx.trace
    first = responses[0]
    m = first
    frames: set[int] = set()
    requests: list[Entry] = []
    for r in responses:
        frames.add(r.frame)
        req_index = trace.transactions[r.transaction].request
        if req_index is not None:
            req = trace.entries[req_index]
            requests.append(req)
            frames.add(req.frame)
    cause, advice = CAUSES.get(
        status, ("", "Look up the status code; the Warning header may say more.")
    )
    offers = method in ("INVITE", "UPDATE", "PRACK")
    if status in (488, 606) and not offers:
        # no session was offered (a REFER, a NOTIFY): what it carried was not acceptable
        cause, advice = (
            "not acceptable here",
            "Check what the request carried (body, Refer-To).",
        )
    # credentials refused: a 403 to a request whose credentials got no further (auth's label)
    with_creds = any(ctx.forbidden.get(r.id, False) for r in requests)
    if status == 487:
        severity = INFO
        if not cancelled:
            cause = "request terminated (cancelled upstream, or another branch answered)"
    elif (
        status < 400
        or status in _USER_OUTCOMES
        or (status in (405, 489, 501) and method not in ("INVITE", "REGISTER"))
    ):
        severity = INFO
    elif status in _NOBODY_ANSWERED:
        severity = INFO if rang(trace, d, method, first.id) else WARNING
    elif status in _WRONG_TARGET or (status == 403 and not with_creds):
        severity = WARNING
    else:
        severity = ERROR
    if status == 403 and with_creds:
        severity = ERROR
        cause = "credentials refused (a wrong password, or an account locked or not allowed)"
        user = next(
            (a.credentials.username for a in ctx.auth.attempts if a.entry == requests[0].id),
            None,
        )
        advice = f"Check the password of {user!r} and whether that account is locked."
    if succeeded(trace, d, method, first.id):
        # retried and done (423 then a longer Expires, 491 then again...); refused
        # credentials then accepted ones: a warning, as wrong-password says it
        severity = WARNING if status == 403 and with_creds else INFO
    text = f"{method} → {status} {m.reason or ''}".rstrip()
    text += f" from {m.src}"
    if cause:
        text += f": {cause}"
    if status in (488, 606) and offers:
        offer = next((sdp_of(r) for r in requests if sdp_of(r) is not None), None)
        text += f"; offered {_codecs(offer)}, answered {_codecs(sdp_of(m))}"
    extras = [x for x in (q850(m.raw), warning_text(m.raw)) if x]
    if extras:
        text += "; " + "; ".join(extras)
    ctx.add(severity, "failure", d, frames, text, advice)


def _codecs(sdp: Sdp | None) -> str:
    """What an SDP offers or answers, for a summary: ``audio PCMU PCMA, video H264``."""
    if sdp is None:
        return "no SDP"
    parts = []
    for md in sdp.media:
        names = " ".join(dict.fromkeys(c.name or str(c.pt) for c in md.codecs)) or " ".join(
            md.formats
        )
        part = f"{md.kind} {names}".strip()
        if md.port == 0:
            part += " (port 0: disabled)"
        parts.append(part)
    return ", ".join(parts) or "no media"
