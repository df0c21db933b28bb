"""Tunnels (``sipsniff.net.tunnel``): IP in IP, GRE and ERSPAN, GTP-U, VXLAN and Geneve, each to
the innermost endpoints; what on a tunnel's port is not that tunnel; the nesting cap."""

from __future__ import annotations

import struct

import pytest
from scapy.contrib.geneve import GENEVE
from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import GRE, Dot1Q
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw

from sipsniff.model import Endpoint
from sipsniff.net.tunnel import MAX_DEPTH, UDP_PORTS
from tests.conftest import CORPUS, need
from tests.net.frames import (
    A4,
    A6,
    B4,
    B6,
    INNER,
    INNER6,
    INNER6_DST,
    INNER6_SRC,
    INNER_DST,
    INNER_SRC,
    SIP,
    TS,
    damage,
    decode,
    decode_file,
    eth,
    ether,
    frame,
    gtp,
    oracle_rows,
    outer4,
    outer_udp,
    start_line,
    udp4,
    udp_payload,
)


def gre(proto: int, payload: bytes, *, flags: int = 0, extra: bytes = b"") -> bytes:
    return struct.pack(">HH", flags, proto) + extra + payload


def erspan3(ft: int, o_bit: bool) -> bytes:
    word2 = struct.pack(">HBB", 0, ft << 2, 1 if o_bit else 0)
    return struct.pack(">HHI", 0x2000 | 10, 5, 123456) + word2 + (b"\x00" * 8 if o_bit else b"")


