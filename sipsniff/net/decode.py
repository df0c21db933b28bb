"""Captured frames to transport payloads: link layers, IPv4/IPv6 and their fragments, tunnels,
UDP, SCTP, and the hand-off of TCP segments to a stream reassembler.

How this works
--------------
``Decoder.decode`` runs once per captured frame, so it is written for speed first:

* The commonest frame (Ethernet, IPv4 without options, not a fragment, UDP) is decoded inline in
  ``decode`` with one ``struct`` call and a few tests, and its ``Payload`` is made without the
  NamedTuple's Python-level ``__new__``; the same behind one VLAN tag or a Linux cooked header
  costs one call more. Everything else takes the general path (about 2 us for a tunnel).
* Layers pass ``(data, off, end)`` down instead of slicing: the only copy is the payload slice.
  ``end`` comes from the IP total length or payload length, never from the frame length, so
  Ethernet padding and a trailing FCS are ignored.
* Addresses travel as raw bytes (``addrs`` = source address + destination address). Endpoints are
  cached: ``addrs`` + the 4 port bytes (contiguous in the packet for IPv4 without options) map to
  the two ``Endpoint`` values and the tunnel the ports announce. A capture holds few distinct
  flows, so the per-packet cost is one slice and one dict look-up.
* The general path keeps the frame being decoded, its output list and its tunnel depth on the
  instance rather than passing them down every call.

What counts as damage: a header cut short, a bad version, IHL or data offset, a length below its
header's. Such a frame becomes a ``Skipped`` with one sentence. A length field that claims more
than the data holds (IP total length, IPv6 payload length, UDP length, SCTP chunk length) is either
the snaplen at work (captured length below the length on the wire: normal) or a lying header; both
ways the bytes present are used, as tshark does, and counted as ``truncated`` or ``bad_length``.
The broken packet is often the one a person came for.

ICMP errors quoting a UDP, TCP or SCTP packet are not decoded as that packet (tshark does, which
makes the quoted message look sent twice): each becomes a ``Skipped`` naming the error, carrying
the quoted transport payload.

Tunnels are decoded through to the innermost packet, whose addresses the ``Payload`` carries:
IP in IP (4, 41), GRE (with PPTP's enhanced GRE and ERSPAN types I, II and III), VXLAN (UDP 4789),
Geneve (UDP 6081), GTP-U (UDP 2152), MPLS, PPPoE and VLAN tags. At most ``MAX_DEPTH`` tunnels are
followed in one frame.

SCTP: each DATA (0) or I-DATA (64) chunk carrying a whole user message becomes one ``Payload``. A
user message split over several chunks (B/E flags) is rebuilt when its pieces arrive in order
(DATA: consecutive TSNs; I-DATA: fragment sequence numbers) and reported as ``Skipped`` otherwise.
"""

from __future__ import annotations

import socket
import struct
from typing import Protocol

from sipsniff.model import Counts, Endpoint, Frame, Payload, Skipped
from sipsniff.net.ipfrag import FragKey, FragmentSet, Reassembler

MAX_DEPTH = 10
"""Tunnels followed in one frame before it is given up as absurd (VLAN and MPLS tags are free)."""

_CACHE_MAX = 1 << 16
"""Entries of the address and endpoint caches before they start again empty."""

# Tunnels announced by UDP ports: the third member of a cached endpoint pair.
_NO_TUNNEL = 0
_GTP = 1
_VXLAN = 2
_GENEVE = 3

# Ethertypes of 802.1Q/802.1ad tags: C-tag, S-tag, and the pre-standard QinQ values.
_VLAN_TAGS = frozenset((0x8100, 0x88A8, 0x9100, 0x9200, 0x9300))

# BSD loopback (NULL) family word, host byte order of the capturing machine: either order works.
_NULL_FAMILY = {
    b"\x02\x00\x00\x00": 4,
    b"\x00\x00\x00\x02": 4,
    b"\x18\x00\x00\x00": 6,  # 24: NetBSD, OpenBSD, BSD/OS
    b"\x00\x00\x00\x18": 6,
    b"\x1c\x00\x00\x00": 6,  # 28: FreeBSD, DragonFly
    b"\x00\x00\x00\x1c": 6,
    b"\x1e\x00\x00\x00": 6,  # 30: Darwin
    b"\x00\x00\x00\x1e": 6,
}

# IPv6 extension headers whose length is (byte 1 + 1) * 8: hop-by-hop, routing, destination
# options, mobility, HIP, shim6.
_IP6_EXT = frozenset((0, 43, 60, 135, 139, 140))

# From Ethernet offset 12: ethertype, IPv4 version+IHL, total length, flags+fragment offset,
# protocol, UDP length (when the IPv4 header has no options).
_FAST = struct.Struct(">HBxH2xHxB14xH")
_FAST_IP = struct.Struct(">BxH2xHxB14xH")  # the same from IPv4 offset 0, without the ethertype
_IP4 = struct.Struct(">2xHHHxB")  # total length, identification, flags+offset, protocol
_IP6 = struct.Struct(">4xHB")  # payload length, next header
_U16LE = struct.Struct("<H")
_TCP = struct.Struct(">4xIIH")  # sequence, acknowledgment, data offset + flags
_SCTP_CHUNK = struct.Struct(">BBH")  # type, flags, length
_DATA_CHUNK = struct.Struct(">IH")  # TSN, stream identifier
_IDATA_CHUNK = struct.Struct(">4xH2xII")  # stream identifier, MID, PPID or FSN
_FRAG6 = struct.Struct(">HI")  # fragment offset + M, identification
_GTP_HDR = struct.Struct(">BBH")  # flags, message type, length

