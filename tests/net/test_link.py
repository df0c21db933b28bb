"""Link layers (``sipsniff.net.link``): a frame of every link type and ethertype in the tables, the
VLAN, PPP, MPLS and loopback variants, what is not IP, and headers cut short."""

from __future__ import annotations

import struct

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import ARP
from scapy.packet import Raw

from sipsniff.model import Counts
from sipsniff.net.link import _NULL_FAMILY, ETHERTYPES, LINK_TYPES, VLAN_TAGS
from sipsniff.net.walk import MAX_DEPTH
from tests.net.frames import (
    A4,
    B4,
    DST4,
    DST6,
    GOOD,
    LINK_CASES,
    MAC,
    SLL_HEAD,
    SRC4,
    SRC6,
    TS,
    damage,
    decode,
    eth,
    ether,
    frame,
    sll2,
    udp4,
    udp_payload,
)


@pytest.mark.parametrize("case", sorted(LINK_CASES))
def test_link_types(case: str) -> None:
    linktype, data, version = LINK_CASES[case]
    out, counts, skipped = decode(frame(data, linktype))
    src, dst = (SRC4, DST4) if version == 4 else (SRC6, DST6)
    assert out == [udp_payload(src, dst)]
    assert skipped == []
    assert counts == Counts(frames=1)


def test_every_link_type_in_the_table_has_a_case() -> None:
    # With test_link_types, a broken or missing entry of LINK_TYPES fails here or there.
    assert {linktype for linktype, _, _ in LINK_CASES.values()} == set(LINK_TYPES)


def test_every_loopback_family_has_a_case() -> None:
    """Each BSD loopback family word (2; IPv6 as 23, 24, 28, 30), in both byte orders."""
    words = {data[:4] for lt, data, _ in LINK_CASES.values() if lt == 0}
    assert words == set(_NULL_FAMILY)
    # Each family is a small number in one of the two byte orders.
    families = {min(int.from_bytes(w, "little"), int.from_bytes(w, "big")) for w in words}
    assert families == {2, 23, 24, 28, 30}
    assert len(words) == 2 * len(families)


def test_every_ethertype_in_the_table_has_a_case() -> None:
    # The outer ethertype of each Ethernet case is the entry it goes through first.
    outer = {int.from_bytes(data[12:14]) for lt, data, _ in LINK_CASES.values() if lt == 1}
    assert set(ETHERTYPES) | VLAN_TAGS <= outer


def test_non_ip_and_other_protocols_are_counted() -> None:
    arp = frame(bytes(ether() / ARP()))
    lldp = frame(eth(0x88CC, b"\x02\x07\x04" + b"\x00" * 20))
    llc = frame(MAC + b"\x00\x26" + b"\x42\x42\x03" + b"\x00" * 35)
    icmp = frame(eth(0x0800, bytes(IP(src=A4, dst=B4) / ICMP())))
    ospf = frame(eth(0x0800, bytes(IP(src=A4, dst=B4, proto=89) / Raw(b"\x02\x01" + b"\x00" * 22))))
    loopback_other = frame(b"\x07\x00\x00\x00" + udp4(), 0)
    out, counts, skipped = decode(arp, lldp, llc, icmp, ospf, loopback_other)
    assert out == []
    assert skipped == []
    assert counts == Counts(frames=6, non_ip=4, not_udp_tcp_sctp=2)


DAMAGE_CASES = {
    "ethernet-cut": (1, GOOD[:10], "Ethernet header cut short: 10 of 14 bytes"),
    "sll-cut": (113, SLL_HEAD[:12], "Linux cooked (SLL) header cut short: 12 of 16 bytes"),
    "sll2-cut": (276, sll2(0x0800)[:15], "Linux cooked v2 (SLL2) header cut short: 15 of 20 bytes"),
    "vlan-tag-cut": (1, eth(0x8100, b"\x00\x05\x08"), "VLAN tag cut short: 3 of 4 bytes"),
    "pppoe-cut": (1, eth(0x8864, b"\x11\x00\x00"), "PPPoE header cut short: 3 of 6 bytes"),
    "ppp-cut": (9, b"\xff\x03\x00", "PPP header cut short: 1 of 2 bytes"),
    "mpls-cut": (
        1,
        eth(0x8847, b"\x00\x01\x00\x40\x00\x01"),
        "MPLS label stack cut short: 2 of 4 bytes",
    ),
}
"""Name -> (link type, frame, the reason it is skipped for)."""


@pytest.mark.parametrize("case", sorted(DAMAGE_CASES))
def test_damaged_frames_are_skipped_with_a_reason(case: str) -> None:
    linktype, data, reason = DAMAGE_CASES[case]
    assert damage(data, linktype) == [(7, TS, reason)]


NESTED_CASES = {
    "ethernet-in-ethernet": MAC + b"\x65\x58",
    "ethernet-in-vlan": MAC + b"\x81\x00\x00\x05\x65\x58",
    "mpls-pseudowire": MAC + b"\x88\x47" + struct.pack(">I", (16 << 12) | 0x100 | 64) + b"\x00" * 4,
}
"""Name -> a link header that carries an Ethernet frame: nested, a tunnel each time."""


@pytest.mark.parametrize("case", sorted(NESTED_CASES))
def test_nested_ethernet_counts_as_tunnels(case: str) -> None:
    head = NESTED_CASES[case]
    within = head * MAX_DEPTH + eth(0x0800, udp4())
    out, _, skipped = decode(frame(within))
    assert (out, skipped) == ([udp_payload()], [])
    # 1,000 of them used to end the run with a RecursionError
    deep = head * 1000 + eth(0x0800, udp4())
    assert damage(deep) == [(7, TS, f"more than {MAX_DEPTH} tunnels nested in one frame")]
