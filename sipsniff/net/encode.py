"""Frames of collected messages, for a pcap where Wireshark and ``sipsniff read`` see the original
flows: what ``sipsniff hep --write-pcap`` writes of the messages its agents sent.

``FrameMaker`` makes an Ethernet frame (IPv4 or IPv6, UDP or TCP) of each message with the
addresses and ports its agent saw. TCP segments carry sequence numbers that run on per direction,
so a reader reassembles them as the stream they came from.
"""

from __future__ import annotations

import socket
import struct

from sipsniff.model import Endpoint, Frame, Message, Payload

LINKTYPE_ETHERNET = 1

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
