"""The few questions about a dialog that several rules ask: its messages but their
retransmissions, the responses to a request."""

from __future__ import annotations

from collections.abc import Iterator

from sipsniff.model import Dialog, Entry, Trace


def originals(trace: Trace, d: Dialog) -> Iterator[Entry]:
    """The messages of ``d`` but their retransmissions (first copies only), in capture order."""
    for i in d.messages:
        e = trace.entries[i]
        if e.retransmission_of is None:
            yield e


def responses(trace: Trace, e: Entry) -> list[Entry]:
    """Responses to the request ``e`` in its transaction (retransmissions included), in order."""
    m = e.msg
    out = []
    for i in trace.transactions[e.transaction].messages:
        r = trace.entries[i]
        rm = r.msg
        if (
            i > e.id
            and rm.status is not None
            and rm.cseq_num == m.cseq_num
            and rm.cseq_method.upper() == m.cseq_method.upper()
        ):
            out.append(r)
    return out
