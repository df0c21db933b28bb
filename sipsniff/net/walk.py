"""What the layers of one frame share while it is decoded: the walk's state, and its helpers.

How this works
--------------
``Decoder.decode`` takes the commonest frames inline (``sipsniff.net.decode``). Every other frame
is walked layer by layer by plain functions, one module a layer: ``link`` (link-layer headers to an
ethertype), ``ip`` (IPv4, IPv6, fragments, ICMP errors), ``tunnel`` (encapsulations, which start
the walk again inside) and ``transport`` (UDP, TCP, SCTP to ``Payload`` values). A layer finds the
next one in a dispatch table: ``link.LINK_TYPES`` by link type, ``link.ETHERTYPES`` by ethertype,
``decode.IP_PROTOCOLS`` by IP protocol number, ``tunnel.UDP_PORTS`` by UDP port.

Every handler takes the ``Walk`` first, then ``(data, off, end)``: the frame's bytes, where its
header starts and where its data ends. Layers pass these down instead of slicing, so the only copy
is the payload slice; ``end`` comes from the IP total length or payload length, never from the frame
length, so Ethernet padding and a trailing FCS are ignored. Handlers of an IP payload also take
``addrs``: the source and destination addresses as raw bytes, contiguous as in the header.

The ``Walk`` holds what they share: the counters, the list of skipped frames, the TCP sink, the
fragment reassembler, the caches of addresses and endpoints (which the fast path uses too), and the
frame on its way: its output list, whether the snaplen cut it, the tunnels entered so far, and the
frames of the reassembled datagram at hand. The Decoder resets the per-frame fields for each frame.

What counts as damage: a header cut short, a bad version, IHL or data offset, a length below its
header's. Such a frame becomes a ``Skipped`` with one sentence (``skip``, ``short``). A length field
that claims more than the data holds (IP total length, IPv6 payload length, UDP length, SCTP chunk
length) is either the snaplen at work (captured length below the length on the wire: normal) or a
lying header; both ways the bytes present are used, as tshark does, and counted as ``truncated``
or ``bad_length`` (``overlong``). The broken packet is often the one a person came for.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from sipsniff.model import Counts, Endpoint, Frame, Payload, Skipped
from sipsniff.net.ipfrag import Reassembler

if TYPE_CHECKING:
    from sipsniff.net.transport import SctpMessage

_CACHE_MAX = 1 << 16
"""Entries of the address and endpoint caches before they start again empty."""

MAX_DEPTH = 10
"""Tunnels followed in one frame before it is given up as absurd. VLAN tags and MPLS labels are
free; Ethernet inside Ethernet (0x6558) or MPLS (a pseudowire) is a tunnel, as its frame could
otherwise nest its headers until Python's recursion limit."""

Layer = Callable[["Walk", bytes, int, int], None]
"""Decodes the header at ``off`` and what it carries, up to ``end``."""
IpPayload = Callable[["Walk", bytes, int, int, bytes], None]
"""Decodes an IP payload: as ``Layer``, with the raw source and destination addresses after."""
UdpTunnel = Callable[["Walk", bytes, int, int], bool]
"""Decapsulates a UDP payload; False when it does not look like its tunnel after all."""
Pair = tuple[Endpoint, Endpoint, UdpTunnel | None]
"""Source and destination endpoints, and the tunnel their UDP ports announce (None: none)."""

_ntop = socket.inet_ntop
_AF4 = socket.AF_INET
_AF6 = socket.AF_INET6
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


