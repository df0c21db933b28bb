"""Frames for the tests of ``sipsniff.net``: builders shared by test_decode, test_link, test_ip,
test_tunnel, test_transport and test_walk, a good frame of every link type and tunnel, and a
reader of real captures (one place: a test module imports these, never another test module's).

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

from scapy.contrib.geneve import GENEVE
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import GRE, Dot1AD, Dot1Q, Ether
from scapy.layers.ppp import PPP, PPPoE
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw
from scapy.utils import RawPcapReader

from sipsniff.model import Counts, Endpoint, Frame, Payload, Skipped
from sipsniff.net.decode import Decoder
from tests.conftest import ORACLE, need

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


def damage(data: bytes, linktype: int = 1) -> list[tuple[int, int, str]]:
    """Decode ``data`` as frame 7 at ``TS``, checking that it yields nothing and that each record
    carries bytes of the frame; return the (frame, ts_ns, reason) of its ``Skipped`` records."""
    out, _, skipped = decode(frame(data, linktype, number=7))
    assert out == []
    assert all(s.data != b"" for s in skipped)
    return [(s.frame, s.ts_ns, s.reason) for s in skipped]


GOOD = eth(0x0800, udp4())


def with_byte(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + bytes([value]) + data[offset + 1 :]


def with_u16(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + struct.pack(">H", value) + data[offset + 2 :]


# -- tunnels (also damage cases elsewhere) -------------------------------------------------------

INNER = udp4(src="10.0.0.1", dst="10.0.0.2", sport=5062, dport=5064)
INNER_SRC, INNER_DST = Endpoint("10.0.0.1", 5062), Endpoint("10.0.0.2", 5064)
INNER6 = udp6(src="fd00::1", dst="fd00::2", sport=5062, dport=5064)
INNER6_SRC, INNER6_DST = Endpoint("fd00::1", 5062), Endpoint("fd00::2", 5064)


def outer4(proto: int, payload: bytes) -> bytes:
    return eth(0x0800, bytes(IP(src=A4, dst=B4, proto=proto) / Raw(payload)))


def outer_udp(dport: int, payload: bytes, sport: int = 40000) -> bytes:
    return eth(0x0800, udp4(payload, sport=sport, dport=dport))


def gtp(payload: bytes, *, mtype: int = 0xFF, opt: bytes = b"", flags: int = 0x30) -> bytes:
    return struct.pack(">BBHI", flags, mtype, len(opt) + len(payload), 0xABCD) + opt + payload


def sctp4(*chunks: bytes) -> bytes:
    common = struct.pack(">HHII", 5060, 5080, 0x11223344, 0)
    return eth(0x0800, bytes(IP(src=A4, dst=B4, proto=132) / Raw(common + b"".join(chunks))))


# -- a frame of every link type, and of every tunnel (test_link, test_tunnel, test_decode) ------

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
    "null-ipv6-23": (0, b"\x17\x00\x00\x00" + udp6(), 6),
    "null-ipv6-23-be": (0, b"\x00\x00\x00\x17" + udp6(), 6),
    "loop-ipv6-28": (108, b"\x00\x00\x00\x1c" + udp6(), 6),
    "loop-ipv6-30": (108, b"\x00\x00\x00\x1e" + udp6(), 6),
    "sll2-vlan": (276, sll2(0x8100) + struct.pack(">HH", 5, 0x86DD) + udp6(), 6),
}
"""Name -> (link type, frame, IP version): a frame of each link type and ethertype that carries
SIP in UDP from SRC to DST of that version."""


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