TUNNEL_CASES = {
    "ipip": (outer4(4, INNER), 4),
    "6in4": (outer4(41, INNER6), 6),
    "4in6": (eth(0x86DD, bytes(IPv6(src=A6, dst=B6, nh=4) / Raw(INNER))), 4),
    "6in6": (eth(0x86DD, bytes(IPv6(src=A6, dst=B6, nh=41) / Raw(INNER6))), 6),
    "ipip-twice": (
        outer4(4, bytes(IP(src="172.16.0.1", dst="172.16.0.2", proto=4) / Raw(INNER))),
        4,
    ),
    "gre-ipv4": (outer4(47, bytes(GRE(proto=0x0800) / Raw(INNER))), 4),
    "gre-ipv6": (outer4(47, gre(0x86DD, INNER6)), 6),
    "gre-ckS": (outer4(47, gre(0x0800, INNER, flags=0xB000, extra=b"\x00" * 12)), 4),
    "gre-key": (outer4(47, bytes(GRE(key_present=1, key=99, proto=0x0800) / Raw(INNER))), 4),
    "gre-routing": (
        outer4(
            47,
            gre(
                0x0800,
                INNER,
                flags=0x4000,
                extra=b"\x00" * 4 + b"\x08\x00\x00\x04" + b"\x01" * 4 + b"\x00" * 4,
            ),
        ),
        4,
    ),
    "gre-teb": (outer4(47, gre(0x6558, eth(0x0800, INNER))), 4),
    "gre-teb-vlan": (
        outer4(47, gre(0x6558, eth(0x8100, struct.pack(">HH", 3, 0x0800) + INNER))),
        4,
    ),
    "gre-ppp": (
        outer4(
            47,
            gre(
                0x880B,
                b"\xff\x03\x00\x21" + INNER,
                flags=0x3081,
                extra=struct.pack(">HHII", 0, 1, 1, 1),
            ),
        ),
        4,
    ),
    "gre-mpls": (outer4(47, gre(0x8847, struct.pack(">I", (16 << 12) | 0x100 | 64) + INNER)), 4),
    "erspan-i": (outer4(47, gre(0x88BE, eth(0x0800, INNER))), 4),
    "erspan-ii": (
        outer4(
            47,
            gre(
                0x88BE,
                b"\x10\x00\x00\x05" + b"\x00" * 4 + eth(0x0800, INNER),
                flags=0x1000,
                extra=b"\x00\x00\x00\x07",
            ),
        ),
        4,
    ),
    "erspan-iii": (
        outer4(
            47, gre(0x22EB, erspan3(0, False) + eth(0x0800, INNER), flags=0x1000, extra=b"\x00" * 4)
        ),
        4,
    ),
    "erspan-iii-platform": (
        outer4(
            47, gre(0x22EB, erspan3(0, True) + eth(0x0800, INNER), flags=0x1000, extra=b"\x00" * 4)
        ),
        4,
    ),
    "erspan-iii-ip-frame": (
        outer4(47, gre(0x22EB, erspan3(2, False) + INNER6, flags=0x1000, extra=b"\x00" * 4)),
        6,
    ),
    "gre-in-ipv6": (eth(0x86DD, bytes(IPv6(src=A6, dst=B6, nh=47) / Raw(gre(0x0800, INNER)))), 4),
    "vxlan": (outer_udp(4789, bytes(VXLAN(vni=42)) + eth(0x0800, INNER)), 4),
    "vxlan-ipv6-inner": (outer_udp(4789, bytes(VXLAN(vni=42)) + eth(0x86DD, INNER6)), 6),
    "geneve": (outer_udp(6081, bytes(GENEVE(proto=0x6558, vni=7)) + eth(0x0800, INNER)), 4),
    "geneve-options-ip": (
        outer_udp(
            6081, struct.pack(">BBHI", 2, 0, 0x0800, 7 << 8) + b"\x01\x02\x03\x04" * 2 + INNER
        ),
        4,
    ),
    "gtpu": (outer_udp(2152, gtp(INNER), sport=2152), 4),
    "gtpu-ipv6": (outer_udp(2152, gtp(INNER6), sport=2152), 6),
    "gtpu-sequence": (outer_udp(2152, gtp(INNER, flags=0x32, opt=b"\x00\x07\x00\x00")), 4),
    "gtpu-extensions": (
        outer_udp(
            2152,
            gtp(
                INNER,
                flags=0x34,
                opt=b"\x00\x00\x00\x85" + b"\x01\x10\x01\xc0" + b"\x02\x00\x00\x00\x00\x00\x00\x00",
            ),
        ),
        4,
    ),
    "vxlan-over-gre-over-vlan": (
        bytes(
            ether()
            / Dot1Q(vlan=4, type=0x0800)
            / Raw(
                outer4(47, gre(0x0800, udp4(bytes(VXLAN(vni=1)) + eth(0x0800, INNER), dport=4789)))[
                    14:
                ]
            )
        ),
        4,
    ),
    "gtpu-source-port-only": (outer_udp(40000, gtp(INNER), sport=2152), 4),
}
"""Name -> (frame, IP version): a tunnel carrying SIP in UDP from INNER_SRC to INNER_DST of that
version."""


@pytest.mark.parametrize("case", sorted(TUNNEL_CASES))
def test_tunnels_yield_innermost_endpoints(case: str) -> None:
    data, version = TUNNEL_CASES[case]
    out, _, skipped = decode(frame(data))
    src, dst = (INNER_SRC, INNER_DST) if version == 4 else (INNER6_SRC, INNER6_DST)
    assert skipped == []
    assert out == [udp_payload(src, dst)]


def test_every_udp_tunnel_port_has_a_case() -> None:
    # The destination port of each UDP-borne case is the UDP_PORTS entry it goes through.
    ports = {int.from_bytes(data[36:38]) for data, _ in TUNNEL_CASES.values() if data[23] == 17}
    assert set(UDP_PORTS) <= ports


def test_gtp_signalling_and_non_gtp_on_its_port() -> None:
    echo = frame(outer_udp(2152, gtp(b"", mtype=1), sport=2152))
    not_gtp = frame(outer_udp(2152, SIP, sport=2152))
    out, counts, skipped = decode(echo, not_gtp)
    assert counts.tunnel_control == 1
    assert out == [udp_payload(Endpoint(A4, 2152), Endpoint(B4, 2152))]
    assert skipped == []


def test_vxlan_port_without_vxlan_header_is_plain_udp() -> None:
    out, _, _ = decode(frame(outer_udp(4789, SIP)))
    assert out == [udp_payload(Endpoint(A4, 40000), Endpoint(B4, 4789))]


