"""Tunnels (``sipsniff.net.tunnel``): IP in IP, GRE and ERSPAN, GTP-U, VXLAN and Geneve, each to
the innermost endpoints; what on a tunnel's port is not that tunnel; the nesting cap."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP
from scapy.packet import Raw

from sipsniff.model import Endpoint
from sipsniff.net.tunnel import UDP_PORTS
from sipsniff.net.walk import MAX_DEPTH
from tests.conftest import CORPUS, need
from tests.net.frames import (
    A4,
    B4,
    INNER,
    INNER6_DST,
    INNER6_SRC,
    INNER_DST,
    INNER_SRC,
    SIP,
    TS,
    TUNNEL_CASES,
    damage,
    decode,
    decode_file,
    eth,
    frame,
    gre,
    gtp,
    oracle_rows,
    outer4,
    outer_udp,
    start_line,
    udp_payload,
)


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


def test_gre_carrying_ethernet_counts_once() -> None:
    # GRE (or Geneve) with Ethernet inside is one tunnel, not GRE and Ethernet-in-Ethernet.
    pkt = eth(0x0800, INNER)
    for _ in range(MAX_DEPTH):
        pkt = outer4(47, gre(0x6558, pkt))
    out, _, skipped = decode(frame(pkt))
    assert (out, skipped) == ([udp_payload(INNER_SRC, INNER_DST)], [])


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
