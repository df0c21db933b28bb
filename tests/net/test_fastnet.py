"""The C fast path of the decoder (net/_fastnet.c: UDP datagrams and TCP segments in order)
against the Python code (``Decoder.decode``, ``TcpReassembler.segment``), its reference.

Where ``_fastnet.decode`` answers, it must hand back what Python does and leave the connections
as Python would; where it does not (None), it must have changed nothing, for Python then takes
the frame from the start. Checked frame by frame on every capture of the public corpus and of
captures/ (every payload and the connections' state after each frame), and on generated
connections (hypothesis): both directions, segments in order or not, every flag, empty ones, UDP
on a tunnel's port, IP options, fragments, short frames.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipsniff.capture.files import read_frames
from sipsniff.errors import SipsniffError
from sipsniff.model import Counts, Frame, Payload, Skipped
from sipsniff.net import decode as decoding
from sipsniff.net.decode import Decoder
from sipsniff.net.tcp import TcpReassembler
from tests.builders import ETHERNET, ipv4
from tests.fastpaths import captures, needs_c, run_sanitized

pytestmark = needs_c(decoding.FAST_DECODE)


class Pair:
    """Two decoders with reassemblers, fed the same frames: one with the C fast path, one
    without (Python alone)."""

    def __init__(self) -> None:
        self.sides = []
        for _ in range(2):
            counts, skipped = Counts(), list[Skipped]()
            tcp = TcpReassembler(counts, skipped)
            self.sides.append((Decoder(counts, skipped, tcp=tcp), tcp, counts, skipped))
        self.answered = 0

    def feed(self, frame: Frame, monkeypatch: pytest.MonkeyPatch) -> None:
        (fast, fast_tcp, *fast_rest), (slow, slow_tcp, *slow_rest) = self.sides
        assert decoding.FAST_DECODE is not None
        before = state(fast_tcp)
        answer = decoding.FAST_DECODE(frame, fast._pairs, fast._halves, Payload)
        if answer is None:
            assert state(fast_tcp) == before  # nothing changed: Python takes it from the start
        else:
            self.answered += 1
        got = fast.decode(frame) if answer is None else answer
        if answer is not None:
            fast._counts.frames += 1  # as decode counts it
        with monkeypatch.context() as m:
            m.setattr(decoding, "FAST_DECODE", None)
            want = slow.decode(frame)
        assert got == want
        assert [type(p) for p in got] == [type(p) for p in want]
        assert state(fast_tcp) == state(slow_tcp)
        assert fast_rest == slow_rest  # counts, skipped


def state(tcp: TcpReassembler) -> list[tuple[object, ...]]:
    """Every direction of every connection, slot by slot (peers by their ends)."""
    return [
        (
            src,
            dst,
            *(getattr(h, s) for s in type(h).__slots__ if s != "peer"),
            None if h.peer is None else (h.peer.src, h.peer.dst),
        )
        for src, inner in tcp.halves.items()
        for dst, h in inner.items()
    ]


def frames_of(path: Path) -> Iterator[Frame]:
    _, frames = read_frames([str(path)])
    yield from frames


def test_every_frame_of_the_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    pair = Pair()
    total = 0
    for path in captures():
        pair = Pair()
        try:
            for frame in frames_of(path):
                pair.feed(frame, monkeypatch)
                total += 1
        except SipsniffError:  # a capture the reader refuses is read by other tests
            continue
    assert total > 10_000


def test_the_bench_like_capture_is_answered_in_c(monkeypatch: pytest.MonkeyPatch) -> None:
    """A call over TCP (captures/) is nearly all in order: C answers for almost every frame."""
    pair = Pair()
    frames = list(frames_of(Path(__file__).parents[2] / "captures" / "invite-call-tcp.pcap"))
    for frame in frames:
        pair.feed(frame, monkeypatch)
    # the handshake's SYNs and its ACK, the FINs and what follows them are Python's
    assert pair.answered >= len(frames) - 6


VXLAN = bytes.fromhex("0800000000000100")
"""A VXLAN header (RFC 7348): the I flag, VNI 1."""
A = bytes([10, 0, 0, 1])
B = bytes([10, 0, 0, 2])


def tcp_bytes(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int,
              payload: bytes, doff: int) -> bytes:  # fmt: skip
    options = b"\x01" * (doff - 20)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (doff // 4) << 4, flags, 65535, 0, 0)
    return ETHERNET + ipv4(src, dst, 6, tcp + options + payload)


_FLAGS = st.sampled_from([0x18, 0x18, 0x10, 0x10, 0x02, 0x12, 0x11, 0x01, 0x04, 0x00, 0x08])


@st.composite
def connections(draw: st.DrawFn) -> list[bytes]:
    """Frames of one connection, both ways, mostly in order, with what breaks the short way."""
    seqs = {0: draw(st.integers(0, 2**32 - 1)), 1: draw(st.integers(0, 2**32 - 1))}
    out = []
    for _ in range(draw(st.integers(1, 25))):
        way = draw(st.integers(0, 1))
        kind = draw(
            st.sampled_from(["tcp"] * 6 + ["udp", "tunnel", "options", "fragment", "short"])
        )
        payload = draw(st.binary(max_size=40))
        src, dst = (A, B) if way == 0 else (B, A)
        sport, dport = (40000, 5060) if way == 0 else (5060, 40000)
        if kind in {"udp", "tunnel"}:
            port = 4789 if kind == "tunnel" else 5060
            if kind == "tunnel":  # VXLAN: a datagram inside
                inner = struct.pack("!HHHH", 5060, 5060, 8 + len(payload), 0) + payload
                payload = VXLAN + ETHERNET + ipv4(B, A, 17, inner)
            udp = struct.pack("!HHHH", sport, port, 8 + len(payload), 0) + payload
            out.append(ETHERNET + ipv4(src, dst, 17, udp))
            continue
        shift = draw(st.sampled_from([0, 0, 0, 0, len(payload), -1, 1, 2**31]))
        seq = (seqs[way] + shift) & 0xFFFFFFFF
        flags = draw(_FLAGS)
        ack = seqs[1 - way]
        doff = 20 if kind != "options" else draw(st.sampled_from([24, 60]))
        frame = tcp_bytes(src, dst, sport, dport, seq, ack, flags, payload, doff)
        if kind == "fragment":
            frame = frame[:20] + b"\x20\x00" + frame[22:]  # more fragments
        elif kind == "short":
            frame = frame[: draw(st.integers(0, len(frame) - 1))]
        if not shift:
            seqs[way] = (seq + len(payload) + (1 if flags & 0x03 else 0)) & 0xFFFFFFFF
        out.append(frame)
    return out


@settings(max_examples=400, deadline=None)
@given(connections())
def test_generated_connections(datas: list[bytes]) -> None:
    pair = Pair()
    with pytest.MonkeyPatch.context() as monkeypatch:
        for n, data in enumerate(datas, 1):
            pair.feed(Frame(n, 10**18 + n, 1, data, len(data)), monkeypatch)


def test_what_it_refuses() -> None:
    assert decoding.FAST_DECODE is not None
    with pytest.raises(TypeError):
        decoding.FAST_DECODE((1, 2), {}, None, Payload)
    other = Frame(1, 1, 113, b"\x00" * 80, 80)  # not Ethernet: Python's
    assert decoding.FAST_DECODE(other, {}, {}, Payload) is None


def test_under_address_and_undefined_behaviour_sanitizers(tmp_path: Path) -> None:
    run_sanitized(tmp_path, "sipsniff/net/_fastnet.c", "sipsniff.net._fastnet", [Path(__file__)])
