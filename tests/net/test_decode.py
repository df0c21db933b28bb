"""Network decoding: hand-built frames for every link type and tunnel, damage, and real captures.

Frames are built with scapy (tests only) or with ``struct`` where the exact bytes matter. Real
captures are read with scapy's raw readers (``read_capture`` below) and checked against the tshark
oracle in ../shared/corpus/oracle.
"""

from __future__ import annotations

import csv
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.contrib.geneve import GENEVE
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.layers.ipsec import AH
from scapy.layers.l2 import ARP, GRE, Dot1AD, Dot1Q, Ether
from scapy.layers.ppp import PPP, PPPoE
from scapy.layers.sctp import SCTP, SCTPChunkData, SCTPChunkInit
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw
from scapy.utils import RawPcapReader

from sipsniff.model import Counts, Endpoint, Frame, Payload, Skipped
from sipsniff.net.decode import Decoder
from sipsniff.net.tunnel import MAX_DEPTH
from tests.conftest import CORPUS, ORACLE, need

SIP = b"OPTIONS sip:bob@example.com SIP/2.0\r\nCall-ID: t1\r\nCSeq: 1 OPTIONS\r\n\r\n"
TS = 1_700_000_000_123_456_789
A4, B4 = "192.0.2.1", "198.51.100.2"
A6, B6 = "2001:db8::1", "2001:db8:0:1::2"
SRC4, DST4 = Endpoint(A4, 5060), Endpoint(B4, 5080)
SRC6, DST6 = Endpoint(A6, 5060), Endpoint(B6, 5080)
MAC = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02"


def ether() -> Ether:
    return Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:02")


def udp4(
    data: bytes = SIP, src: str = A4, dst: str = B4, sport: int = 5060, dport: int = 5080
) -> bytes:
    return bytes(IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / Raw(data))


def udp6(
    data: bytes = SIP, src: str = A6, dst: str = B6, sport: int = 5060, dport: int = 5080
) -> bytes:
    return bytes(IPv6(src=src, dst=dst) / UDP(sport=sport, dport=dport) / Raw(data))


def eth(et: int, payload: bytes) -> bytes:
    return MAC + struct.pack(">H", et) + payload


def frame(
    data: bytes, linktype: int = 1, number: int = 1, ts_ns: int = TS, orig_len: int = -1
) -> Frame:
    return Frame(number, ts_ns, linktype, data, len(data) if orig_len < 0 else orig_len)


def decode(*frames: Frame, **kw: object) -> tuple[list[Payload], Counts, list[Skipped]]:
    counts = Counts()
    skipped: list[Skipped] = []
    dec = Decoder(counts, skipped, **kw)  # type: ignore[arg-type]
    out: list[Payload] = []
    for f in frames:
        out += dec.decode(f)
    out += dec.flush()
    return out, counts, skipped


def udp_payload(src: Endpoint = SRC4, dst: Endpoint = DST4, data: bytes = SIP) -> Payload:
    return Payload(1, TS, src, dst, "udp", data, 0)


# -- link layers --------------------------------------------------------------------------------

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
}


@pytest.mark.parametrize("case", sorted(LINK_CASES))
def test_link_types(case: str) -> None:
    linktype, data, version = LINK_CASES[case]
    out, counts, skipped = decode(frame(data, linktype))
    src, dst = (SRC4, DST4) if version == 4 else (SRC6, DST6)
    assert out == [udp_payload(src, dst)]
    assert skipped == []
    assert counts == Counts(frames=1)


def test_fast_and_general_paths_agree() -> None:
    # IP options (IHL 6) take the general path; the result is the same as the fast path's.
    fast = eth(0x0800, udp4())
    slow = eth(
        0x0800,
        bytes(
            IP(src=A4, dst=B4, options=b"\x01\x01\x01\x00") / UDP(sport=5060, dport=5080) / Raw(SIP)
        ),
    )
    assert slow[14] == 0x46
    out_fast, _, _ = decode(frame(fast))
    out_slow, _, _ = decode(frame(slow))
    assert out_fast == out_slow == [udp_payload()]


def test_frame_fields_carried() -> None:
    f = Frame(42, TS + 5, 1, eth(0x0800, udp4()), 0, file=3)
    out, _, _ = decode(f._replace(orig_len=len(f.data)))
    assert out == [Payload(42, TS + 5, SRC4, DST4, "udp", SIP, 3)]


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


