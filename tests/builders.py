"""Packets, captures and SIP messages built byte by byte, shared by the tests (one place: a test
module imports these, never another test module's)."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

T0 = 1_700_000_000_000_000_000
"""Time of the first frame (ns)."""
A = (10, 0, 0, 1)
B = (10, 0, 0, 2)
ETHERNET = bytes.fromhex("001122334455 66778899aabb 0800")


# -- building captures -----------------------------------------------------------------------------
def _checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return int(~total & 0xFFFF)


def ipv4(src: Sequence[int], dst: Sequence[int], proto: int, payload: bytes) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0, 64, proto, 0, bytes(src), bytes(dst)
    )
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    return header + payload


def udp_frame(
    payload: bytes, src: Sequence[int] = A, dst: Sequence[int] = B, sport: int = 5060
) -> bytes:
    """An Ethernet frame of one IPv4/UDP datagram to port 5060."""
    udp = struct.pack("!HHHH", sport, 5060, 8 + len(payload), 0) + payload
    return ETHERNET + ipv4(src, dst, 17, udp)


def tcp_frame(
    payload: bytes, seq: int, src: Sequence[int] = A, dst: Sequence[int] = B, flags: int = 0x18
) -> bytes:
    """An Ethernet frame of one IPv4/TCP segment from port 40000 to 5060 (PSH ACK)."""
    tcp = struct.pack("!HHIIBBHHH", 40000, 5060, seq, 0, 0x50, flags, 65535, 0, 0) + payload
    return ETHERNET + ipv4(src, dst, 6, tcp)


def tcp_stream(data: bytes, *, seq: int = 1000, mss: int = 60_000) -> list[bytes]:
    """Frames that carry ``data`` as one TCP stream, in segments of ``mss`` bytes at most."""
    return [tcp_frame(data[i : i + mss], seq + i) for i in range(0, len(data), mss)]


def pcap(
    frames: Sequence[bytes],
    *,
    times: Sequence[int] | None = None,
    snaplen: int = 65535,
    step_ns: int = 10_000_000,
) -> bytes:
    """A microsecond little-endian Ethernet pcap; frame i at ``times[i]`` or ``T0 + i * step``."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, 1)]
    for i, data in enumerate(frames):
        ts = T0 + i * step_ns if times is None else times[i]
        us = ts // 1000
        out.append(struct.pack("<IIII", us // 10**6, us % 10**6, len(data), len(data)) + data)
    return b"".join(out)


def block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", btype, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))


def pcapng(blocks: Sequence[bytes]) -> bytes:
    """A pcapng file: section header, one Ethernet interface (microseconds), then ``blocks``."""
    shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb = block(1, struct.pack("<HHI", 1, 0, 0))
    return shb + idb + b"".join(blocks)


def epb(frame: bytes, ts_us: int) -> bytes:
    return block(
        6, struct.pack("<IIIII", 0, ts_us >> 32, ts_us & 0xFFFFFFFF, len(frame), len(frame)) + frame
    )


def sip(start: str, call_id: str, cseq: str, *extra: str, tag: str = "") -> bytes:
    """A SIP message with the headers correlation needs and ``extra`` ones, CRLF line ends."""
    lines = [
        start,
        f"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-{call_id[:8]}",
        "From: <sip:alice@example.com>;tag=a1",
        f"To: <sip:bob@example.com>{tag}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq}",
        *extra,
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def options_pair(n: int) -> list[bytes]:
    """An OPTIONS from A and its 200 OK from B, with Call-ID ``call-{n}``."""
    cid = f"call-{n}"
    return [
        udp_frame(sip("OPTIONS sip:bob@example.com SIP/2.0", cid, "1 OPTIONS")),
        udp_frame(sip("SIP/2.0 200 OK", cid, "1 OPTIONS", tag=";tag=b1"), B, A),
    ]


GOOD = [f for n in range(3) for f in options_pair(n)]
"""Three OPTIONS dialogs: six frames."""


def options_capture(path: Path, dialogs: int, gap_us: int = 1000) -> None:
    """``dialogs`` OPTIONS / 200 OK pairs over UDP, ``gap_us`` apart (as
    benchmarks/million_dialogs.py writes them)."""
    a, b = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for n in range(dialogs):
            common = (
                f"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK{n:x}\r\n"
                f"From: <sip:probe@example.com>;tag={n:x}\r\n"
                "To: <sip:proxy@example.com>{tag}\r\n"
                f"Call-ID: {n:08x}-options@10.0.0.1\r\n"
                "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            )
            request = ("OPTIONS sip:proxy@example.com SIP/2.0\r\n" + common.format(tag="")).encode()
            reply = ("SIP/2.0 200 OK\r\n" + common.format(tag=";tag=p1")).encode()
            for i, (src, dst, payload) in enumerate(((a, b, request), (b, a, reply))):
                ip = struct.pack(
                    "!BBHHHBBH4s4sHHHH", 0x45, 0, 28 + len(payload), 0, 0, 64, 17, 0, src, dst,
                    5060, 5060, 8 + len(payload), 0,
                )  # fmt: skip
                frame = ETHERNET + ip + payload
                us = 1_700_000_000_000_000 + n * gap_us + i * 200
                f.write(
                    struct.pack("<IIII", us // 1_000_000, us % 1_000_000, len(frame), len(frame))
                )
                f.write(frame)
