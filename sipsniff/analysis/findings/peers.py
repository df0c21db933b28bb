"""The peers table: per destination ip:port, what it did with the requests sent to it (requests,
replies, call attempts, ASR, reply and post-dial delays, failure codes). Given a part of the
capture at a time, like the findings (``rows`` carries the earlier parts)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from sipsniff.analysis.part import Part
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
    src = response.src.ip
    entries = trace.entries
    tx = trace.transactions[response.transaction]
    if tx.request is not None:  # the first request of the transaction: where it was sent, mostly
        dst = entries[tx.request].dst
        if dst.ip == src:
            return dst
    for i in tx.messages:
        m = entries[i]
        if m.status is None and m.dst.ip == src:
            return m.dst
    return None


def peers(
    trace: Trace,
    rows: dict[Endpoint, PeerRow] | None = None,
    dialogs: Iterable[Dialog] | None = None,
    *,
    part: Part | None = None,
) -> list[PeerRow]:
    """One row per destination ip:port that was sent requests, busiest first.

    Args:
        rows: the rows of earlier parts of the capture, added to (and returned with the others).
        dialogs: the dialogs of ``trace`` to count (all of them when None).
        part: ``trace`` as a ``Part`` the KPIs and the findings read too (one of its own when
            None).
    """
    rows = {} if rows is None else rows
    part = Part(trace) if part is None else part
    for d in trace.dialogs.values() if dialogs is None else dialogs:
        calls: set[Endpoint] = set()
        """Peers sent an INVITE in this dialog."""
        invited: dict[int, int] = {}
        """INVITE transactions -> time of the request's first copy."""
        rang: set[Endpoint] = set()
        ok: set[Endpoint] = set()
        for e in part.originals(d):
            m = e
            status = m.status
            if status is None:
                method = (m.method or "").upper()
                if method == "ACK":
                    continue
                ts_ns = m.ts_ns
                dst = m.dst
                row = rows.get(dst)
                if row is None:
                    row = rows[dst] = PeerRow(dst)
                row.requests += 1
                ip = dst.ip
                for r in part.responses(e):
                    if r.src.ip == ip:  # the first response from the peer
                        row.replied += 1
                        row.reply_total_ns += r.ts_ns - ts_ns
                        break
                if method == "INVITE":
                    invited.setdefault(e.transaction, ts_ns)
                    if dst not in calls:
                        calls.add(dst)
                        row.attempts += 1
                continue
            peer = _asked(trace, e)
            if peer is None:
                continue
            answered = rows.get(peer)
            if answered is None:  # a response seen before any request to its peer: kept for later
                answered = rows[peer] = PeerRow(peer)
            row = answered
            if m.cseq_method.upper() == "INVITE":
                asked = invited.get(e.transaction)
                if asked is not None and 180 <= status < 190 and peer not in rang:
                    rang.add(peer)
                    row.rang += 1
                    row.pdd_total_ns += m.ts_ns - asked
                if peer in calls and 200 <= status < 300 and peer not in ok:
                    ok.add(peer)
                    row.answered += 1
            if status >= 300:
                row.failures[status] += 1
    return peer_table(rows)


def peer_table(rows: dict[Endpoint, PeerRow]) -> list[PeerRow]:
    """The rows of the peers that were sent requests, busiest first."""
    kept = [r for r in rows.values() if r.requests]
    return sorted(kept, key=lambda r: (-r.requests, r.peer.ip, r.peer.port))