def test_empty_udp_is_counted_not_returned() -> None:
    out, counts, skipped = decode(frame(eth(0x0800, udp4(b""))))
    assert (out, skipped) == ([], [])
    assert counts.empty_udp == 1


def test_unsupported_link_type_is_reported_once() -> None:
    out, counts, skipped = decode(
        frame(udp4(), 147, 1), frame(udp4(), 147, 2), frame(udp4(), 105, 3)
    )
    assert out == []
    assert counts.unsupported_link == 3
    assert [(s.frame, s.reason) for s in skipped] == [
        (1, "link type 147 is not supported: its frames are ignored"),
        (3, "link type 105 is not supported: its frames are ignored"),
    ]


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


# -- tunnels ------------------------------------------------------------------------------------

INNER = udp4(src="10.0.0.1", dst="10.0.0.2", sport=5062, dport=5064)
INNER_SRC, INNER_DST = Endpoint("10.0.0.1", 5062), Endpoint("10.0.0.2", 5064)
INNER6 = udp6(src="fd00::1", dst="fd00::2", sport=5062, dport=5064)
INNER6_SRC, INNER6_DST = Endpoint("fd00::1", 5062), Endpoint("fd00::2", 5064)


def outer4(proto: int, payload: bytes) -> bytes:
    return eth(0x0800, bytes(IP(src=A4, dst=B4, proto=proto) / Raw(payload)))


def outer_udp(dport: int, payload: bytes, sport: int = 40000) -> bytes:
    return eth(0x0800, udp4(payload, sport=sport, dport=dport))


def gre(proto: int, payload: bytes, *, flags: int = 0, extra: bytes = b"") -> bytes:
    return struct.pack(">HH", flags, proto) + extra + payload


def erspan3(ft: int, o_bit: bool) -> bytes:
    word2 = struct.pack(">HBB", 0, ft << 2, 1 if o_bit else 0)
    return struct.pack(">HHI", 0x2000 | 10, 5, 123456) + word2 + (b"\x00" * 8 if o_bit else b"")


def gtp(payload: bytes, *, mtype: int = 0xFF, opt: bytes = b"", flags: int = 0x30) -> bytes:
    return struct.pack(">BBHI", flags, mtype, len(opt) + len(payload), 0xABCD) + opt + payload


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
}


@pytest.mark.parametrize("case", sorted(TUNNEL_CASES))
def test_tunnels_yield_innermost_endpoints(case: str) -> None:
    data, version = TUNNEL_CASES[case]
    out, _, skipped = decode(frame(data))
    src, dst = (INNER_SRC, INNER_DST) if version == 4 else (INNER6_SRC, INNER6_DST)
    assert skipped == []
    assert out == [udp_payload(src, dst)]


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


# -- TCP ----------------------------------------------------------------------------------------


class RecordingSink:
    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

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
        self.calls.append((frame.number, src, dst, seq, ack, flags, payload))
        return [Payload(frame.number, frame.ts_ns, src, dst, "tcp", payload.upper(), stream=True)]


def tcp4(payload: bytes, flags: str = "PA", **kw: Any) -> bytes:
    seg = TCP(sport=5060, dport=5080, seq=1000, ack=2000, flags=flags, **kw) / Raw(payload)
    return eth(0x0800, bytes(IP(src=A4, dst=B4) / seg))


def test_tcp_without_sink_returns_stream_pieces() -> None:
    syn = frame(tcp4(b"", "S"), number=1)
    data = frame(tcp4(SIP, options=[("MSS", 1460), ("NOP", None), ("WScale", 7)]), number=2)
    out, _, skipped = decode(syn, data)
    assert out == [Payload(2, TS, SRC4, DST4, "tcp", SIP, 0, stream=True)]
    assert skipped == []


def test_tcp_goes_to_the_sink_with_every_field() -> None:
    sink = RecordingSink()
    ipv6_seg = eth(
        0x86DD, bytes(IPv6(src=A6, dst=B6) / TCP(sport=5060, dport=5080, seq=7, ack=0, flags="S"))
    )
    out, _, _ = decode(frame(tcp4(b"abc", "FPA"), number=1), frame(ipv6_seg, number=2), tcp=sink)
    assert sink.calls == [
        (1, SRC4, DST4, 1000, 2000, 0x19, b"abc"),
        (2, SRC6, DST6, 7, 0, 0x02, b""),
    ]
    assert [p.data for p in out] == [b"ABC", b""]


