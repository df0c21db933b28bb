"""``Correlator.expire``: finished dialogs leave memory, what is kept goes on as if nothing had.

The messages are real SIP text parsed by ``sipsniff.sip.parser``; the reference is a correlator that
never expires anything, fed the same messages.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipsniff.correlate.correlator import Correlator
from sipsniff.model import Endpoint, Entry, Message, Payload, Trace
from sipsniff.sip.parser import parse_message

A = Endpoint("10.0.0.1", 5060)
B = Endpoint("10.0.0.2", 5060)
S = 1_000_000_000


def sip(
    start: str,
    call_id: str,
    cseq: str,
    *,
    branch: str,
    src: Endpoint,
    dst: Endpoint,
    ts: int,
    to_tag: str | None = None,
    extra: str = "",
) -> Message:
    to = "<sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else "")
    text = (
        f"{start}\r\n"
        f"Via: SIP/2.0/UDP 10.0.0.1:5060;branch={branch}\r\n"
        f"From: <sip:alice@example.com>;tag=a-{call_id}\r\n"
        f"To: {to}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq}\r\n"
        f"{extra}"
        "Content-Length: 0\r\n\r\n"
    ).encode()
    pkt = Payload(frame=0, ts_ns=ts, src=src, dst=dst, transport="udp", data=text)
    msg = parse_message(text, pkt)
    assert isinstance(msg, Message), msg
    return msg


def call(call_id: str, t0: int, *, bye: bool = True, resend_invite: bool = False) -> list[Message]:
    """INVITE, 100, 180, 200, ACK (and BYE, 200), one message every 10 ms from ``t0``."""
    br = f"z9hG4bK-{call_id}"
    inv = "INVITE sip:bob@example.com SIP/2.0"
    steps = [
        (inv, "1 INVITE", br, A, B, None),
        ("SIP/2.0 100 Trying", "1 INVITE", br, B, A, None),
        ("SIP/2.0 180 Ringing", "1 INVITE", br, B, A, "b"),
        ("SIP/2.0 200 OK", "1 INVITE", br, B, A, "b"),
        ("ACK sip:bob@10.0.0.2 SIP/2.0", "1 ACK", br + "-ack", A, B, "b"),
    ]
    if resend_invite:
        steps.insert(1, steps[0])
    if bye:
        steps += [
            ("BYE sip:bob@10.0.0.2 SIP/2.0", "2 BYE", br + "-bye", A, B, "b"),
            ("SIP/2.0 200 OK", "2 BYE", br + "-bye", B, A, "b"),
        ]
    return [
        sip(start, call_id, cseq, branch=b, src=s, dst=d, ts=t0 + k * 10_000_000, to_tag=tag)
        for k, (start, cseq, b, s, d, tag) in enumerate(steps)
    ]


def feed(c: Correlator, msgs: list[Message]) -> list[Entry]:
    return [c.add(m) for m in msgs]


def view(c: Correlator, call_id: str) -> list[tuple[str, bool, int, str]]:
    """A dialog as numbering-free values: per message its label, whether it is a retransmission,
    its transaction's position among the dialog's, and the dialog's state."""
    d = next(d for d in c.dialogs.values() if d.call_id == call_id)
    out = []
    for i in d.messages:
        e = c.entries[i]
        assert e.id == i and e.dialog == d.id
        assert i in c.transactions[e.transaction].messages
        out.append((e.msg.label, e.retransmission, d.transactions.index(e.transaction), d.state))
    return out


def check_invariants(c: Correlator | Trace) -> None:
    """Each held thing filed under its id, ids rising in capture order (with the gaps of what
    went), every reference between them pointing at something held."""
    for table in (c.entries, c.dialogs, c.transactions):
        assert list(table) == [x.id for x in table.values()] == sorted(table)
    for d in c.dialogs.values():
        if isinstance(c, Correlator):
            assert c.dialog_of(d.call_id) is d
        assert all(c.entries[i].dialog == d.id for i in d.messages)
        assert all(c.transactions[t].dialog == d.id for t in d.transactions)
    for t in c.transactions.values():
        assert all(c.entries[i].transaction == t.id for i in t.messages)
        if t.request is not None:
            assert c.entries[t.request].msg.is_request
        if t.final is not None:
            assert (c.entries[t.final].msg.status or 0) >= 200
    for e in c.entries.values():
        if e.retransmission_of is not None:
            original = c.entries[e.retransmission_of]
            assert original.dialog == e.dialog and original.msg.label == e.msg.label