_QUOTED = {17: "udp", 6: "tcp", 132: "sctp"}

# ICMP (RFC 792) and ICMPv6 (RFC 4443) errors, which quote the packet they are about.
_ICMP4_UNREACHABLE = {
    0: "network unreachable",
    1: "host unreachable",
    2: "protocol unreachable",
    3: "port unreachable",
    4: "fragmentation needed",
    9: "network administratively prohibited",
    10: "host administratively prohibited",
    13: "communication administratively prohibited",
}
_ICMP6_UNREACHABLE = {
    0: "no route to destination",
    1: "communication administratively prohibited",
    3: "address unreachable",
    4: "port unreachable",
    5: "source address failed policy",
    6: "reject route",
}


def _icmp_error(proto: int, itype: int, code: int) -> str | None:
    """Name an ICMP error message ("destination unreachable (port unreachable)"); None if not one."""
    if proto == 1:
        if itype == 3:
            return f"destination unreachable ({_ICMP4_UNREACHABLE.get(code, f'code {code}')})"
        if itype == 11:
            return "time exceeded" + (" (fragment reassembly)" if code == 1 else " (TTL)")
        if itype == 12:
            return "parameter problem"
        if itype == 4:
            return "source quench"
        return None
    if itype == 1:
        return f"destination unreachable ({_ICMP6_UNREACHABLE.get(code, f'code {code}')})"
    if itype == 2:
        return "packet too big"
    if itype == 3:
        return "time exceeded" + (" (fragment reassembly)" if code == 1 else " (hop limit)")
    if itype == 4:
        return "parameter problem"
    return None


_AF4 = socket.AF_INET
_AF6 = socket.AF_INET6
_ntop = socket.inet_ntop
_new_tuple = tuple.__new__


class TcpSink(Protocol):
    """Where TCP segments go: a per-direction stream reassembler (``sipsniff.net.tcp``)."""

    def segment(
        self,
        frame: Frame,
        src: Endpoint,
        dst: Endpoint,
        seq: int,
        ack: int,
        flags: int,
        payload: bytes,
    ) -> list[Payload]:
        """Take one segment (every one: SYN, FIN, RST and empty ACKs too); return stream pieces.

        ``flags`` holds the nine TCP flag bits: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10,
        URG 0x20, ECE 0x40, CWR 0x80, NS/AE 0x100. ``frame`` is the captured frame, also when the
        segment came out of a tunnel or a reassembled IP datagram.
        """
        ...


