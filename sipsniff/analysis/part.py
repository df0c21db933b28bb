"""What several analyses ask of one part of a capture, worked out once: ``Part``.

How this works. ``stats`` (the KPIs), the findings and the peers table each read a part of a
capture (a trace: the whole capture, or the dialogs a sweep let go, ``Summary.add``), and ask the
same questions of it: the first copies of a dialog's messages, the retransmissions of each, the
responses to each request, the timing of each call. A ``Part`` answers each the first time it is
asked and keeps the answer for the others; the retransmissions, which every dialog needs, are
worked out at once in one pass. Each analysis still runs alone on a trace (``kpis``,
``findings``, ``peers``): it then makes a ``Part`` of its own.

Pure: no IO.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sipsniff.model import Dialog, Entry, Trace

if TYPE_CHECKING:
    from sipsniff.analysis.stats import CallTiming


class Part:
    """One part of a capture (``trace``) and the answers worked out so far."""

    __slots__ = ("_originals", "_responses", "retrans", "timings", "trace")

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        """The part of the capture: dialogs that are over (or the whole capture)."""
        retrans: dict[int, list[Entry]] = {}
        for e in trace.entries.values():
            first = e.retransmission_of
            if first is not None:
                again = retrans.get(first)
                if again is None:
                    retrans[first] = [e]
                else:
                    again.append(e)
        self.retrans = retrans
        """Entry id of a first copy -> its retransmissions, in order."""
        self.timings: dict[int, CallTiming] = {}
        """``Dialog.id`` -> ``stats.call_timing`` of the call (``stats.timing`` fills it)."""
        self._originals: dict[int, list[Entry]] = {}
        self._responses: dict[int, list[Entry]] = {}

    def originals(self, d: Dialog) -> list[Entry]:
        """The messages of ``d`` but their retransmissions (first copies only), in capture
        order."""
        found = self._originals.get(d.id)
        if found is None:
            get = self.trace.entries.__getitem__
            if d.retransmissions:
                found = [e for e in map(get, d.messages) if e.retransmission_of is None]
            else:  # the correlator counts them: none to leave out
                found = list(map(get, d.messages))
            self._originals[d.id] = found
        return found

    def responses(self, e: Entry) -> list[Entry]:
        """Responses to the request ``e`` in its transaction (retransmissions included), in
        order: those after it with its CSeq number and method (the method in any case)."""
        found = self._responses.get(e.id)
        if found is None:
            found = self._responses[e.id] = _responses(self.trace, e)
        return found


def _responses(trace: Trace, e: Entry) -> list[Entry]:
    m = e
    num = m.cseq_num
    method = m.cseq_method.upper()
    first = e.id
    entries = trace.entries
    out = []
    for i in trace.transactions[e.transaction].messages:
        if i <= first:
            continue
        r = entries[i]
        rm = r
        if rm.status is not None and rm.cseq_num == num and rm.cseq_method.upper() == method:
            out.append(r)
    return out
