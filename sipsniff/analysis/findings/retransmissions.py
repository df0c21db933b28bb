"""``retransmissions``: requests or responses sent again (loss, a slow hop, a lost answer).

How this works. Per dialog, every original request that was answered and sent again (late, or
with its answer lost after the capture point), and every final response sent again, is one part of
one finding (the first three parts shown). Requests that got no response at all are not told here
but by ``no-answer`` (``no_answer``) and ``dead-hop`` (``dead_hop``).

Severity policy: info; a warning when a message was sent 3 times or more, or a request was answered
``SLOW_ANSWER_NS`` or more after its first copy: loss that hurts.
"""

from __future__ import annotations

from typing import Final

from sipsniff.analysis.findings.context import Context, secs
from sipsniff.analysis.findings.detector import Detector
from sipsniff.analysis.findings.model import INFO, WARNING
from sipsniff.model import Dialog

SLOW_ANSWER_NS: Final = 2_000_000_000
"""A request answered this late after its first copy (lost copies, a slow hop): a warning."""


class Retransmissions(Detector):
    """The messages of a dialog sent again, and the requests answered late."""

    kinds = ("retransmissions",)

    def check(self, ctx: Context, d: Dialog) -> None:
        retrans = ctx.retrans
        if retrans.keys().isdisjoint(d.messages):
            return  # nothing of it sent again
        parts: list[str] = []
        frames: set[int] = set()
        slow = False
        """A message sent 3 times or more, or a request answered after 2 s or more: loss that
        hurts."""
        for e in ctx.originals(d):
            m = e
            again = retrans.get(e.id, [])
            if m.status is None:
                if (m.method or "").upper() == "ACK":
                    continue
                responses = ctx.responses(e)
                if not responses or not again:
                    continue
                first = responses[0]
                lost = [r for r in again if r.ts_ns > first.ts_ns]
                delay = first.ts_ns - m.ts_ns
                frames.update(r.frame for r in again)
                frames.add(m.frame)
                if lost and len(lost) == len(again):
                    parts.append(
                        f"{m.method} f{m.frame} sent again though answered (f{first.frame})"
                    )
                else:
                    parts.append(
                        f"{m.method} f{m.frame} sent {1 + len(again)}×, "
                        f"answered after {secs(delay)}"
                    )
                    slow = slow or delay >= SLOW_ANSWER_NS
                slow = slow or len(again) >= 2
            elif again and m.status >= 200:
                frames.add(m.frame)
                frames.update(r.frame for r in again)
                parts.append(f"{m.status} to {m.cseq_method} f{m.frame} sent {1 + len(again)}×")
                slow = slow or len(again) >= 2
        if parts:
            shown = "; ".join(parts[:3]) + ("; …" if len(parts) > 3 else "")
            ctx.add(
                WARNING if slow else INFO,
                "retransmissions",
                d,
                frames,
                shown,
                "Packet loss or a slow hop on the path: check it (SIP over UDP resends after "
                "0.5 s).",
            )
