"""What every detector reads of one part of a capture (``Context``), and the few questions about a
dialog that several rules ask: the responses to a request, its unanswered requests, whether a
later 2xx or an earlier ringing came, who its client is."""

from __future__ import annotations

from collections.abc import Iterable

from sipsniff.analysis.auth import FORBIDDEN, Challenge, analyze
from sipsniff.analysis.findings.model import Finding, new_finding
from sipsniff.analysis.part import Part
from sipsniff.model import Dialog, Entry, Trace


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
        self.clients[d.id] = client_of(self.part, d)[0]
        f = new_finding(severity, kind, d.id, frames, summary, advice)
        if not wait:
            self.out.append(f)
        return f

    def unanswered(self, d: Dialog) -> list[tuple[Entry, int]]:
        """The requests of ``d`` (ACK aside) that got no response at all, each with how many
        times it was sent, in capture order."""
        found = self._unanswered.get(d.id)
        if found is not None:
            return found
        found = self._unanswered[d.id] = []
        retrans = self.retrans
        for e in self.originals(d):
            m = e.msg
            if m.status is not None:
                continue
            if (m.method or "").upper() != "ACK" and not self.responses(e):
                found.append((e, 1 + len(retrans.get(e.id, ()))))
        return found


def succeeded(trace: Trace, d: Dialog, method: str, after: int) -> bool:
    """Whether a 2xx to ``method`` came later in the dialog than message index ``after``."""
    for i in d.messages:
        m = trace.entries[i].msg
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
        m = trace.entries[i].msg
        if m.status is not None and 180 <= m.status < 190 and m.cseq_method.upper() == method:
            return True
    return False


def client_of(part: Part, d: Dialog) -> tuple[str, list[Entry]]:
    """The client address of a dialog (source of its requests; for a dialog of responses only,
    their destination) and its original requests."""
    requests = [e for e in part.originals(d) if e.msg.status is None]
    if requests:
        return requests[0].msg.pkt.src.ip, requests
    return part.trace.entries[d.messages[0]].msg.pkt.dst.ip, []


def secs(ns: int) -> str:
    """Nanoseconds as seconds for a summary: ``2.2 s``."""
    return f"{ns / 1e9:.1f} s"


def count(n: int, word: str) -> str:
    """``1 dialog``, ``2 dialogs``."""
    return f"{n} {word}{'s' * (n != 1)}"
