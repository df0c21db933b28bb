"""Properties that cross the stages (issue #7): frames of random bytes through the whole pipeline,
SIP over TCP cut anywhere, random message sequences through the correlator.

Fast profile: few examples each, so the file runs in seconds; benchmarks/fuzz_pipeline.py runs the
same pipeline for as long as one likes.
"""

from __future__ import annotations

import io
import itertools
import json

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sipsniff.correlate.correlator import Correlator
from sipsniff.model import Endpoint, Frame, Message, Payload
from sipsniff.pipeline import Pipeline
from sipsniff.render.json import write_json
from tests.builders import T0, A, B, sip, tcp_frame, udp_frame

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SIP_START = st.sampled_from(
    [
        b"INVITE sip:bob@example.com SIP/2.0\r\n",
        b"SIP/2.0 200 OK\r\n",
        b"ACK sip:x SIP/2.0\r\n",
        b"SIP/2.0 999 Odd\r\n",
        b"\r\n\r\n",
        b"",
    ]
)
SIP_LINES = st.sampled_from(
    [
        b"Call-ID: c1\r\n",
        b"CSeq: 1 INVITE\r\n",
        b"CSeq: 99999999999999999999 INVITE\r\n",
        b"Content-Length: 5\r\n",
        b"Content-Length: -1\r\n",
        b"l: 99999999999\r\n",
        b"Via: SIP/2.0/UDP h;branch=z9hG4bKx\r\n",
        b"From: <sip:a@b>;tag=1\r\n",
        b'To: "\\" <sip:b@c>;tag=2\r\n',
        b"v: SIP/2.0/TCP [::1\r\n",
        b"\r\n",
        b" folded\r\n",
    ]
)
SIPISH = st.builds(
    lambda start, lines, tail: start + b"".join(lines) + tail,
    SIP_START,
    st.lists(SIP_LINES, max_size=8),
    st.binary(max_size=64),
)
"""Bytes that start like SIP and go wrong, so the parser is reached, not only the sniffer."""
PAYLOADS = st.one_of(st.binary(max_size=300), SIPISH)


def _pipeline_output(pipe: Pipeline) -> dict[str, object]:
    """Finish ``pipe`` and render its trace as the JSON document (the last stage that reads it)."""
    pipe.finish()
    trace = pipe.trace()
    out = io.StringIO()
    write_json(trace, list(trace.dialogs.values()), out, full=True, all_dialogs=True)
    doc: dict[str, object] = json.loads(out.getvalue())
    return doc


@FAST
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["udp", "tcp", "raw"]),
            PAYLOADS,
            st.integers(0, 2**32 - 1),
            st.integers(0, 255),
            st.sampled_from([0, 1, 101, 113, 228, 147]),
        ),
        max_size=12,
    )
)
def test_the_pipeline_never_raises_on_random_frames(
    frames: list[tuple[str, bytes, int, int, int]],
) -> None:
    pipe = Pipeline()
    for number, (kind, payload, seq, flags, linktype) in enumerate(frames, 1):
        if kind == "udp":
            data, link = udp_frame(payload), 1
        elif kind == "tcp":
            data, link = tcp_frame(payload, seq, flags=flags), 1
        else:
            data, link = payload, linktype
        pipe.feed(Frame(number, T0 + number, link, data, len(data)))
    doc = _pipeline_output(pipe)
    counted = doc["counts"]
    assert isinstance(counted, dict)
    assert counted.get("frames", len(frames)) == len(frames)


@FAST
@given(st.lists(st.binary(min_size=1, max_size=200), max_size=6), st.booleans())
def test_the_pipeline_never_raises_on_random_tcp_streams(pieces: list[bytes], back: bool) -> None:
    pipe = Pipeline()
    seq = 7
    for number, piece in enumerate(pieces, 1):
        src, dst = (B, A) if back and number % 2 else (A, B)
        data = tcp_frame(piece, seq, src, dst)
        seq += len(piece)
        pipe.feed(Frame(number, T0 + number, 1, data, len(data)))
    _pipeline_output(pipe)


def _message(i: int, body: bytes, method: str) -> bytes:
    text = sip(f"{method} sip:bob@example.com SIP/2.0", f"call-{i}", f"{i + 1} {method}")
    head = text[: -len(b"Content-Length: 0\r\n\r\n")]
    return head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


STREAMS = st.lists(
    st.tuples(st.binary(max_size=40), st.sampled_from(["INVITE", "MESSAGE", "OPTIONS", "BYE"])),
    min_size=1,
    max_size=5,
).map(lambda ms: [_message(i, body, method) for i, (body, method) in enumerate(ms)])


def _over_tcp(stream: bytes, cuts: list[int]) -> list[tuple[bytes, str, int]]:
    """Feed ``stream`` as TCP segments cut at ``cuts``; (raw, call_id, frame) of every message."""
    pipe = Pipeline()
    bounds = [0, *sorted({c % (len(stream) + 1) for c in cuts}), len(stream)]
    number = 0
    out = []
    for start, end in itertools.pairwise(bounds):
        if start == end:
            continue
        number += 1
        data = tcp_frame(stream[start:end], 1000 + start)
        out += pipe.feed(Frame(number, T0 + number, 1, data, len(data)))
    out += pipe.finish()
    return [(e.msg.raw, e.msg.call_id, e.msg.frame) for e in out]


