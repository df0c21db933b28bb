"""``forged``: a request whose Via names the destination itself or a loopback address.

How this works. A request from another host whose top Via names a loopback address or the
destination itself: no real client on another host says that. A sender on the same host (a
loopback source: a softphone beside its PBX, 127.0.1.1 as Debian names the host) is left alone.
One finding per dialog, from its first such request.

Severity policy: always a warning (a tool crafted it; the caller ID is likely spoofed).
"""

from __future__ import annotations

from sipsniff.analysis.findings.addresses import as_ip
from sipsniff.analysis.findings.context import Context
from sipsniff.analysis.findings.detector import Detector
from sipsniff.analysis.findings.model import WARNING
from sipsniff.model import Dialog
from sipsniff.sip.uri import host_of


class Forged(Detector):
    """Requests whose top Via no real client would send."""

    kinds = ("forged",)

    def check(self, ctx: Context, d: Dialog) -> None:
        if not ctx.shape(d).elsewhere:
            return  # every request's Via names its source
        for e in ctx.originals(d):
            m = e
            if m.status is not None:
                continue
            host = host_of(m.sent_by)
            if host == m.src.ip:
                continue
            ip = as_ip(host)
            src = as_ip(m.src.ip)
            if ip is None or src is None or src.is_loopback or m.src.ip == m.dst.ip:
                continue
            if host == m.dst.ip or ip.is_loopback:
                what = "the destination itself" if host == m.dst.ip else "a loopback address"
                ctx.add(
                    WARNING,
                    "forged",
                    d,
                    {m.frame},
                    f"{m.method} from {m.src.ip} has Via {host} ({what}): crafted by a tool, "
                    "caller ID likely spoofed",
                    "Accept requests only from known peers; don't trust the caller ID.",
                )
                return
