"""What ``sipsniff stats`` keeps of a capture of any size, given a part at a time.

``read_trace(summarize=...)`` hands over the dialogs it lets go of as traces of their own
(``Correlator.expire_trace``), and the rest at the end; ``Summary.add`` takes each into the totals
of ``stats``, the findings, the peers table and the SDP that announced RTP, then the part can go.
"""

from __future__ import annotations

from sipsniff.analysis.findings import FindingsBuilder, PeerRow, peers
from sipsniff.analysis.rtp import Announced, announced
from sipsniff.analysis.select import Selection, select
from sipsniff.analysis.stats import KpiTotals
from sipsniff.model import Endpoint, Trace


class Summary:
    """What ``stats`` keeps of a capture given a part at a time (``read_trace(summarize=)``)."""

    def __init__(self, selection: Selection, *, rtp: bool) -> None:
        self.selection = selection
        self.totals = KpiTotals()
        self.findings = FindingsBuilder()
        self.peers: dict[Endpoint, PeerRow] = {}
        self.sdp: Announced | None = {} if rtp else None
        self.shown: set[int] | None = None if selection.empty else set()
        """Numbers of the dialogs chosen (None: all of them)."""
        self.chosen = 0
        self.dialogs = 0
        self.messages = 0
        """SIP messages seen in every part (0: the capture holds no SIP)."""

    def add(self, part: Trace) -> None:
        chosen = select(part, self.selection)
        self.dialogs += len(part.dialogs)
        self.messages += len(part.entries)
        self.chosen += len(chosen)
        if self.shown is not None:
            self.shown.update(d.id for d in chosen)
        self.totals.add(part, chosen)
        self.findings.add(part)
        peers(part, self.peers, chosen)
        if self.sdp is not None:
            announced(part, self.sdp)
