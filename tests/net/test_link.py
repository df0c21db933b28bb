"""Link layers (``sipsniff.net.link``): a frame of every link type and ethertype in the tables, the
VLAN, PPP, MPLS and loopback variants, what is not IP, and headers cut short."""

from __future__ import annotations

import struct

import pytest
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import ARP, Dot1AD, Dot1Q
from scapy.layers.ppp import PPP, PPPoE
from scapy.packet import Raw

from sipsniff.model import Counts
from sipsniff.net.link import ETHERTYPES, LINK_TYPES, VLAN_TAGS
from tests.net.frames import (
    A4,
    B4,
    DST4,
    DST6,
    GOOD,
    MAC,
    SRC4,
    SRC6,
    TS,
    damage,
    decode,
    eth,
    ether,
    frame,
    udp4,
    udp6,
    udp_payload,
)

SLL_HEAD = struct.pack(">HHH8s", 0, 1, 6, b"\x02\x00\x00\x00\x00\x01\x00\x00")


def sll2(proto: int) -> bytes:
    return struct.pack(">HHIHBB8s", proto, 0, 3, 1, 0, 6, b"\x02\x00\x00\x00\x00\x01\x00\x00")


LINK_CASES = {
    "ethernet": (1, eth(0x0800, udp4()), 4),
    "ethernet-ipv6": (1, eth(0x86DD, udp6()), 6),
    "ethernet-padding-fcs": (1, eth(0x0800, udp4()) + b"\x00" * 18 + b"\xde\xad\xbe\xef", 4),
    "vlan": (1, bytes(ether() / Dot1Q(vlan=10, type=0x0800) / Raw(udp4())), 4),
    "vlan-ipv6": (1, bytes(ether() / Dot1Q(vlan=10, type=0x86DD) / Raw(udp6())), 6),
    "qinq-88a8": (
        1,
        bytes(ether() / Dot1AD(vlan=100) / Dot1Q(vlan=10, type=0x0800) / Raw(udp4())),
        4,
    ),
    "qinq-9100": (
        1,
        eth(0x9100, struct.pack(">HH", 100, 0x8100) + struct.pack(">HH", 10, 0x0800) + udp4()),
        4,
    ),
    "three-tags": (
        1,
        eth(0x88A8, struct.pack(">HHHHHH", 1, 0x8100, 2, 0x8100, 3, 0x0800) + udp4()),
        4,
    ),
    "llc-snap": (
        1,
        MAC + struct.pack(">H", 8 + len(udp4())) + b"\xaa\xaa\x03\x00\x00\x00\x08\x00" + udp4(),
        4,
    ),
    "pppoe": (1, bytes(ether() / PPPoE(sessionid=7) / PPP(proto=0x0021) / Raw(udp4())), 4),
    "pppoe-ipv6": (1, bytes(ether() / PPPoE(sessionid=7) / PPP(proto=0x0057) / Raw(udp6())), 6),
    "mpls": (1, bytes(ether() / MPLS(label=16, s=0) / MPLS(label=17, s=1) / Raw(udp4())), 4),
    "mpls-ipv6": (1, bytes(ether() / MPLS(label=16, s=1) / Raw(udp6())), 6),
    "mpls-pseudowire-cw": (
        1,
        eth(0x8847, struct.pack(">I", (16 << 12) | 0x100 | 64) + b"\x00" * 4 + eth(0x0800, udp4())),
        4,
    ),
    "sll": (113, SLL_HEAD + struct.pack(">H", 0x0800) + udp4(), 4),
    "sll-ipv6": (113, SLL_HEAD + struct.pack(">H", 0x86DD) + udp6(), 6),
    "sll-vlan": (113, SLL_HEAD + struct.pack(">HHH", 0x8100, 5, 0x0800) + udp4(), 4),
    "sll2": (276, sll2(0x0800) + udp4(), 4),
    "sll2-ipv6": (276, sll2(0x86DD) + udp6(), 6),
    "null-le": (0, b"\x02\x00\x00\x00" + udp4(), 4),
    "null-be": (0, b"\x00\x00\x00\x02" + udp4(), 4),
    "null-ipv6-24": (0, b"\x18\x00\x00\x00" + udp6(), 6),
    "null-ipv6-28-be": (0, b"\x00\x00\x00\x1c" + udp6(), 6),
    "null-ipv6-30": (0, b"\x1e\x00\x00\x00" + udp6(), 6),
    "loop": (108, b"\x00\x00\x00\x02" + udp4(), 4),
    "loop-ipv6": (108, b"\x00\x00\x00\x18" + udp6(), 6),
    "raw-101": (101, udp4(), 4),
    "raw-101-ipv6": (101, udp6(), 6),
    "raw-12": (12, udp4(), 4),
    "raw-14": (14, udp6(), 6),
    "ipv4-228": (228, udp4(), 4),
    "ipv6-229": (229, udp6(), 6),
    "ppp-hdlc": (9, b"\xff\x03\x00\x21" + udp4(), 4),
    "ppp-compressed-protocol": (9, b"\x21" + udp4(), 4),
    "ppp-ipv6": (50, b"\xff\x03\x00\x57" + udp6(), 6),
    "nflog": (
        239,
        b"\x02\x00\x00\x00"
        + struct.pack("<HH", 8, 1)
        + b"\x08\x00\x01\x00"
        + struct.pack("<HH", 4 + len(udp4()), 9)
        + udp4()
        + b"\x00" * (-len(udp4()) % 4),
        4,
    ),
    "vlan-9200": (1, eth(0x9200, struct.pack(">HH", 10, 0x0800) + udp4()), 4),
    "vlan-9300": (1, eth(0x9300, struct.pack(">HH", 10, 0x86DD) + udp6()), 6),
    "mpls-multicast": (1, eth(0x8848, struct.pack(">I", (16 << 12) | 0x100 | 64) + udp4()), 4),
    "ethernet-in-ethernet": (1, eth(0x6558, eth(0x0800, udp4())), 4),
    "null-ipv6-24-be": (0, b"\x00\x00\x00\x18" + udp6(), 6),
    "null-ipv6-28": (0, b"\x1c\x00\x00\x00" + udp6(), 6),
    "null-ipv6-30-be": (0, b"\x00\x00\x00\x1e" + udp6(), 6),
    "loop-ipv6-28": (108, b"\x00\x00\x00\x1c" + udp6(), 6),
    "loop-ipv6-30": (108, b"\x00\x00\x00\x1e" + udp6(), 6),
    "sll2-vlan": (276, sll2(0x8100) + struct.pack(">HH", 5, 0x86DD) + udp6(), 6),
}
"""Name -> (link type, frame, IP version): a frame of each link type and ethertype that carries
SIP in UDP from SRC to DST of that version."""


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
