"""SIP over WebSocket: handshake detection, frame parsing, and the public capture against tshark."""

from __future__ import annotations

import csv
import zlib
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sipsniff.model import Counts, Endpoint, Payload
from sipsniff.net.tcp import TcpReassembler
from sipsniff.net.websocket import WebSocketStreams
from tests.builders import tcp_segments

CLIENT = Endpoint("198.51.100.7", 43380)
SERVER = Endpoint("198.51.100.1", 8080)
T0 = 1_700_000_000_000_000_000

GET = (
    b"GET / HTTP/1.1\r\nHost: proxy.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Protocol: sip\r\n\r\n"
)
SWITCHED = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: sip\r\n\r\n"
)
INVITE = (
    b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK1\r\n"
    b"Call-ID: ws1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
)
TRYING = b"SIP/2.0 100 Trying\r\nCall-ID: ws1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
MASK = b"\x37\xfa\x21\x3d"


def ws_frame(
    payload: bytes,
    opcode: int = 1,
    *,
    fin: bool = True,
    mask: bytes | None = MASK,
    rsv1: bool = False,
) -> bytes:
    """One WebSocket frame (RFC 6455 section 5.2), masked when ``mask`` is given."""
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    masked = 0x80 if mask is not None else 0
    if n < 126:
        head = bytes([b0, masked | n])
    elif n < 65536:
        head = bytes([b0, masked | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, masked | 127]) + n.to_bytes(8, "big")
    if mask is None:
        return head + payload
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def piece(data: bytes, frame: int, *, to_server: bool = True, gap: bool = False) -> Payload:
    src, dst = (CLIENT, SERVER) if to_server else (SERVER, CLIENT)
    return Payload(frame, T0 + frame, src, dst, "tcp", data, 0, stream=True, gap=gap)


def feed(ws: WebSocketStreams, p: Payload) -> list[Payload]:
    """``ws.feed`` for a piece of a WebSocket connection: never None."""
    out = ws.feed(p)
    assert out is not None
    return out


def upgraded(ws: WebSocketStreams) -> None:
    assert feed(ws, piece(GET, 1)) == []
    assert feed(ws, piece(SWITCHED, 2, to_server=False)) == []


def test_upgrade_then_masked_and_unmasked_messages() -> None:
    ws = WebSocketStreams()
    upgraded(ws)
    assert feed(ws, piece(ws_frame(INVITE), 3)) == [
        Payload(3, T0 + 3, CLIENT, SERVER, "ws", INVITE, 0, 0, 0, stream=False, gap=False)
    ]
    (trying,) = feed(ws, piece(ws_frame(TRYING, mask=None), 4, to_server=False))
    assert (trying.src, trying.data, trying.transport) == (SERVER, TRYING, "ws")
    assert ws.counts == Counts(ws_connections=1, ws_messages=2)


def test_frames_in_the_handshake_piece_and_several_per_piece() -> None:
    ws = WebSocketStreams()
    out = feed(ws, piece(GET + ws_frame(INVITE) + ws_frame(INVITE, 2), 1))
    assert [p.data for p in out] == [INVITE, INVITE]
    out = feed(ws, piece(SWITCHED + ws_frame(TRYING, mask=None), 2, to_server=False))
    assert [p.data for p in out] == [TRYING]


def test_fragmented_message_with_a_ping_between_fragments() -> None:
    ws = WebSocketStreams()
    upgraded(ws)
    a, b, c = INVITE[:40], INVITE[40:90], INVITE[90:]
    assert feed(ws, piece(ws_frame(a, 1, fin=False), 3)) == []
    assert feed(ws, piece(ws_frame(b"hi", 9), 4)) == []  # ping, in the middle
    assert feed(ws, piece(ws_frame(b, 0, fin=False), 5)) == []
    (msg,) = feed(ws, piece(ws_frame(c, 0), 6))
    assert (msg.data, msg.frame, msg.first_frame, msg.first_ts_ns) == (INVITE, 6, 3, T0 + 3)
    assert ws.counts.ws_control_frames == 1


def test_16_and_64_bit_lengths() -> None:
    ws = WebSocketStreams()
    upgraded(ws)
    medium = INVITE[:-4] + b"\r\n\r\n" + b"m" * 1000
    large = INVITE + b"x" * 70_000
    out = feed(ws, piece(ws_frame(medium) + ws_frame(large, mask=None), 3))
    assert [len(p.data) for p in out] == [len(medium), len(large)]
    assert [p.data for p in out] == [medium, large]


def test_control_frames_are_skipped() -> None:
    ws = WebSocketStreams()
    upgraded(ws)
    stream = ws_frame(b"", 9) + ws_frame(b"", 10) + ws_frame(INVITE) + ws_frame(b"\x03\xe8", 8)
    assert [p.data for p in feed(ws, piece(stream, 3))] == [INVITE]
    assert ws.counts.ws_control_frames == 3


def test_frames_split_at_every_offset_give_the_same_messages() -> None:
    stream = ws_frame(INVITE[:50], 1, fin=False) + ws_frame(INVITE[50:], 0) + ws_frame(b"", 9)
    stream += ws_frame(INVITE + b"z" * 200) + ws_frame(TRYING)
    expected = [INVITE, INVITE + b"z" * 200, TRYING]
    for cut in range(1, len(stream)):
        ws = WebSocketStreams()
        upgraded(ws)
        out = feed(ws, piece(stream[:cut], 3)) + feed(ws, piece(stream[cut:], 4))
        assert [p.data for p in out] == expected, cut
        whole = len(ws_frame(INVITE[:50], 1, fin=False) + ws_frame(INVITE[50:], 0))
        assert (out[0].frame, out[0].first_frame) == ((3, 0) if cut >= whole else (4, 3))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 2000), max_size=12))
