"""Findings: what went wrong in a trace, with the evidence and what to do, ranked by severity.

How this works. ``findings`` reads the correlated trace (and reuses ``analysis.auth`` for digest
attempts) and emits ``Finding`` values of these kinds, each one line of evidence and one of advice,
each told by one detector module (its docstring gives the rule and its severity policy; the
registry, ``registry.DETECTORS``, lists them in this order):

* ``failure`` (``failure``): a final response 3xx-6xx (401/407 aside), explained from ``CAUSES``
  (``causes``), with the Q.850 cause of a ``Reason`` header, the ``Warning`` text and, for 488, the
  codecs offered and answered. The same status relayed by proxies in one dialog is one finding,
  told from the hop that made it.
* ``challenge-unanswered`` (``challenge``): a 401/407 that no request answered with credentials.
* ``wrong-password`` (``password``): one user's credentials refused again and again (401/407/403)
  without a success in between; ``guessed-password``: a success after ``GUESS_AFTER`` refusals or
  more.
* ``no-answer`` (``no_answer``): requests to one destination that got no response at all
  (retransmitted or not); ``dead-hop`` (``dead_hop``, whole capture): a destination that was sent
  requests again and again and never sent a single message back: the hop that stopped answering.
* ``retransmissions`` (``retransmissions``): requests or responses sent again (loss, a slow hop, a
  lost answer).
* ``no-ack`` (``no_ack``): a 2xx to INVITE that no ACK followed.
* ``slow-pdd`` (``slow_pdd``): INVITE to the first 18x over ``SLOW_PDD_NS``.
* ``scanner`` (``scanner``): a source with a scanner's User-Agent, one that tries many users
  quickly, one whose authentication failures come faster than a person types, or INVITEs to long
  numbers at bare IP addresses (toll-fraud probes).
* ``forged`` (``forged``): a request whose Via names the destination itself or a loopback address.
* ``nat`` (``nat``): a Via ``received`` that differs from the sent-by (a NAT between client and
  server), private addresses in Contact, Via or SDP c= from a public source, SDP that offers a
  private address to a public peer.

The rest of the package: ``model`` (``Finding``, ``Findings``, severities), ``detector`` (what a
detector is), ``context`` (what detectors read of a trace), ``builder`` (``findings``,
``FindingsBuilder``: runs the registry, ranks), ``addresses`` (public and private addresses),
``peers`` (``peers`` gives a table per destination ip:port: requests, replies, call attempts, ASR,
reply and post-dial delays, failure codes), ``serialise`` (JSON-ready values). Pure: no IO.
"""

from __future__ import annotations

from sipsniff.analysis.findings.builder import FindingsBuilder, findings
from sipsniff.analysis.findings.causes import CAUSES, Q850, WARNING_TEXT_MAX
from sipsniff.analysis.findings.detector import Detector
from sipsniff.analysis.findings.model import ERROR, INFO, SEVERITIES, WARNING, Finding, Findings
from sipsniff.analysis.findings.no_answer import TIMER_B_NS
from sipsniff.analysis.findings.password import GUESS_AFTER, GUESS_WINDOW_NS
from sipsniff.analysis.findings.peers import PeerRow, peer_table, peers
from sipsniff.analysis.findings.registry import DETECTORS, KINDS
from sipsniff.analysis.findings.retransmissions import SLOW_ANSWER_NS
from sipsniff.analysis.findings.scanner import (
    BURST_FAILURES,
    BURST_WINDOW_NS,
    SCAN_USERS,
    SCAN_WINDOW_NS,
    SCANNER_AGENTS,
)
from sipsniff.analysis.findings.serialise import finding_dict, peer_dict
from sipsniff.analysis.findings.slow_pdd import SLOW_PDD_NS

__all__ = [
    "BURST_FAILURES",
    "BURST_WINDOW_NS",
    "CAUSES",
    "DETECTORS",
    "ERROR",
    "GUESS_AFTER",
    "GUESS_WINDOW_NS",
    "INFO",
    "KINDS",
    "Q850",
    "SCANNER_AGENTS",
    "SCAN_USERS",
    "SCAN_WINDOW_NS",
    "SEVERITIES",
    "SLOW_ANSWER_NS",
    "SLOW_PDD_NS",
    "TIMER_B_NS",
    "WARNING",
    "WARNING_TEXT_MAX",
    "Detector",
    "Finding",
    "Findings",
    "FindingsBuilder",
    "PeerRow",
    "finding_dict",
    "findings",
    "peer_dict",
    "peer_table",
    "peers",
]