ONE_INVITE = [_message(0, b"", "INVITE")]


@FAST
@example(ONE_INVITE, list(range(1, 400)))  # one byte per segment: the G of z9hG4bK is lost
# a segment starting with the NUL bytes of a body was taken for WebSocket frames: the rest lost
@example(
    [_message(i, body, "INVITE") for i, body in enumerate([b"\x00", b"\x00\x00\x00", b"\x00"])],
    [420],
)
# the first segment ends before the blank line: the next starts with CR LF, taken for WebSocket
@example(
    [_message(0, b"", "BYE"), *(_message(i, b"\x00" * 10, "INVITE") for i in range(1, 3))], [201]
)
@given(STREAMS, st.lists(st.integers(0, 10_000), max_size=12))
def test_sip_over_tcp_cut_anywhere_gives_the_messages_fed_whole(
    messages: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(messages)
    whole = _over_tcp(stream, [])
    assert [raw for raw, _cid, _frame in whole] == messages
    cut = _over_tcp(stream, cuts)
    assert [(raw, cid) for raw, cid, _frame in cut] == [(raw, cid) for raw, cid, _f in whole]


def test_sip_over_tcp_fed_whole_gives_the_messages() -> None:
    messages = [_message(i, b"v=0\r\n" * i, "MESSAGE") for i in range(4)]
    assert [raw for raw, _cid, _frame in _over_tcp(b"".join(messages), [])] == messages


# -- the correlator ---------------------------------------------------------------------------------
_TOKENS = st.sampled_from(["", "a", "b", "x;y", "\x00", "\u202e", "z9hG4bK1", "z9hG4bK2"])
_METHODS = st.sampled_from(["INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "PRACK", "invite", ""])
_ENDPOINTS = st.sampled_from([Endpoint("10.0.0.1", 5060), Endpoint("10.0.0.2", 5060)])


@st.composite
def messages(draw: st.DrawFn) -> Message:
    """A ``Message`` of random fields from small pools, so that they collide: same Call-ID,
    branch, tags and CSeq in odd combinations, requests and responses of any status."""
    request = draw(st.booleans())
    method = draw(_METHODS) if request else None
    status = None if request else draw(st.sampled_from([100, 180, 183, 200, 401, 487, 503, 699]))
    raw = draw(st.sampled_from([b"", b"X-Call-ID: c1\r\n", b"INVITE x SIP/2.0\r\nX-CID: c2\r\n"]))
    pkt = Payload(
        frame=draw(st.integers(1, 50)),
        ts_ns=draw(st.integers(0, 10**12)),
        src=draw(_ENDPOINTS),
        dst=draw(_ENDPOINTS),
        transport=draw(st.sampled_from(["udp", "tcp"])),
        data=raw,
    )
    return Message(
        pkt=pkt,
        raw=raw,
        method=method,
        ruri="sip:x" if request else None,
        status=status,
        reason=None if request else "R",
        call_id=draw(st.sampled_from(["c1", "c2", "c3", ""])),
        cseq_num=draw(st.one_of(st.none(), st.integers(0, 3), st.just(2**32))),
        cseq_method=draw(_METHODS),
        branch=draw(st.one_of(st.none(), _TOKENS)),
        sent_by=draw(st.sampled_from(["", "h", "h:5060"])),
        from_uri="sip:a@b",
        from_name="",
        from_tag=draw(st.one_of(st.none(), _TOKENS)),
        to_uri="sip:b@c",
        to_name="",
        to_tag=draw(st.one_of(st.none(), _TOKENS)),
        content_length=0,
        body_start=len(raw),
    )


@FAST
@given(st.lists(messages(), max_size=25))
def test_the_correlator_never_raises_and_keeps_its_indexes(sequence: list[Message]) -> None:
    corr = Correlator()
    for i, msg in enumerate(sequence, 1):
        entry = corr.add(msg)
        assert entry.id == i
        assert entry.message() == msg and entry.msg is entry
    corr.finish()
    assert list(corr.entries) == [e.id for e in corr.entries.values()]
    assert list(corr.entries) == list(range(1, len(sequence) + 1))
    assert list(corr.dialogs) == list(range(1, len(corr.dialogs) + 1))
    assert sorted(i for d in corr.dialogs.values() for i in d.messages) == list(corr.entries)
    for e in corr.entries.values():
        dialog = corr.dialogs[e.dialog]
        assert dialog.call_id == e.msg.call_id
        assert e.id in corr.transactions[e.transaction].messages
        if e.retransmission_of is not None:
            assert e.retransmission_of < e.id
    assert len({d.call_id for d in corr.dialogs.values()}) == len(corr.dialogs)