def test_handshake_and_frames_cut_anywhere(cuts: list[int]) -> None:
    client = GET + ws_frame(INVITE) + ws_frame(b"", 9) + ws_frame(INVITE + b"b" * 300, 2)
    bounds = [0, *sorted(c for c in cuts if c < len(client)), len(client)]
    ws = WebSocketStreams()
    out: list[Payload] = []
    for i in range(len(bounds) - 1):
        got = ws.feed(piece(client[bounds[i] : bounds[i + 1]], i + 1))
        assert got is not None
        out += got
    assert [p.data for p in out] == [INVITE, INVITE + b"b" * 300]


def test_not_websocket_is_left_to_the_sip_framer() -> None:
    ws = WebSocketStreams()
    assert ws.feed(piece(INVITE, 1)) is None
    assert ws.feed(piece(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 2)) is None
    plain_ws = GET.replace(b"Sec-WebSocket-Protocol: sip", b"Sec-WebSocket-Protocol: chat")
    assert ws.feed(piece(plain_ws, 3)) is None
    assert ws.feed(Payload(4, T0, CLIENT, SERVER, "udp", INVITE)) is None
    assert ws.connections == 0


def test_refused_upgrade_gives_the_connection_back() -> None:
    ws = WebSocketStreams()
    assert feed(ws, piece(GET, 1)) == []
    assert (
        feed(
            ws, piece(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", 2, to_server=False)
        )
        == []
    )
    assert ws.connections == 0
    assert ws.feed(piece(INVITE, 3)) is None


def test_capture_starting_after_the_handshake() -> None:
    ws = WebSocketStreams()
    (msg,) = ws.feed(piece(ws_frame(INVITE), 7)) or []
    assert msg.data == INVITE
    assert ws.feed(piece(ws_frame(b"\x00binary, not SIP", 2), 8, to_server=False)) is None


def test_oversize_frame_is_dropped_and_the_next_message_kept() -> None:
    ws = WebSocketStreams(max_message=1000)
    upgraded(ws)
    out = feed(ws, piece(ws_frame(b"x" * 5000)[:3000], 3))
    out += feed(ws, piece(ws_frame(b"x" * 5000)[3000:] + ws_frame(INVITE), 4))
    assert [p.data for p in out] == [INVITE]
    assert ws.counts.ws_dropped == 1
    assert "WebSocket frame of 5000 bytes over the limit" in ws.skipped[0].reason


def test_permessage_deflate() -> None:
    ws = WebSocketStreams()
    upgraded(ws)
    deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    frames = b""
    for message in (INVITE, INVITE.replace(b"ws1", b"ws2")):  # the second uses the first's window
        data = deflate.compress(message) + deflate.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(b"\x00\x00\xff\xff")
        frames += ws_frame(data[:-4], rsv1=True)
    out = feed(ws, piece(frames, 3))
    assert [p.data for p in out] == [INVITE, INVITE.replace(b"ws1", b"ws2")]


def test_gap_drops_the_message_under_way_and_resumes_at_a_frame() -> None:
    ws = WebSocketStreams()
    upgraded(ws)
    frame = ws_frame(INVITE)
    assert feed(ws, piece(frame[:50], 3)) == []
    assert feed(ws, piece(frame[70:], 4, gap=True)) == []  # framing lost
    assert [p.data for p in feed(ws, piece(ws_frame(TRYING), 5))] == [TRYING]
    assert ws.skipped == []  # the frame under way was not a message yet: nothing to record
    assert feed(ws, piece(ws_frame(INVITE[:30], fin=False), 6)) == []
    assert feed(ws, piece(ws_frame(b"x", 9), 7, gap=True)) == []
    assert "lost in a TCP gap" in ws.skipped[0].reason


def test_flush_records_a_message_cut_short() -> None:
    ws = WebSocketStreams()
    upgraded(ws)
    feed(ws, piece(ws_frame(INVITE[:30], fin=False), 3))
    assert ws.flush() == []
    assert "cut short at the end of the capture" in ws.skipped[0].reason
    assert ws.connections == 0


def test_public_capture_against_tshark(corpus: Path, oracle: Path) -> None:
    """sip_tcp_websocket.pcap: 11 SIP messages over WebSocket, at the frames tshark reports."""
    tcp = TcpReassembler(Counts(), [])
    ws = WebSocketStreams()
    mine: list[tuple[int, str]] = []
    for s in tcp_segments(corpus / "sip_tcp_websocket.pcap"):
        for p in tcp.segment(*s):
            for m in ws.feed(p) or []:
                assert m.transport == "ws"
                first = m.data.split(b"\r\n", 1)[0].split(b" ")
                mine.append((m.frame, (first[1] if first[0] == b"SIP/2.0" else first[0]).decode()))
    with (oracle / "sip_tcp_websocket.pcap.tsv").open(newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r["transport"] == "tcp"]
    expected = [(int(r["frame"]), r["method"] or r["status"]) for r in rows]
    assert len(expected) == 11
    assert mine == expected
    assert ws.counts == Counts(ws_connections=1, ws_messages=11)