def test_tcp_in_a_tunnel_reaches_the_sink_with_inner_endpoints() -> None:
    sink = RecordingSink()
    inner = bytes(
        IP(src="10.0.0.1", dst="10.0.0.2")
        / TCP(sport=5062, dport=5064, seq=5, ack=6, flags="A")
        / Raw(b"x")
    )
    decode(frame(outer_udp(2152, gtp(inner), sport=2152)), tcp=sink)
    assert sink.calls == [
        (1, Endpoint("10.0.0.1", 5062), Endpoint("10.0.0.2", 5064), 5, 6, 0x10, b"x")
    ]


# -- SCTP ---------------------------------------------------------------------------------------


def data_chunk(user: bytes, tsn: int = 1, flags: int = 3, sid: int = 0) -> bytes:
    pad = -len(user) % 4
    return struct.pack(">BBHIHHI", 0, flags, 16 + len(user), tsn, sid, 0, 0) + user + b"\x00" * pad


def idata_chunk(user: bytes, mid: int, fsn: int, flags: int) -> bytes:
    pad = -len(user) % 4
    return (
        struct.pack(">BBHIHHII", 64, flags, 20 + len(user), 9, 0, 0, mid, fsn)
        + user
        + b"\x00" * pad
    )


def sctp4(*chunks: bytes) -> bytes:
    common = struct.pack(">HHII", 5060, 5080, 0x11223344, 0)
    return eth(0x0800, bytes(IP(src=A4, dst=B4, proto=132) / Raw(common + b"".join(chunks))))


def sctp_payload(
    data: bytes, number: int = 1, first_frame: int = 0, first_ts_ns: int = 0
) -> Payload:
    return Payload(number, TS, SRC4, DST4, "sctp", data, 0, first_frame, first_ts_ns)


def test_sctp_two_data_chunks_in_one_packet() -> None:
    second = SIP.replace(b"t1", b"t2") + b"x"  # odd length: padded chunk
    out, _, skipped = decode(frame(sctp4(data_chunk(SIP), data_chunk(second, tsn=2))))
    assert out == [sctp_payload(SIP), sctp_payload(second)]
    assert skipped == []


def test_sctp_with_scapy_and_control_chunks() -> None:
    pkt = (
        IP(src=A4, dst=B4)
        / SCTP(sport=5060, dport=5080)
        / SCTPChunkInit()
        / SCTPChunkData(data=SIP, beginning=1, ending=1)
    )
    out, _, _ = decode(frame(eth(0x0800, bytes(pkt))))
    assert out == [sctp_payload(SIP)]


def test_sctp_idata_chunk() -> None:
    out, _, _ = decode(frame(sctp4(idata_chunk(SIP, mid=1, fsn=0, flags=3))))
    assert out == [sctp_payload(SIP)]


def test_sctp_fragmented_user_message_is_rebuilt() -> None:
    a, b, c = SIP[:20], SIP[20:40], SIP[40:]
    frames_ = [
        frame(sctp4(data_chunk(a, tsn=10, flags=2)), number=1, ts_ns=TS - 2),
        frame(sctp4(data_chunk(b, tsn=11, flags=0)), number=2, ts_ns=TS - 1),
        frame(sctp4(data_chunk(c, tsn=12, flags=1)), number=3),
    ]
    out, _, skipped = decode(*frames_)
    assert out == [sctp_payload(SIP, number=3, first_frame=1, first_ts_ns=TS - 2)]
    assert skipped == []


def test_sctp_fragmented_idata_is_rebuilt() -> None:
    out, _, _ = decode(
        frame(sctp4(idata_chunk(SIP[:30], mid=4, fsn=1234, flags=2)), number=1),
        frame(sctp4(idata_chunk(SIP[30:], mid=4, fsn=1, flags=1)), number=2),
    )
    assert out == [sctp_payload(SIP, number=2, first_frame=1, first_ts_ns=TS)]


