"""Link layers: from the start of a frame (or of a tunnel's inner frame) to the IP packet inside.

How this works
--------------
``LINK_TYPES`` maps the capture's link type (the LINKTYPE_ values of tcpdump.org's link-layer
header types, as pcap and pcapng files carry them) to the handler of its header. Each header comes
down to an ethertype (IEEE 802 numbers, the same in Ethernet, Linux cooked headers, GRE and
Geneve; loopback families and PPP protocol numbers are translated) and the offset after it, and
``ethertype`` hands the rest to the handler ``ETHERTYPES`` names: IPv4 and IPv6
(``sipsniff.net.ip``), PPPoE, MPLS, or Ethernet again (transparent bridging). What is not IP is
counted as ``non_ip``: ARP, LLDP, LLC without SNAP...

Where each rule comes from:

* Ethernet II and IEEE 802.3: a type field of 0x0600 and above is an ethertype; below, it is a
  length and an IEEE 802.2 LLC header follows, which carries IP only with SNAP (RFC 1042).
* VLAN tags (IEEE 802.1Q C-tag 0x8100, 802.1ad S-tag 0x88A8, and the pre-standard QinQ values
  0x9100 to 0x9300): 2 bytes of priority and VLAN id, then the next ethertype. Any number of them,
  walked in a loop before the table: they cost nothing of the tunnel budget.
* Linux cooked captures: SLL (16 bytes, the protocol last) and SLL2 (20 bytes, the protocol first).
* BSD loopback: NULL (the address family in the capturing machine's byte order) and LOOP (in
  network order); IPv6 is 24, 28 or 30 depending on the BSD, and 23 (Windows' AF_INET6) in
  the NULL captures of early Npcap loopback adapters.
* PPP (RFC 1661; HDLC-like framing, RFC 1662) and PPPoE sessions (RFC 2516).
* MPLS label stacks (RFC 3032), up to the bottom-of-stack bit; then no protocol field: the first
  nibble tells IPv4, IPv6, or the control word of an Ethernet pseudowire (RFC 4448).
* Ethernet inside Ethernet (0x6558) and pseudowires are tunnels: they count against
  ``walk.MAX_DEPTH``, where a frame of nothing but nested headers would otherwise reach Python's
  recursion limit.
* Linux NFLOG: a family, version and resource id, then TLVs in host order; type 9 is the packet.
"""

from __future__ import annotations

import struct

from sipsniff.net.ip import ip_guess, ipv4, ipv6
from sipsniff.net.walk import Layer, Walk

_U16LE = struct.Struct("<H")
_SNAP_IP = b"\xaa\xaa\x03\x00\x00\x00"
"""LLC (DSAP, SSAP AA, control 3) with a SNAP header of OUI 0: an ethertype follows."""


def ethernet(w: Walk, data: bytes, off: int, end: int) -> None:
    """Ethernet II, or IEEE 802.3 with LLC and SNAP."""
    if end - off < 14:
        w.short("Ethernet header", end - off, 14, data[off:end])
        return
    et = data[off + 12] << 8 | data[off + 13]
    if et >= 0x0600:
        ethertype(w, et, data, off + 14, end)
    elif data[off + 14 : off + 20] == _SNAP_IP and end - off >= 22:
        ethertype(w, data[off + 20] << 8 | data[off + 21], data, off + 22, end)
    else:
        w.counts.non_ip += 1


def ethertype(w: Walk, et: int, data: bytes, off: int, end: int) -> None:
    """Hand the data at ``off`` to the handler of ethertype ``et``, past any VLAN tags (each 2
    bytes of priority and VLAN id, then the next ethertype); count it when there is none."""
    while et in VLAN_TAGS:
        if end - off < 4:
            w.short("VLAN tag", end - off, 4, data[off:end])
            return
        et = data[off + 2] << 8 | data[off + 3]
        off += 4
    handler = ETHERTYPES.get(et)
    if handler is None:
        w.counts.non_ip += 1
    else:
        handler(w, data, off, end)


def bridged(w: Walk, data: bytes, off: int, end: int) -> None:
    """Ethernet inside Ethernet or a Linux cooked header (0x6558, transparent bridging): a tunnel."""
    if w.enter(data, off, end):
        ethernet(w, data, off, end)


def sll(w: Walk, data: bytes, off: int, end: int) -> None:
    """Linux cooked capture: packet type, address type and length, 8 address bytes, protocol."""
    if end - off < 16:
        w.short("Linux cooked (SLL) header", end - off, 16, data[off:end])
    else:
        ethertype(w, data[off + 14] << 8 | data[off + 15], data, off + 16, end)


def sll2(w: Walk, data: bytes, off: int, end: int) -> None:
    """Linux cooked capture v2: the protocol first, then interface, address type and address."""
    if end - off < 20:
        w.short("Linux cooked v2 (SLL2) header", end - off, 20, data[off:end])
    else:
        ethertype(w, data[off] << 8 | data[off + 1], data, off + 20, end)


def null(w: Walk, data: bytes, off: int, end: int) -> None:
    """BSD loopback: a 4-byte address family in the byte order of the capturing machine."""
    ethertype(w, _NULL_FAMILY.get(data[off : off + 4], _NOT_IP), data, off + 4, end)


def loop(w: Walk, data: bytes, off: int, end: int) -> None:
    """OpenBSD loopback: a 4-byte address family in network byte order."""
    family = int.from_bytes(data[off : off + 4])
    ethertype(w, _LOOP_FAMILY.get(family, _NOT_IP), data, off + 4, end)


