"""Transports (``sipsniff.net.transport``): UDP, the hand-off of TCP segments with and without a
sink, SCTP DATA and I-DATA chunks and the user messages split over several, and damaged headers."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.sctp import SCTP, SCTPChunkData, SCTPChunkInit
from scapy.packet import Raw

from sipsniff.model import Endpoint, Frame, Payload
from tests.conftest import CORPUS, need
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
    decode_file,
    eth,
    frame,
    gtp,
    oracle_rows,
    outer_udp,
    sctp4,
    start_line,
    udp4,
    with_u16,
)


def test_empty_udp_is_counted_not_returned() -> None:
    out, counts, skipped = decode(frame(eth(0x0800, udp4(b""))))
    assert (out, skipped) == ([], [])
    assert counts.empty_udp == 1


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


# -- damage -------------------------------------------------------------------------------------

DAMAGE_CASES = {
    "udp-length-short": (with_u16(GOOD, 38, 4), "UDP length 4 below the 8-byte header"),
    "udp-header-cut": (
        eth(0x0800, bytes(IP(src=A4, dst=B4, proto=17) / Raw(b"\x13\xc4"))),
        "UDP header cut short: 2 of 8 bytes",
    ),
    "tcp-header-cut": (
        eth(0x0800, bytes(IP(src=A4, dst=B4, proto=6) / Raw(b"\x13\xc4" * 5))),
        "TCP header cut short: 10 of 20 bytes",
    ),
    "tcp-data-offset": (
        eth(0x0800, bytes(IP(src=A4, dst=B4) / TCP(dataofs=3) / Raw(b"abc"))),
        "TCP data offset of 12 bytes, below 20",
    ),
    "tcp-data-offset-beyond": (
        eth(0x0800, bytes(IP(src=A4, dst=B4) / TCP(dataofs=15))),
        "TCP data offset of 60 bytes beyond the 20 bytes of the segment",
    ),
    "sctp-header-cut": (
        eth(0x0800, bytes(IP(src=A4, dst=B4, proto=132) / Raw(b"\x13\xc4" * 3))),
        "SCTP common header cut short: 6 of 12 bytes",
    ),
    "sctp-chunk-length": (
        sctp4(struct.pack(">BBH", 0, 3, 2) + b"\x00" * 16),
        "SCTP chunk length 2, below 4",
    ),
    "sctp-data-chunk-cut": (
        sctp4(struct.pack(">BBHI", 0, 3, 8, 1)),
        "SCTP data chunk cut short: 8 of 16 bytes",
    ),
}
"""Name -> (frame, the reason it is skipped for)."""


@pytest.mark.parametrize("case", sorted(DAMAGE_CASES))
def test_damaged_frames_are_skipped_with_a_reason(case: str) -> None:
    data, reason = DAMAGE_CASES[case]
    assert damage(data) == [(7, TS, reason)]


def test_skipped_udp_damage_names_the_addresses() -> None:
    _, _, skipped = decode(frame(DAMAGE_CASES["udp-length-short"][0]))
    assert (skipped[0].src, skipped[0].dst) == (Endpoint(A4, 0), Endpoint(B4, 0))


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
