"""IPv4 and IPv6: headers, IPv6 extension headers, fragments, and ICMP errors.

How this works
--------------
An IP packet's payload goes to the handler of its protocol number in ``decode.IP_PROTOCOLS`` (it
sits above the layers, as tunnels carry IP again), reached through ``Walk.protocols``.

Where each rule comes from:

* IPv4 (RFC 791): version 4, IHL of at least 5 words, the total length bounding the packet; a
  total length of 0 on a whole packet is segmentation offload (the NIC writes it after capture),
  so the frame bounds it.
* IPv6 (RFC 8200): the payload length bounding the packet, then the extension headers, walked up to
  UDP or TCP: hop-by-hop, routing, destination options, mobility (RFC 6275), HIP (RFC 7401) and
  shim6 (RFC 5533) measure ``(byte 1 + 1) * 8``; AH (RFC 4302) ``(byte 1 + 2) * 4``; ESP (RFC 4303)
  ends decoding, as the rest is encrypted. A payload length of 0 with a hop-by-hop header is a
  jumbogram (RFC 2675): the frame bounds it.
* Fragments: IPv4 by flags and offset, IPv6 by the fragment header, go to the reassembler
  (``sipsniff.net.ipfrag``); the datagram it completes is decoded as if it had come whole. An IPv6
  fragment header with offset 0 and M=0 is an atomic fragment (RFC 6946): a whole packet.
* ICMP errors (RFC 792) and ICMPv6 errors (RFC 4443) quote the packet they are about. One quoting a
  UDP, TCP or SCTP packet is not decoded as that packet (tshark does, which makes the quoted message
  look sent twice): it becomes a ``Skipped`` naming the error, carrying the quoted payload.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from sipsniff.model import Endpoint, Skipped
from sipsniff.net.ipfrag import FragKey, FragmentSet
from sipsniff.net.walk import Walk

_IP4 = struct.Struct(">2xHHHxB")  # total length, identification, flags+offset, protocol
_IP6 = struct.Struct(">4xHB")  # payload length, next header
_FRAG6 = struct.Struct(">HI")  # fragment offset + M, identification

_IP6_EXT = frozenset((0, 43, 60, 135, 139, 140))
"""IPv6 extension headers whose length is (byte 1 + 1) * 8: hop-by-hop, routing, destination
options, mobility, HIP, shim6."""


def ip_guess(w: Walk, data: bytes, off: int, end: int) -> None:
    """IPv4 or IPv6, as the version nibble says (a raw IP link, or a tunnel without a type)."""
    if off >= end:
        w.short("IP header", 0, 20, b"")
        return
    nibble = data[off] >> 4
    if nibble == 4:
        ipv4(w, data, off, end)
    elif nibble == 6:
        ipv6(w, data, off, end)
    else:
        w.skip(f"not an IP packet: version {nibble}", data[off:end])


def ipv4(w: Walk, data: bytes, off: int, end: int) -> None:
    """An IPv4 header and what it carries, or a fragment of it."""
    avail = end - off
    if avail < 20:
        w.short("IPv4 header", avail, 20, data[off:end])
        return
    vihl = data[off]
    ihl = (vihl & 15) * 4
    if vihl >> 4 != 4:
        w.skip(f"IPv4 header with version {vihl >> 4}", data[off:end])
        return
    if ihl < 20:
        w.skip(f"IPv4 header length (IHL) of {ihl} bytes, below 20", data[off:end])
        return
    tl, ident, ff, proto = _IP4.unpack_from(data, off)
    if tl == 0 and not ff & 0x3FFF:
        tl = avail  # segmentation offload: the NIC writes the total length after capture
    if tl > avail:
        w.overlong()
        tl = avail
    if tl < ihl:
        if tl == avail:
            w.short("IPv4 header", avail, ihl, data[off:end])
        else:
            w.skip(f"IPv4 total length {tl} below its header length {ihl}", data[off:end])
        return
    addrs = data[off + 12 : off + 20]
    if not ff & 0x3FFF:
        handler = w.protocols.get(proto)
        if handler is None:
            w.counts.not_udp_tcp_sctp += 1
        else:
            handler(w, data, off + ihl, off + tl, addrs)
        return
    w.counts.fragments += 1
    fo = (ff & 0x1FFF) * 8
    if fo + tl > 65535:
        w.skip(
            f"IPv4 fragment ends at byte {fo + tl - ihl}, beyond the largest possible datagram",
            data[off:end],
            addrs,
        )
        return
    key: FragKey = (4, addrs[:4], addrs[4:], ident, proto)
    _fragment(w, key, proto, fo, data[off + ihl : off + tl], ff & 0x2000)


def ipv6(w: Walk, data: bytes, off: int, end: int) -> None:
    """An IPv6 header, its extension headers and what they carry, or a fragment of it."""
    avail = end - off
    if avail < 40:
        w.short("IPv6 header", avail, 40, data[off:end])
        return
    if data[off] >> 4 != 6:
        w.skip(f"IPv6 header with version {data[off] >> 4}", data[off:end])
        return
    plen, nh = _IP6.unpack_from(data, off)
    stop = off + 40 + plen
    if plen == 0 and nh == 0:
        stop = end  # a jumbogram (RFC 2675): the length is in the hop-by-hop options
    elif stop > end:
        w.overlong()
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
                w.short("IPv6 fragment header", max(stop - p, 0), 8, data[off:end])
                return
            fo_m, ident = _FRAG6.unpack_from(data, p + 2)
            nh = data[p]
            p += 8
            if fo_m & 0xFFF9 == 0:  # an atomic fragment (RFC 6946): no reassembly needed
                continue
            w.counts.fragments += 1
            fo = fo_m & 0xFFF8
            if fo + stop - p > 65535:
                w.skip(
                    f"IPv6 fragment ends at byte {fo + stop - p}, beyond the 65535-byte maximum",
                    data[off:end],
                    addrs,
                )
                return
            key: FragKey = (6, addrs[:16], addrs[16:], ident, -1)
            _fragment(w, key, nh, fo, data[p:stop], fo_m & 1)
            return
        elif nh == 51:  # authentication header: length in 4-byte words, minus 2
            if stop - p < 2:
                break
            hl = (data[p + 1] + 2) * 4
        elif nh == 50:  # ESP: the rest is encrypted
            w.counts.esp += 1
            return
        else:
            break
        nh = data[p]
        p += hl
    if p > stop:
        w.skip("IPv6 extension headers run past the end of the payload", data[off:end])
        return
    handler = w.protocols.get(nh)
    if handler is None:
        w.counts.not_udp_tcp_sctp += 1
    else:
        handler(w, data, p, stop, addrs)


def _fragment(w: Walk, key: FragKey, proto: int, offset: int, payload: bytes, more: int) -> None:
    """Hand a fragment to the reassembler; decode the datagram it completes, if it does."""
    frag = w.frag
    dgram = frag.add(key, proto, offset, payload, more=bool(more), frame=w.frame)
    if frag.dropped:
        for fs, why in frag.dropped:
            frag_skipped(w, fs, why)
        frag.dropped.clear()
    if dgram is None:
        return
    w.counts.reassembled += 1
    if w.first[0] == 0 or dgram.first_frame < w.first[0]:
        w.first = (dgram.first_frame, dgram.first_ts_ns)
    if w.frames:  # a datagram inside a reassembled datagram (a tunnel)
        w.frames = tuple(sorted({*w.frames, *dgram.frames}))
    else:
        w.frames = dgram.frames
    whole = dgram.data
    handler = w.protocols.get(dgram.proto)
    if handler is None:
        w.counts.not_udp_tcp_sctp += 1
    else:
        handler(w, whole, 0, len(whole), key[1] + key[2])


def frag_skipped(w: Walk, fs: FragmentSet, why: str) -> None:
    """Record a datagram given up (expired, evicted at the cap, incomplete at the end)."""
    version, src, dst, ident, _ = fs.key
    if fs.total >= 0:
        size = f"{fs.held} of {fs.total} bytes"
    else:
        size = f"{fs.held} bytes, the last fragment missing"
    if why == "expired":
        why = f"expired {w.frag.timeout_ns / 1e9:g} s after the first one"
    s = "" if fs.fragments == 1 else "s"
    reason = (
        f"IPv{version} datagram id {ident:#x} from {w.address(src)} to {w.address(dst)}: "
        f"{fs.fragments} fragment{s}, {size}, {why}"
    )
    w.skipped.append(Skipped(fs.first_frame, fs.first_ts_ns, reason, fs.file, data=fs.head()))


# -- ICMP ----------------------------------------------------------------------------------------

_QUOTED = {17: "udp", 6: "tcp", 132: "sctp"}
"""Transports whose quoted packets an ICMP error is reported for."""
_ErrorName = Callable[[int, int], str | None]
"""(ICMP type, code) -> the error's name, or None when the message is not an error."""

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