def test_gtp_extension_chain_past_the_end_is_skipped() -> None:
    bad = gtp(b"", flags=0x34, opt=b"\x00\x00\x00\x85" + b"\x05\x00")
    out, _, skipped = decode(frame(outer_udp(2152, bad)))
    assert out == []
    assert [s.reason for s in skipped] == ["GTP-U extension headers run past the packet"]


def test_tunnel_nesting_is_capped() -> None:
    pkt = INNER
    for _ in range(MAX_DEPTH + 1):
        pkt = bytes(IP(src=A4, dst=B4, proto=4) / Raw(pkt))
    out, _, skipped = decode(frame(eth(0x0800, pkt)))
    assert out == []
    assert [s.reason for s in skipped] == [f"more than {MAX_DEPTH} tunnels nested in one frame"]
    pkt = INNER
    for _ in range(MAX_DEPTH):
        pkt = bytes(IP(src=A4, dst=B4, proto=4) / Raw(pkt))
    out, _, _ = decode(frame(eth(0x0800, pkt)))
    assert out == [udp_payload(INNER_SRC, INNER_DST)]


DAMAGE_CASES = {
    "gre-version": (outer4(47, b"\x00\x05\x08\x00" + INNER), "GRE version 5 is unknown"),
    "gre-header-cut": (outer4(47, b"\x00\x00"), "GRE header cut short: 2 of 4 bytes"),
    "gre-key-cut": (outer4(47, b"\x20\x00\x08\x00\x00\x00"), "GRE header cut short: 6 of 8 bytes"),
    "erspan-iii-cut": (
        outer4(47, gre(0x22EB, b"\x00" * 5)),
        "ERSPAN type III header cut short: 5 of 12 bytes",
    ),
}
"""Name -> (frame, the reason it is skipped for)."""


@pytest.mark.parametrize("case", sorted(DAMAGE_CASES))
def test_damaged_frames_are_skipped_with_a_reason(case: str) -> None:
    data, reason = DAMAGE_CASES[case]
    assert damage(data) == [(7, TS, reason)]


def test_gtp_u_with_ipv6_and_tcp_inside() -> None:
    # tshark's udp/ip fields show the outer GTP-U tunnel here: the SIP runs over IPv6 inside it,
    # mostly over TCP. Each oracle frame yields a piece with the inner IPv6 endpoints, and the
    # start line is in the bytes seen so far in that direction (segments are not reassembled here).
    by_frame, counts, skipped = decode_file(need(CORPUS / "gtp-iphone.pcap"))
    ue, pcscf = "fd00:183:1:1:1886:9040:8605:32b8", "fd01::183"
    seen: dict[tuple[Endpoint, Endpoint], bytes] = {}
    stream: dict[int, bytes] = {}
    for number in sorted(by_frame):
        for p in by_frame[number]:
            if p.transport == "tcp":
                seen[(p.src, p.dst)] = seen.get((p.src, p.dst), b"") + p.data
                stream[number] = seen[(p.src, p.dst)]
    for row in oracle_rows("gtp-iphone.pcap"):
        number = int(row["frame"])
        outer_src = row["src"]
        want = (ue, pcscf) if outer_src == "127.0.1.1" else (pcscf, ue)
        (p,) = by_frame[number]
        assert (p.src.ip, p.dst.ip) == want
        assert 5060 in (p.src.port, p.dst.port)
        if "|" in row["srcport"]:  # UDP inside: the whole message
            assert p.transport == "udp"
            assert p.data.startswith(start_line(row))
        else:
            assert p.transport == "tcp"
            assert start_line(row) in stream[number]
    # ICMP and ICMPv6 port unreachable inside the tunnel: reported, not decoded as the quote
    assert [(s.frame, s.transport, s.src.port if s.src else -1) for s in skipped] == [
        (7, "udp", 53),
        (83, "udp", 49120),
        (84, "udp", 49120),
        (89, "udp", 49120),
    ]
    assert counts.icmp_errors == 4
