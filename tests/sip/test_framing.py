"""SIP framing over streams: hand-made pieces, properties, and real captures against tshark."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipsniff.model import Counts, Endpoint, Payload, Skipped
from sipsniff.net.tcp import TcpReassembler
from sipsniff.sip import framing, parser
from sipsniff.sip.framing import MAX_START_LINE, Framers, StreamFramer
from tests.builders import tcp_segments
from tests.fastpaths import run_sanitized

A = Endpoint("192.0.2.1", 5060)
B = Endpoint("192.0.2.2", 40000)
T0 = 1_700_000_000_000_000_000


def piece(
    data: bytes, frame: int = 1, *, gap: bool = False, src: Endpoint = A, dst: Endpoint = B
) -> Payload:
    return Payload(frame, T0 + frame, src, dst, "tcp", data, 0, stream=True, gap=gap)


def sip(start: str, body: bytes = b"", *, cl: bool = True, call_id: str = "c1") -> bytes:
    head = f"{start}\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK1\r\nCall-ID: {call_id}\r\n"
    if cl:
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


SDP = (
    b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
    b"m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)
INVITE = sip("INVITE sip:bob@example.com SIP/2.0", SDP)
TRYING = sip("SIP/2.0 100 Trying")
ACK = sip("ACK sip:bob@example.com SIP/2.0", call_id="c2")


def feed_all(framer: StreamFramer, pieces: list[Payload]) -> list[tuple[bytes, Payload]]:
    out: list[tuple[bytes, Payload]] = []
    for p in pieces:
        out += framer.feed(p)
    return out


def messages(framed: list[tuple[bytes, Payload]]) -> list[bytes]:
    return [m for m, _ in framed]


# -- framing ------------------------------------------------------------------------------------


def test_several_messages_in_one_piece() -> None:
    framer = StreamFramer()
    out = framer.feed(piece(INVITE + TRYING + ACK, 7))
    assert messages(out) == [INVITE, TRYING, ACK]
    for msg, origin in out:
        assert origin == Payload(7, T0 + 7, A, B, "tcp", msg, 0, 0, 0, stream=False, gap=False)
    assert framer.buffered == 0
    assert framer.counts == Counts()


def test_one_message_in_ten_pieces_has_first_and_completing_frames() -> None:
    framer = StreamFramer()
    size = -(-len(INVITE) // 10)
    chunks = [INVITE[i : i + size] for i in range(0, len(INVITE), size)]
    assert len(chunks) == 10
    out = feed_all(framer, [piece(c, 11 + i) for i, c in enumerate(chunks)])
    ((msg, origin),) = out
    assert msg == INVITE
    assert (origin.frame, origin.ts_ns, origin.first_frame, origin.first_ts_ns) == (
        20,
        T0 + 20,
        11,
        T0 + 11,
    )
    assert not origin.stream


def test_message_that_starts_inside_a_piece_has_that_piece_as_first_frame() -> None:
    framer = StreamFramer()
    stream = INVITE + TRYING
    cut = len(INVITE) + 10
    out = feed_all(framer, [piece(stream[:cut], 3), piece(stream[cut:], 4)])
    assert [(m, o.frame, o.first_frame) for m, o in out] == [(INVITE, 3, 0), (TRYING, 4, 3)]


def test_piece_ending_exactly_at_a_message_end_hands_it_back_at_once() -> None:
    framer = StreamFramer()
    assert framer.feed(piece(INVITE[:50], 1)) == []
    assert messages(framer.feed(piece(INVITE[50:], 2))) == [INVITE]
    assert framer.buffered == 0


def test_keepalives_between_messages_are_skipped_and_counted() -> None:
    framer = StreamFramer()
    pieces = [
        piece(b"\r\n\r\n", 1),  # ping
        piece(INVITE, 2),
        piece(b"\r\n", 3),  # a second ping, split over two pieces
        piece(b"\r\n", 4),
        piece(TRYING + b"\r\n\r\n" + ACK, 5),  # one more between two messages
    ]
    out = feed_all(framer, pieces)
    assert [(m, o.frame, o.first_frame) for m, o in out] == [
        (INVITE, 2, 0),
        (TRYING, 5, 0),
        (ACK, 5, 0),
    ]
    assert framer.counts == Counts(keepalive=3)


def test_pong_is_one_keepalive() -> None:
    framer = StreamFramer()
    assert framer.feed(piece(b"\r\n")) == []
    assert framer.counts == Counts(keepalive=1)
    assert framer.buffered == 0


def test_gap_mid_message_resynchronises_at_the_next_start_line() -> None:
    framer = StreamFramer()
    assert framer.feed(piece(INVITE[:120], 1)) == []
    tail = b"a=rtpmap:0 PCMU/8000\r\n"  # the end of some message whose start was lost
    out = framer.feed(piece(tail + ACK + TRYING, 5, gap=True))
    assert [(m, o.frame, o.gap) for m, o in out] == [
        (INVITE[:120], 1, False),  # cut short, handed back so that it is not lost
        (ACK, 5, True),
        (TRYING, 5, False),
    ]
    assert framer.counts == Counts(
        sip_stream_truncated=1, sip_stream_resyncs=1, sip_stream_discarded_bytes=len(tail)
    )
    assert framer.skipped == [
        Skipped(
            5,
            T0 + 5,
            f"{len(tail)} bytes of 192.0.2.1:5060 -> 192.0.2.2:40000 (tcp) before a SIP start "
            "line discarded: not a SIP message",
            0,
            A,
            B,
            "tcp",
            tail,
        )
    ]


def test_gap_at_a_message_boundary_loses_nothing() -> None:
    framer = StreamFramer()
    assert messages(framer.feed(piece(INVITE, 1))) == [INVITE]
    out = framer.feed(piece(ACK, 3, gap=True))
    assert [(m, o.gap) for m, o in out] == [(ACK, True)]
    assert framer.skipped == []


def test_resync_start_line_split_over_pieces() -> None:
    framer = StreamFramer()
    junk = b"\x17\x03\x01garbage\r\nmore garbage\r\n"
    stream = junk + ACK
    cut = len(junk) + 5  # inside "ACK sip:..."
    out = feed_all(framer, [piece(stream[:cut], 1, gap=True), piece(stream[cut:], 2)])
    assert [(m, o.frame, o.first_frame) for m, o in out] == [(ACK, 2, 1)]
    assert framer.counts.sip_stream_discarded_bytes == len(junk)


def test_missing_content_length_on_a_stream_means_no_body() -> None:
    framer = StreamFramer()
    no_cl = sip("OPTIONS sip:a@example.com SIP/2.0", cl=False)
    out = framer.feed(piece(no_cl + TRYING))
    assert messages(out) == [no_cl, TRYING]
    assert framer.counts == Counts(sip_stream_no_content_length=1)


@pytest.mark.parametrize(
    "header",
    [
        b"Content-Length: 4",
        b"content-length:4",
        b"CONTENT-LENGTH  :   4  ",
        b"l: 4",
        b"L:4",
        b"Content-Length:\r\n 4",
    ],
)
def test_content_length_spellings(header: bytes) -> None:
    msg = b"MESSAGE sip:a@example.com SIP/2.0\r\nCall-ID: x\r\n" + header + b"\r\n\r\nabcd"
    framer = StreamFramer()
    assert messages(framer.feed(piece(msg + TRYING))) == [msg, TRYING]
    assert framer.counts == Counts()


def test_header_starting_with_l_is_not_content_length() -> None:
    msg = (
        b"MESSAGE sip:a@example.com SIP/2.0\r\nLocation: 9\r\nlx: 7\r\nContent-Length: 2\r\n\r\nhi"
    )
    assert messages(StreamFramer().feed(piece(msg + TRYING))) == [msg, TRYING]


def test_bad_content_length_is_taken_as_zero_and_counted() -> None:
    msg = b"MESSAGE sip:a@example.com SIP/2.0\r\nContent-Length: ten\r\n\r\n"
    framer = StreamFramer()
    assert messages(framer.feed(piece(msg + TRYING))) == [msg, TRYING]
    assert framer.counts == Counts(sip_stream_bad_content_length=1)


def test_body_with_bare_cr_and_lf_is_framed_by_its_length() -> None:
    body = b"line\rwith CR\nand LF\r\n\r\nSIP/2.0 200 OK\r\n\n\n"
    msg = sip("MESSAGE sip:a@example.com SIP/2.0", body)
    framer = StreamFramer()
    out = feed_all(framer, [piece(msg[:70], 1), piece(msg[70:] + ACK, 2)])
    assert messages(out) == [msg, ACK]


def test_lf_only_header_end_is_tolerated() -> None:
    msg = b"SIP/2.0 200 OK\nCall-ID: x\nContent-Length: 3\n\nabc"
    assert messages(StreamFramer().feed(piece(msg + TRYING))) == [msg, TRYING]


def test_oversize_message_is_dropped_and_the_stream_goes_on() -> None:
    framer = StreamFramer(max_message=300)
    big = sip("MESSAGE sip:a@example.com SIP/2.0", b"x" * 1000)
    out = feed_all(framer, [piece(big[:200], 1), piece(big[200:700], 2), piece(big[700:] + ACK, 3)])
    assert [(m, o.gap) for m, o in out] == [(ACK, True)]
    assert framer.counts.sip_stream_oversize == 1
    assert "SIP message of" in framer.skipped[0].reason
    assert "over the 300-byte limit" in framer.skipped[0].reason


def test_headers_without_end_are_bounded() -> None:
    framer = StreamFramer(max_message=2000)
    framer.feed(piece(b"INVITE sip:a@example.com SIP/2.0\r\n"))
    for i in range(300):
        framer.feed(piece(b"X-Filler: %d\r\n" % i, 2 + i))
        assert framer.buffered <= 2000
    assert framer.counts.sip_stream_oversize == 1
    assert "no end of the SIP headers within 2000 bytes" in framer.skipped[0].reason
    assert messages(framer.feed(piece(b"\r\n" + TRYING, 400))) == [TRYING]


def test_junk_between_messages_is_discarded_and_recorded() -> None:
    framer = StreamFramer()
    out = framer.feed(piece(INVITE + b"HELLO WORLD\r\n" + ACK))
    assert messages(out) == [INVITE, ACK]
    assert out[1][1].gap
    assert framer.counts.sip_stream_discarded_bytes == 13
    assert len(framer.skipped) == 1


@pytest.mark.parametrize(
    "stream",
    [
        # HTTP on port 5060 (http_on_sip_port.pcap)
        b"GET /index.m3u8 HTTP/1.1\r\nHost: 45.58.148.2\r\n\r\n" * 500,
        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\n<!DOCTYPE>" * 500,
        # TLS records: binary, few line feeds
        (b"\x17\x03\x03\x01\x00" + bytes(range(256))) * 200,
        # text without any line feed
        b"abcdefgh " * 10_000,
        # zeros
        bytes(100_000),
    ],
)
def test_non_sip_stream_is_not_buffered_and_not_reported(stream: bytes) -> None:
    framer = StreamFramer()
    for i in range(0, len(stream), 1448):
        assert framer.feed(piece(stream[i : i + 1448], 1 + i)) == []
        assert framer.buffered <= MAX_START_LINE
    assert framer.close() == []
    assert framer.skipped == []
    assert framer.counts.not_sip_streams == 1
    assert framer.counts.not_sip_stream_bytes == len(stream)


def test_close_returns_a_message_cut_short() -> None:
    framer = StreamFramer()
    framer.feed(piece(INVITE + TRYING[:30], 1))
    framer.feed(piece(TRYING[30:40], 2))
    ((msg, origin),) = framer.close()
    assert msg == TRYING[:40]
    assert (origin.frame, origin.first_frame) == (2, 1)
    assert framer.counts == Counts(sip_stream_truncated=1)
    assert framer.close() == []


def test_close_after_junk_in_a_sip_stream_records_it() -> None:
    framer = StreamFramer()
    framer.feed(piece(INVITE + b"\x00\x01binary", 1))
    assert framer.close() == []
    assert framer.skipped[0].reason.endswith(
        "at the end of the stream discarded: not a SIP message"
    )


def test_bad_limit_is_a_usage_error() -> None:
    with pytest.raises(ValueError, match="positive"):
        StreamFramer(0)


# -- properties: how the stream is cut does not matter ------------------------------------------

_MESSAGES = [INVITE, TRYING, ACK, b"\r\n\r\n", sip("SIP/2.0 200 OK", b"\r\n\r\n\n\r"), b"\r\n"]
_STREAM = b"".join(_MESSAGES)
_EXPECTED = [m for m in _MESSAGES if m.strip()]


def _framed(cuts: list[int], stream: bytes = _STREAM) -> list[bytes]:
    framer = StreamFramer()
    bounds = [0, *sorted(cuts), len(stream)]
    out: list[tuple[bytes, Payload]] = []
    for i in range(len(bounds) - 1):
        out += framer.feed(piece(stream[bounds[i] : bounds[i + 1]], i + 1))
    return messages(out + framer.close())


def test_split_at_every_offset_gives_the_same_messages() -> None:
    assert _framed([]) == _EXPECTED
    for cut in range(1, len(_STREAM)):
        assert _framed([cut]) == _EXPECTED, cut


def test_one_byte_at_a_time_gives_the_same_messages() -> None:
    assert _framed(list(range(1, len(_STREAM)))) == _EXPECTED


@st.composite
def sip_streams(draw: st.DrawFn) -> tuple[list[bytes], bytes]:
    msgs: list[bytes] = []
    stream = b""
    for _ in range(draw(st.integers(1, 6))):
        stream += draw(st.sampled_from([b"", b"", b"\r\n", b"\r\n\r\n"]))
        body = draw(st.binary(max_size=200))
        start = draw(
            st.sampled_from(
                ["INVITE sip:bob@example.com SIP/2.0", "SIP/2.0 180 Ringing", "BYE sip:x SIP/2.0"]
            )
        )
        msg = sip(start, body, call_id=draw(st.text("abc123", min_size=1, max_size=8)))
        msgs.append(msg)
        stream += msg
    return msgs, stream


@settings(max_examples=300, deadline=None)
@given(sip_streams(), st.data())
def test_whole_or_split_anywhere_gives_the_same_messages(
    case: tuple[list[bytes], bytes], data: st.DataObject
) -> None:
    msgs, stream = case
    cuts = data.draw(st.lists(st.integers(1, max(1, len(stream) - 1)), max_size=30))
    assert _framed([], stream) == msgs
    assert _framed([c for c in cuts if c < len(stream)], stream) == msgs


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000), st.lists(st.integers(1, 2999), max_size=10))
def test_any_bytes_never_raise_and_stay_bounded(stream: bytes, cuts: list[int]) -> None:
    framer = StreamFramer(max_message=1000)
    bounds = [0, *sorted(c for c in cuts if c < len(stream)), len(stream)]
    total = 0
    for i in range(len(bounds) - 1):
        for msg, _ in framer.feed(piece(stream[bounds[i] : bounds[i + 1]], i + 1)):
            total += len(msg)
        assert framer.buffered <= max(1000, MAX_START_LINE)
    for msg, _ in framer.close():
        total += len(msg)
    assert total <= len(stream)


# -- Framers ------------------------------------------------------------------------------------


def test_framers_keep_directions_apart() -> None:
    framers = Framers()
    out = framers.feed(piece(INVITE[:100], 1))
    out += framers.feed(piece(TRYING[:10], 2, src=B, dst=A))
    out += framers.feed(piece(INVITE[100:], 3))
    out += framers.feed(piece(TRYING[10:], 4, src=B, dst=A))
    assert [(m, o.src, o.frame, o.first_frame) for m, o in out] == [
        (INVITE, A, 3, 1),
        (TRYING, B, 4, 2),
    ]
    assert framers.buffered == 0


def test_framers_pass_datagrams_through() -> None:
    udp = Payload(9, T0, A, B, "udp", INVITE)
    assert Framers().feed(udp) == [(INVITE, udp)]


def test_framers_total_cap_gives_up_the_oldest_stream() -> None:
    counts = Counts()
    skipped: list[Skipped] = []
    framers = Framers(counts, skipped, max_total=150)
    c = Endpoint("192.0.2.3", 5060)
    assert framers.feed(piece(INVITE[:100], 1)) == []
    out = framers.feed(piece(TRYING[:80], 2, src=c))
    assert [(m, o.src) for m, o in out] == [(INVITE[:100], A)]  # cut short, not lost
    assert framers.buffered == 80
    assert counts.sip_stream_evicted == 1
    assert "given up: over the buffer cap" in skipped[0].reason


def test_framers_total_cap_keeps_the_stream_in_step() -> None:
    """A message whose length is known when the cap is reached: handed on cut short, the rest
    of it skipped as it comes, and the next message framed where it starts."""
    counts = Counts()
    skipped: list[Skipped] = []
    framers = Framers(counts, skipped, max_total=len(INVITE) - 40)
    head, tail = INVITE[:-30], INVITE[-30:]
    assert framers.feed(piece(head[:-20], 1)) == []
    assert [m for m, _ in framers.feed(piece(head[-20:], 2))] == [head]  # cut short
    assert framers.buffered == 0
    out = framers.feed(piece(tail + TRYING, 3))
    assert [(m, o.gap) for m, o in out] == [(TRYING, True)]
    assert counts == Counts(sip_stream_evicted=1, sip_streams_at_cap=1, sip_stream_truncated=1)
    assert [s.reason for s in skipped] == [
        f"{len(head)} bytes buffered for {A} -> {B} (tcp) given up: over the buffer cap"
    ]
    # Its headers not all there: the stream is searched for the next start line.
    framers = Framers(max_total=100)
    assert [m for m, _ in framers.feed(piece(INVITE[:101], 1))] == [INVITE[:101]]
    assert [m for m, _ in framers.feed(piece(INVITE[101:] + ACK, 2))] == [ACK]


def test_framers_stream_cap() -> None:
    framers = Framers(max_streams=2)
    for port in range(5):
        framers.feed(piece(b"\r\n", port, src=Endpoint("192.0.2.9", port)))
    assert framers.streams == 2


def test_framers_close_and_flush() -> None:
    framers = Framers()
    framers.feed(piece(INVITE[:100], 1))
    framers.feed(piece(TRYING[:10], 2, src=B, dst=A))
    assert messages(framers.close(A, B, "tcp")) == [INVITE[:100]]
    assert framers.close(A, B, "tcp") == []
    assert messages(framers.flush()) == [TRYING[:10]]
    assert framers.buffered == 0


# -- real captures through the reassembler and the framer, against tshark ------------------------


def frame_messages(path: Path, counts: Counts | None = None) -> list[tuple[bytes, Payload]]:
    """Every SIP message over TCP in a capture, as the pipeline would see it."""
    counts = Counts() if counts is None else counts
    skipped: list[Skipped] = []
    tcp = TcpReassembler(counts, skipped)
    framers = Framers(counts, skipped)
    out: list[tuple[bytes, Payload]] = []
    for s in tcp_segments(path):
        for p in tcp.segment(*s):
            out += framers.feed(p)
    for p in tcp.flush():
        out += framers.feed(p)
    return out + framers.flush()


def label(msg: bytes) -> str:
    """``INVITE`` for a request, ``100`` for a response."""
    first = msg.split(b"\r\n", 1)[0].split(b" ")
    return (first[1] if first[0].upper().startswith(b"SIP/") else first[0]).decode()


def oracle_tcp(path: Path) -> list[tuple[int, str]]:
    """(frame, method or status) of each SIP message over TCP that tshark found."""
    out: list[tuple[int, str]] = []
    with path.open(newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["transport"] != "tcp":
                continue
            labels = [x for x in row["method"].split("|") + row["status"].split("|") if x]
            out += [(int(row["frame"]), x) for x in sorted(labels)]
    return out


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("sip_ipv4_tcp.pcap", 7),
        ("sip_ipv4_tcp_retrans.pcap", 4),
        ("sip-tcp.pcap", 2),
        ("sip-body-large.pcap", 2),
        ("sip_ipv4_tcp_fragmented.pcap", 406),
        ("ipip.pcap", 4),
        ("sip_resp.pcap", 1),
        ("http_on_sip_port.pcap", 0),
        ("tlssaved.pcap", 0),
    ],
)
def test_messages_and_frames_agree_with_tshark(
    corpus: Path, oracle: Path, name: str, count: int
) -> None:
    counts = Counts()
    framed = frame_messages(corpus / name, counts)
    mine = [(o.frame, label(m)) for m, o in framed]
    expected = oracle_tcp(oracle / f"{name}.tsv")
    assert len(expected) == count
    assert sorted(mine) == expected
    assert mine == sorted(mine, key=lambda x: x[0])  # in capture order
    for msg, origin in framed:
        assert origin.data is msg
        assert not origin.stream
        assert not origin.gap
    assert not counts.sip_stream_truncated


def test_large_body_is_one_message_from_frame_5_to_9(corpus: Path) -> None:
    (invite, trying) = frame_messages(corpus / "sip-body-large.pcap")
    msg, origin = invite
    assert (origin.first_frame, origin.frame, len(msg)) == (5, 9, 65793)
    head, body = msg.split(b"\r\n\r\n", 1)
    assert f"Content-Length: {len(body)}".encode() in head
    assert trying[1].frame == 11


def test_fragmented_capture_messages_split_over_segments(corpus: Path) -> None:
    counts = Counts()
    framed = frame_messages(corpus / "sip_ipv4_tcp_fragmented.pcap", counts)
    split = [o for _, o in framed if o.first_frame]
    assert len(split) == 234  # what SOURCES.md says of tshark: 234 reassembled PDUs
    assert all(o.first_frame < o.frame for o in split)
    assert counts.sip_stream_resyncs == 0
    assert counts.tcp_gaps == 0
    calls = Counter(
        line.split(b":", 1)[1].strip()
        for m, _ in framed
        for line in m.split(b"\r\n")
        if line.lower().startswith(b"call-id:")
    )
    assert sum(calls.values()) == 406


def test_non_sip_tcp_traffic_is_counted_not_reported(corpus: Path) -> None:
    counts = Counts()
    framed = frame_messages(corpus / "http_on_sip_port.pcap", counts)
    assert framed == []
    assert counts.not_sip_streams == 2


# -- the C copy of _headers, and the LF-led Content-Length search --------------------------------

_PIECES = st.lists(
    st.sampled_from(
        [
            b"\r",
            b"\n",
            b"\r\n",
            b" ",
            b"\t",
            b"Content-Length: ",
            b"content-length",
            b"CONTENT-LENGTH :",
            b"l",
            b"L",
            b":",
            b"0",
            b"12",
            b"1234567890123",
            b"x",
            b"Via: a",
            b"\n\r\n",
            b"\n\n",
        ]
    ),
    max_size=16,
).map(b"".join)


_HEADER_LINE = st.builds(
    lambda eol, name, sep, value: eol + name + sep + value,
    st.sampled_from([b"\r\n", b"\n", b"\r\r\n"]),
    st.sampled_from(
        [
            b"Content-Length",
            b"content-length",
            b"CONTENT-length",
            b"l",
            b"L",
            b"Content\rLength",
            b"Via",
            b"lx",
            b"Content-Lengthy",
        ]
    ),
    st.sampled_from([b":", b": ", b" : ", b":\t", b"\t:", b"", b":  "]),
    st.sampled_from(
        [
            b"0",
            b"12",
            b"  129",
            b"007",
            b"1234567890123",
            b"123456789012",
            b"x",
            b"1 2",
            b"",
            b"\x0b5\x0c",
            b"5 ",
            b"-1",
            b"\r\n 7",
            b"\n\t8",
            b"\r\nx",
        ]
    ),
)
_HEADER_BLOCKS = st.builds(
    lambda start, lines, end: start + b"".join(lines) + end + b"body",
    st.sampled_from([b"", b"INVITE sip:x SIP/2.0"]),
    st.lists(_HEADER_LINE, max_size=4),
    st.sampled_from([b"\r\n\r\n", b"\n\n", b"\r\n"]),
)


@settings(max_examples=3000)
@given(_PIECES | _HEADER_BLOCKS, st.data())
def test_c_headers_answer_as_python(buf: bytes, data: st.DataObject) -> None:
    """``_fastsip.headers`` (what ``_headers`` is when the extension is built) is
    ``_py_headers``: the same tuple for every buffer and bounds, bytes or bytearray."""
    fastsip = pytest.importorskip("sipsniff.sip._fastsip")
    n = len(buf)
    pos = data.draw(st.integers(0, n))
    start = data.draw(st.integers(pos, n))
    end = data.draw(st.integers(start, n))
    for b in (buf, bytearray(buf)):
        assert fastsip.headers(b, pos, start, end) == framing._py_headers(b, pos, start, end)


@settings(max_examples=2000)
@given(_PIECES, st.data())
def test_content_length_search_after_lf_is_the_line_start_search(
    buf: bytes, data: st.DataObject
) -> None:
    """``_content_length`` searches with ``_CONTENT_LENGTH_AFTER_LF`` (from the byte before
    ``start``) what the ``^``-anchored ``_CONTENT_LENGTH`` finds: the same header value."""
    start = data.draw(st.integers(0, len(buf)))
    end = data.draw(st.integers(start, len(buf)))
    want = framing._CONTENT_LENGTH.search(buf, start, end)
    if start:
        got = framing._CONTENT_LENGTH_AFTER_LF.search(buf, start - 1, end)
    else:
        got = framing._CONTENT_LENGTH.match(buf, 0, end) or (
            framing._CONTENT_LENGTH_AFTER_LF.search(buf, 0, end)
        )
    assert (want is None) == (got is None)
    if want is not None and got is not None:
        assert (want.span(1), want.group(1)) == (got.span(1), got.group(1))


_LINE_PARTS = st.sampled_from(
    [
        b"INVITE",
        b"I~n.v",
        b" ",
        b"\t",
        b"sip:x",
        b"a b",
        b"SIP/2.0",
        b"sIp/12.3",
        b"SIP/2.",
        b"SIP/.0",
        b"2",
        b"200",
        b"2000",
        b"OK",
        b"\r",
        b"/",
        b".",
        b"\x00",
        b"\xff",
    ]
)
_MADE = st.builds(
    lambda line, end, via, spaces, body, off, eol, empty, times, cut: (
        (
            b"".join(line)
            + end
            + via
            + b"Content-Length: "
            + spaces
            + str(max(0, len(body) + off)).encode()
            + eol
            + empty
            + body
        )
        * times
    )[: None if cut is None else cut],
    st.lists(_LINE_PARTS, min_size=1, max_size=6),
    st.sampled_from([b"\n", b"\r\n", b" \r\n", b"\r\r\n"]),
    st.sampled_from([b"", b"Via: a\r\n", b"l: 2\r\n"]),
    st.sampled_from([b"", b" "]),
    st.binary(max_size=6),
    st.sampled_from([0, 0, 1, -1]),
    st.sampled_from([b"\r\n", b" \r\n", b"\n", b"\r\r\n", b"0\r\n"]),
    st.sampled_from([b"\r\n", b"\n", b""]),
    st.integers(1, 3),
    st.none() | st.integers(0, 300),
)


@settings(max_examples=3000)
@given(_MADE | _PIECES, st.sampled_from([8, 60, 200, 1 << 20]), st.sampled_from([4, 8192]))
def test_c_whole_ends_answer_as_python(buf: bytes, max_message: int, max_line: int) -> None:
    """``_fastsip.whole_ends`` (start line, headers and Content-Length checked in C) is
    ``_py_whole_ends``, whose start line is ``_START_LINE``'s: the same ends everywhere."""
    fastsip = pytest.importorskip("sipsniff.sip._fastsip")
    for b in (buf, bytearray(buf)):
        for pos in {0, len(b) // 2}:
            want = framing._py_whole_ends(b, pos, max_message, max_line)
            assert fastsip.whole_ends(b, pos, max_message, max_line) == want


def test_whole_ends_take_plain_messages_whole() -> None:
    """The short way takes the usual messages, several to a piece, and stops where one is not."""
    two = INVITE + sip("SIP/2.0 200 OK", SDP)
    ends = [len(INVITE), len(two)]
    assert framing._whole_ends(two, 0, 1 << 20, MAX_START_LINE) == ends
    assert framing._py_whole_ends(two, 0, 1 << 20, MAX_START_LINE) == ends
    spaced = INVITE.replace(b"Content-Length: ", b"l :  ")  # another spelling: the same
    assert framing._whole_ends(spaced + INVITE, 0, 1 << 20, MAX_START_LINE) == [
        len(spaced),
        len(spaced + INVITE),
    ]
    bad = INVITE.replace(b"Content-Length: ", b"Content-Length: x")  # counted: not the short way
    assert framing._whole_ends(INVITE + bad, 0, 1 << 20, MAX_START_LINE) == [len(INVITE)]
    assert framing._whole_ends(b"\r\n" + INVITE, 0, 1 << 20, MAX_START_LINE) == []


def test_framing_takes_the_c_copies_unless_pure() -> None:
    """Where the extension is built, framing uses its ``headers``, ``whole_ends`` and
    ``frame_whole`` (not when Python alone is asked)."""
    if parser.FAST_PARSE is None:
        assert framing._headers is framing._py_headers
        assert framing._whole_ends is framing._py_whole_ends
        assert framing._frame_whole is None
    else:
        assert framing._headers is not framing._py_headers
        assert framing._whole_ends is not framing._py_whole_ends
        assert framing._frame_whole is not None


def _fed(
    pieces: list[Payload], gap: bool, *, through: str, c: bool, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[tuple[bytes, Payload]], dict[str, object]]:
    """What a framer (alone, or in ``Framers``) hands back for ``pieces``, and its state after,
    with ``_frame_whole`` (C) or without (Python)."""
    with monkeypatch.context() as m:
        if not c:
            m.setattr(framing, "_frame_whole", None)
        framers = Framers(max_message=300)
        framer = StreamFramer(max_message=300)
        framer._gap = gap
        out: list[tuple[bytes, Payload]] = []
        for p in pieces:
            out += framer.feed(p) if through == "framer" else framers.feed(p)
        state: dict[str, object] = {}
        if through == "framers":
            (framer,) = framers._framers.values()
            state["total"] = framers._total
        state.update((k, getattr(framer, k)) for k in _STATE)
    return out, state


_WHOLE = st.lists(st.sampled_from([INVITE, TRYING, ACK]), min_size=1, max_size=3).map(b"".join)
"""Pieces of whole messages, one or several: what ``frame_whole`` answers for."""
_STATE = (
    *("_buf", "_first_frame", "_first_ts_ns", "_last", "_need", "_checked", "_gap", "_crlf"),
    *("_skip", "_resync", "messages", "_marks", "_scan"),
)


@settings(max_examples=1500, deadline=None)
@given(
    st.lists(
        st.tuples(_MADE | _PIECES | _WHOLE, st.integers(0, 6), st.booleans()),
        min_size=1,
        max_size=4,
    ),
    st.booleans(),
    st.sampled_from(["framer", "framers"]),
)
def test_c_frame_whole_frames_as_python(
    parts: list[tuple[bytes, int, bool]], gap: bool, through: str
) -> None:
    """``StreamFramer.feed`` and ``Framers.feed`` with ``_fastsip.frame_whole`` (a piece of whole
    messages framed in C) hand back what Python does, and leave the same state, for pieces of
    any bytes, with a first frame of their own or not, after a gap or not."""
    if framing._frame_whole is None:
        pytest.skip("the C fast path is not built here (or SIPSNIFF_PURE_PYTHON is set)")
    pieces = [
        Payload(n + 5, T0 + n, A, B, "tcp", data, 0, first, T0 + first, stream=True, gap=lost)
        for n, (data, first, lost) in enumerate(parts)
    ]
    with pytest.MonkeyPatch.context() as monkeypatch:
        fast = _fed(pieces, gap, through=through, c=True, monkeypatch=monkeypatch)
        slow = _fed(pieces, gap, through=through, c=False, monkeypatch=monkeypatch)
    assert fast == slow


def test_c_frame_whole_takes_whole_messages_only() -> None:
    """The C fast path answers for a piece of whole messages (the piece's own bytes for one), and
    leaves every other piece to Python (None)."""
    frame_whole = framing._frame_whole
    if frame_whole is None:
        pytest.skip("the C fast path is not built here (or SIPSNIFF_PURE_PYTHON is set)")
    one = piece(INVITE, 3)
    (got,) = frame_whole(one, 1 << 20, MAX_START_LINE, False, Payload) or []
    assert got[0] is INVITE and got[1] == one._replace(stream=False)
    two = frame_whole(piece(INVITE + TRYING, 4), 1 << 20, MAX_START_LINE, True, Payload)
    assert two is not None and [m for m, _ in two] == [INVITE, TRYING]
    assert [o.gap for _, o in two] == [True, False]
    # the first message's first frame is the piece's, when it has one of its own
    own = piece(INVITE + TRYING, 4)._replace(first_frame=2, first_ts_ns=T0)
    got2 = frame_whole(own, 1 << 20, MAX_START_LINE, False, Payload) or []
    assert [(o.first_frame, o.first_ts_ns) for _, o in got2] == [(2, T0), (0, 0)]
    same = own._replace(first_frame=4)
    got3 = frame_whole(same, 1 << 20, MAX_START_LINE, False, Payload) or []
    assert [(o.first_frame, o.first_ts_ns) for _, o in got3] == [(0, 0), (0, 0)]
    for partial in (INVITE[:-1], INVITE + TRYING[:9], b"\r\n" + INVITE, b""):
        assert frame_whole(piece(partial), 1 << 20, MAX_START_LINE, False, Payload) is None
    assert frame_whole(piece(INVITE), 10, MAX_START_LINE, False, Payload) is None  # too big
    many = piece(ACK * 65)  # more than it holds at once: Python's
    assert frame_whole(many, 1 << 20, MAX_START_LINE, False, Payload) is None
    with pytest.raises(TypeError):
        frame_whole(one, 1, 1, False)  # type: ignore[call-arg]


def test_c_framing_under_address_and_undefined_behaviour_sanitizers(tmp_path: Path) -> None:
    """The tests of ``_fastsip.frame_whole`` (whose loop over the messages is ``whole_ends``')
    with ``_fastsip`` built under ASan and UBSan."""
    run_sanitized(
        tmp_path,
        "sipsniff/sip/_fastsip.c",
        "sipsniff.sip._fastsip",
        [Path(__file__)],
        "frame_whole",
    )
