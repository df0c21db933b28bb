"""``no-ack``: a 2xx to INVITE that no ACK followed.

How this works. A 2xx to INVITE that no ACK in the capture answers (one with its CSeq number from
its receiver to its sender, whatever the ports) is reported when there is evidence:

* a warning when its sender resent it (RFC 3261 13.3.1.4: until the ACK comes, for 32 s): the ACK
  did not reach it;
* info when it was not resent but the dialog went on in the capture (a BYE on the same path): an
  ACK lost after the capture point, or not captured.

Nothing else: without either, the ACK may have gone by another path (no Record-Route) or after the
capture's end. One finding per dialog, from its first such 2xx.
"""

from __future__ import annotations

from sipsniff.analysis.findings.context import Context
from sipsniff.analysis.findings.detector import Detector
from sipsniff.analysis.findings.model import INFO, WARNING
from sipsniff.model import Dialog, Entry

_ADVICE = "Check the ACK's route (Record-Route, Contact reachable through NAT)."


class NoAck(Detector):
    """A dialog's 2xx to INVITE resent, or followed by a BYE, with no ACK."""

    kinds = ("no-ack",)

    def check(self, ctx: Context, d: Dialog) -> None:
        # Evidence is a resent 2xx or a BYE: a dialog with neither, or whose every 2xx was
        # ACKed, has nothing to tell.
        shape = ctx.shape(d)
        if not shape.unacked or not (d.retransmissions or "BYE" in shape.methods):
            return
        entries = ctx.trace.entries
        for e in ctx.originals(d):
            m = e
            if m.status is None or not 200 <= m.status < 300 or m.cseq_method.upper() != "INVITE":
                continue
            again = ctx.retrans.get(e.id, [])
            acked = False
            bye: Entry | None = None
            sender, receiver = m.src.ip, m.dst.ip
            for j in d.messages:
                if j <= e.id:
                    continue
                later = entries[j]
                lm = later
                if lm.method is None:
                    continue
                method = lm.method.upper()
                if (
                    method == "ACK"
                    and lm.cseq_num == m.cseq_num
                    and lm.src.ip == receiver
                    and lm.dst.ip == sender
                ):
                    acked = True
                    break
                if bye is None and method == "BYE" and {lm.src.ip, lm.dst.ip} == {sender, receiver}:
                    bye = later
            if acked or not (again or bye):
                continue
            frames = {m.frame, *(r.frame for r in again)}
            if not again:
                assert bye is not None
                ctx.add(
                    INFO,
                    "no-ack",
                    d,
                    {m.frame, bye.frame},
                    f"{m.status} to INVITE (f{m.frame}) from {m.src}: no ACK captured before the "
                    f"BYE (f{bye.frame})",
                    _ADVICE,
                )
                return
            text = (
                f"{m.status} to INVITE (f{m.frame}) from {m.src} sent {1 + len(again)}×, "
                "never ACKed: the ACK does not reach the callee"
            )
            if bye is not None and bye.src.ip == m.src.ip:
                frames.add(bye.frame)
                text += f", which hung up (BYE f{bye.frame})"
            ctx.add(WARNING, "no-ack", d, frames, text, _ADVICE)
            return