def test_sctp_lost_piece_and_incomplete_message_are_skipped() -> None:
    lost = [
        frame(sctp4(data_chunk(SIP[:20], tsn=10, flags=2)), number=1),
        frame(sctp4(data_chunk(SIP[40:], tsn=12, flags=1)), number=2),
    ]
    out, _, skipped = decode(*lost)
    assert out == []
    assert [(s.frame, s.reason, s.data) for s in skipped] == [
        (
            1,
            f"SCTP user message from {SRC4} to {DST4} on stream 0, 1 piece captured, not rebuilt: "
            "piece 12 came where 11 was expected",
            SIP[:20],
        )
    ]
    out, _, skipped = decode(frame(sctp4(data_chunk(SIP[:20], tsn=10, flags=2)), number=5))
    assert out == []
    assert [s.reason for s in skipped] == [
        f"SCTP user message from {SRC4} to {DST4} on stream 0, 1 piece captured, not rebuilt: "
        "incomplete at the end of the capture"
    ]


# -- damage and snaplen -------------------------------------------------------------------------

GOOD = eth(0x0800, udp4())


def with_byte(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + bytes([value]) + data[offset + 1 :]


def with_u16(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + struct.pack(">H", value) + data[offset + 2 :]


DAMAGE_CASES = {
    "ipv4-header-cut": (GOOD[:26], "IPv4 header cut short: 12 of 20 bytes"),
    "ethernet-cut": (GOOD[:10], "Ethernet header cut short: 10 of 14 bytes"),
    "bad-ihl": (with_byte(GOOD, 14, 0x44), "IPv4 header length (IHL) of 16 bytes, below 20"),
    "ihl-beyond-total": (
        with_u16(with_byte(GOOD, 14, 0x4F), 16, 40),
        "IPv4 total length 40 below its header length 60",
    ),
    "udp-length-short": (with_u16(GOOD, 38, 4), "UDP length 4 below the 8-byte header"),
    "udp-header-cut": (
        eth(0x0800, bytes(IP(src=A4, dst=B4, proto=17) / Raw(b"\x13\xc4"))),
        "UDP header cut short: 2 of 8 bytes",
    ),
    "ipv6-header-cut": (eth(0x86DD, udp6()[:30]), "IPv6 header cut short: 30 of 40 bytes"),
    "ipv6-extension-past-end": (
        eth(0x86DD, bytes(IPv6(src=A6, dst=B6, nh=60, plen=8)) + b"\x11\x05" + b"\x00" * 6),
        "IPv6 extension headers run past the end of the payload",
    ),
    "wrong-version": (with_byte(GOOD, 14, 0x65), "IPv4 header with version 6"),
    "tcp-data-offset": (
        eth(0x0800, bytes(IP(src=A4, dst=B4) / TCP(dataofs=3) / Raw(b"abc"))),
        "TCP data offset of 12 bytes, below 20",
    ),
    "sctp-chunk-length": (
        sctp4(struct.pack(">BBH", 0, 3, 2) + b"\x00" * 16),
        "SCTP chunk length 2, below 4",
    ),
    "raw-not-ip": (b"\x55" * 40, "not an IP packet: version 5"),
    "gre-version": (outer4(47, b"\x00\x05\x08\x00" + INNER), "GRE version 5 is unknown"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE_CASES))
def test_damaged_frames_are_skipped_with_a_reason(case: str) -> None:
    data, reason = DAMAGE_CASES[case]
    linktype = 101 if case == "raw-not-ip" else 1
    out, _, skipped = decode(frame(data, linktype, number=7))
    assert out == []
    assert [(s.frame, s.ts_ns, s.reason) for s in skipped] == [(7, TS, reason)]
    assert skipped[0].data != b""


def test_skipped_udp_damage_names_the_addresses() -> None:
    _, _, skipped = decode(frame(DAMAGE_CASES["udp-length-short"][0]))
    assert (skipped[0].src, skipped[0].dst) == (Endpoint(A4, 0), Endpoint(B4, 0))


OVERLONG_CASES = {
    "ipv4-total-length": (with_u16(GOOD, 16, 2000), SRC4, DST4, "udp", SIP),
    "udp-length": (with_u16(GOOD, 38, 1000), SRC4, DST4, "udp", SIP),
    "both": (with_u16(with_u16(GOOD, 16, 43690), 38, 43690), SRC4, DST4, "udp", SIP),
    "ipv6-payload-length": (with_u16(eth(0x86DD, udp6()), 18, 3000), SRC6, DST6, "udp", SIP),
    "sctp-chunk-length": (
        sctp4(struct.pack(">BBHIHHI", 0, 3, 400, 1, 0, 0, 0) + SIP),
        SRC4,
        DST4,
        "sctp",
        SIP,
    ),
}


@pytest.mark.parametrize("case", sorted(OVERLONG_CASES))
def test_length_fields_that_lie_use_the_bytes_present(case: str) -> None:
    # As tshark does: a length beyond the data (not the snaplen: the frame is whole) is a lying
    # header; the bytes present are used, and counted as bad_length.
    data, src, dst, transport, user = OVERLONG_CASES[case]
    out, counts, skipped = decode(frame(data))
    assert out == [Payload(1, TS, src, dst, transport, user, 0)]
    assert skipped == []
    assert counts.bad_length >= 1
    assert counts.truncated == 0


def test_snaplen_cut_inside_the_payload_keeps_what_was_captured() -> None:
    cut = GOOD[:60]
    out, counts, skipped = decode(frame(cut, orig_len=len(GOOD)))
    assert out == [udp_payload(data=SIP[: 60 - 42])]
    assert skipped == []
    assert counts.truncated == 1


def test_snaplen_cut_after_the_payload_loses_nothing() -> None:
    padded = GOOD + b"\x00" * 20
    out, counts, skipped = decode(frame(padded[: len(GOOD) + 4], orig_len=len(padded)))
    assert out == [udp_payload()]
    assert counts.truncated == 0
    assert skipped == []


def test_snaplen_cut_in_the_headers_is_counted_not_skipped() -> None:
    out, counts, skipped = decode(
        frame(GOOD[:30], orig_len=len(GOOD)), frame(GOOD[:38], orig_len=len(GOOD))
    )
    assert (out, skipped) == ([], [])
    assert counts.truncated == 2


def test_tso_total_length_zero_uses_the_frame() -> None:
    out, _, skipped = decode(frame(with_u16(GOOD, 16, 0)))
    assert out == [udp_payload()]
    assert skipped == []


LINKTYPES = [1, 113, 276, 0, 108, 101, 228, 229, 9, 239]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(LINKTYPES), st.binary(max_size=120), st.booleans())
def test_random_bytes_never_raise(linktype: int, data: bytes, cut: bool) -> None:
    out, counts, _ = decode(frame(data, linktype, orig_len=len(data) + (100 if cut else 0)))
    assert counts.frames == 1
    assert all(isinstance(p, Payload) for p in out)


ALL_GOOD = [(lt, d) for lt, d, _ in LINK_CASES.values()] + [
    (1, d) for d, _ in TUNNEL_CASES.values()
]


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(ALL_GOOD),
    st.integers(0, 400),
    st.integers(0, 255),
    st.integers(0, 400),
)
def test_mutated_frames_never_raise(
    case: tuple[int, bytes], flip_at: int, value: int, cut_at: int
) -> None:
    linktype, data = case
    if flip_at < len(data):
        data = with_byte(data, flip_at, value)
    whole, cut = (
        frame(data[:cut_at], linktype),
        frame(data[:cut_at], linktype, orig_len=len(data) + 1),
    )
    out, counts, _ = decode(whole, cut)
    assert counts.frames == 2
    assert all(p.frame == 1 and p.data for p in out)


