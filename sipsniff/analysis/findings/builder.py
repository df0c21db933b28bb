"""``findings`` of a trace, and ``FindingsBuilder`` for a capture given a part at a time.

How this works. The builder runs every detector of ``registry.DETECTORS`` on each part, then lets
each finish, leaves out the findings another detector's finding already tells
(``Detector.covers``), and ranks the rest. The ranking, not the registry's order, makes the order
of the output: findings are sorted by severity, capture-wide before those of dialogs, dialog id,
first frame and kind, and a kind comes from one detector, so the findings that tie keep the order
their detector told them in.
"""

from __future__ import annotations

from sipsniff.analysis.findings.context import Context
from sipsniff.analysis.findings.model import RANK, Finding, Findings
from sipsniff.analysis.findings.registry import DETECTORS
from sipsniff.analysis.part import Part
from sipsniff.model import Trace


class FindingsBuilder:
    """``findings`` over a capture given a part at a time: traces of dialogs that are over
    (``Correlator.expire_trace``), in capture order as far as they go. Checks of one dialog run on
    its part; checks across dialogs (passwords, scanners, dead hops, NAT) keep per source and per
    destination what they need, not the messages. Findings name dialogs by ``Dialog.id``."""

    def __init__(self) -> None:
        self.out: list[Finding] = []
        self.detectors = [make() for make in DETECTORS]
        self._clients: dict[int, str] = {}
        """``Dialog.id`` -> the source address of its requests, for dialogs with findings."""

    def add(self, trace: Trace, part: Part | None = None) -> None:
        """Take one part of the capture (``part``: it as a ``Part`` the KPIs and the peers table
        read too; one of its own when None)."""
        ctx = Context(trace, self.out, self._clients, part)
        for detector in self.detectors:
            detector.add(ctx)

    def result(self) -> Findings:
        """Every finding, ranked; call it once, after the last part."""
        for detector in self.detectors:
            detector.finish(self.out)
        self.out[:] = [f for f in self.out if not self._covered(f)]
        self.out.sort(
            key=lambda f: (
                RANK[f.severity],
                f.dialog is not None,
                f.dialog or 0,
                f.frames[:1],
                f.kind,
            )
        )
        return Findings(self.out)

    def _covered(self, f: Finding) -> bool:
        client = None if f.dialog is None else self._clients.get(f.dialog)
        return any(detector.covers(f, client) for detector in self.detectors)


def findings(trace: Trace) -> Findings:
    """Everything worth telling about ``trace``, most severe first.

    Ranking: severity (error, warning, info), then capture-wide findings before those of dialogs,
    then dialog id, then first frame.
    """
    builder = FindingsBuilder()
    builder.add(trace)
    return builder.result()