def test_completed_dialogs_older_than_the_limit_go_and_counters_stay() -> None:
    c = Correlator()
    feed(c, call("done-old", 0))
    feed(c, call("done-new", 100 * S))
    feed(c, call("in-call", 0, bye=False))
    assert [d.state for d in c.dialogs.values()] == ["COMPLETED", "COMPLETED", "IN CALL"]

    dropped = c.expire(older_than_ns=50 * S, max_dialogs=100)

    assert dropped == 1
    assert [d.call_id for d in c.dialogs.values()] == ["done-new", "in-call"]
    assert c.dialog_of("done-old") is None
    assert c.expired_dialogs == 1
    assert c.expired_messages == 7
    assert c.expired_states == {"COMPLETED": 1}
    assert len(c.entries) == 12 and len(c.transactions) == 5  # INVITE, ACK, BYE + INVITE, ACK
    check_invariants(c)


def test_nothing_to_drop_changes_nothing() -> None:
    c = Correlator()
    feed(c, call("x", 0))
    entries = dict(c.entries)
    assert c.expire(older_than_ns=0, max_dialogs=10) == 0
    assert c.entries == entries
    assert c.expired_dialogs == 0 and c.expired_states == {}


def test_dialogs_not_over_stay_however_old_unless_idle_or_over_the_cap() -> None:
    c = Correlator()
    feed(c, call("ringing", 0, bye=False)[:3])
    feed(c, call("in-call", 1 * S, bye=False))
    assert c.expire(older_than_ns=1000 * S, max_dialogs=10) == 0
    assert c.expire(older_than_ns=1000 * S, max_dialogs=10, idle_before_ns=1 * S) == 1
    assert [d.call_id for d in c.dialogs.values()] == ["in-call"]
    assert c.expired_states == {"RINGING": 1}


def test_the_cap_drops_the_oldest_finished_dialogs_first() -> None:
    c = Correlator()
    feed(c, call("open-oldest", 0, bye=False))
    for k in range(5):
        feed(c, call(f"done-{k}", (k + 1) * S))
    assert c.expire(older_than_ns=0, max_dialogs=3) == 3
    assert [d.call_id for d in c.dialogs.values()] == ["open-oldest", "done-3", "done-4"]
    assert c.expire(older_than_ns=0, max_dialogs=1) == 2
    assert [d.call_id for d in c.dialogs.values()] == ["open-oldest"]
    feed(c, call("open-newer", 9 * S, bye=False))
    # Past the finished ones, the cap takes the oldest of those still going.
    assert c.expire(older_than_ns=0, max_dialogs=1) == 1
    assert [d.call_id for d in c.dialogs.values()] == ["open-newer"]
    assert c.expired_states == {"COMPLETED": 5, "IN CALL": 1}
    check_invariants(c)


def test_a_dropped_call_id_that_comes_back_opens_a_new_dialog() -> None:
    c = Correlator()
    msgs = call("again", 0)
    feed(c, msgs)
    c.expire(older_than_ns=10 * S, max_dialogs=10)
    assert c.dialogs == {}
    e = c.add(msgs[-1]._replace(pkt=msgs[-1].pkt._replace(ts_ns=20 * S)))
    assert e.id == 8 and e.dialog == 2  # ids go on: none is ever given twice
    assert c.dialogs[2].call_id == "again"


def test_links_to_a_dropped_leg_go_and_awaited_links_still_land() -> None:
    c = Correlator()
    feed(c, call("leg-a", 0))
    leg_b = call("leg-b", 1 * S, bye=False)
    leg_b[0] = sip(
        "INVITE sip:bob@example.com SIP/2.0",
        "leg-b",
        "1 INVITE",
        branch="z9hG4bK-leg-b",
        src=A,
        dst=B,
        ts=1 * S,
        extra="X-Call-ID: leg-a\r\n",
    )
    leg_c = call("leg-c", 2 * S, bye=False)
    leg_c[0] = sip(
        "INVITE sip:bob@example.com SIP/2.0",
        "leg-c",
        "1 INVITE",
        branch="z9hG4bK-leg-c",
        src=A,
        dst=B,
        ts=2 * S,
        extra="X-Call-ID: leg-d\r\n",
    )
    feed(c, leg_b)
    feed(c, leg_c)
    assert c.dialog_of("leg-b") is not None
    assert c.dialog_of("leg-b").linked == (1,)  # type: ignore[union-attr]
    c.expire(older_than_ns=100 * S, max_dialogs=10)
    b, cc = c.dialog_of("leg-b"), c.dialog_of("leg-c")
    assert b is not None and cc is not None
    assert b.linked == () and b.id == 2 and cc.id == 3
    feed(c, call("leg-d", 3 * S, bye=False))
    d = c.dialog_of("leg-d")
    assert d is not None and d.linked == (3,) and cc.linked == (4,)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 8), st.integers(0, 40))
