"""IPv4 and IPv6 (``sipsniff.net.ip``): extension headers, ESP, atomic fragments, ICMP errors,
segmentation offload, and damaged headers. Fragment reassembly is tested in test_ipfrag.py."""

from __future__ import annotations

import struct

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting
from scapy.layers.ipsec import AH
from scapy.packet import Raw

from tests.net.frames import (
    A4,
    A6,
    B4,
    B6,
    DST4,
    DST6,
    GOOD,
    SIP,
    SRC4,
    SRC6,
    TS,
    damage,
    decode,
    eth,
    frame,
    udp4,
    udp6,
    udp_payload,
    with_byte,
    with_u16,
)


def icmp_error(kind: int, code: int, quoted: bytes, v6: bool = False) -> bytes:
    head = struct.pack(">BBHI", kind, code, 0, 0)
    if v6:
        return eth(0x86DD, bytes(IPv6(src=B6, dst=A6, nh=58) / Raw(head + quoted)))
    return eth(0x0800, bytes(IP(src=B4, dst=A4, proto=1) / Raw(head + quoted)))


def test_icmp_error_quoting_sip_is_reported_not_decoded() -> None:
    out, counts, skipped = decode(
        frame(icmp_error(3, 3, udp4()), number=1),
        frame(icmp_error(1, 4, udp6(), v6=True), number=2),
        frame(icmp_error(11, 0, udp4()[:28]), number=3),  # quotes only the headers
        frame(icmp_error(3, 1, bytes(IP(src=A4, dst=B4, proto=89) / Raw(b"x" * 8))), number=4),
    )
    assert out == []
    assert [(s.frame, s.reason, s.src, s.dst, s.transport, s.data) for s in skipped] == [
        (
            1,
            f"ICMP destination unreachable (port unreachable) sent by {B4} about a UDP packet "
            f"from {SRC4} to {DST4}: an error report quoting the packet, not a message",
            SRC4,
            DST4,
            "udp",
            SIP,
        ),
        (
            2,
            f"ICMP destination unreachable (port unreachable) sent by {B6} about a UDP packet "
            f"from {SRC6} to {DST6}: an error report quoting the packet, not a message",
            SRC6,
            DST6,
            "udp",
            SIP,
        ),
        (
            3,
            f"ICMP time exceeded (TTL) sent by {B4} about a UDP packet from {SRC4} to {DST4}: "
            "an error report quoting the packet, not a message",
            SRC4,
            DST4,
            "udp",
            b"",
        ),
    ]
    assert counts.icmp_errors == 4


# -- IPv6 extension headers ---------------------------------------------------------------------


def test_ipv6_extension_headers() -> None:
    pkt = (
        IPv6(src=A6, dst=B6)
        / IPv6ExtHdrHopByHop()
        / IPv6ExtHdrDestOpt()
        / IPv6ExtHdrRouting(addresses=["2001:db8::99"])
        / AH(spi=1, icv=b"\x00" * 12)
        / IPv6ExtHdrDestOpt()
        / UDP(sport=5060, dport=5080)
        / Raw(SIP)
    )
    out, _, skipped = decode(frame(eth(0x86DD, bytes(pkt))))
    assert out == [udp_payload(SRC6, DST6)]
    assert skipped == []


def test_ipv6_esp_and_no_next_header_end_decoding() -> None:
    esp = bytes(IPv6(src=A6, dst=B6, nh=50) / Raw(b"\x00\x00\x00\x01" * 8))
    none = bytes(IPv6(src=A6, dst=B6) / IPv6ExtHdrDestOpt(nh=59))
    out, counts, skipped = decode(frame(eth(0x86DD, esp)), frame(eth(0x86DD, none)))
    assert (out, skipped) == ([], [])
    assert counts.esp == 1
    assert counts.not_udp_tcp_sctp == 1


def test_ipv6_atomic_fragment_is_not_held() -> None:
    # RFC 6946: a Fragment header with offset 0 and M=0 is a whole packet.
    frag_hdr = struct.pack(">BBHI", 17, 0, 0, 0x1234)
    udp = bytes(UDP(sport=5060, dport=5080) / Raw(SIP))
    ip6 = bytes(IPv6(src=A6, dst=B6, nh=44, plen=8 + len(udp)))
    out, counts, _ = decode(frame(eth(0x86DD, ip6 + frag_hdr + udp)))
    assert out == [udp_payload(SRC6, DST6)]
    assert counts.fragments == 0


# -- damage -------------------------------------------------------------------------------------

DAMAGE_CASES = {
    "ipv4-header-cut": (1, GOOD[:26], "IPv4 header cut short: 12 of 20 bytes"),
    "bad-ihl": (1, with_byte(GOOD, 14, 0x44), "IPv4 header length (IHL) of 16 bytes, below 20"),
    "ihl-beyond-total": (
        1,
        with_u16(with_byte(GOOD, 14, 0x4F), 16, 40),
        "IPv4 total length 40 below its header length 60",
    ),
    "ipv6-header-cut": (1, eth(0x86DD, udp6()[:30]), "IPv6 header cut short: 30 of 40 bytes"),
    "ipv6-extension-past-end": (
        1,
        eth(0x86DD, bytes(IPv6(src=A6, dst=B6, nh=60, plen=8)) + b"\x11\x05" + b"\x00" * 6),
        "IPv6 extension headers run past the end of the payload",
    ),
    "wrong-version": (1, with_byte(GOOD, 14, 0x65), "IPv4 header with version 6"),
    "ipv6-wrong-version": (1, eth(0x86DD, udp4() + b"\x00" * 20), "IPv6 header with version 4"),
    "ipv6-fragment-header-cut": (
        1,
        eth(0x86DD, bytes(IPv6(src=A6, dst=B6, nh=44, plen=4)) + b"\x11\x00\x00\x01"),
        "IPv6 fragment header cut short: 4 of 8 bytes",
    ),
    "raw-not-ip": (101, b"\x55" * 40, "not an IP packet: version 5"),
}
"""Name -> (link type, frame, the reason it is skipped for)."""


@pytest.mark.parametrize("case", sorted(DAMAGE_CASES))
def test_damaged_frames_are_skipped_with_a_reason(case: str) -> None:
    linktype, data, reason = DAMAGE_CASES[case]
    assert damage(data, linktype) == [(7, TS, reason)]


def test_tso_total_length_zero_uses_the_frame() -> None:
    out, _, skipped = decode(frame(with_u16(GOOD, 16, 0)))
    assert out == [udp_payload()]
    assert skipped == []
