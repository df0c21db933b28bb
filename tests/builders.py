"""Packets, captures and SIP messages built byte by byte, shared by the tests (one place: a test
module imports these, never another test module's)."""

from __future__ import annotations

import datetime
import io
import ipaddress
import struct
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

from click.testing import CliRunner
from scapy.utils import RawPcapReader

from sipsniff.cli import cli
from sipsniff.cli.env import Environment
from sipsniff.model import Endpoint, Frame, Trace
from sipsniff.pipeline import read_trace
from tests.conftest import CAPTURES

T0 = 1_700_000_000_000_000_000
"""Time of the first frame (ns)."""
A = (10, 0, 0, 1)
B = (10, 0, 0, 2)
ETHERNET = bytes.fromhex("001122334455 66778899aabb 0800")


# -- building captures -----------------------------------------------------------------------------
def unplaced(path: Path | str, frames: Sequence[Frame]) -> list[Frame]:
    """``frames`` read from ``path`` without their place in it (``Frame.offset``), once each
    place is checked to hold the frame's bytes."""
    data = Path(path).read_bytes()
    out = []
    for f in frames:
        if f.offset >= 0:
            assert data[f.offset : f.offset + len(f.data)] == f.data, f.number
        out.append(f._replace(offset=-1))
    return out


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


# -- a small capture reader: Ethernet (VLAN), Linux SLL, BSD NULL, raw IP; IPv4/IPv6, IP-in-IP --


class Segment(NamedTuple):
    """The arguments of ``TcpReassembler.segment`` for one captured TCP segment."""

    frame: Frame
    src: Endpoint
    dst: Endpoint
    seq: int
    ack: int
    flags: int
    payload: bytes


def _ip(data: bytes, off: int) -> tuple[str, str, int, int, int] | None:
    """(src, dst, protocol, payload offset, payload end) of the IP packet at ``off``.

    IP-in-IP (protocol 4, 41) is followed to the inner packet; fragments are left out.
    """
    while True:
        version = data[off] >> 4
        if version == 4:
            total, frag = struct.unpack_from("!H2xH", data, off + 2)
            proto = data[off + 9]
            src = str(ipaddress.IPv4Address(data[off + 12 : off + 16]))
            dst = str(ipaddress.IPv4Address(data[off + 16 : off + 20]))
            end = min(len(data), off + total)
            if frag & 0x3FFF:
                return None
            off += (data[off] & 15) * 4
        elif version == 6:
            plen = struct.unpack_from("!H", data, off + 4)[0]
            proto = data[off + 6]
            src = str(ipaddress.IPv6Address(data[off + 8 : off + 24]))
            dst = str(ipaddress.IPv6Address(data[off + 24 : off + 40]))
            end = min(len(data), off + 40 + plen)
            off += 40
        else:
            return None
        if proto not in (4, 41):
            return src, dst, proto, off, end


def _link(linktype: int, data: bytes) -> int | None:
    """Offset of the IP header, or None when the frame carries no IP."""
    if linktype == 1:  # Ethernet, 802.1Q / QinQ tags skipped
        off, etype = 14, struct.unpack_from("!H", data, 12)[0]
        while etype in (0x8100, 0x88A8):
            etype = struct.unpack_from("!H", data, off + 2)[0]
            off += 4
        return off if etype in (0x0800, 0x86DD) else None
    if linktype == 113:  # Linux cooked v1
        return 16 if struct.unpack_from("!H", data, 14)[0] in (0x0800, 0x86DD) else None
    if linktype == 0:  # BSD loopback
        return 4
    if linktype in (12, 101, 228, 229):  # raw IP
        return 0
    return None


