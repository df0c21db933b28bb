"""What ``read`` shows of a trace, as analysis makes it: the dialogs chosen, what went wrong with
them, and the ladder of each. Renderers take a ``TraceReport`` and only lay it out.

The findings are worked out the first time a renderer asks for them (a JSON document or a call
list as CSV never does: a pass over a large trace saved), and a ladder each time one is asked for
(a renderer asks once per dialog; a page of thousands of ladders does not hold them all at once).
The explanations of ``read --explain`` are made per ladder too, when asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from sipsniff.analysis.auth import AuthReport, analyze
from sipsniff.analysis.explain import DialogExplanation, explain
from sipsniff.analysis.findings import Finding, findings
from sipsniff.analysis.ladder import Ladder, ladder_of
from sipsniff.model import Dialog, Trace


@dataclass(frozen=True)
class TraceReport:
    """A trace and the dialogs chosen to show."""

    trace: Trace
    dialogs: Sequence[Dialog]
    """The dialogs to show (a selection of ``trace.dialogs``), in order."""
    by_host: bool = False
    """Ladders have one column per IP address instead of one per ip:port."""
    whole: bool = False
    """No dialogs were chosen: documents list every message of the capture (the same messages as
    those of ``dialogs``, without sorting them)."""

    @cached_property
    def findings(self) -> list[Finding]:
        """What went wrong that concerns the dialogs shown, most severe first."""
        return findings(self.trace).about(d.id for d in self.dialogs)

    def ladder(self, dialog: Dialog, *, media: bool = False) -> Ladder:
        """The ladder of ``dialog`` (``media``: describe each SDP's media, see ``ladder_of``)."""
        return ladder_of(self.trace, dialog, by_host=self.by_host, media=media)

    @cached_property
    def auth(self) -> AuthReport:
        """The digest challenges and credentials of the trace (``analysis.auth``)."""
        return analyze(self.trace)

    def explanation(self, ladder: Ladder, *, full: bool = False) -> DialogExplanation:
        """What each arrow of ``ladder`` (one of ``self.ladder``'s) is and why it is there
        (``analysis.explain``; ``full``: every header of every message)."""
        return explain(self.trace, ladder, self.auth, full=full)

    @property
    def retransmissions(self) -> int:
        """Messages of the whole trace that are retransmissions."""
        return sum(1 for e in self.trace.entries.values() if e.retransmission_of is not None)
