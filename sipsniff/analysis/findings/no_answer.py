"""``no-answer``: requests of a dialog to one destination that got no response at all.

How this works. The unanswered requests of a dialog (``Context.unanswered``: ACK aside,
retransmitted or not) are grouped by destination, one finding each.

Severity policy: an error when a request was resent (a UDP client resends after 500 ms, RFC 3261
17.1.1.2). Sent once, it may be a dead host, or a capture that ended before the answer could come:
a warning when the capture went on ``TIMER_B_NS`` after it (the client gave up), info when it ended
sooner (decided by ``finish``, when the capture's end is known). One level lower when a 2xx of the
same method came in the dialog anyway.
"""

from __future__ import annotations

from dataclasses import replace
from operator import attrgetter
from typing import Final, NamedTuple

from sipsniff.analysis.findings.context import Context, succeeded
from sipsniff.analysis.findings.detector import Detector
from sipsniff.analysis.findings.model import ERROR, INFO, WARNING, Finding, lower
from sipsniff.model import Dialog, Endpoint, Entry

TIMER_B_NS: Final = 32_000_000_000
"""RFC 3261 Timer B / F (64 × T1): a client transaction with no response times out after it. A
request sent once and unanswered is a warning only when the capture went on this long after it."""

_TIME: Final = attrgetter("ts_ns")
"""The time of an entry's message."""


class _Pending(NamedTuple):
    """A finding whose severity waits for the end of the capture: it depends on how long the
    capture went on after ``since_ns``."""

    finding: Finding
    since_ns: int
    wait_ns: int
    """How long after ``since_ns`` the capture must go on for ``finding`` to stand as it is."""
    otherwise: Finding | None
    """What stands when the capture ended sooner; None for nothing."""


class NoAnswer(Detector):
    """Unanswered requests, per dialog and destination."""

    kinds = ("no-answer",)

    def __init__(self) -> None:
        self._pending: list[_Pending] = []
        self._last_ns = 0
        """Time of the latest message seen: how long the capture went on."""

    def add(self, ctx: Context) -> None:
        super().add(ctx)
        last = max(map(_TIME, ctx.trace.entries.values()), default=self._last_ns)
        self._last_ns = max(self._last_ns, last)

    def check(self, ctx: Context, d: Dialog) -> None:
        unanswered = ctx.unanswered(d)
        if not unanswered:
            return
        by_dst: dict[Endpoint, list[tuple[Entry, int]]] = {}
        for e, sent in unanswered:
            by_dst.setdefault(e.dst, []).append((e, sent))
        for dst, items in by_dst.items():
            frames: set[int] = set()
            for e, _ in items:
                frames.add(e.frame)
                frames.update(r.frame for r in ctx.retrans.get(e.id, []))
            methods = " ".join(dict.fromkeys(e.method or "?" for e, _ in items))
            total = sum(n for _, n in items)
            resent = total > len(items)
            severity = ERROR if resent else WARNING
            if any(succeeded(ctx.trace, d, (e.method or "").upper(), e.id) for e, _ in items):
                severity = lower(severity)
            what = f"{len(items)} requests ({methods})" if len(items) > 1 else methods
            summary = f"{what} to {dst}: no response (sent {total}×)"
            advice = "Check that the host is up and reachable (routing, firewall, port, transport)."
            if resent:
                ctx.add(severity, "no-answer", d, frames, summary, advice)
                continue
            # Sent once: a dead host, or a capture that ended before the answer could come.
            f = ctx.add(severity, "no-answer", d, frames, summary, advice, wait=True)
            last = max(e.ts_ns for e, _ in items)
            early = replace(
                f,
                severity=INFO,
                summary=summary + ": the capture ended before the transaction timed out",
                advice="No response captured: the host, the path, or the capture's end.",
            )
            self._pending.append(_Pending(f, last, TIMER_B_NS, early))

    def finish(self, out: list[Finding]) -> None:
        for p in self._pending:
            if self._last_ns - p.since_ns >= p.wait_ns:
                out.append(p.finding)
            elif p.otherwise is not None:
                out.append(p.otherwise)