def pppoe(w: Walk, data: bytes, off: int, end: int) -> None:
    """PPPoE session stage: version and type, code, session id, length; then PPP."""
    if end - off < 6:
        w.short("PPPoE header", end - off, 6, data[off:end])
        return
    length = data[off + 4] << 8 | data[off + 5]
    ppp(w, data, off + 6, min(end, off + 6 + length))


def ppp(w: Walk, data: bytes, off: int, end: int) -> None:
    """PPP: optional HDLC address and control fields, then a protocol field of 1 or 2 bytes."""
    if data[off : off + 2] == b"\xff\x03":
        off += 2
    if end - off < 1:
        w.short("PPP header", 0, 2, b"")
        return
    if data[off] & 1:  # protocol field compressed to one byte (RFC 1661 section 6.5)
        proto = data[off]
        off += 1
    elif end - off < 2:
        w.short("PPP header", end - off, 2, data[off:end])
        return
    else:
        proto = data[off] << 8 | data[off + 1]
        off += 2
    ethertype(w, _PPP_PROTOCOLS.get(proto, _NOT_IP), data, off, end)


def mpls(w: Walk, data: bytes, off: int, end: int) -> None:
    """An MPLS label stack, then what the first nibble after it says."""
    while True:
        if end - off < 4:
            w.short("MPLS label stack", end - off, 4, data[off:end])
            return
        bottom = data[off + 2] & 1
        off += 4
        if bottom:
            break
    nibble = data[off] >> 4 if off < end else -1
    if nibble == 4:
        ipv4(w, data, off, end)
    elif nibble == 6:
        ipv6(w, data, off, end)
    elif nibble == 0 and end - off >= 4 + 14:
        # Ethernet pseudowire with its control word (RFC 4448): first nibble 0, then a frame.
        if w.enter(data, off, end):
            ethernet(w, data, off + 4, end)
    else:
        w.counts.non_ip += 1


def nflog(w: Walk, data: bytes, off: int, end: int) -> None:
    """Linux NFLOG: 4 bytes of header, then TLVs whose length and type are in host order
    (little-endian on the machines that write such files), padded to 4; type 9 is the packet."""
    off += 4
    while end - off >= 4:
        tlv_len = _U16LE.unpack_from(data, off)[0]
        if tlv_len < 4:
            break
        if data[off + 2] == 9:
            ip_guess(w, data, off + 4, min(end, off + tlv_len))
            return
        off += (tlv_len + 3) & ~3
    w.counts.non_ip += 1


VLAN_TAGS = frozenset((0x8100, 0x88A8, 0x9100, 0x9200, 0x9300))
"""Ethertypes of 802.1Q/802.1ad tags: C-tag, S-tag, and the pre-standard QinQ values."""

ETHERTYPES: dict[int, Layer] = {
    0x0800: ipv4,
    0x86DD: ipv6,
    0x8864: pppoe,  # PPPoE session stage (0x8863, discovery, carries no IP)
    0x8847: mpls,  # MPLS unicast
    0x8848: mpls,  # MPLS multicast
    0x6558: bridged,  # transparent Ethernet bridging (SLL over a tap; GRE and Geneve: tunnel.py)
}
"""Ethertype -> the handler of what follows it (VLAN tags are walked before, in ``ethertype``)."""

LINK_TYPES: dict[int, Layer] = {
    1: ethernet,  # LINKTYPE_ETHERNET
    113: sll,  # LINKTYPE_LINUX_SLL
    276: sll2,  # LINKTYPE_LINUX_SLL2
    0: null,  # LINKTYPE_NULL
    108: loop,  # LINKTYPE_LOOP
    101: ip_guess,  # LINKTYPE_RAW: IPv4 or IPv6, by the version nibble
    12: ip_guess,  # DLT_RAW as OpenBSD numbers it, found in pcap files instead of 101
    14: ip_guess,  # DLT_RAW as BSD/OS numbers it, likewise
    228: ipv4,  # LINKTYPE_IPV4
    229: ipv6,  # LINKTYPE_IPV6
    9: ppp,  # LINKTYPE_PPP
    50: ppp,  # LINKTYPE_PPP_HDLC
    239: nflog,  # LINKTYPE_NFLOG
}
"""Link type of a capture's interface -> the handler of its frames' header."""

# Link headers that name their payload otherwise, translated to the ethertypes of IPv4 and IPv6.
_IPV4, _IPV6 = 0x0800, 0x86DD
_NOT_IP = -1
"""No ethertype: what ``ethertype`` counts as ``non_ip``."""

_NULL_FAMILY: dict[bytes, int] = {
    b"\x02\x00\x00\x00": _IPV4,  # AF_INET, either byte order
    b"\x00\x00\x00\x02": _IPV4,
    b"\x17\x00\x00\x00": _IPV6,  # 23: Windows' AF_INET6 (early Npcap loopback captures)
    b"\x00\x00\x00\x17": _IPV6,
    b"\x18\x00\x00\x00": _IPV6,  # 24: NetBSD, OpenBSD, BSD/OS
    b"\x00\x00\x00\x18": _IPV6,
    b"\x1c\x00\x00\x00": _IPV6,  # 28: FreeBSD, DragonFly
    b"\x00\x00\x00\x1c": _IPV6,
    b"\x1e\x00\x00\x00": _IPV6,  # 30: Darwin
    b"\x00\x00\x00\x1e": _IPV6,
}
"""BSD loopback (NULL) family word, host byte order of the capturing machine: either order works."""

_LOOP_FAMILY = {2: _IPV4, 24: _IPV6, 28: _IPV6, 30: _IPV6}
"""LOOP family word (network byte order) -> ethertype."""

_PPP_PROTOCOLS = {
    0x0021: _IPV4,  # RFC 1332
    0x0057: _IPV6,  # RFC 5072
}
"""PPP protocol field -> ethertype."""
