"""Captured frames to transport payloads: the coordinator of the layers, and the fast path.

How this works
--------------
``Decoder.decode`` runs once per captured frame, so it is written for speed first:

* The commonest frame (Ethernet, IPv4 without options, not a fragment, UDP) is decoded inline in
  ``decode`` with one ``struct`` call and a few tests, and its ``Payload`` is made without the
  NamedTuple's Python-level ``__new__``; the same behind one VLAN tag or a Linux cooked header
  costs one call more. Ethernet, IPv4 without options and TCP goes inline to the stream
  reassembler. Everything else takes the general path (about 2 us for a tunnel).
* The general path walks the frame layer by layer through dispatch tables: ``link.LINK_TYPES`` by
  the frame's link type, ``link.ETHERTYPES`` by ethertype, ``IP_PROTOCOLS`` below by IP protocol
  number, ``tunnel.UDP_PORTS`` by UDP port. The handlers are functions of ``link``, ``ip``,
  ``tunnel`` and ``transport``; what they share (counters, caches, the frame at hand) is a
  ``Walk`` (``sipsniff.net.walk``, where damage, snaplen and lying lengths are explained).
* Addresses travel as raw bytes (``addrs`` = source address + destination address). Endpoints are
  cached: ``addrs`` + the 4 port bytes (contiguous in the packet for IPv4 without options) map to
  the two ``Endpoint`` values and the tunnel the ports announce. A capture holds few distinct
  flows, so the per-packet cost is one slice and one dict look-up. The fast path shares the cache.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final

from sipsniff import fast_module
from sipsniff.model import Counts, Frame, Payload, Skipped
from sipsniff.net import tunnel
from sipsniff.net.ip import frag_skipped, icmp4, icmp6
from sipsniff.net.ipfrag import Reassembler
from sipsniff.net.link import LINK_TYPES
from sipsniff.net.tcp import TcpReassembler, _Half
from sipsniff.net.transport import sctp, sctp_lost, tcp, udp
from sipsniff.net.walk import IpPayload, TcpSink, Walk

# From Ethernet offset 12: ethertype, IPv4 version+IHL, total length, flags+fragment offset,
# protocol, UDP length (when the IPv4 header has no options).
_FAST = struct.Struct(">HBxH2xHxB14xH")
_FAST_IP = struct.Struct(">BxH2xHxB14xH")  # the same from IPv4 offset 0, without the ethertype
_TCP = struct.Struct(">4xIIH")  # sequence, acknowledgment, data offset + flags

_new_tuple = tuple.__new__


_fastnet = fast_module("net._fastnet")
if _fastnet is not None:
    _fastnet.setup(_Half)
FAST_DECODE: Final[Callable[..., list[Payload] | None] | None] = (
    None if _fastnet is None else _fastnet.decode
)
"""``_fastnet.decode`` (``net/_fastnet.c``: ``Decoder.decode``'s UDP datagrams and TCP segments
in order), or None (``fast_module``)."""
_link_layer = LINK_TYPES.get
"""``LINK_TYPES.get``, bound once: Python 3.11 compiles a method call on an imported name as an
attribute load (it takes the name for a module), which makes a bound method object each time."""

IP_PROTOCOLS: dict[int, IpPayload] = {
    17: udp,  # RFC 768
    6: tcp,  # RFC 9293
    132: sctp,  # RFC 9260
    4: tunnel.ip_in_ip4,  # IPv4 in IP, RFC 2003
    41: tunnel.ip_in_ip6,  # IPv6 in IP, RFC 4213 and RFC 2473
    47: tunnel.gre,  # RFC 2784
    1: icmp4,  # RFC 792: errors quoting a packet are reported, the rest counted
    58: icmp6,  # RFC 4443, likewise
}
"""IP protocol number (IPv6: the next header after the extension headers) -> the handler of the
payload; the others are counted as ``not_udp_tcp_sctp``. It sits here, above the layers, because
tunnels carry IP again: ``ip`` reaches it through ``Walk.protocols``."""


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
        self._tcp = tcp
        frag = Reassembler(counts, int(frag_timeout_s * 1e9), frag_max_bytes)
        self._walk = walk = Walk(counts, skipped, tcp, frag, IP_PROTOCOLS, tunnel.by_ports)
        # The fast path's share of the walk: the endpoint cache.
        self._pairs = walk.pairs
        self._pair = walk.pair
        self._halves = tcp.halves if type(tcp) is TcpReassembler else None
        """The TCP connections the C fast path may take segments of (``FAST_DECODE``)."""
        self._unsupported: set[int] = set()
        """Link types already reported as not supported."""

    # -- the hot path ------------------------------------------------------------------------
    def decode(self, frame: Frame) -> list[Payload]:
        """Decode one frame; return its transport payloads (usually none or one).

        Damaged frames are appended to ``skipped``; nothing is raised for any input.
        """
        self._counts.frames += 1
        if FAST_DECODE is not None:
            fast = FAST_DECODE(frame, self._pairs, self._halves, Payload)
            if fast is not None:
                return fast
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
        w = self._walk
        for fs in w.frag.drain():
            frag_skipped(w, fs, "incomplete at the end of the capture")
        for key, msg in w.sctp_parts.items():
            sctp_lost(w, key, msg, "incomplete at the end of the capture")
        w.sctp_parts.clear()
        return []

    # -- general path ------------------------------------------------------------------------
    def _general(self, frame: Frame) -> list[Payload]:
        w = self._walk
        w.frame = frame
        out: list[Payload] = []
        w.out = out
        data = frame[3]
        w.cut = len(data) < frame[4]
        w.cut_counted = False
        w.depth = 0
        w.first = (0, 0)
        w.frames = ()
        lt = frame[2]
        handler = _link_layer(lt)
        if handler is not None:
            handler(w, data, 0, len(data))
        else:
            self._counts.unsupported_link += 1
            if lt not in self._unsupported:
                self._unsupported.add(lt)
                w.skip(f"link type {lt} is not supported: its frames are ignored")
        return out