class Decoder:
    """Decode captured frames into transport payloads; sans-IO, one frame at a time.

    Args:
        counts: shared counters, incremented by name: ``frames``, ``non_ip``,
            ``not_udp_tcp_sctp``, ``fragments``, ``reassembled``, ``empty_udp``, ``truncated``,
            ``bad_length``, ``icmp_errors``, ``esp``, ``tunnel_control``, ``unsupported_link``,
            ``sctp_orphan_pieces``, ``fragment_duplicates`` and ``fragment_overlaps``.
        skipped: shared list where damaged frames and lost fragments are recorded.
        tcp: where TCP segments go. When None, each non-empty TCP payload is returned as it is, a
            ``Payload`` with ``transport="tcp"`` and ``stream=True``.
        frag_timeout_s: capture time after its first fragment at which an incomplete IP datagram is
            given up.
        frag_max_bytes: cap on the bytes held by incomplete IP datagrams together.
    """

    def __init__(
        self,
        counts: Counts,
        skipped: list[Skipped],
        *,
        tcp: TcpSink | None = None,
        frag_timeout_s: float = 60.0,
        frag_max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self._counts = counts
        self._skipped = skipped
        self._tcp = tcp
        self._frag = Reassembler(counts, int(frag_timeout_s * 1e9), frag_max_bytes)
        self._addr: dict[bytes, str] = {}
        self._pairs: dict[bytes, tuple[Endpoint, Endpoint, int]] = {}
        self._sctp_parts: dict[tuple[Endpoint, Endpoint, int, int], _SctpMessage] = {}
        self._unsupported: set[int] = set()
        # The frame on the general path, and what is known of it.
        self._frame = Frame(0, 0, 0, b"", 0)
        self._out: list[Payload] = []
        self._cut = False
        """The snaplen cut the frame: short data is expected, not damage."""
        self._cut_counted = False
        self._depth = 0
        """Tunnels entered so far in this frame."""
        self._first = (0, 0)
        """(frame, ts_ns) of the first fragment when the data at hand is a reassembled datagram."""
        self._frames: tuple[int, ...] = ()
        """Every frame of the reassembled datagram(s) at hand; () when it is the frame alone."""

    # -- the hot path ------------------------------------------------------------------------
    def decode(self, frame: Frame) -> list[Payload]:
        """Decode one frame; return its transport payloads (usually none or one).

        Damaged frames are appended to ``skipped``; nothing is raised for any input.
        """
        self._counts.frames += 1
        data = frame[3]
        # Ethernet II, IPv4 with a 20-byte header, UDP, not a fragment, whole in the frame.
        lt = frame[2]
        if lt == 1 and len(data) >= 42:
            et, vihl, tl, ff, proto, ulen = _FAST.unpack_from(data, 12)
            if (
                et == 0x0800
                and vihl == 0x45
                and proto == 17
                and not ff & 0x3FFF
                and 8 < ulen <= tl - 20
                and tl <= len(data) - 14
            ):
                key = data[26:38]
                pair = self._pairs.get(key)
                if pair is None:
                    pair = self._pair(key)
                if not pair[2]:
                    # tuple.__new__ skips the NamedTuple's Python-level __new__ (a third faster);
                    # every field is given, so test_fast_and_general_paths_agree catches a new one.
                    return [
                        _new_tuple(
                            Payload,
                            (
                                frame[0],
                                frame[1],
                                pair[0],
                                pair[1],
                                "udp",
                                data[42 : 34 + ulen],
                                frame[5],
                                0,
                                0,
                                False,
                                False,
                                (),
                            ),
                        )
                    ]
            elif (
                et == 0x0800
                and vihl == 0x45
                and proto == 6
                and not ff & 0x3FFF
                and 40 <= tl <= len(data) - 14
                and self._tcp is not None
            ):
                # Ethernet II, IPv4 with a 20-byte header, TCP, not a fragment, whole in the frame:
                # straight to the reassembler, as _tcp_segment would do it.
                seq, ack, offflags = _TCP.unpack_from(data, 34)
                doff = (offflags >> 12) * 4
                if 20 <= doff <= tl - 20:
                    key = data[26:38]
                    pair = self._pairs.get(key)
                    if pair is None:
                        pair = self._pair(key)
                    return self._tcp.segment(
                        frame,
                        pair[0],
                        pair[1],
                        seq,
                        ack,
                        offflags & 0x1FF,
                        data[34 + doff : 14 + tl],
                    )
            elif et == 0x8100 and data[16:18] == b"\x08\x00":  # the same behind one VLAN tag
                fast = self._fast4(frame, data, 18)
                if fast is not None:
                    return fast
        elif lt == 113:  # Linux cooked capture: the protocol at 14, IP at 16
            if data[14:16] == b"\x08\x00":
                fast = self._fast4(frame, data, 16)
                if fast is not None:
                    return fast
        elif lt == 276 and data[:2] == b"\x08\x00":  # Linux cooked v2: the protocol first
            fast = self._fast4(frame, data, 20)
            if fast is not None:
                return fast
        return self._general(frame)

    def _fast4(self, frame: Frame, data: bytes, off: int) -> list[Payload] | None:
        """The fast path for IPv4 at ``off`` behind another link header; None: take the long way."""
        if len(data) - off < 28:
            return None
        vihl, tl, ff, proto, ulen = _FAST_IP.unpack_from(data, off)
        if (
            vihl == 0x45
            and proto == 17
            and not ff & 0x3FFF
            and 8 < ulen <= tl - 20
            and tl <= len(data) - off
        ):
            key = data[off + 12 : off + 24]
            pair = self._pairs.get(key)
            if pair is None:
                pair = self._pair(key)
            if not pair[2]:
                payload = data[off + 28 : off + 20 + ulen]
                return [
                    _new_tuple(
                        Payload,
                        (
                            frame[0],
                            frame[1],
                            pair[0],
                            pair[1],
                            "udp",
                            payload,
                            frame[5],
                            0,
                            0,
                            False,
                            False,
                            (),
                        ),
                    )
                ]
        return None

    def flush(self) -> list[Payload]:
        """End of input: record the incomplete IP datagrams and SCTP messages as ``Skipped``.

        Returns:
            Payloads still held: none, as an incomplete datagram is not handed on.
        """
        for fs in self._frag.drain():
            self._frag_skipped(fs, "incomplete at the end of the capture")
        for key, msg in self._sctp_parts.items():
            self._sctp_lost(key, msg, "incomplete at the end of the capture")
        self._sctp_parts.clear()
        return []

    # -- general path ------------------------------------------------------------------------
    def _general(self, frame: Frame) -> list[Payload]:
        self._frame = frame
        out: list[Payload] = []
        self._out = out
        data = frame[3]
        self._cut = len(data) < frame[4]
        self._cut_counted = False
        self._depth = 0
        self._first = (0, 0)
        self._frames = ()
        lt = frame[2]
        end = len(data)
        if lt == 1:
            self._eth(data, 0, end)
        elif lt == 113:
            if end < 16:
                self._short("Linux cooked (SLL) header", end, 16, data)
            else:
                self._ethertype(data[14] << 8 | data[15], data, 16, end)
        elif lt == 276:
            if end < 20:
                self._short("Linux cooked v2 (SLL2) header", end, 20, data)
            else:
                self._ethertype(data[0] << 8 | data[1], data, 20, end)
        elif lt == 0:
            version = _NULL_FAMILY.get(data[:4])
            if version == 4:
                self._ipv4(data, 4, end)
            elif version == 6:
                self._ipv6(data, 4, end)
            else:
                self._counts.non_ip += 1
        elif lt in (101, 12, 14):
            self._ip_guess(data, 0, end)
        elif lt == 228:
            self._ipv4(data, 0, end)
        elif lt == 229:
            self._ipv6(data, 0, end)
        elif lt == 108:
            family = int.from_bytes(data[:4])
            if family == 2:
                self._ipv4(data, 4, end)
            elif family in (24, 28, 30):
                self._ipv6(data, 4, end)
            else:
                self._counts.non_ip += 1
        elif lt in (9, 50):
            self._ppp(data, 0, end)
        elif lt == 239:
            self._nflog(data, end)
        else:
            self._counts.unsupported_link += 1
            if lt not in self._unsupported:
                self._unsupported.add(lt)
                self._skip(f"link type {lt} is not supported: its frames are ignored")
        return out

    # -- link layers -------------------------------------------------------------------------
    def _eth(self, data: bytes, off: int, end: int) -> None:
        if end - off < 14:
            self._short("Ethernet header", end - off, 14, data[off:end])
            return
        et = data[off + 12] << 8 | data[off + 13]
        if et >= 0x0600:
            self._ethertype(et, data, off + 14, end)
        elif data[off + 14 : off + 20] == b"\xaa\xaa\x03\x00\x00\x00" and end - off >= 22:
            # 802.3 length field, LLC with SNAP and an ethertype: the only LLC that carries IP.
            self._ethertype(data[off + 20] << 8 | data[off + 21], data, off + 22, end)
        else:
            self._counts.non_ip += 1

    def _ethertype(self, et: int, data: bytes, off: int, end: int) -> None:
        while et in _VLAN_TAGS:
            if end - off < 4:
                self._short("VLAN tag", end - off, 4, data[off:end])
                return
            et = data[off + 2] << 8 | data[off + 3]
            off += 4
        if et == 0x0800:
            self._ipv4(data, off, end)
        elif et == 0x86DD:
            self._ipv6(data, off, end)
        elif et == 0x8864:
            self._pppoe(data, off, end)
        elif et in (0x8847, 0x8848):
            self._mpls(data, off, end)
        elif et == 0x6558:  # transparent Ethernet bridging (GRE, Geneve, SLL over a tap)
            self._eth(data, off, end)
        else:
            self._counts.non_ip += 1

    def _pppoe(self, data: bytes, off: int, end: int) -> None:
        # RFC 2516 session stage: version/type, code, session id, length; then PPP.
        if end - off < 6:
            self._short("PPPoE header", end - off, 6, data[off:end])
            return
        length = data[off + 4] << 8 | data[off + 5]
        self._ppp(data, off + 6, min(end, off + 6 + length))

    def _ppp(self, data: bytes, off: int, end: int) -> None:
        if data[off : off + 2] == b"\xff\x03":  # HDLC address and control fields
            off += 2
        if end - off < 1:
            self._short("PPP header", 0, 2, b"")
            return
        if data[off] & 1:  # protocol field compressed to one byte (RFC 1661 section 6.5)
            proto = data[off]
            off += 1
        elif end - off < 2:
            self._short("PPP header", end - off, 2, data[off:end])
            return
        else:
            proto = data[off] << 8 | data[off + 1]
            off += 2
        if proto == 0x0021:
            self._ipv4(data, off, end)
        elif proto == 0x0057:
            self._ipv6(data, off, end)
        else:
            self._counts.non_ip += 1

    def _mpls(self, data: bytes, off: int, end: int) -> None:
        while True:
            if end - off < 4:
                self._short("MPLS label stack", end - off, 4, data[off:end])
                return
            bottom = data[off + 2] & 1
            off += 4
            if bottom:
                break
        # No protocol field after the stack: guess by the first nibble.
        nibble = data[off] >> 4 if off < end else -1
        if nibble == 4:
            self._ipv4(data, off, end)
        elif nibble == 6:
            self._ipv6(data, off, end)
        elif nibble == 0 and end - off >= 4 + 14:
            # Ethernet pseudowire with its control word (RFC 4448): first nibble 0, then a frame.
            self._eth(data, off + 4, end)
        else:
            self._counts.non_ip += 1

    def _nflog(self, data: bytes, end: int) -> None:
        # Linux NFLOG: family, version, resource id, then TLVs whose length and type are in host
        # order (little-endian on the machines that write such files); type 9 is the packet.
        off = 4
        while end - off >= 4:
            tlv_len = _U16LE.unpack_from(data, off)[0]
            if tlv_len < 4:
                break
            if data[off + 2] == 9:
                self._ip_guess(data, off + 4, min(end, off + tlv_len))
                return
            off += (tlv_len + 3) & ~3
        self._counts.non_ip += 1

    # -- IP ----------------------------------------------------------------------------------
    def _ip_guess(self, data: bytes, off: int, end: int) -> None:
        if off >= end:
            self._short("IP header", 0, 20, b"")
            return
        nibble = data[off] >> 4
        if nibble == 4:
            self._ipv4(data, off, end)
        elif nibble == 6:
            self._ipv6(data, off, end)
        else:
            self._skip(f"not an IP packet: version {nibble}", data[off:end])

    def _ipv4(self, data: bytes, off: int, end: int) -> None:
        avail = end - off
        if avail < 20:
            self._short("IPv4 header", avail, 20, data[off:end])
            return
        vihl = data[off]
        ihl = (vihl & 15) * 4
        if vihl >> 4 != 4:
            self._skip(f"IPv4 header with version {vihl >> 4}", data[off:end])
            return
        if ihl < 20:
            self._skip(f"IPv4 header length (IHL) of {ihl} bytes, below 20", data[off:end])
            return
        tl, ident, ff, proto = _IP4.unpack_from(data, off)
        if tl == 0 and not ff & 0x3FFF:
            tl = avail  # segmentation offload: the NIC writes the total length after capture
        if tl > avail:
            self._overlong()
            tl = avail
        if tl < ihl:
            if tl == avail:
                self._short("IPv4 header", avail, ihl, data[off:end])
            else:
                self._skip(f"IPv4 total length {tl} below its header length {ihl}", data[off:end])
            return
        addrs = data[off + 12 : off + 20]
        if not ff & 0x3FFF:
            self._transport(proto, data, off + ihl, off + tl, addrs)
            return
        self._counts.fragments += 1
        fo = (ff & 0x1FFF) * 8
        if fo + tl > 65535:
            self._skip(
                f"IPv4 fragment ends at byte {fo + tl - ihl}, beyond the largest possible datagram",
                data[off:end],
                addrs,
            )
            return
        key: FragKey = (4, addrs[:4], addrs[4:], ident, proto)
        self._fragment(key, proto, fo, data[off + ihl : off + tl], ff & 0x2000)

    def _ipv6(self, data: bytes, off: int, end: int) -> None:
        avail = end - off
        if avail < 40:
            self._short("IPv6 header", avail, 40, data[off:end])
            return
        if data[off] >> 4 != 6:
            self._skip(f"IPv6 header with version {data[off] >> 4}", data[off:end])
            return
        plen, nh = _IP6.unpack_from(data, off)
        stop = off + 40 + plen
        if plen == 0 and nh == 0:
            stop = end  # a jumbogram (RFC 2675): the length is in the hop-by-hop options
        elif stop > end:
            self._overlong()
            stop = end
        addrs = data[off + 8 : off + 40]
        p = off + 40
        while nh != 17 and nh != 6:  # noqa: PLR1714 - two int compares beat a set look-up here
            if nh in _IP6_EXT:
                if stop - p < 2:
                    break
                hl = (data[p + 1] + 1) * 8
            elif nh == 44:
                if stop - p < 8:
                    self._short("IPv6 fragment header", max(stop - p, 0), 8, data[off:end])
                    return
                fo_m, ident = _FRAG6.unpack_from(data, p + 2)
                nh = data[p]
                p += 8
                if fo_m & 0xFFF9 == 0:  # an atomic fragment (RFC 6946): no reassembly needed
                    continue
                self._counts.fragments += 1
                fo = fo_m & 0xFFF8
                if fo + stop - p > 65535:
                    self._skip(
                        f"IPv6 fragment ends at byte {fo + stop - p}, beyond the 65535-byte "
                        "maximum",
                        data[off:end],
                        addrs,
                    )
                    return
                key: FragKey = (6, addrs[:16], addrs[16:], ident, -1)
                self._fragment(key, nh, fo, data[p:stop], fo_m & 1)
                return
            elif nh == 51:  # authentication header: length in 4-byte words, minus 2
                if stop - p < 2:
                    break
                hl = (data[p + 1] + 2) * 4
            elif nh == 50:  # ESP: the rest is encrypted
                self._counts.esp += 1
                return
            else:
                break
            nh = data[p]
            p += hl
        if p > stop:
            self._skip("IPv6 extension headers run past the end of the payload", data[off:end])
            return
        self._transport(nh, data, p, stop, addrs)

    def _fragment(self, key: FragKey, proto: int, offset: int, payload: bytes, more: int) -> None:
        frag = self._frag
        dgram = frag.add(key, proto, offset, payload, more=bool(more), frame=self._frame)
        if frag.dropped:
            for fs, why in frag.dropped:
                self._frag_skipped(fs, why)
            frag.dropped.clear()
        if dgram is None:
            return
        self._counts.reassembled += 1
        if self._first[0] == 0 or dgram.first_frame < self._first[0]:
            self._first = (dgram.first_frame, dgram.first_ts_ns)
        if self._frames:  # a datagram inside a reassembled datagram (a tunnel)
            self._frames = tuple(sorted({*self._frames, *dgram.frames}))
        else:
            self._frames = dgram.frames
        whole = dgram.data
        self._transport(dgram.proto, whole, 0, len(whole), key[1] + key[2])

    def _frag_skipped(self, fs: FragmentSet, why: str) -> None:
        version, src, dst, ident, _ = fs.key
        if fs.total >= 0:
            size = f"{fs.held} of {fs.total} bytes"
        else:
            size = f"{fs.held} bytes, the last fragment missing"
        if why == "expired":
            why = f"expired {self._frag.timeout_ns / 1e9:g} s after the first one"
        s = "" if fs.fragments == 1 else "s"
        reason = (
            f"IPv{version} datagram id {ident:#x} from {self._ip(src)} to {self._ip(dst)}: "
            f"{fs.fragments} fragment{s}, {size}, {why}"
        )
        self._skipped.append(
            Skipped(fs.first_frame, fs.first_ts_ns, reason, fs.file, data=fs.head())
        )

    # -- transports --------------------------------------------------------------------------
    def _transport(self, proto: int, data: bytes, off: int, end: int, addrs: bytes) -> None:
        if proto == 17:
            self._udp(data, off, end, addrs)
        elif proto == 6:
            self._tcp_segment(data, off, end, addrs)
        elif proto == 132:
            self._sctp(data, off, end, addrs)
        elif proto in (4, 41, 47):
            if self._enter_tunnel(data, off, end):
                if proto == 4:
                    self._ipv4(data, off, end)
                elif proto == 41:
                    self._ipv6(data, off, end)
                else:
                    self._gre(data, off, end)
        elif proto == 1 or proto == 58:  # noqa: PLR1714 - ICMP and ICMPv6
            self._icmp(proto, data, off, end, addrs)
        else:
            self._counts.not_udp_tcp_sctp += 1

    def _icmp(self, proto: int, data: bytes, off: int, end: int, addrs: bytes) -> None:
        """ICMP: an error quoting a UDP, TCP or SCTP packet becomes a ``Skipped`` naming both."""
        kind = _icmp_error(
            proto, data[off] if off < end else -1, data[off + 1] if off + 1 < end else -1
        )
        if kind is None:
            self._counts.not_udp_tcp_sctp += 1
            return
        self._counts.icmp_errors += 1
        q = off + 8  # the quoted packet: as much of the offending IP packet as fits
        if end - q < 20:
            return
        version = data[q] >> 4
        if version == 4:
            qaddrs, qproto, qt = data[q + 12 : q + 20], data[q + 9], q + (data[q] & 15) * 4
        elif version == 6 and end - q >= 40:
            qaddrs, qproto, qt = data[q + 8 : q + 40], data[q + 6], q + 40
        else:
            return
        transport = _QUOTED.get(qproto)
        if transport is None:
            return
        half = len(qaddrs) // 2
        sport = dport = 0
        if end - qt >= 4:
            sport = data[qt] << 8 | data[qt + 1]
            dport = data[qt + 2] << 8 | data[qt + 3]
        src = Endpoint(self._ip(qaddrs[:half]), sport)
        dst = Endpoint(self._ip(qaddrs[half:]), dport)
        sender = self._ip(addrs[: len(addrs) // 2])
        head = {"udp": 8, "sctp": 12}.get(transport, 0)
        if transport == "tcp" and end - qt >= 13:
            head = (data[qt + 12] >> 4) * 4
        frame = self._frame
        self._skipped.append(
            Skipped(
                frame[0],
                frame[1],
                f"ICMP {kind} sent by {sender} about a {transport.upper()} packet from {src} to "
                f"{dst}: an error report quoting the packet, not a message",
                frame[5],
                src,
                dst,
                transport,
                data[qt + head : end] if qt + head < end else b"",
            )
        )

    def _udp(self, data: bytes, off: int, end: int, addrs: bytes) -> None:
        avail = end - off
        if avail < 8:
            self._short("UDP header", avail, 8, data[off:end])
            return
        ulen = data[off + 4] << 8 | data[off + 5]
        if ulen > avail:
            self._overlong()
            ulen = avail
        elif ulen < 8:
            if ulen == 0 and len(addrs) == 32:
                ulen = avail  # IPv6 jumbogram: the length is in the hop-by-hop options
            else:
                self._skip(f"UDP length {ulen} below the 8-byte header", data[off:end], addrs)
                return
        if ulen == 8:
            self._counts.empty_udp += 1
            return
        key = addrs + data[off : off + 4]
        pair = self._pairs.get(key)
        if pair is None:
            pair = self._pair(key)
        if pair[2] and self._udp_tunnel(pair[2], data, off + 8, off + ulen):
            return
        frame = self._frame
        first = self._first
        self._out.append(
            Payload(
                frame[0],
                frame[1],
                pair[0],
                pair[1],
                "udp",
                data[off + 8 : off + ulen],
                frame[5],
                first[0],
                first[1],
                False,
                False,
                self._frames,
            )
        )

    def _tcp_segment(self, data: bytes, off: int, end: int, addrs: bytes) -> None:
        avail = end - off
        if avail < 20:
            self._short("TCP header", avail, 20, data[off:end])
            return
        seq, ack, offflags = _TCP.unpack_from(data, off)
        doff = (offflags >> 12) * 4
        if doff < 20:
            self._skip(f"TCP data offset of {doff} bytes, below 20", data[off:end], addrs)
            return
        if doff > avail:
            if self._cut:
                self._truncated()
            else:
                self._skip(
                    f"TCP data offset of {doff} bytes beyond the {avail} bytes of the segment",
                    data[off:end],
                    addrs,
                )
            return
        key = addrs + data[off : off + 4]
        pair = self._pairs.get(key)
        if pair is None:
            pair = self._pair(key)
        payload = data[off + doff : end]
        frame = self._frame
        if self._tcp is not None:
            pieces = self._tcp.segment(frame, pair[0], pair[1], seq, ack, offflags & 0x1FF, payload)
            if self._frames and pieces:  # a segment in IP fragments: they all carried its bytes
                pieces = [self._with_fragments(p, frame[0]) for p in pieces]
            self._out += pieces
        elif payload:
            first = self._first
            self._out.append(
                Payload(
                    frame[0],
                    frame[1],
                    pair[0],
                    pair[1],
                    "tcp",
                    payload,
                    frame[5],
                    first[0],
                    first[1],
                    True,
                    False,
                    self._frames,
                )
            )

    def _with_fragments(self, p: Payload, number: int) -> Payload:
        """``p`` with the fragment frames of the segment in frame ``number``, when it holds bytes
        of it (the in-order case: a segment buffered out of order keeps its last frame only)."""
        if p.frame != number and number not in p.frames:
            return p
        return p._replace(frames=tuple(sorted({*(p.frames or (p.frame,)), *self._frames})))

    def _sctp(self, data: bytes, off: int, end: int, addrs: bytes) -> None:
        # RFC 9260: common header (ports, verification tag, checksum), then chunks padded to 4.
        avail = end - off
        if avail < 12:
            self._short("SCTP common header", avail, 12, data[off:end])
            return
        key = addrs + data[off : off + 4]
        pair = self._pairs.get(key)
        if pair is None:
            pair = self._pair(key)
        frame = self._frame
        first = self._first
        p = off + 12
        while end - p >= 4:
            ctype, cflags, clen = _SCTP_CHUNK.unpack_from(data, p)
            if clen < 4:
                self._skip(f"SCTP chunk length {clen}, below 4", data[off:end], addrs)
                return
            cend = p + clen
            if cend > end:
                self._overlong()
                cend = end
            if ctype == 0 or ctype == 64:  # noqa: PLR1714 - DATA and I-DATA (RFC 8260)
                hl = 16 if ctype == 0 else 20
                if cend - p < hl:
                    self._short("SCTP data chunk", cend - p, hl, data[p:cend])
                elif cflags & 3 == 3:  # B and E: a whole user message
                    if cend > p + hl:
                        self._out.append(
                            Payload(
                                frame[0],
                                frame[1],
                                pair[0],
                                pair[1],
                                "sctp",
                                data[p + hl : cend],
                                frame[5],
                                first[0],
                                first[1],
                                False,
                                False,
                                self._frames,
                            )
                        )
                elif ctype == 0:
                    tsn, sid = _DATA_CHUNK.unpack_from(data, p + 4)
                    self._sctp_piece((pair[0], pair[1], sid, -1), cflags, tsn, data[p + 16 : cend])
                else:
                    sid, mid, fsn = _IDATA_CHUNK.unpack_from(data, p + 4)
                    seq = 0 if cflags & 2 else fsn
                    self._sctp_piece((pair[0], pair[1], sid, mid), cflags, seq, data[p + 20 : cend])
            p += (clen + 3) & ~3

    def _sctp_piece(
        self, key: tuple[Endpoint, Endpoint, int, int], flags: int, seq: int, user: bytes
    ) -> None:
        """One piece of a fragmented user message: ``key`` = (src, dst, stream, I-DATA MID or -1);
        ``seq`` the TSN (DATA) or fragment sequence number (I-DATA)."""
        frame = self._frame
        parts = self._sctp_parts
        if flags & 2:  # B: the first piece
            old = parts.pop(key, None)
            if old is not None:
                self._sctp_lost(key, old, "a new message began before its last piece")
            parts[key] = _SctpMessage(frame[0], frame[1], frame[5], seq + 1, [user])
            return
        msg = parts.get(key)
        if msg is None:
            self._counts.sctp_orphan_pieces += 1
            return
        if seq != msg.next_seq:
            del parts[key]
            self._sctp_lost(key, msg, f"piece {seq} came where {msg.next_seq} was expected")
            return
        msg.parts.append(user)
        msg.next_seq = (seq + 1) & 0xFFFFFFFF
        if flags & 1:  # E: the last piece
            del parts[key]
            self._out.append(
                Payload(
                    frame[0],
                    frame[1],
                    key[0],
                    key[1],
                    "sctp",
                    b"".join(msg.parts),
                    frame[5],
                    msg.first_frame,
                    msg.first_ts_ns,
                )
            )

    def _sctp_lost(
        self, key: tuple[Endpoint, Endpoint, int, int], msg: _SctpMessage, why: str
    ) -> None:
        src, dst, sid, _ = key
        self._skipped.append(
            Skipped(
                msg.first_frame,
                msg.first_ts_ns,
                f"SCTP user message from {src} to {dst} on stream {sid}, {len(msg.parts)} "
                f"piece{'' if len(msg.parts) == 1 else 's'} captured, not rebuilt: {why}",
                msg.file,
                src,
                dst,
                "sctp",
                b"".join(msg.parts),
            )
        )

    # -- tunnels -----------------------------------------------------------------------------
    def _enter_tunnel(self, data: bytes, off: int, end: int) -> bool:
        self._depth += 1
        if self._depth <= MAX_DEPTH:
            return True
        self._skip(f"more than {MAX_DEPTH} tunnels nested in one frame", data[off:end])
        return False

    def _udp_tunnel(self, kind: int, data: bytes, off: int, end: int) -> bool:
        """Decapsulate a UDP tunnel; False when the payload does not look like one after all."""
        if kind == _GTP:
            # 3GPP TS 29.281: flags (version 1, PT 1, E, S, PN), message type, length, TEID; then
            # sequence number, N-PDU number and next extension type when any of E, S, PN is set;
            # then extension headers, each a length in 4-byte words, content, and the next type.
            if end - off < 8:
                return False
            flags, mtype, length = _GTP_HDR.unpack_from(data, off)
            if flags & 0xF0 != 0x30:
                return False
            stop = min(end, off + 8 + length)
            p = off + 8
            if flags & 7:
                if stop - p < 4:
                    return False
                nxt = data[p + 3] if flags & 4 else 0
                p += 4
                while nxt:
                    elen = data[p] * 4 if p < stop else 0
                    if elen == 0 or p + elen > stop:
                        self._skip("GTP-U extension headers run past the packet", data[off:end])
                        return True
                    nxt = data[p + elen - 1]
                    p += elen
            if mtype != 0xFF:  # echo, error indication, end marker: no user data
                self._counts.tunnel_control += 1
            elif self._enter_tunnel(data, off, end):
                self._ip_guess(data, p, stop)
            return True
        if kind == _VXLAN:
            # RFC 7348: flags (I bit 0x08), 3 reserved bytes, VNI, 1 reserved byte; then Ethernet.
            if end - off < 8 + 14 or data[off] & 0xF7:
                return False
            if self._enter_tunnel(data, off, end):
                self._eth(data, off + 8, end)
            return True
        # Geneve (RFC 8926): version 0 and options length in 4-byte words, flags, protocol type.
        if end - off < 8 or data[off] >> 6:
            return False
        hlen = 8 + (data[off] & 0x3F) * 4
        if end - off < hlen:
            return False
        if self._enter_tunnel(data, off, end):
            self._ethertype(data[off + 2] << 8 | data[off + 3], data, off + hlen, end)
        return True

    def _gre(self, data: bytes, off: int, end: int) -> None:
        # RFC 2784/2890 (C, K, S bits), RFC 1701 (R bit, source routes), RFC 2637 (version 1).
        avail = end - off
        if avail < 4:
            self._short("GRE header", avail, 4, data[off:end])
            return
        flags = data[off] << 8 | data[off + 1]
        et = data[off + 2] << 8 | data[off + 3]
        version = flags & 7
        p = off + 4
        if version == 1:  # PPTP: key (payload length, call id), optional sequence and ack
            p += 4 + (4 if flags & 0x1000 else 0) + (4 if flags & 0x0080 else 0)
        elif version == 0:
            if flags & 0xC000:  # checksum and offset, present when C or R is set
                p += 4
            if flags & 0x2000:
                p += 4
            if flags & 0x1000:
                p += 4
            if flags & 0x4000:  # source route entries, up to an empty one
                while True:
                    if end - p < 4:
                        self._short("GRE source route", max(end - p, 0), 4, data[off:end])
                        return
                    sre_len = data[p + 3]
                    last = sre_len == 0 and data[p] == 0 and data[p + 1] == 0
                    p += 4 + sre_len
                    if last:
                        break
        else:
            self._skip(f"GRE version {version} is unknown", data[off:end])
            return
        if p > end:
            self._short("GRE header", avail, p - off, data[off:end])
            return
        if et == 0x88BE:  # ERSPAN: type II has the sequence bit and an 8-byte header, type I none
            self._eth(data, p + 8 if flags & 0x1000 else p, end)
        elif et == 0x22EB:  # ERSPAN type III: a 12-byte header, 8 more when the O bit is set
            if end - p < 12:
                self._short("ERSPAN type III header", end - p, 12, data[p:end])
                return
            hl = 20 if data[p + 11] & 1 else 12
            if (data[p + 10] >> 2) & 0x1F == 2:  # frame type 2: an IP packet, no Ethernet
                self._ip_guess(data, p + hl, end)
            else:
                self._eth(data, p + hl, end)
        elif et == 0x880B:
            self._ppp(data, p, end)
        else:
            self._ethertype(et, data, p, end)

    # -- helpers -----------------------------------------------------------------------------
    def _pair(self, key: bytes) -> tuple[Endpoint, Endpoint, int]:
        """Make and cache the endpoints for ``addrs + ports`` (12 bytes for IPv4, 36 for IPv6)."""
        pairs = self._pairs
        if len(pairs) >= _CACHE_MAX:
            pairs.clear()
        a2 = len(key) - 4
        alen = a2 // 2
        sport = key[a2] << 8 | key[a2 + 1]
        dport = key[a2 + 2] << 8 | key[a2 + 3]
        if sport == 2152 or dport == 2152:  # GTP-U on either side
            tunnel = _GTP
        elif dport == 4789:
            tunnel = _VXLAN
        elif dport == 6081:
            tunnel = _GENEVE
        else:
            tunnel = _NO_TUNNEL
        pair = (
            Endpoint(self._ip(key[:alen]), sport),
            Endpoint(self._ip(key[alen:a2]), dport),
            tunnel,
        )
        pairs[key] = pair
        return pair

    def _ip(self, raw: bytes) -> str:
        text = self._addr.get(raw)
        if text is None:
            if len(self._addr) >= _CACHE_MAX:
                self._addr.clear()
            text = _ntop(_AF4, raw) if len(raw) == 4 else _ntop(_AF6, raw)
            self._addr[raw] = text
        return text

    def _overlong(self) -> None:
        """A length field claims more than the data holds: the snaplen, or a lying header."""
        if self._cut:
            self._truncated()
        else:
            self._counts.bad_length += 1

    def _truncated(self) -> None:
        """Count a frame the snaplen cut short, once however many layers it shortened."""
        if not self._cut_counted:
            self._cut_counted = True
            self._counts.truncated += 1

    def _skip(self, reason: str, data: bytes = b"", addrs: bytes = b"") -> None:
        frame = self._frame
        src = dst = None
        if addrs:
            half = len(addrs) // 2
            src = Endpoint(self._ip(addrs[:half]), 0)
            dst = Endpoint(self._ip(addrs[half:]), 0)
        self._skipped.append(Skipped(frame[0], frame[1], reason, frame[5], src, dst, None, data))

    def _short(self, what: str, have: int, need: int, data: bytes) -> None:
        """A header cut short: damage, or (only counted) the snaplen at work."""
        if self._cut:
            self._truncated()
        else:
            self._skip(f"{what} cut short: {have} of {need} bytes", data)


class _SctpMessage:
    """The pieces so far of one fragmented SCTP user message, in order."""

    __slots__ = ("file", "first_frame", "first_ts_ns", "next_seq", "parts")

    def __init__(
        self, first_frame: int, first_ts_ns: int, file: int, next_seq: int, parts: list[bytes]
    ) -> None:
        self.first_frame = first_frame
        self.first_ts_ns = first_ts_ns
        self.file = file
        self.next_seq = next_seq & 0xFFFFFFFF
        self.parts = parts
