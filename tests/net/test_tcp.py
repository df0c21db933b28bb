"""TCP stream reassembly: hand-made segment sequences, a property, and real captures.

The real captures are read with scapy's raw readers and decoded down to TCP by ``tcp_segments``
(tests/builders.py: a small stand-in for ``sipsniff.net``, written independently of it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipsniff.model import Counts, Endpoint, Frame, Payload, Skipped
from sipsniff.net.tcp import ACK, FIN, PSH, RST, SYN, TcpReassembler
from tests.builders import Segment, tcp_segments


def reassemble(
    segments: Iterable[Segment], reassembler: TcpReassembler | None = None
) -> list[Payload]:
    """Every Payload of a capture, flush included."""
    tcp = reassembler or TcpReassembler(Counts(), [])
    out: list[Payload] = []
    for s in segments:
        out += tcp.segment(*s)
    return out + tcp.flush()


# -- hand-made segments -------------------------------------------------------------------------

A = Endpoint("192.0.2.1", 5060)
B = Endpoint("192.0.2.2", 40000)


def frame(number: int) -> Frame:
    return Frame(number, 1_700_000_000_000_000_000 + number * 1000, 1, b"", 60)


class Feeder:
    """Feeds hand-made segments of A -> B, numbering the frames."""

    def __init__(self, **limits: int) -> None:
        self.counts = Counts()
        self.skipped: list[Skipped] = []
        self.tcp = TcpReassembler(self.counts, self.skipped, **limits)
        self.number = 0

    def __call__(
        self,
        seq: int,
        data: bytes = b"",
        flags: int = ACK | PSH,
        *,
        src: Endpoint = A,
        dst: Endpoint = B,
        ack: int = 0,
    ) -> list[Payload]:
        self.number += 1
        return self.tcp.segment(frame(self.number), src, dst, seq & 0xFFFFFFFF, ack, flags, data)


def datas(payloads: list[Payload]) -> list[bytes]:
    return [p.data for p in payloads]


def test_in_order_each_segment_is_one_payload() -> None:
    feed = Feeder()
    assert feed(1000, b"", SYN) == []
    first = feed(1001, b"INVITE ")
    assert first == [
        Payload(2, frame(2).ts_ns, A, B, "tcp", b"INVITE ", 0, 0, 0, stream=True, gap=False)
    ]
    assert datas(feed(1008, b"sip:bob")) == [b"sip:bob"]
    assert datas(feed(1015, b" SIP/2.0")) == [b" SIP/2.0"]
    assert feed.counts == Counts()
    assert feed.skipped == []


def test_hot_path_hands_on_the_segment_bytes_without_copying() -> None:
    feed = Feeder()
    data = b"x" * 1448
    (p,) = feed(1, data)
    (q,) = feed(1 + 1448, data)
    assert p.data is data
    assert q.data is data


def test_reversed_segments_come_out_whole_with_the_frame_that_completed_them() -> None:
    feed = Feeder()
    feed(100, b"", SYN)
    assert feed(121, b"cccccccccc") == []  # frame 2
    assert feed(111, b"bbbbbbbbbb") == []  # frame 3
    (p,) = feed(101, b"aaaaaaaaaa")  # frame 4 fills the gap
    assert p.data == b"a" * 10 + b"b" * 10 + b"c" * 10
    assert (p.frame, p.first_frame, p.gap) == (4, 0, False)
    assert feed.counts.tcp_out_of_order == 2
    assert feed.tcp.buffered_bytes == 0


def test_duplicate_segment_gives_nothing() -> None:
    feed = Feeder()
    assert datas(feed(1, b"hello")) == [b"hello"]
    assert feed(1, b"hello") == []
    assert datas(feed(6, b" world")) == [b" world"]
    assert feed.counts == Counts(tcp_retransmissions=1)


def test_retransmission_of_delivered_data_after_more_data_gives_nothing() -> None:
    feed = Feeder()
    feed(1, b"one ")
    feed(5, b"two ")
    feed(9, b"three")
    assert feed(5, b"two ") == []
    assert feed(1, b"one two ") == []
    assert datas(feed(14, b"!")) == [b"!"]
    assert feed.counts.tcp_retransmissions == 2


def test_overlapping_segment_hands_on_only_new_bytes() -> None:
    feed = Feeder()
    feed(1, b"0123456789")
    assert datas(feed(6, b"56789ABCDE")) == [b"ABCDE"]
    assert feed.counts.tcp_overlaps == 1


def test_overlapping_out_of_order_keeps_the_first_copy_of_each_byte() -> None:
    feed = Feeder()
    feed(1, b"0123")
    assert feed(9, b"89ab") == []  # bytes 8..11, first copy
    assert feed(7, b"XXXXXXcd") == []  # bytes 6..13: 8..11 already held
    (p,) = feed(5, b"45")
    assert p.data == b"012345"[4:] + b"XX" + b"89ab" + b"cd"


def test_capture_starting_mid_stream_starts_at_first_data_segment() -> None:
    feed = Feeder()
    assert feed(7_000_000, b"", ACK) == []  # a pure ACK creates nothing
    assert datas(feed(7_000_000, b"ing\r\n\r\n")) == [b"ing\r\n\r\n"]
    assert datas(feed(7_000_007, b"OPTIONS")) == [b"OPTIONS"]
    assert feed.counts == Counts()


def test_syn_consumes_one_sequence_number() -> None:
    feed = Feeder()
    feed(5000, b"", SYN)
    assert feed(5000, b"", SYN) == []  # SYN retransmitted
    assert datas(feed(5001, b"abc")) == [b"abc"]


def test_syn_with_data_delivers_after_the_syn() -> None:
    feed = Feeder()
    assert datas(feed(5000, b"fast open", SYN)) == [b"fast open"]
    assert datas(feed(5010, b"!")) == [b"!"]


def test_new_syn_on_the_same_ports_starts_a_new_stream() -> None:
    feed = Feeder()
    feed(5000, b"", SYN)
    feed(5001, b"old")
    feed(9000, b"", SYN)
    assert datas(feed(9001, b"new")) == [b"new"]


def test_sequence_numbers_wrap_around() -> None:
    feed = Feeder()
    isn = 0xFFFFFFF0
    feed(isn, b"", SYN)
    a, b, c = b"a" * 10, b"b" * 10, b"c" * 10  # a ends at 0xFFFFFFFB, b crosses the wrap
    assert datas(feed(isn + 1, a)) == [a]
    assert feed(isn + 21, c) == []  # beyond the wrap, out of order
    (p,) = feed(isn + 11, b)
    assert p.data == b + c
    assert datas(feed(isn + 31, b"d")) == [b"d"]  # seq 15 after the wrap
    assert feed(isn + 11, b) == []  # an old retransmission across the wrap
    assert feed.counts.tcp_gaps == 0


def test_gap_never_filled_is_skipped_after_enough_segments() -> None:
    feed = Feeder(gap_segments=2)
    feed(1, b"a" * 100)
    # 1448 bytes lost at 101
    assert feed(1549, b"b" * 100) == []  # frame 2
    assert feed(1649, b"c" * 100) == []  # frame 3
    (p,) = feed(1749, b"d" * 100)  # frame 4: three segments held beyond the gap
    assert p.data == b"b" * 100 + b"c" * 100 + b"d" * 100
    assert (p.gap, p.frame, p.first_frame) == (True, 4, 2)
    assert feed.counts.tcp_gaps == 1
    assert feed.skipped == [
        Skipped(
            2,
            frame(2).ts_ns,
            "TCP gap: 1448 bytes missing in 192.0.2.1:5060 -> 192.0.2.2:40000 before frame 2",
            0,
            A,
            B,
            "tcp",
        )
    ]
    # the stream goes on in order, gap flag cleared
    assert [(p.data, p.gap) for p in feed(1849, b"e")] == [(b"e", False)]
    assert feed(101, b"x" * 1448) == []  # the lost bytes, too late


def test_gap_is_skipped_once_enough_bytes_are_held() -> None:
    feed = Feeder(gap_bytes=1000)
    feed(1, b"a")
    assert feed(12, b"b" * 1000) == []
    (p,) = feed(1012, b"c")
    assert p.gap
    assert p.data == b"b" * 1000 + b"c"
    assert feed.skipped[0].reason.startswith("TCP gap: 10 bytes missing")


def test_gap_acknowledged_by_the_receiver_is_skipped_at_once() -> None:
    feed = Feeder()
    feed(1, b"a" * 10)
    assert feed(21, b"c" * 10) == []  # bytes 11..20 not captured
    # B acknowledges everything up to 31: it got the bytes the capture missed
    (p,) = feed(1, b"", ACK, src=B, dst=A, ack=31)
    assert (p.src, p.dst, p.data, p.gap, p.frame) == (A, B, b"c" * 10, True, 2)
    assert "acknowledged by the receiver" in feed.skipped[0].reason


def test_partial_acknowledgement_does_not_skip_a_gap() -> None:
    feed = Feeder()
    feed(1, b"a" * 10)
    feed(21, b"c" * 10)
    assert feed(1, b"", ACK, src=B, dst=A, ack=15) == []  # 15..20 may still be in flight
    (p,) = feed(11, b"b" * 10)
    assert (p.data, p.gap) == (b"b" * 10 + b"c" * 10, False)


def test_receiver_ack_seen_before_the_out_of_order_segment_skips_the_gap() -> None:
    feed = Feeder()
    feed(1, b"a" * 10)
    feed(1, b"", ACK, src=B, dst=A, ack=31)
    (p,) = feed(21, b"c" * 10)
    assert (p.data, p.gap) == (b"c" * 10, True)


def test_flush_releases_data_beyond_gaps_marking_each_gap() -> None:
    feed = Feeder()
    feed(1, b"a")
    feed(5, b"b")  # 2..4 missing
    feed(10, b"c")  # 6..9 missing
    out = feed.tcp.flush()
    assert [(p.data, p.gap, p.frame) for p in out] == [(b"b", True, 2), (b"c", True, 3)]
    assert [s.reason.split(" in ")[0] for s in feed.skipped] == [
        "TCP gap: 3 bytes missing",
        "TCP gap: 4 bytes missing",
    ]
    assert feed.counts.tcp_gaps == 2
    assert feed.tcp.streams == 0
    assert feed.tcp.buffered_bytes == 0


def test_fin_closes_the_direction_and_late_retransmissions_are_dropped() -> None:
    feed = Feeder()
    feed(100, b"", SYN)
    feed(101, b"BYE")
    feed(1, b"", SYN | ACK, src=B, dst=A)
    assert feed.tcp.streams == 2
    assert datas(feed(104, b"...", FIN | ACK)) == [b"..."]
    assert feed.tcp.streams == 1
    assert feed(101, b"BYE...") == []  # retransmission after the close
    assert feed(107, b"", FIN | ACK) == []  # FIN retransmitted
    assert feed(108, b"", ACK) == []  # the last ACK
    assert feed.tcp.streams == 1
    assert feed.counts.tcp_retransmissions == 1


def test_fin_before_a_gap_is_filled_waits_for_the_missing_bytes() -> None:
    feed = Feeder()
    feed(1, b"aaaa")
    assert feed(9, b"cccc", FIN | ACK) == []
    (p,) = feed(5, b"bbbb")  # the retransmission after the FIN
    assert (p.data, p.gap) == (b"bbbbcccc", False)
    assert feed.tcp.streams == 0


def test_data_after_close_without_syn_starts_a_new_stream() -> None:
    feed = Feeder()
    feed(1, b"a", FIN | ACK)
    assert datas(feed(90_000, b"new")) == [b"new"]


def test_rst_closes_both_directions_and_releases_what_is_held() -> None:
    feed = Feeder()
    feed(1, b"a")
    feed(3, b"c")
    feed(1, b"x", src=B, dst=A)
    out = feed(2, b"", RST | ACK)
    assert [(p.data, p.gap) for p in out] == [(b"c", True)]
    assert feed.tcp.streams == 0
    assert feed.tcp.buffered_bytes == 0


def test_segment_far_beyond_the_window_is_dropped_with_a_record() -> None:
    feed = Feeder(max_stream_bytes=10_000)
    feed(1, b"a")
    assert feed(50_000, b"junk") == []
    assert feed.tcp.buffered_bytes == 0
    assert feed.counts.tcp_out_of_window == 1
    assert "outside the 10000-byte window: dropped" in feed.skipped[0].reason
    assert datas(feed(2, b"b")) == [b"b"]


def test_stream_that_jumps_for_good_restarts() -> None:
    feed = Feeder(max_stream_bytes=10_000)
    feed(1, b"a")
    far = 3_000_000_000
    assert feed(far, b"1") == []
    assert feed(far + 1, b"2") == []
    (p,) = feed(far + 2, b"3")  # the third in a row: a new stream whose SYN was not captured
    assert (p.data, p.gap) == (b"3", True)
    assert datas(feed(far + 3, b"4")) == [b"4"]
    assert feed.counts.tcp_restarts == 1


def test_total_cap_releases_the_oldest_buffering_stream() -> None:
    feed = Feeder(max_total_bytes=150)
    c = Endpoint("192.0.2.3", 5060)
    feed(1, b"a")
    feed(3, b"b" * 100)  # A -> B holds 100 bytes beyond a gap
    feed(1, b"x", src=c, dst=B)
    out = feed(3, b"y" * 100, src=c, dst=B)  # 200 held: over the cap
    assert [(p.src, p.data, p.gap) for p in out] == [(A, b"b" * 100, True)]
    assert feed.tcp.buffered_bytes == 100
    assert "total TCP buffer cap reached" in feed.skipped[0].reason


def test_stream_cap_bounds_what_one_direction_holds() -> None:
    feed = Feeder(max_stream_bytes=1000, gap_bytes=1_000_000)
    feed(1, b"a")
    out: list[Payload] = []
    for i in range(6):  # 400 bytes, 10 missing, 400 bytes, 10 missing...
        out += feed(10 + 410 * i, b"z" * 400)
        assert feed.tcp.buffered_bytes <= 1000
    # each release holds the bytes of one frame and is reported at that frame
    assert [(p.frame, p.first_frame, p.gap) for p in out] == [(f, 0, True) for f in (2, 3, 4, 5)]


def test_bad_limits_are_a_usage_error() -> None:
    with pytest.raises(ValueError, match="positive"):
        TcpReassembler(Counts(), [], max_stream_bytes=0)


# -- a property: any segmentation, order and duplication gives back the stream ------------------


@st.composite
def shuffled_segments(draw: st.DrawFn) -> tuple[bytes, int, list[tuple[int, bytes]]]:
    data = draw(st.binary(min_size=1, max_size=400))
    isn = draw(st.integers(0, 0xFFFFFFFF))
    cuts = (
        sorted(draw(st.sets(st.integers(1, len(data) - 1), max_size=20))) if len(data) > 1 else []
    )
    bounds = [0, *cuts, len(data)]
    segs = [(bounds[i], data[bounds[i] : bounds[i + 1]]) for i in range(len(bounds) - 1)]
    extra = draw(st.lists(st.sampled_from(segs), max_size=5))  # retransmissions
    overlaps = draw(  # overlapping retransmissions with other boundaries
        st.lists(
            st.tuples(st.integers(0, len(data) - 1), st.integers(1, 50)).map(
                lambda t: (t[0], data[t[0] : t[0] + t[1]])
            ),
            max_size=3,
        )
    )
    order = draw(st.permutations(segs + extra + overlaps))
    return data, isn, order


@settings(max_examples=300, deadline=None)
@given(shuffled_segments())
def test_any_order_gives_the_original_bytes_once(
    case: tuple[bytes, int, list[tuple[int, bytes]]],
) -> None:
    data, isn, order = case
    feed = Feeder()
    out = feed(isn, b"", SYN)
    for off, piece in order:
        out += feed(isn + 1 + off, piece)
    out += feed.tcp.flush()
    assert b"".join(p.data for p in out) == data
    assert not any(p.gap for p in out)
    assert all(p.frame >= (p.first_frame or p.frame) for p in out)
    assert feed.tcp.buffered_bytes == 0


# -- real captures ------------------------------------------------------------------------------


def streams(payloads: list[Payload]) -> dict[tuple[Endpoint, Endpoint], bytes]:
    out: dict[tuple[Endpoint, Endpoint], bytes] = {}
    for p in payloads:
        out[p.src, p.dst] = out.get((p.src, p.dst), b"") + p.data
    return out


def test_retransmitted_segment_is_not_handed_on_twice(corpus: Path) -> None:
    counts = Counts()
    out = reassemble(tcp_segments(corpus / "sip_ipv4_tcp_retrans.pcap"), TcpReassembler(counts, []))
    client, server = Endpoint("172.168.0.252", 52795), Endpoint("172.168.0.228", 5060)
    to_client = [p for p in out if (p.src, p.dst) == (server, client)]
    assert [p.frame for p in to_client] == [32, 36]  # frame 38 repeats frame 36
    assert streams(out)[client, server].count(b"REGISTER sip:") == 2
    assert counts.tcp_retransmissions == 1


def test_large_body_over_many_segments(corpus: Path) -> None:
    out = reassemble(tcp_segments(corpus / "sip-body-large.pcap"))
    invite = [p for p in out if p.dst.port == 5060]
    assert [p.frame for p in invite] == [5, 6, 7, 8, 9]
    assert sum(len(p.data) for p in invite) == 65793
    assert invite[0].data.startswith(b"INVITE sip:bob@target.com SIP/2.0\r\n")


def test_lost_segment_in_tls_capture_is_reported_as_a_gap(corpus: Path) -> None:
    counts = Counts()
    skipped: list[Skipped] = []
    out = reassemble(tcp_segments(corpus / "tlssaved.pcap"), TcpReassembler(counts, skipped))
    assert counts.tcp_gaps == 1
    assert [s.frame for s in skipped] == [3]
    assert sum(p.gap for p in out) == 1


def _tshark_follow(path: Path, index: int) -> tuple[Endpoint, Endpoint, bytes, bytes]:
    """Both directions of TCP conversation ``index`` as tshark reassembles them."""
    text = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-qz", f"follow,tcp,raw,{index}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    nodes: list[Endpoint] = []
    sent: list[list[bytes]] = [[], []]
    for line in text.splitlines():
        if line.startswith("Node "):
            host, port = line.split(": ", 1)[1].rsplit(":", 1)
            nodes.append(Endpoint(host.strip("[]"), int(port)))
        elif line and all(c in "0123456789abcdef\t" for c in line) and len(nodes) == 2:
            sent[line.startswith("\t")].append(bytes.fromhex(line.strip()))
    return nodes[0], nodes[1], b"".join(sent[0]), b"".join(sent[1])


_MISSING = re.compile(rb"\[[0-9]+ bytes missing in capture file\]\x00")


def _tshark_streams(path: Path) -> int:
    """How many TCP conversations tshark numbers in a capture."""
    text = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-Y", "tcp", "-T", "fields", "-e", "tcp.stream"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return max(map(int, text.split())) + 1


@pytest.mark.tools
@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("sip_ipv4_tcp_fragmented.pcap", 250_000),
        ("sip_ipv4_tcp_retrans.pcap", 25_000),
        ("sip-tcp.pcap", 1_000),
        ("sip_tcp_websocket.pcap", 10_000),
        ("tlssaved.pcap", 3_000),
    ],
)
def test_byte_streams_equal_tsharks(corpus: Path, name: str, size: int) -> None:
    """Both directions of every connection, byte for byte as ``tshark -z follow,tcp,raw``."""
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    path = corpus / name
    payloads = reassemble(tcp_segments(path))
    mine = streams(payloads)
    gaps = Counter((p.src, p.dst) for p in payloads if p.gap)
    compared = 0
    for index in range(_tshark_streams(path)):
        a, b, a_to_b, b_to_a = _tshark_follow(path, index)
        for key, theirs in (((a, b), a_to_b), ((b, a), b_to_a)):
            # tshark writes "[N bytes missing in capture file]" where a segment was not captured
            theirs, missing = _MISSING.subn(b"", theirs)
            assert mine.get(key, b"") == theirs
            assert gaps[key] == missing
            compared += len(theirs)
    assert compared > size
