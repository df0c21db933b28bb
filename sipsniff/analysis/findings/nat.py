"""``nat``: a NAT between client and server, or private addresses where public ones should be.

How this works. Every original message with a public address on it is read (LAN and loopback
traffic is passed over without parsing its headers):

* a response whose top Via ``received`` (RFC 3581) differs from a private sent-by, both seen from a
  public source: a NAT between client and server, which the server handles;
* a request from a public source with a private address in its Via, Contact or SDP ``c=``: a NAT
  the client does not know about;
* a request whose SDP offers media at a private address to a public peer.

Each kind and address once, from its first message (across the parts of a capture: the earliest
message wins), told at that message's dialog.

Severity policy: always info (worth knowing; the advice says what keeps media and calls working).
"""

from __future__ import annotations

from sipsniff.analysis.findings.addresses import is_private, is_public
from sipsniff.analysis.findings.context import Context
from sipsniff.analysis.findings.detector import Detector
from sipsniff.analysis.findings.model import INFO, Finding, new_finding
from sipsniff.model import Entry, Trace
from sipsniff.sip.headers import header_values, parse_name_addr, parse_via
from sipsniff.sip.sdp import sdp_of
from sipsniff.sip.uri import host_of, parse_uri

_Key = tuple[str, str, str]
"""What a NAT finding is about: (rule, where, address)."""


class Nat(Detector):
    """NAT findings, each kind and address once, from its first message: ``_seen`` keeps them
    across the parts of a capture, with the time of that message."""

    kinds = ("nat",)

    def __init__(self) -> None:
        self._seen: dict[_Key, tuple[int, Finding]] = {}

    def add(self, ctx: Context) -> None:
        for e in ctx.trace.entries.values():
            if e.retransmission_of is not None:
                continue
            # Every rule below needs a public address on the packet: LAN and loopback traffic
            # (most of a big capture, often) is passed over without parsing its headers.
            m = e
            if is_public(m.src.ip):
                if m.status is not None:
                    self._response(ctx.trace, e)
                else:
                    self._request(e)
            elif m.status is None and is_public(m.dst.ip):
                self._request(e)

    def finish(self, out: list[Finding]) -> None:
        out += [f for _, f in self._seen.values()]

    def _later(self, key: _Key, ts_ns: int) -> bool:
        old = self._seen.get(key)
        return old is not None and old[0] <= ts_ns

    def _keep(
        self, key: _Key, ts_ns: int, dialog: int, frames: set[int], summary: str, advice: str
    ) -> None:
        self._seen[key] = (ts_ns, new_finding(INFO, "nat", dialog, frames, summary, advice))

    def _response(self, trace: Trace, e: Entry) -> None:
        """A Via ``received`` that differs from a private sent-by: a NAT in between."""
        m = e
        if not is_public(m.src.ip) or b"received" not in m.raw:
            return
        values = header_values(m.raw, "Via")
        if not values:
            return
        v = parse_via(values[0])
        received = v.params.get("received")
        host = host_of(v.sent_by)
        if (
            received
            and received != host
            and is_private(host)
            and is_public(received)
            and is_public(m.src.ip)
        ):
            key = ("received", host, received)
            if not self._later(key, m.ts_ns):
                req_index = trace.transactions[e.transaction].request
                frames = {m.frame}
                if req_index is not None:
                    frames.add(trace.entries[req_index].frame)
                self._keep(
                    key,
                    m.ts_ns,
                    e.dialog,
                    frames,
                    f"{host} reaches {m.src} from {received}: a NAT in between (Via received"
                    + (", rport" if "rport" in v.params else "")
                    + ")",
                    "Keep NAT bindings alive (rport, keep-alives) or register through an SBC.",
                )

    def _request(self, e: Entry) -> None:
        """Private addresses in a request from a public source, or offered to a public peer."""
        m = e
        src, dst = m.src.ip, m.dst.ip
        if not is_public(src) and not is_public(dst):
            return
        places: list[tuple[str, str]] = []
        if m.sent_by:
            places.append(("Via", host_of(m.sent_by)))
        for c in header_values(m.raw, "Contact"):
            uri = parse_name_addr(c).uri
            if uri:
                places.append(("Contact", parse_uri(uri).address))
        sdp = sdp_of(m)
        if sdp is not None:
            for md in sdp.media:
                if md.address and md.port:
                    places.append(("SDP c=", md.address))
        for where, host in places:
            if host == src or not is_private(host):
                continue
            if is_public(src):
                key = ("hidden", where, host)
                text = (
                    f"{m.method} from public {src} carries private {host} in {where}: "
                    "a NAT the client does not know about"
                )
                advice = (
                    "Enable STUN/ICE or rport on the client, or let the SBC fix up Contact and "
                    "SDP; turn SIP ALG off."
                )
            elif where == "SDP c=" and is_public(dst):
                key = ("sdp", where, host)
                text = f"{m.method} offers media at private {host} to public {m.dst}"
                advice = (
                    "Media will not come back unless the far end latches (comedia): use "
                    "STUN/ICE or a media relay."
                )
            else:
                continue
            if not self._later(key, m.ts_ns):
                self._keep(key, m.ts_ns, e.dialog, {m.frame}, text, advice)
