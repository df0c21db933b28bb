"""``dead-hop``: a destination that was sent requests again and again and never sent a single
message back: the hop that stopped answering.

How this works. Across the whole capture, the unanswered requests of every dialog
(``Context.unanswered``) are kept per destination, and every source address seen. A destination is
a dead hop when it was sent two unanswered requests or more, at least one of them resent, and it
never sent one SIP message in the capture.

Severity policy: always an error, about the whole capture (citing the dialogs of the requests).
"""

from __future__ import annotations

from operator import attrgetter
from typing import Final, NamedTuple

from sipsniff.analysis.findings.context import Context
from sipsniff.analysis.findings.detector import Detector
from sipsniff.analysis.findings.model import ERROR, Finding, new_finding
from sipsniff.model import Endpoint

_SOURCE: Final = attrgetter("src")
"""The source of an entry's message."""


class _Unanswered(NamedTuple):
    """A request that got no response at all, and how many times it was sent."""

    dst: Endpoint
    src: Endpoint
    method: str
    frame: int
    sent: int
    dialog: int
    """Its ``Dialog.id``."""


class DeadHops(Detector):
    """Destinations that answered nothing, across the parts of a capture."""

    kinds = ("dead-hop",)

    def __init__(self) -> None:
        self._unanswered: list[_Unanswered] = []
        self._senders: set[Endpoint] = set()

    def add(self, ctx: Context) -> None:
        for d in ctx.trace.dialogs.values():
            unanswered = ctx.unanswered(d)
            if unanswered:
                self._unanswered += [
                    _Unanswered(e.dst, e.src, e.method or "?", e.frame, n, d.id)
                    for e, n in unanswered
                ]
        self._senders.update(map(_SOURCE, ctx.trace.entries.values()))

    def finish(self, out: list[Finding]) -> None:
        by_dst: dict[Endpoint, list[_Unanswered]] = {}
        for u in self._unanswered:
            by_dst.setdefault(u.dst, []).append(u)
        for dst, items in by_dst.items():
            total = sum(u.sent for u in items)
            if dst in self._senders or total <= len(items) or len(items) < 2:
                continue
            methods = ", ".join(dict.fromkeys(u.method for u in items))
            sources = ", ".join(dict.fromkeys(str(u.src) for u in items))
            out.append(
                new_finding(
                    ERROR,
                    "dead-hop",
                    None,
                    [u.frame for u in items],
                    f"{dst} answered nothing: {len(items)} requests ({methods}) from {sources} "
                    f"sent {total}×",
                    f"Check {dst}: host down, wrong port or transport, or a firewall dropping SIP.",
                    [u.dialog for u in items],
                )
            )
