"""Tunnels: encapsulations decoded through to the innermost packet, whose addresses the payload
carries.

How this works
--------------
A tunnel handler reads its header and starts the walk again inside, at the link layer (``link``)
or at IP (``ip``). The IP-borne ones sit in ``decode.IP_PROTOCOLS`` (4, 41, 47); the UDP-borne ones
in ``UDP_PORTS``, which ``Walk.pair`` consults once per flow, so a datagram on a tunnel's port costs
no more than any other. A UDP payload that does not look like its tunnel after all is an ordinary
datagram. At most ``walk.MAX_DEPTH`` tunnels are followed in one frame.

Where each rule comes from:

* IP in IP: IPv4 in IPv4 or IPv6 (protocol 4, RFC 2003), IPv6 in either (protocol 41, RFC 4213
  and RFC 2473).
* GRE (protocol 47): RFC 2784 and RFC 2890 (the C, K and S bits), RFC 1701 (the R bit and source
  routes), RFC 2637 (version 1, PPTP's enhanced GRE, carrying PPP). Then an ethertype, or ERSPAN:
  type I (no header) and II (8 bytes, with the GRE sequence bit), 0x88BE; type III, 0x22EB
  (12 bytes, 8 more with the O bit; frame type 2 carries IP without Ethernet).
* GTP-U (3GPP TS 29.281, UDP 2152 on either side): flags, type, length, TEID; the optional
  sequence number, N-PDU number and next extension type; the extension headers. Message type 255
  carries a user packet; the others (echo, error indication, end marker) count as
  ``tunnel_control``.
* VXLAN (RFC 7348, UDP destination 4789): flags with the I bit, the VNI; then Ethernet.
* Geneve (RFC 8926, UDP destination 6081): version 0, options length, a protocol type (an
  ethertype), the VNI and the options.
"""

from __future__ import annotations

import struct

from sipsniff.net.ip import ip_guess, ipv4, ipv6
from sipsniff.net.link import ethernet, ethertype, ppp
from sipsniff.net.walk import UdpTunnel, Walk

_GTP_HDR = struct.Struct(">BBH")  # flags, message type, length


def ip_in_ip4(w: Walk, data: bytes, off: int, end: int, addrs: bytes) -> None:
    """IPv4 inside IP (protocol 4)."""
    if w.enter(data, off, end):
        ipv4(w, data, off, end)


def ip_in_ip6(w: Walk, data: bytes, off: int, end: int, addrs: bytes) -> None:
    """IPv6 inside IP (protocol 41)."""
    if w.enter(data, off, end):
        ipv6(w, data, off, end)


def gre(w: Walk, data: bytes, off: int, end: int, addrs: bytes) -> None:
    """GRE (protocol 47): its optional fields, then an ethertype, ERSPAN or PPP."""
    if not w.enter(data, off, end):
        return
    avail = end - off
    if avail < 4:
        w.short("GRE header", avail, 4, data[off:end])
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
                    w.short("GRE source route", max(end - p, 0), 4, data[off:end])
                    return
                sre_len = data[p + 3]
                last = sre_len == 0 and data[p] == 0 and data[p + 1] == 0
                p += 4 + sre_len
                if last:
                    break
    else:
        w.skip(f"GRE version {version} is unknown", data[off:end])
        return
    if p > end:
        w.short("GRE header", avail, p - off, data[off:end])
        return
    if et == 0x88BE:  # ERSPAN: type II has the sequence bit and an 8-byte header, type I none
        ethernet(w, data, p + 8 if flags & 0x1000 else p, end)
    elif et == 0x22EB:  # ERSPAN type III: a 12-byte header, 8 more when the O bit is set
        if end - p < 12:
            w.short("ERSPAN type III header", end - p, 12, data[p:end])
            return
        hl = 20 if data[p + 11] & 1 else 12
        if (data[p + 10] >> 2) & 0x1F == 2:  # frame type 2: an IP packet, no Ethernet
            ip_guess(w, data, p + hl, end)
        else:
            ethernet(w, data, p + hl, end)
    elif et == 0x880B:
        ppp(w, data, p, end)
    else:
        _carried(w, et, data, p, end)


def gtp_u(w: Walk, data: bytes, off: int, end: int) -> bool:
    """GTP-U; False when the payload is not GTP version 1."""
    if end - off < 8:
        return False
    flags, mtype, length = _GTP_HDR.unpack_from(data, off)
    if flags & 0xF0 != 0x30:
        return False
    stop = min(end, off + 8 + length)
    p = off + 8
    if flags & 7:  # E, S or PN: sequence number, N-PDU number, next extension type
        if stop - p < 4:
            return False
        nxt = data[p + 3] if flags & 4 else 0
        p += 4
        while nxt:  # each a length in 4-byte words, content, and the next type
            elen = data[p] * 4 if p < stop else 0
            if elen == 0 or p + elen > stop:
                w.skip("GTP-U extension headers run past the packet", data[off:end])
                return True
            nxt = data[p + elen - 1]
            p += elen
    if mtype != 0xFF:  # echo, error indication, end marker: no user data
        w.counts.tunnel_control += 1
    elif w.enter(data, off, end):
        ip_guess(w, data, p, stop)
    return True


def vxlan(w: Walk, data: bytes, off: int, end: int) -> bool:
    """VXLAN: flags (I bit 0x08), 3 reserved bytes, VNI, 1 reserved byte; then Ethernet."""
    if end - off < 8 + 14 or data[off] & 0xF7:
        return False
    if w.enter(data, off, end):
        ethernet(w, data, off + 8, end)
    return True


def geneve(w: Walk, data: bytes, off: int, end: int) -> bool:
    """Geneve: version and options length in 4-byte words, flags, protocol type, VNI, options."""
    if end - off < 8 or data[off] >> 6:
        return False
    hlen = 8 + (data[off] & 0x3F) * 4
    if end - off < hlen:
        return False
    if w.enter(data, off, end):
        _carried(w, data[off + 2] << 8 | data[off + 3], data, off + hlen, end)
    return True


def _carried(w: Walk, et: int, data: bytes, off: int, end: int) -> None:
    """What GRE or Geneve carries, by ethertype; Ethernet (0x6558) is this tunnel's, not another."""
    if et == 0x6558:
        ethernet(w, data, off, end)
    else:
        ethertype(w, et, data, off, end)


UDP_PORTS: dict[int, UdpTunnel] = {
    2152: gtp_u,
    4789: vxlan,
    6081: geneve,
}
"""Destination port -> the tunnel it announces (GTP-U's announces it as the source port too)."""


def by_ports(sport: int, dport: int) -> UdpTunnel | None:
    """The tunnel a UDP datagram's ports announce; None for none (``Walk.pair`` caches it)."""
    if sport == 2152:
        return gtp_u
    return UDP_PORTS.get(dport)