# -- real captures ------------------------------------------------------------------------------


def read_capture(path: Path) -> Iterator[Frame]:
    """Frames of a pcap or pcapng file, read with scapy's raw readers."""
    reader = RawPcapReader(str(path))
    try:
        linktype = getattr(reader, "linktype", 1)
        nano = getattr(reader, "nano", False)
        meta: Any
        for number, (data, meta) in enumerate(reader, 1):
            if hasattr(meta, "tsresol"):
                ts_ns = ((meta.tshigh << 32) | meta.tslow) * 1_000_000_000 // meta.tsresol
                yield Frame(number, ts_ns, meta.linktype, data, meta.wirelen)
            else:
                ts_ns = meta.sec * 1_000_000_000 + meta.usec * (1 if nano else 1000)
                yield Frame(number, ts_ns, linktype, data, meta.wirelen)
    finally:
        reader.close()


def decode_file(path: Path, **kw: object) -> tuple[dict[int, list[Payload]], Counts, list[Skipped]]:
    counts = Counts()
    skipped: list[Skipped] = []
    dec = Decoder(counts, skipped, **kw)  # type: ignore[arg-type]
    by_frame: dict[int, list[Payload]] = {}
    for f in read_capture(path):
        for p in dec.decode(f):
            by_frame.setdefault(p.frame, []).append(p)
    for p in dec.flush():
        by_frame.setdefault(p.frame, []).append(p)
    return by_frame, counts, skipped


