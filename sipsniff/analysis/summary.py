"""What ``sipsniff stats`` keeps of a capture of any size, given a part at a time.

``read_trace(summarize=...)`` hands over the dialogs it lets go of as traces of their own
(``Correlator.expire_trace``), and the rest at the end; ``Summary.add`` takes each into the totals
of ``stats``, the findings, the peers table and the SDP that announced RTP, then the part can go.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipsniff.analysis.findings import Finding, FindingsBuilder, PeerRow, peer_table, peers
from sipsniff.analysis.part import Part
from sipsniff.analysis.rtp import Announced, RtpObserver, RtpStream, announced, streams_of
from sipsniff.analysis.select import Selection, select
from sipsniff.analysis.stats import KpiTotals, Stats
from sipsniff.model import Endpoint, Trace


@dataclass(frozen=True)
class StatsReport:
    """What ``sipsniff stats`` shows, as analysis makes it; renderers only lay it out."""

    stats: Stats
    findings: list[Finding]
    """What went wrong that concerns the dialogs chosen, most severe first."""
    peers: list[PeerRow]
    """Per destination, most requests first (``findings.peer_table``)."""
    streams: list[RtpStream] | None
    """The RTP streams the SDP announced, with ``--rtp``; None without."""
    messages: int
    """SIP messages in the whole capture (0: it held none)."""
    trace: Trace
    """The last part of the capture: its inputs, counters, TLS connections and skipped records
    (what ``render.base.no_sip`` tells of a capture without SIP), and its time resolution."""

    @property
    def resolution(self) -> int:
        """Fraction digits of the capture's timestamps."""
        return self.trace.resolution


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
        # the KPIs, the findings and the peers ask the same of the part: worked out once
        index = Part(part)
        self.totals.add(part, None if self.shown is None else chosen, part=index)
        self.findings.add(part, index)
        peers(part, self.peers, chosen, part=index)
        if self.sdp is not None:
            announced(part, self.sdp)

    def report(
        self, last: Trace, *, top: int = 10, observer: RtpObserver | None = None
    ) -> StatsReport:
        """The report once every part is in (``last``: the part ``read_trace`` returned).

        Args:
            top: how many talkers to rank.
            observer: the RTP seen, when ``rtp`` was asked for.
        """
        streams = None
        if observer is not None:
            streams = streams_of(self.sdp or {}, observer, self.shown)
        return StatsReport(
            stats=self.totals.result(top=top),
            findings=self.findings.result().about(self.shown),
            peers=peer_table(self.peers),
            streams=streams,
            messages=self.messages,
            trace=last,
        )
