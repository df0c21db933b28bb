"""The C fast path of the correlator (correlate/_fastcorr.c) against ``Correlator.add`` in Python,
its reference.

Every capture of the public corpus and of captures/ (the labelled scenarios included) is
correlated twice from the same messages: by a correlator whose ``add`` is the C one and by one
whose ``add`` is Python's. After each message, the entries they return and the state of the
dialog it went to must be equal; at the end, everything the correlators hold: entries (and their
classes), dialogs, transactions, the per-dialog state (phases, tags, callers, transaction keys),
the counters and the links awaited.
"""

from __future__ import annotations

import gc
import weakref
from pathlib import Path
from types import MethodType
from typing import Any

import pytest

from sipsniff.correlate import correlator as module
from sipsniff.correlate.correlator import Correlator, _State
from sipsniff.errors import SipsniffError
from sipsniff.model import Endpoint, Message, Payload
from sipsniff.pipeline import read_trace
from sipsniff.sip.parser import parse_message
from tests.builders import sip_text
from tests.conftest import RFC4475
from tests.fastpaths import captures, needs_c, run_sanitized

pytestmark = needs_c(module.FAST_ADD, "the Python correlator")


def python_correlator() -> Correlator:
    c = Correlator()
    c.add = MethodType(module.PYTHON_ADD, c)  # type: ignore[method-assign]
    return c


def state_of(st: _State) -> dict[str, Any]:
    return {name: getattr(st, name) for name in _State.__slots__}


def held(c: Correlator) -> dict[str, Any]:
    return {
        "entries": c.entries,
        "classes": [type(e) for e in c.entries.values()],
        "dialogs": c.dialogs,
        "transactions": c.transactions,
        "states": {k: state_of(st) for k, st in c._states.items()},
        "counters": (c.added, c.created, c.opened, c.first_ns, c._awaited),
    }


def compare(msgs: list[Message]) -> None:
    fast, slow = Correlator(), python_correlator()
    assert Correlator.__dict__["add"] is module.FAST_ADD
    for msg in msgs:
        a, b = fast.add(msg), slow.add(msg)
        assert a == b and type(a) is type(b), msg.raw[:120]
        assert (a.id is a.frame) == (b.id is b.frame), msg.raw[:120]  # one int for both
        da, db = fast.dialogs[a.dialog], slow.dialogs[b.dialog]
        assert (da.state, da.outcome, da.phase, da.call, da.to_tags) == (
            db.state,
            db.outcome,
            db.phase,
            db.call,
            db.to_tags,
        ), msg.raw[:120]
    assert held(fast) == held(slow)
    fast.finish()
    slow.finish()
    assert held(fast) == held(slow)


def test_every_capture_of_the_corpus_and_captures() -> None:
    compared = 0
    for path in captures():
        try:
            trace = read_trace([str(path)], parallel=False)
        except SipsniffError:  # a capture the reader refuses is read by other tests
            continue
        msgs = [e.message() for e in trace.entries.values()]
        compare(msgs)
        compare([Message(*m.fields()) for m in msgs])  # as held bytes, not filed
        compared += len(msgs)
    assert compared > 10_000


def test_the_rfc4475_torture_messages() -> None:
    """Odd fields (no branch, no CSeq method, huge CSeq numbers...) in one run: what the C code
    takes and what it leaves to Python give the same."""
    if not RFC4475.is_dir():
        pytest.skip(f"{RFC4475} is absent (the shared RFC 4475 torture messages)")
    pkt = Payload(1, 0, Endpoint("192.0.2.1", 5060), Endpoint("192.0.2.2", 5060), "udp", b"")
    msgs = []
    for i, path in enumerate(sorted(RFC4475.glob("*.dat")) * 2):
        parsed = parse_message(path.read_bytes(), pkt._replace(frame=i + 1, ts_ns=i))
        if isinstance(parsed, Message):
            msgs.append(parsed)
    assert len(msgs) > 40
    compare(msgs)