class Walk:
    """The state shared by the layer handlers of the general path (see the module docstring)."""

    __slots__ = (
        "addresses",
        "counts",
        "cut",
        "cut_counted",
        "depth",
        "first",
        "frag",
        "frame",
        "frames",
        "out",
        "pairs",
        "protocols",
        "sctp_parts",
        "skipped",
        "tcp",
        "udp_tunnel",
    )

    def __init__(
        self,
        counts: Counts,
        skipped: list[Skipped],
        tcp: TcpSink | None,
        frag: Reassembler,
        protocols: dict[int, IpPayload],
        udp_tunnel: Callable[[int, int], UdpTunnel | None],
    ) -> None:
        self.counts = counts
        self.skipped = skipped
        self.tcp = tcp
        """Where TCP segments go; None: each non-empty TCP payload is a ``Payload`` as it is."""
        self.frag = frag
        self.protocols = protocols
        """IP protocol number -> the handler of the payload (``decode.IP_PROTOCOLS``)."""
        self.udp_tunnel = udp_tunnel
        """(source port, destination port) -> the tunnel they announce (``tunnel.by_ports``)."""
        self.addresses: dict[bytes, str] = {}
        """Raw address -> its text."""
        self.pairs: dict[bytes, Pair] = {}
        """Raw addresses + the 4 port bytes -> the endpoint pair (``pair``)."""
        self.sctp_parts: dict[tuple[Endpoint, Endpoint, int, int], SctpMessage] = {}
        """Fragmented SCTP user messages being rebuilt (``transport.sctp``)."""
        # The frame on its way, set by the Decoder for each frame.
        self.frame = Frame(0, 0, 0, b"", 0)
        self.out: list[Payload] = []
        """The frame's payloads so far."""
        self.cut = False
        """The snaplen cut the frame: short data is expected, not damage."""
        self.cut_counted = False
        self.depth = 0
        """Tunnels entered so far in this frame."""
        self.first = (0, 0)
        """(frame, ts_ns) of the first fragment when the data at hand is a reassembled datagram."""
        self.frames: tuple[int, ...] = ()
        """Every frame of the reassembled datagram(s) at hand; () when it is the frame alone."""

    def pair(self, key: bytes) -> Pair:
        """Make and cache the endpoints for ``addrs + ports`` (12 bytes for IPv4, 36 for IPv6)."""
        pairs = self.pairs
        if len(pairs) >= _CACHE_MAX:
            pairs.clear()
        a2 = len(key) - 4
        alen = a2 // 2
        sport = key[a2] << 8 | key[a2 + 1]
        dport = key[a2 + 2] << 8 | key[a2 + 3]
        pair = (
            Endpoint(self.address(key[:alen]), sport),
            Endpoint(self.address(key[alen:a2]), dport),
            self.udp_tunnel(sport, dport),
        )
        pairs[key] = pair
        return pair

    def address(self, raw: bytes) -> str:
        """The text of a raw IPv4 or IPv6 address, cached."""
        text = self.addresses.get(raw)
        if text is None:
            if len(self.addresses) >= _CACHE_MAX:
                self.addresses.clear()
            text = _ntop(_AF4, raw) if len(raw) == 4 else _ntop(_AF6, raw)
            self.addresses[raw] = text
        return text

    def emit(self, src: Endpoint, dst: Endpoint, transport: str, data: bytes, stream: bool) -> None:
        """Add a payload of the frame at hand (of the reassembled datagram, if that is at hand)."""
        frame = self.frame
        first = self.first
        # tuple.__new__ skips the NamedTuple's Python-level __new__, as the fast path does; every
        # field is given, so test_fast_and_general_paths_agree catches a new one.
        self.out.append(
            _new_tuple(
                Payload,
                (
                    frame[0],
                    frame[1],
                    src,
                    dst,
                    transport,
                    data,
                    frame[5],
                    first[0],
                    first[1],
                    stream,
                    False,
                    self.frames,
                ),
            )
        )

    def enter(self, data: bytes, off: int, end: int) -> bool:
        """Count a tunnel entered; False (and a ``Skipped``) past ``MAX_DEPTH``."""
        self.depth += 1
        if self.depth <= MAX_DEPTH:
            return True
        self.skip(f"more than {MAX_DEPTH} tunnels nested in one frame", data[off:end])
        return False

    def overlong(self) -> None:
        """A length field claims more than the data holds: the snaplen, or a lying header."""
        if self.cut:
            self.truncated()
        else:
            self.counts.bad_length += 1

    def truncated(self) -> None:
        """Count a frame the snaplen cut short, once however many layers it shortened."""
        if not self.cut_counted:
            self.cut_counted = True
            self.counts.truncated += 1

    def skip(self, reason: str, data: bytes = b"", addrs: bytes = b"") -> None:
        """Record the frame at hand as ``Skipped``, naming its addresses when they are known."""
        frame = self.frame
        src = dst = None
        if addrs:
            half = len(addrs) // 2
            src = Endpoint(self.address(addrs[:half]), 0)
            dst = Endpoint(self.address(addrs[half:]), 0)
        self.skipped.append(Skipped(frame[0], frame[1], reason, frame[5], src, dst, None, data))

    def short(self, what: str, have: int, need: int, data: bytes) -> None:
        """A header cut short: damage, or (only counted) the snaplen at work."""
        if self.cut:
            self.truncated()
        else:
            self.skip(f"{what} cut short: {have} of {need} bytes", data)