def test_what_is_kept_goes_on_as_if_nothing_had_been_dropped(
    seed: int, max_dialogs: int, sweep_every: int
) -> None:
    """Interleaved calls (some with a retransmitted INVITE, some never ended), swept now and then:
    every dialog still held looks exactly as in a correlator that never dropped anything."""
    rng = random.Random(seed)
    streams = [
        call(f"c{k}", k * S // 4, bye=rng.random() < 0.8, resend_invite=rng.random() < 0.3)
        for k in range(12)
    ]
    msgs = sorted((m for s in streams for m in s), key=lambda m: m.ts_ns)
    ref = Correlator()
    c = Correlator()
    dropped: set[str] = set()
    for n, m in enumerate(msgs, 1):
        ref.add(m)
        c.add(m)
        if sweep_every and n % sweep_every == 0:
            before = {d.call_id for d in c.dialogs.values()}
            count = c.expire(
                older_than_ns=m.ts_ns - rng.randrange(0, 2 * S), max_dialogs=max_dialogs
            )
            after = {d.call_id for d in c.dialogs.values()}
            assert len(before - after) == count
            dropped |= before - after
            check_invariants(c)
    check_invariants(c)
    held = [d.call_id for d in c.dialogs.values()]
    assert held == [d.call_id for d in ref.dialogs.values() if d.call_id in set(held)]
    for call_id in held:
        if call_id not in dropped:  # else it came back as a new dialog, with the rest of it
            assert view(c, call_id) == view(ref, call_id)
    total = len(c.dialogs) + c.expired_dialogs
    assert total >= len(ref.dialogs)
    assert len(c.entries) + c.expired_messages == len(ref.entries)


@pytest.mark.parametrize("held", [0, 1, 5])
def test_retransmissions_after_a_sweep_are_still_recognised(held: int) -> None:
    c = Correlator()
    for k in range(held):
        feed(c, call(f"old-{k}", 0))
    msgs = call("live", 10 * S, bye=False)
    feed(c, msgs[:2])  # INVITE, 100
    c.expire(older_than_ns=5 * S, max_dialogs=100)
    assert [d.call_id for d in c.dialogs.values()] == ["live"]
    again = c.add(msgs[0]._replace(pkt=msgs[0].pkt._replace(ts_ns=11 * S)))
    assert again.retransmission_of == 7 * held + 1  # the INVITE, after the 7 messages of each
    rest = feed(c, msgs[2:])
    assert [e.retransmission for e in rest] == [False, False, False]
    assert c.dialogs[held + 1].state == "IN CALL"


def test_expire_trace_hands_over_what_goes_as_a_trace_of_its_own() -> None:
    c = Correlator()
    reference = Correlator()
    for k in range(4):
        feed(c, call(f"c{k}", k * S, bye=k != 2))
        feed(reference, call(f"c{k}", k * S, bye=k != 2))
    part = c.expire_trace(older_than_ns=100 * S, max_dialogs=10)
    assert [(d.call_id, d.id, d.state) for d in part.dialogs.values()] == [
        ("c0", 1, "COMPLETED"),
        ("c1", 2, "COMPLETED"),
        ("c3", 4, "COMPLETED"),
    ]
    check_invariants(part)
    check_invariants(c)
    assert [(d.call_id, d.id) for d in c.dialogs.values()] == [("c2", 3)]
    # each dialog handed over is the same, message for message, as if nothing had gone
    for d in part.dialogs.values():
        got = [(part.entries[i].msg.label, part.entries[i].retransmission) for i in d.messages]
        ref = reference.dialog_of(d.call_id)
        assert ref is not None
        want = [
            (reference.entries[i].msg.label, reference.entries[i].retransmission)
            for i in ref.messages
        ]
        assert got == want and len(d.transactions) == len(ref.transactions)
    assert c.opened == 4 and c.expired_early == 0


def test_a_dialog_not_over_that_must_go_gets_its_final_state_and_is_counted() -> None:
    c = Correlator()
    feed(c, call("ringing", 0, bye=False)[:3])
    part = c.expire_trace(older_than_ns=0, max_dialogs=0)
    assert [d.state for d in part.dialogs.values()] == ["RINGING"]
    assert c.expired_early == 1


def test_max_active_keeps_the_calls_in_progress_while_those_over_go() -> None:
    c = Correlator()
    for k in range(3):
        feed(c, call(f"open{k}", k * S, bye=False))
        feed(c, call(f"done{k}", k * S + S // 2))
    part = c.expire_trace(older_than_ns=0, max_dialogs=1, max_active=3)
    assert sorted(d.call_id for d in part.dialogs.values()) == ["done0", "done1", "done2"]
    assert [d.call_id for d in c.dialogs.values()] == ["open0", "open1", "open2"]
    part = c.expire_trace(older_than_ns=0, max_dialogs=1, max_active=2)
    assert [d.call_id for d in part.dialogs.values()] == ["open0"]
    assert c.expired_early == 1