def one_branch_three_transactions() -> list[Message]:
    """One branch in one Call-ID for three transactions: an INVITE, its CANCEL and the ACK of
    its 487, then an OPTIONS and an INVITE of another sent-by that reuse it, each sent twice."""
    a, b, c = (Endpoint(f"192.0.2.{i}", 5060) for i in (1, 2, 3))
    flow = [  # start line, sent-by, CSeq, To tag, source, destination
        ("INVITE sip:b@192.0.2.2 SIP/2.0", a, "1 INVITE", "", a, b),
        ("SIP/2.0 100 Trying", a, "1 INVITE", "", b, a),
        ("CANCEL sip:b@192.0.2.2 SIP/2.0", a, "1 CANCEL", "", a, b),
        ("SIP/2.0 200 OK", a, "1 CANCEL", ";tag=t", b, a),
        ("SIP/2.0 487 Request Terminated", a, "1 INVITE", ";tag=t", b, a),
        ("ACK sip:b@192.0.2.2 SIP/2.0", a, "1 ACK", ";tag=t", a, b),
        ("INVITE sip:b@192.0.2.2 SIP/2.0", a, "1 INVITE", "", a, b),
        ("OPTIONS sip:b@192.0.2.2 SIP/2.0", c, "7 OPTIONS", "", c, b),
        ("SIP/2.0 200 OK", c, "7 OPTIONS", ";tag=u", b, c),
        ("OPTIONS sip:b@192.0.2.2 SIP/2.0", c, "7 OPTIONS", "", c, b),
        ("INVITE sip:b@192.0.2.2 SIP/2.0", c, "8 INVITE", "", c, b),
        ("INVITE sip:b@192.0.2.2 SIP/2.0", c, "8 INVITE", "", c, b),
    ]
    msgs = []
    for i, (start, by, cseq, to_tag, src, dst) in enumerate(flow):
        raw = sip_text(
            start,
            [
                f"Via: SIP/2.0/UDP {by.ip}:{by.port};branch=z9hG4bK-shared",
                "From: <sip:a@192.0.2.1>;tag=f",
                f"To: <sip:b@192.0.2.2>{to_tag}",
                "Call-ID: shared",
                f"CSeq: {cseq}",
            ],
        )
        msg = parse_message(raw, Payload(i + 1, i, src, dst, "udp", raw))
        assert isinstance(msg, Message)
        msgs.append(msg)
    return msgs


def test_a_branch_shared_by_several_transactions() -> None:
    """The keys filed whole beside a branch filed alone (a CANCEL, the ACK of a 487, a branch
    reused by another sent-by) and their retransmissions, both ways: three transactions."""
    msgs = one_branch_three_transactions()
    compare(msgs)
    c = Correlator()
    for m in msgs:
        c.add(m)
    assert [t.messages for t in c.transactions.values()] == [
        [1, 2, 3, 4, 5, 6, 7],
        [8, 9, 10],
        [11, 12],
    ]


def test_a_correlator_is_no_cycle() -> None:
    """``add`` is the class's (an instancemethod), not a bound method each correlator holds: a
    correlator goes as soon as nothing holds it, its states with it, without the collector (which
    is off while a capture is read)."""
    gc.disable()
    try:
        c = Correlator()
        assert c.add(parse_any()).id == 1
        held = weakref.ref(c)
        del c
        assert held() is None
    finally:
        gc.enable()


def parse_any() -> Message:
    raw = (
        b"OPTIONS sip:b@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
        b"From: <sip:a@192.0.2.1>;tag=1\r\nTo: <sip:b@192.0.2.2>\r\nCall-ID: c1\r\n"
        b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    pkt = Payload(1, 0, Endpoint("192.0.2.1", 5060), Endpoint("192.0.2.2", 5060), "udp", raw)
    msg = parse_message(raw, pkt)
    assert isinstance(msg, Message)
    return msg


def test_under_address_and_undefined_behaviour_sanitizers(tmp_path: Path) -> None:
    run_sanitized(
        tmp_path, "sipsniff/correlate/_fastcorr.c", "sipsniff.correlate._fastcorr", [Path(__file__)]
    )
