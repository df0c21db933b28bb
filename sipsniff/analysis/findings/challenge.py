"""``challenge-unanswered``: a 401/407 that no request answered with credentials.

How this works. A challenge of a dialog is reported when no request of the same method came
after it in the dialog and no success (a 2xx to that method) followed. A challenge to a request
that carried credentials is a refusal, told by ``wrong-password`` (``password``), not here.

Severity policy: always a warning (a client without a password for that realm).
"""

from __future__ import annotations

from sipsniff.analysis.findings.context import Context, succeeded
from sipsniff.analysis.findings.detector import Detector
from sipsniff.analysis.findings.model import WARNING
from sipsniff.model import Dialog


class Challenges(Detector):
    """Challenges of a dialog never retried with credentials."""

    kinds = ("challenge-unanswered",)

    def check(self, ctx: Context, d: Dialog) -> None:
        for ch in ctx.challenges.get(d.id, ()):
            if ch.answered_by:
                continue
            trace = ctx.trace
            e = trace.entries[ch.entry]
            method = ch.method.upper()
            # answered later by anything of the same method (credentials read by auth), or a
            # success
            if succeeded(trace, d, method, ch.entry):
                continue
            later = any(
                i > ch.entry and (trace.entries[i].method or "").upper() == method
                for i in d.messages
            )
            if later:
                continue
            frames = {ch.frame}
            req_index = trace.transactions[e.transaction].request
            if req_index is not None:
                if req_index in ctx.credentials:
                    continue  # credentials refused: a wrong password, told by ``Passwords``
                frames.add(trace.entries[req_index].frame)
            realm = f" realm {ch.digest.realm!r}" if ch.digest.realm else ""
            ctx.add(
                WARNING,
                "challenge-unanswered",
                d,
                frames,
                f"{ch.method} challenged {ch.status}{realm} (frame {ch.frame}), never retried "
                "with credentials",
                "Configure the username and password for that realm on the client.",
            )