def oracle_rows(name: str) -> list[dict[str, str]]:
    with (need(ORACLE) / f"{name}.tsv").open(newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def start_line(row: dict[str, str]) -> bytes:
    return (row["method"].split("|")[0] or "SIP/2.0").encode()


# Oracle frames this layer rightly yields no UDP payload for: ICMP port unreachable quoting the
# SIP datagram it answers. tshark dissects the quote, but it is not a message on the wire (handing
# it on would fake a retransmission); the decoder reports it as a Skipped naming the ICMP error.
ICMP_QUOTES = {"private-test-sip.pcapng": {2, 150, 152}}

ORACLE_FILES = [
    "aaa.pcap",
    "ipv6frag.pcap",
    "video_call.pcap",
    "gprshome-wireshark_sip.pcap",
    "private-test-sip.pcapng",
    "erspan_sip_ipv4_udp.pcapng",
    "gre.pcapng",
    "ipip0.pcap",
    "DTMFsipinfo.pcap",
    "sip_reqs.pcap",
    "h263-over-rtp.pcap",
    "sip-long-request-response-paths.pcap",
    "T38.pcap",
    "branch-scenario-sipp.pcapng",
    "sip_ipv6_udp.pcap",
    "wireuploaded.pcap",
    "SIP_CALL_RTP_G711",
    "Asterisk_ZFONE_XLITE.pcap",
]


@pytest.mark.parametrize("name", ORACLE_FILES)
def test_every_udp_oracle_message_is_decoded(name: str) -> None:
    by_frame, _, skipped = decode_file(need(CORPUS / name))
    rows = [r for r in oracle_rows(name) if r["transport"] == "udp"]
    assert rows, "the oracle lists UDP SIP messages for this file"
    missing = []
    for row in rows:
        number = int(row["frame"])
        if number in ICMP_QUOTES.get(name, ()):
            continue
        want_src = Endpoint(row["src"].split("|")[-1], int(row["srcport"].split("|")[-1]))
        want_dst = Endpoint(row["dst"].split("|")[-1], int(row["dstport"].split("|")[-1]))
        found = [
            p
            for p in by_frame.get(number, [])
            if p.transport == "udp"
            and (p.src, p.dst) == (want_src, want_dst)
            and p.data.startswith(start_line(row))
        ]
        if len(found) != 1:
            missing.append((number, want_src, want_dst, by_frame.get(number)))
    assert missing == []
    # nothing damaged in these captures: the only records are ICMP errors quoting a packet
    assert [s for s in skipped if not s.reason.startswith("ICMP ")] == []
    quotes = {s.frame for s in skipped if s.transport == "udp"}
    assert ICMP_QUOTES.get(name, set()) <= quotes


def test_fragment_reassembly_in_real_captures() -> None:
    # The reassembled datagram is reported at the frame that completes it, its first fragment's
    # frame in first_frame, as tshark does.
    by_frame, counts, _ = decode_file(need(CORPUS / "ipv6frag.pcap"))
    assert counts.reassembled == 2
    whole = [p for ps in by_frame.values() for p in ps if p.first_frame]
    assert [(p.frame, p.first_frame, p.data[:7]) for p in whole] == [
        (2, 1, b"INVITE "),
        (5, 4, b"INVITE "),
    ]
    by_frame, counts, _ = decode_file(need(CORPUS / "video_call.pcap"))
    whole = [p for ps in by_frame.values() for p in ps if p.first_frame]
    assert [(p.frame, p.first_frame) for p in whole] == [
        (8, 7),
        (13, 12),
        (15, 14),
        (19, 18),
        (22, 21),
    ]
    assert counts.fragments == 10
    by_frame, _, _ = decode_file(need(CORPUS / "gprshome-wireshark_sip.pcap"))
    (invite,) = by_frame[568]
    assert (invite.first_frame, len(invite.data), invite.data[:7]) == (566, 1082, b"INVITE ")


TCP_ORACLE_FILES = ["ipip.pcap", "sip_ipv4_tcp.pcap", "sip-tcp.pcap", "sip_ipv4_tcp_retrans.pcap"]


@pytest.mark.parametrize("name", TCP_ORACLE_FILES)
def test_every_tcp_oracle_frame_yields_a_stream_piece(name: str) -> None:
    # Without a TCP sink the segments come out as they are: the frame carries a stream piece with
    # the innermost endpoints, and the message starts in the bytes seen so far in that direction.
    by_frame, _, skipped = decode_file(need(CORPUS / name))
    seen: dict[tuple[Endpoint, Endpoint], bytes] = {}
    upto: dict[int, bytes] = {}
    for number in sorted(by_frame):
        for p in by_frame[number]:
            if p.transport == "tcp":
                assert p.stream
                seen[(p.src, p.dst)] = seen.get((p.src, p.dst), b"") + p.data
                upto[number] = seen[(p.src, p.dst)]
    rows = [r for r in oracle_rows(name) if r["transport"] == "tcp"]
    assert rows
    for row in rows:
        number = int(row["frame"])
        want_src = Endpoint(row["src"].split("|")[-1], int(row["srcport"].split("|")[-1]))
        want_dst = Endpoint(row["dst"].split("|")[-1], int(row["dstport"].split("|")[-1]))
        pieces = [(p.src, p.dst) for p in by_frame[number] if p.transport == "tcp"]
        assert pieces == [(want_src, want_dst)]
        assert start_line(row) in upto[number]
    assert skipped == []


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


def test_sctp_real_capture() -> None:
    by_frame, _, skipped = decode_file(need(CORPUS / "sip_sctp.pcap"))
    rows = oracle_rows("sip_sctp.pcap")
    assert len(rows) == 4
    for row in rows:
        (p,) = by_frame[int(row["frame"])]
        assert p.transport == "sctp"
        assert (p.src.ip, p.dst.ip) == (row["src"], row["dst"])
        assert p.data.startswith(start_line(row))
    assert sum(len(ps) for ps in by_frame.values()) == 4
    assert skipped == []


def corpus_files() -> list[str]:
    if not CORPUS.exists():
        return []
    # c07-sip-r2.cap is a NetMon file, refused by the reader (tests/capture, tests/test_cli.py)
    skip = (".md", ".tsv")
    return sorted(p.name for p in CORPUS.iterdir() if p.suffix not in skip and "c07" not in p.name)


@pytest.mark.parametrize("name", corpus_files() or ["(no corpus)"])
def test_no_corpus_file_raises(name: str) -> None:
    path = need(CORPUS / name)
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic not in (
        b"\xd4\xc3\xb2\xa1",
        b"\xa1\xb2\xc3\xd4",
        b"\x4d\x3c\xb2\xa1",
        b"\x0a\x0d\x0d\x0a",
    ):
        pytest.skip(f"{name} is not pcap or pcapng (scapy's raw readers cannot read it)")
    by_frame, counts, _ = decode_file(path)
    frames_ = counts.frames
    assert frames_ > 0
    assert all(p.frame <= frames_ for ps in by_frame.values() for p in ps)


def test_fuzzed_capture_uses_what_it_can() -> None:
    # fuzz-2006-06-26-2594.pcap is aaa.pcap with bytes flipped: lengths lie, versions are wrong.
    # Frames whose IP total length or UDP length lies still carry their SIP (tshark shows them).
    by_frame, counts, skipped = decode_file(need(CORPUS / "fuzz-2006-06-26-2594.pcap"))
    assert counts.frames == 691
    assert counts.bad_length > 0
    lying_ip = {432: b"SIP/2.0 401", 454: b"SIP/2.0 401", 602: b"INVITE ", 640: b"SIP/2.0 401"}
    lying_udp = {253: b"ACK ", 603: b"SIP/2.0 407"}
    for number, start in (lying_ip | lying_udp).items():
        assert [p.data[: len(start)] for p in by_frame[number]] == [start]
    reasons = [s.reason for s in skipped]
    assert "IPv4 header with version 12" in reasons
    assert "IPv4 header length (IHL) of 4 bytes, below 20" in reasons
