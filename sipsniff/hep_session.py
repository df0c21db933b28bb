"""The HEP collector's pipeline: HEP packets in, correlated SIP messages (with their agent) out.

Sans-IO: the caller (``sipsniff hep``) reads the sockets and passes each packet with its arrival
time. A HEP packet already holds one whole SIP message with the addresses, ports, transport and
time its agent captured it with, so there is nothing to decode or reassemble: the message is parsed
and correlated by the same ``Pipeline`` as files and live capture use, and the agent id is kept in a
side table by message id (``agents[entry.id]``).

``frame_of`` makes an Ethernet frame (IPv4 or IPv6, UDP or TCP) of a collected message, for a pcap
where Wireshark and ``sipsniff read`` see the original flows. TCP segments carry sequence numbers
that run on per direction, so a reader reassembles them as the stream they came from.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Sequence

from sipsniff.model import Endpoint, Entry, Frame, Message, Payload, Skipped, Trace
from sipsniff.net.hep import PROTO_SIP, decode_hep, hep_payload
from sipsniff.pipeline import DEFAULT_LIMITS, DEFAULT_LINK_HEADERS, Limits, Pipeline
from sipsniff.sip.parser import keepalive_kind, looks_like_sip, parse_message

LINKTYPE_ETHERNET = 1


class HepSession:
    """Collected HEP packets through the pipeline.

    Args:
        agents: only these agent ids (empty: every agent).
        password: when set, packets whose authentication key differs are refused (``Skipped``).
        limits: ``max_message``: a SIP message over it is dropped (``Skipped``, counted in
            ``hep_oversize``); the dialog cap is not used.
    """

    def __init__(
        self,
        *,
        agents: Sequence[int] = (),
        password: str | None = None,
        link_headers: Sequence[str] = DEFAULT_LINK_HEADERS,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.pipe = Pipeline(link_headers=link_headers, limits=limits._replace(max_dialogs=0))
        self.max_message = limits.max_message
        self.counts = self.pipe.counts
        self.skipped = self.pipe.skipped
        self.only = frozenset(agents)
        self.password = password
        self.agents: dict[int, int] = {}
        """Agent id of each message, by its ``Entry.id`` (``agents[entry.id]``)."""
        self.packets = 0
        """HEP packets received (what ``frame`` numbers count)."""
        self.per_agent: dict[int, int] = {}
        """SIP messages by agent id."""

    def feed(
        self, data: bytes | str, received_ns: int, peer: Endpoint | None = None
    ) -> list[Entry]:
        """One received HEP packet (or a reason, from a broken TCP stream); the entry it made."""
        self.packets += 1
        number = self.packets
        if isinstance(data, str):
            return self._skip(number, received_ns, data, peer)
        pkt = decode_hep(data)
        if isinstance(pkt, str):
            return self._skip(number, received_ns, pkt, peer, data)
        if self.password is not None and pkt.auth_key != self.password:
            return self._skip(number, received_ns, "HEP packet with a wrong or no password", peer)
        if self.only and pkt.agent_id not in self.only:
            self.counts.hep_other_agent += 1
            return []
        if pkt.proto_type not in (0, PROTO_SIP):
            types = self.counts.hep_types
            types[pkt.proto_type] = types.get(pkt.proto_type, 0) + 1
            return []
        p = hep_payload(pkt, number, ts_ns=received_ns)
        raw = p.data
        if not looks_like_sip(raw):
            if keepalive_kind(raw) is None:
                self.counts.not_sip += 1
            else:
                self.counts.keepalive += 1
            return []
        if len(raw) > self.max_message:
            self.counts.hep_oversize += 1
            self.skipped.append(
                Skipped(
                    number,
                    p.ts_ns,
                    f"SIP message of {len(raw)} bytes is over the {self.max_message}-byte limit "
                    f"in HEP from agent {pkt.agent_id} ({p.src} -> {p.dst}): dropped",
                    0,
                    p.src,
                    p.dst,
                    p.transport,
                    raw[:256],
                )
            )
            return []
        # What Pipeline._message does for a datagram; a public Pipeline.message(raw, payload)
        # would let this call it instead.
        msg = parse_message(raw, p, framed=False)
        if not isinstance(msg, Message):
            self.skipped.append(msg)
            return []
        entry = self.pipe.correlator.add(msg)
        self.agents[entry.id] = pkt.agent_id
        self.per_agent[pkt.agent_id] = self.per_agent.get(pkt.agent_id, 0) + 1
        return [entry]

    def finish(self) -> None:
        self.pipe.correlator.finish()

    def trace(self) -> Trace:
        return self.pipe.trace()

    def _skip(
        self,
        number: int,
        ts_ns: int,
        reason: str,
        peer: Endpoint | None,
        data: bytes = b"",
    ) -> list[Entry]:
        self.counts.hep_bad += 1
        where = f" from {peer}" if peer is not None else ""
        self.skipped.append(Skipped(number, ts_ns, reason + where, 0, peer, None, "hep", data))
        return []


# -- frames for a pcap ----------------------------------------------------------------------------

_ETH4 = b"\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x01\x08\x00"
_ETH6 = b"\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x01\x86\xdd"
_IP4 = struct.Struct(">BBHHHBBH4s4s")
_IP6 = struct.Struct(">IHBB16s16s")
_UDP = struct.Struct(">HHHH")
_TCP = struct.Struct(">HHIIBBHHH")


def _checksum(header: bytes) -> int:
    total: int = sum(struct.unpack(f">{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class FrameMaker:
    """Ethernet frames for collected messages, with the addresses and ports their agent saw.

    UDP and SCTP messages become UDP datagrams (SCTP as UDP: one message each, readable by every
    tool); TCP, TLS and WebSocket messages become TCP segments (PSH, ACK) whose sequence numbers
    follow each other per direction. Checksums: IPv4 header computed, UDP and TCP left 0.
    """

    def __init__(self) -> None:
        self._seq: dict[tuple[Endpoint, Endpoint], int] = {}
        self._ident = 0

    def frame(self, number: int, msg: Message | Payload) -> Frame | None:
        """The frame of one message; None when its addresses are not IP (cannot be)."""
        p = msg.pkt if isinstance(msg, Message) else msg
        data = msg.raw if isinstance(msg, Message) else msg.data
        try:
            v6 = ":" in p.src.ip
            fam = socket.AF_INET6 if v6 else socket.AF_INET
            src = socket.inet_pton(fam, p.src.ip)
            dst = socket.inet_pton(fam, p.dst.ip)
        except OSError:
            return None
        if p.transport in ("udp", "sctp"):
            l4 = _UDP.pack(p.src.port, p.dst.port, min(8 + len(data), 0xFFFF), 0) + data
            proto = 17
        else:
            key = (p.src, p.dst)
            seq = self._seq.get(key, 1)
            self._seq[key] = (seq + len(data)) & 0xFFFFFFFF
            ack = self._seq.get((p.dst, p.src), 1)
            l4 = _TCP.pack(p.src.port, p.dst.port, seq, ack, 5 << 4, 0x18, 65535, 0, 0) + data
            proto = 6
        if v6:
            head = _ETH6 + _IP6.pack(6 << 28, min(len(l4), 0xFFFF), proto, 64, src, dst)
        else:
            self._ident = (self._ident + 1) & 0xFFFF
            total = min(20 + len(l4), 0xFFFF)
            ip = _IP4.pack(0x45, 0, total, self._ident, 0x4000, 64, proto, 0, src, dst)
            ip = ip[:10] + struct.pack(">H", _checksum(ip)) + ip[12:]
            head = _ETH4 + ip
        out = head + l4
        return Frame(number, p.ts_ns, LINKTYPE_ETHERNET, out, len(out))
