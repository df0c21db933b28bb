"""The peers table: per destination ip:port, what it did with the requests sent to it (requests,
replies, call attempts, ASR, reply and post-dial delays, failure codes). Given a part of the
capture at a time, like the findings (``rows`` carries the earlier parts)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from sipsniff.analysis.findings.context import originals, responses
from sipsniff.model import Dialog, Endpoint, Entry, Trace


@dataclass(slots=True)
class PeerRow:
    """What one destination (ip:port) did with the requests sent to it."""

    peer: Endpoint
    """The destination."""
    requests: int = 0
    """Original requests sent to it (ACK left out)."""
    replied: int = 0
    """Of those, how many it sent any response to."""
    attempts: int = 0
    """Dialogs that sent it an INVITE (call attempts)."""
    answered: int = 0
    """Of those, how many it answered with a 2xx."""
    reply_total_ns: int = 0
    """Request to its first response from the peer, summed over the requests it replied to."""
    rang: int = 0
    """Call attempts that rang (an 18x)."""
    pdd_total_ns: int = 0
    """The INVITE to the peer that went through (the one whose transaction got the 18x, from its
    first copy) to its first 18x, summed over the attempts that rang."""
    failures: Counter[int] = field(default_factory=Counter)
    """Final 3xx-6xx responses from it, by code (401/407 included)."""

    @property
    def asr(self) -> float | None:
        """Answered attempts in percent; None without attempts."""
        return 100.0 * self.answered / self.attempts if self.attempts else None

    @property
    def avg_reply_ns(self) -> int | None:
        """Average request to first response; None without replies."""
        return self.reply_total_ns // self.replied if self.replied else None

    @property
    def avg_pdd_ns(self) -> int | None:
        """Average post-dial delay; None without an attempt that rang."""
        return self.pdd_total_ns // self.rang if self.rang else None


def _asked(trace: Trace, response: Entry) -> Endpoint | None:
    """Where the request a response answers was sent (the response may come from another port)."""
    src = response.msg.src.ip
    for i in trace.transactions[response.transaction].messages:
        m = trace.entries[i].msg
        if m.status is None and m.dst.ip == src:
            return m.dst
    return None


def peers(
    trace: Trace,
    rows: dict[Endpoint, PeerRow] | None = None,
    dialogs: Iterable[Dialog] | None = None,
) -> list[PeerRow]:
    """One row per destination ip:port that was sent requests, busiest first.

    Args:
        rows: the rows of earlier parts of the capture, added to (and returned with the others).
        dialogs: the dialogs of ``trace`` to count (all of them when None).
    """
    rows = {} if rows is None else rows
    for d in trace.dialogs.values() if dialogs is None else dialogs:
        calls: set[Endpoint] = set()
        """Peers sent an INVITE in this dialog."""
        invited: dict[int, int] = {}
        """INVITE transactions -> time of the request's first copy."""
        rang: set[Endpoint] = set()
        ok: set[Endpoint] = set()
        for e in originals(trace, d):
            m = e.msg
            if m.status is None:
                method = (m.method or "").upper()
                if method == "ACK":
                    continue
                row = rows.setdefault(m.dst, PeerRow(m.dst))
                row.requests += 1
                first = next((r for r in responses(trace, e) if r.msg.src.ip == m.dst.ip), None)
                if first is not None:
                    row.replied += 1
                    row.reply_total_ns += first.msg.ts_ns - m.ts_ns
                if method == "INVITE":
                    invited.setdefault(e.transaction, m.ts_ns)
                    if m.dst not in calls:
                        calls.add(m.dst)
                        row.attempts += 1
                continue
            peer = _asked(trace, e)
            if m.status is None or peer is None:
                continue
            answered = rows.get(peer)
            if answered is None:  # a response seen before any request to its peer: kept for later
                answered = rows[peer] = PeerRow(peer)
            row = answered
            invite = m.cseq_method.upper() == "INVITE"
            asked = invited.get(e.transaction)
            if invite and asked is not None and 180 <= m.status < 190 and peer not in rang:
                rang.add(peer)
                row.rang += 1
                row.pdd_total_ns += m.ts_ns - asked
            if invite and peer in calls and 200 <= m.status < 300 and peer not in ok:
                ok.add(peer)
                row.answered += 1
            if m.status >= 300:
                row.failures[m.status] += 1
    return peer_table(rows)


def peer_table(rows: dict[Endpoint, PeerRow]) -> list[PeerRow]:
    """The rows of the peers that were sent requests, busiest first."""
    kept = [r for r in rows.values() if r.requests]
    return sorted(kept, key=lambda r: (-r.requests, r.peer.ip, r.peer.port))