def tcp_segments(path: Path) -> list[Segment]:
    """Every TCP segment of a pcap or pcapng file, frames numbered from 1 as Wireshark does."""
    out: list[Segment] = []
    reader = RawPcapReader(str(path))
    try:
        for number, (data, info) in enumerate(reader, 1):
            meta: Any = info  # PacketMetadata (pcap) or PacketMetadataNg (pcapng)
            if hasattr(meta, "tsresol"):  # pcapng
                linktype = meta.linktype
                ts_ns = ((meta.tshigh << 32) | meta.tslow) * 1_000_000_000 // meta.tsresol
            else:
                linktype = reader.linktype
                scale = 1 if getattr(reader, "nano", False) else 1000
                ts_ns = meta.sec * 1_000_000_000 + meta.usec * scale
            frame = Frame(number, ts_ns, linktype, data, meta.wirelen)
            off = _link(linktype, data)
            ip = None if off is None else _ip(data, off)
            if ip is None or ip[2] != 6:
                continue
            src, dst, _, off, end = ip
            sport, dport, seq, ack, hlen, flags = struct.unpack_from("!HHIIBB", data, off)
            payload = data[off + (hlen >> 4) * 4 : end]
            out.append(
                Segment(frame, Endpoint(src, sport), Endpoint(dst, dport), seq, ack, flags, payload)
            )
    finally:
        reader.close()
    return out


LOSSY = CAPTURES / "calls-lossy.pcap"
REG = CAPTURES / "register-407.pcap"
CALL = CAPTURES / "invite-call.pcap"

# -- hostile traces: real pcap files read by the real pipeline ----------------------------------

Address = tuple[str, int]

UA_A: Address = ("10.0.0.1", 5060)
UA_B: Address = ("10.0.0.2", 5080)

EVIL = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "</script><script>alert(2)</script>",
    "javascript:alert(3)",
    "{{ 7*7 }}",
    "a\u2028b\u2029c",
)
"""Strings that must come out as text in every format."""


