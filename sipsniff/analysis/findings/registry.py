"""Every detector, in the order docs/findings.md lists their kinds: adding a rule is one module
with a ``Detector`` and one line here (tests/analysis/findings/test_registry.py checks both)."""

from __future__ import annotations

from typing import Final

from sipsniff.analysis.findings.challenge import Challenges
from sipsniff.analysis.findings.dead_hop import DeadHops
from sipsniff.analysis.findings.detector import Detector
from sipsniff.analysis.findings.failure import Failures
from sipsniff.analysis.findings.forged import Forged
from sipsniff.analysis.findings.nat import Nat
from sipsniff.analysis.findings.no_ack import NoAck
from sipsniff.analysis.findings.no_answer import NoAnswer
from sipsniff.analysis.findings.password import Passwords
from sipsniff.analysis.findings.retransmissions import Retransmissions
from sipsniff.analysis.findings.scanner import Scanners
from sipsniff.analysis.findings.slow_pdd import SlowPdd

DETECTORS: Final[tuple[type[Detector], ...]] = (
    Failures,  # failure
    Challenges,  # challenge-unanswered
    Passwords,  # wrong-password, guessed-password
    NoAnswer,  # no-answer
    DeadHops,  # dead-hop
    Retransmissions,  # retransmissions
    NoAck,  # no-ack
    SlowPdd,  # slow-pdd
    Scanners,  # scanner
    Forged,  # forged
    Nat,  # nat
)
"""The detectors ``FindingsBuilder`` runs, a new one of each per capture."""

KINDS: Final = tuple(kind for detector in DETECTORS for kind in detector.kinds)
"""Every kind of finding, in the order of docs/findings.md."""