def _icmp4_error(itype: int, code: int) -> str | None:
    """Name an ICMP error ("destination unreachable (port unreachable)"); None if not one."""
    if itype == 3:
        return f"destination unreachable ({_ICMP4_UNREACHABLE.get(code, f'code {code}')})"
    if itype == 11:
        return "time exceeded" + (" (fragment reassembly)" if code == 1 else " (TTL)")
    if itype == 12:
        return "parameter problem"
    if itype == 4:
        return "source quench"
    return None


def _icmp6_error(itype: int, code: int) -> str | None:
    """Name an ICMPv6 error message; None if not one."""
    if itype == 1:
        return f"destination unreachable ({_ICMP6_UNREACHABLE.get(code, f'code {code}')})"
    if itype == 2:
        return "packet too big"
    if itype == 3:
        return "time exceeded" + (" (fragment reassembly)" if code == 1 else " (hop limit)")
    if itype == 4:
        return "parameter problem"
    return None


def icmp4(w: Walk, data: bytes, off: int, end: int, addrs: bytes) -> None:
    """ICMP (IP protocol 1)."""
    _icmp(w, _icmp4_error, data, off, end, addrs)


def icmp6(w: Walk, data: bytes, off: int, end: int, addrs: bytes) -> None:
    """ICMPv6 (IP protocol 58)."""
    _icmp(w, _icmp6_error, data, off, end, addrs)


def _icmp(w: Walk, name: _ErrorName, data: bytes, off: int, end: int, addrs: bytes) -> None:
    """An error quoting a UDP, TCP or SCTP packet becomes a ``Skipped`` naming both."""
    kind = name(data[off] if off < end else -1, data[off + 1] if off + 1 < end else -1)
    if kind is None:
        w.counts.not_udp_tcp_sctp += 1
        return
    w.counts.icmp_errors += 1
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
    src = Endpoint(w.address(qaddrs[:half]), sport)
    dst = Endpoint(w.address(qaddrs[half:]), dport)
    sender = w.address(addrs[: len(addrs) // 2])
    head = {"udp": 8, "sctp": 12}.get(transport, 0)
    if transport == "tcp" and end - qt >= 13:
        head = (data[qt + 12] >> 4) * 4
    frame = w.frame
    w.skipped.append(
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
