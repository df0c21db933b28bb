"""Frames for the tests of ``sipsniff.net``: builders shared by test_decode, test_link, test_ip,
test_tunnel and test_transport, and a reader of real captures.

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

from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
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