def write_pcap(path: Path, packets: Sequence[tuple[int, Address, Address, bytes]]) -> Path:
    """A nanosecond pcap of raw IPv4/UDP packets: (ts_ns, src, dst, payload) each."""
    out = [struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 101)]  # LINKTYPE_RAW
    for ts_ns, (sip, sport), (dip, dport), payload in packets:
        udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
        header = struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(udp),
            0,
            0,
            64,
            17,
            0,
            bytes(map(int, sip.split("."))),
            bytes(map(int, dip.split("."))),
        )
        ip = header + udp
        out.append(struct.pack("<IIII", ts_ns // 10**9, ts_ns % 10**9, len(ip), len(ip)) + ip)
    path.write_bytes(b"".join(out))
    return path


def sip_text(start: str, headers: Sequence[str], body: bytes = b"") -> bytes:
    lines = [start, *headers, f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


EVIL_CALL_ID = "evil-{{ 7*7 }}</script>\u2028<b>x</b>"


def evil_packets() -> list[tuple[int, Address, Address, bytes]]:
    """An INVITE (sent twice: a retransmission) and a 486 whose text carries every ``EVIL``."""
    via = "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-evil"
    common = [
        f'From: "{EVIL[0]}" <sip:alice@example.com>;tag=1',
        f"Call-ID: {EVIL_CALL_ID}",
        "CSeq: 1 INVITE",
    ]
    invite = sip_text(
        "INVITE sip:{{7*7}}@example.com SIP/2.0",
        [
            via,
            *common,
            "To: <javascript:alert(3)>",
            f"User-Agent: {EVIL[1]}",
            f"Subject: {EVIL[4]} {EVIL[5]}",
        ],
    )
    busy = sip_text(
        f"SIP/2.0 486 {EVIL[2]}",
        [via, *common, "To: <javascript:alert(3)>;tag=2", f"Server: {EVIL[0]}"],
    )
    return [
        (T0, UA_A, UA_B, invite),
        (T0 + 500_000_000, UA_A, UA_B, invite),
        (T0 + S, UA_B, UA_A, busy),
    ]


S = 1_000_000_000


def evil_trace(tmp_path: Path) -> Trace:
    """The real pipeline's Trace of ``evil_packets``: one dialog, three messages."""
    trace = read_trace([str(write_pcap(tmp_path / "evil.pcap", evil_packets()))])
    assert len(trace.dialogs) == 1 and len(trace.entries) == 3, trace.skipped
    assert trace.entries[2].retransmission_of == 1
    return trace


def capture(path: Path) -> Trace:
    return read_trace([str(path)])


# -- the CLI with an Environment of the test's own -------------------------------------------------


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str


def fake(**fields: object) -> Environment:
    """An environment of two fresh streams, 80 columns, no terminal, UTC, the clock stopped."""
    base = Environment(
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        width=80,
        tz=datetime.UTC,
        clock=lambda: 1_800_000_000_000_000_000,
        monotonic=lambda: 1000.0,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def run(env: Environment, *args: str) -> Run:
    # TERM fixes the colours rich picks for a terminal (16 colours); the runner's own streams
    # must stay empty: everything goes to the environment's.
    result = CliRunner().invoke(
        cli, list(args), obj=env, catch_exceptions=False, env={"TERM": "xterm", "COLORTERM": ""}
    )
    assert result.stdout == ""
    assert isinstance(env.stdout, io.StringIO) and isinstance(env.stderr, io.StringIO)
    return Run(result.exit_code, env.stdout.getvalue(), env.stderr.getvalue())


# -- a B2BUA: two legs of one call, the second naming the first in X-Call-ID -------------------


def two_legs(path: Path) -> Path:
    """Caller 10.0.0.1 -> B2BUA 10.0.0.2 -> callee 10.0.0.3, answered and hung up: two dialogs,
    the B2BUA's outgoing INVITE carrying ``X-Call-ID`` of the incoming one (as Asterisk and
    FreeSWITCH can be told to)."""
    caller, b2bua_in = ("10.0.0.1", 5060), ("10.0.0.2", 5060)
    b2bua_out, callee = ("10.0.0.2", 5062), ("10.0.0.3", 5060)

    def leg(call_id: str, a: Address, b: Address, extra: Sequence[str]) -> list[bytes]:
        via = f"Via: SIP/2.0/UDP {a[0]}:{a[1]};branch=z9hG4bK-{call_id}"
        frm = f"From: <sip:alice@{a[0]}>;tag=f-{call_id}"
        to = f"To: <sip:bob@{b[0]}>"
        cid = f"Call-ID: {call_id}"
        invite = sip_text(
            f"INVITE sip:bob@{b[0]} SIP/2.0", [via, frm, to, cid, "CSeq: 1 INVITE", *extra]
        )
        to_tag = f"{to};tag=t-{call_id}"
        ok = sip_text("SIP/2.0 200 OK", [via, frm, to_tag, cid, "CSeq: 1 INVITE"])
        ack = sip_text(
            f"ACK sip:bob@{b[0]} SIP/2.0",
            [via.replace("z9hG4bK-", "z9hG4bK-ack-"), frm, to_tag, cid, "CSeq: 1 ACK"],
        )
        bye = sip_text(
            f"BYE sip:bob@{b[0]} SIP/2.0",
            [via.replace("z9hG4bK-", "z9hG4bK-bye-"), frm, to_tag, cid, "CSeq: 2 BYE"],
        )
        bye_ok = sip_text(
            "SIP/2.0 200 OK",
            [via.replace("z9hG4bK-", "z9hG4bK-bye-"), frm, to_tag, cid, "CSeq: 2 BYE"],
        )
        return [invite, ok, ack, bye, bye_ok]

    a = leg("leg-a", caller, b2bua_in, [])
    b = leg("leg-b", b2bua_out, callee, ["X-Call-ID: leg-a"])
    ms = 1_000_000
    packets = [
        (T0, caller, b2bua_in, a[0]),
        (T0 + 2 * ms, b2bua_out, callee, b[0]),
        (T0 + 900 * ms, callee, b2bua_out, b[1]),
        (T0 + 902 * ms, b2bua_in, caller, a[1]),
        (T0 + 903 * ms, caller, b2bua_in, a[2]),
        (T0 + 904 * ms, b2bua_out, callee, b[2]),
        (T0 + 5000 * ms, caller, b2bua_in, a[3]),
        (T0 + 5001 * ms, b2bua_in, caller, a[4]),
        (T0 + 5002 * ms, b2bua_out, callee, b[3]),
        (T0 + 5003 * ms, callee, b2bua_out, b[4]),
    ]
    return write_pcap(path, packets)
