"""What every detector reads of one part of a capture (``Context``), and the few questions about a
dialog that several rules ask: what its messages are (``Shape``), the responses to a request, its
unanswered requests, whether a later 2xx or an earlier ringing came, who its client is."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from sipsniff.analysis.auth import FORBIDDEN, Challenge, analyze
from sipsniff.analysis.findings.model import Finding, new_finding
from sipsniff.analysis.part import Part
from sipsniff.model import Dialog, Entry, Trace
from sipsniff.sip.uri import host_of


class Shape:
    """What a dialog's messages are, in one pass over them: what most checks look at first, to
    leave at once a dialog that has nothing for them (most dialogs of a big capture)."""

    __slots__ = ("elsewhere", "failed", "first", "methods", "unacked", "unanswered")

    def __init__(self, trace: Trace, d: Dialog) -> None:
        entries = trace.entries
        methods: set[str] = set()
        first: Entry | None = None
        failed = elsewhere = False
        pending: set[tuple[int, int | None, str]] = set()
        """(transaction, CSeq number, CSeq method) of requests no response has followed yet."""
        unacked: set[tuple[int | None, str, str]] = set()
        """(CSeq number, sender, receiver) of 2xx to INVITE no ACK has followed yet."""
        for i in d.messages:
            e = entries[i]
            m = e
            status = m.status
            if status is None:
                method = (m.method or "").upper()
                if method:
                    methods.add(method)
                    if unacked and method == "ACK":
                        # the ACK of a 2xx: its CSeq number, from the 2xx's receiver to its sender
                        unacked.discard((m.cseq_num, m.dst.ip, m.src.ip))
                if e.retransmission_of is None:
                    if first is None:
                        first = e
                    if method != "ACK":
                        pending.add((e.transaction, m.cseq_num, m.cseq_method.upper()))
                    elsewhere = elsewhere or _via_host(m.sent_by) != m.src.ip
                continue
            if pending:
                # the responses to a request: later ones in its transaction, with its CSeq
                # (``Part.responses``), retransmissions too
                pending.discard((e.transaction, m.cseq_num, m.cseq_method.upper()))
            if e.retransmission_of is None:
                if status >= 300:
                    failed = failed or status not in (401, 407)
                elif status >= 200 and m.cseq_method.upper() == "INVITE":
                    unacked.add((m.cseq_num, m.src.ip, m.dst.ip))
        key = frozenset(methods)
        shared = _METHOD_SETS.get(key)
        if shared is None and len(_METHOD_SETS) < _METHOD_SETS_KEPT:
            shared = _METHOD_SETS[key] = key
        self.methods = key if shared is None else shared
        """The methods of its requests, in upper case (one set for the dialogs that have the
        same: a set is 216 bytes, the shape of 30,000 dialogs held 6 MB of copies of a few)."""
        self.first = first
        """Its first request (first copy); None for a dialog of responses only."""
        self.failed = failed
        """A response of 300 or more but 401 and 407 (first copy) came."""
        self.unacked = bool(unacked)
        """A 2xx to INVITE (first copy) came that no ACK followed (``no_ack``)."""
        self.unanswered = bool(pending)
        """A request (first copy, ACK aside) got no response (``Context.unanswered``)."""
        self.elsewhere = elsewhere
        """A request (first copy) whose top Via names a host other than its source (``forged``
        looks closer)."""


_METHOD_SETS: dict[frozenset[str], frozenset[str]] = {}
"""Distinct ``Shape.methods``, by themselves (a capture's dialogs have a few; traffic that makes up
methods makes many, and only the first ``_METHOD_SETS_KEPT`` are shared)."""
_METHOD_SETS_KEPT = 1024

_via_host = lru_cache(maxsize=4096)(host_of)
"""``uri.host_of`` of a Via sent-by: a capture repeats a few."""


class Context:
    """What every check needs: the part of the capture (``analysis.part.Part``: first copies,
    retransmissions, responses), the auth analysis, the findings so far."""

    def __init__(
        self, trace: Trace, out: list[Finding], clients: dict[int, str], part: Part | None = None
    ) -> None:
        part = Part(trace) if part is None else part
        self.trace = trace
        """The part of the capture: dialogs that are over (or the whole capture)."""
        self.part = part
        self.retrans: dict[int, list[Entry]] = part.retrans
        """Entry id of a first copy -> its retransmissions, in order."""
        self.originals = part.originals
        """The messages of a dialog but their retransmissions, in capture order (``Part``)."""
        self.responses = part.responses
        """The responses to a request, in its transaction (``Part``)."""
        self.auth = analyze(trace)
        """The challenges and digest attempts of the part (``analysis.auth``)."""
        self.credentials: set[int] = {a.entry for a in self.auth.attempts}
        """Indexes of requests that carried credentials."""
        self.forbidden: dict[int, bool] = {
            a.entry: a.outcome_label == FORBIDDEN for a in self.auth.attempts
        }
        """Requests that carried credentials -> whether a 403 refused them (not the callee's 403
        after they were accepted)."""
        self.challenges: dict[int, list[Challenge]] = {}
        """``Dialog.id`` -> its challenges (``auth.challenges``), in order."""
        for ch in self.auth.challenges:
            self.challenges.setdefault(ch.dialog, []).append(ch)
        self.out = out
        """Every finding so far, of every part (``FindingsBuilder.out``)."""
        self.clients = clients
        """``Dialog.id`` -> the source address of its requests, for dialogs with findings (a
        scanner's own dialogs are folded into its finding: ``Detector.covers``)."""
        self._unanswered: dict[int, list[tuple[Entry, int]]] = {}
        self._shapes: dict[int, Shape] = {}

    def add(
        self,
        severity: str,
        kind: str,
        d: Dialog,
        frames: Iterable[int],
        summary: str,
        advice: str,
        *,
        wait: bool = False,
    ) -> Finding:
        """A finding about the dialog ``d`` (told by its ``Dialog.id``), added to the others; with
        ``wait``, only returned: it waits for the end of the capture (``no_answer``)."""
        self.clients[d.id] = client_of(self.trace, self.shape(d).first, d)
        f = new_finding(severity, kind, d.id, frames, summary, advice)
        if not wait:
            self.out.append(f)
        return f

    def shape(self, d: Dialog) -> Shape:
        """``Shape`` of ``d``, worked out once."""
        found = self._shapes.get(d.id)
        if found is None:
            found = self._shapes[d.id] = Shape(self.trace, d)
        return found

    def unanswered(self, d: Dialog) -> list[tuple[Entry, int]]:
        """The requests of ``d`` (ACK aside) that got no response at all, each with how many
        times it was sent, in capture order."""
        found = self._unanswered.get(d.id)
        if found is not None:
            return found
        found = self._unanswered[d.id] = []
        if not self.shape(d).unanswered:
            return found
        retrans = self.retrans
        for e in self.originals(d):
            m = e
            if m.status is not None:
                continue
            if (m.method or "").upper() != "ACK" and not self.responses(e):
                found.append((e, 1 + len(retrans.get(e.id, ()))))
        return found


def succeeded(trace: Trace, d: Dialog, method: str, after: int) -> bool:
    """Whether a 2xx to ``method`` came later in the dialog than message index ``after``."""
    for i in d.messages:
        m = trace.entries[i]
        if (
            i > after
            and m.status is not None
            and 200 <= m.status < 300
            and m.cseq_method.upper() == method
        ):
            return True
    return False


def rang(trace: Trace, d: Dialog, method: str, before: int) -> bool:
    """Whether a 180-189 to ``method`` came in the dialog before message index ``before``."""
    for i in d.messages:
        if i >= before:
            return False
        m = trace.entries[i]
        if m.status is not None and 180 <= m.status < 190 and m.cseq_method.upper() == method:
            return True
    return False


def client_of(trace: Trace, first: Entry | None, d: Dialog) -> str:
    """The client address of a dialog whose first request (``Shape.first``) is ``first``: the
    source of its requests; for a dialog of responses only, their destination."""
    if first is not None:
        return first.src.ip
    return trace.entries[d.messages[0]].dst.ip


def secs(ns: int) -> str:
    """Nanoseconds as seconds for a summary: ``2.2 s``."""
    return f"{ns / 1e9:.1f} s"


def count(n: int, word: str) -> str:
    """``1 dialog``, ``2 dialogs``."""
    return f"{n} {word}{'s' * (n != 1)}"
