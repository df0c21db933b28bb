"""Correlation: transactions, retransmissions, dialog states and B2BUA links, on messages built here.

The messages come from a small factory (``req``/``resp``) that writes the raw text and the eager
fields together, so the tests do not depend on the SIP parser.
"""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipsniff.correlate import correlator as correlator_module
from sipsniff.correlate import states
from sipsniff.correlate.correlator import Correlator
from sipsniff.model import Endpoint, Entry, Message, Payload
from sipsniff.sip.headers import parse_headers

ALICE = Endpoint("10.0.0.1", 5060)
PROXY = Endpoint("10.0.0.2", 5060)
BOB = Endpoint("10.0.0.3", 5062)
CAROL = Endpoint("10.0.0.4", 5064)

_clock = itertools.count(1)

REASONS = {
    100: "Trying",
    180: "Ringing",
    183: "Session Progress",
    200: "OK",
    401: "Unauthorized",
    403: "Forbidden",
    407: "Proxy Authentication Required",
    486: "Busy Here",
    487: "Request Terminated",
}


def _message(
    start: str,
    *,
    method: str | None,
    ruri: str | None,
    status: int | None,
    call_id: str,
    cseq: int | None,
    cseq_method: str,
    branch: str | None,
    sent_by: str,
    src: Endpoint,
    dst: Endpoint,
    ts: int | None,
    from_tag: str | None,
    to_tag: str | None,
    headers: tuple[str, ...],
    body: bytes,
) -> Message:
    via = f"Via: SIP/2.0/UDP {sent_by}" + ("" if branch is None else f";branch={branch}")
    lines = [
        start,
        via,
        "From: Alice <sip:alice@example.com>" + ("" if from_tag is None else f";tag={from_tag}"),
        "To: Bob <sip:bob@example.com>" + ("" if to_tag is None else f";tag={to_tag}"),
        f"Call-ID: {call_id}",
        f"CSeq: {'' if cseq is None else cseq} {cseq_method}".replace("  ", " "),
        *headers,
        f"Content-Length: {len(body)}",
    ]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    raw = head + body
    stamp = next(_clock) * 1_000_000 if ts is None else ts
    pkt = Payload(frame=0, ts_ns=stamp, src=src, dst=dst, transport="udp", data=raw)
    return Message(
        pkt=pkt,
        raw=raw,
        method=method,
        ruri=ruri,
        status=status,
        reason=None if status is None else REASONS.get(status, "Whatever"),
        call_id=call_id,
        cseq_num=cseq,
        cseq_method=cseq_method,
        branch=branch,
        sent_by=sent_by.lower(),
        from_uri="sip:alice@example.com",
        from_name="Alice",
        from_tag=from_tag,
        to_uri="sip:bob@example.com",
        to_name="Bob",
        to_tag=to_tag,
        content_length=len(body),
        body_start=len(head),
    )


def req(
    method: str,
    *,
    call_id: str = "call-1",
    cseq: int | None = 1,
    cseq_method: str | None = None,
    branch: str | None = "z9hG4bK-inv1",
    sent_by: str = "10.0.0.1:5060",
    ruri: str = "sip:bob@example.com",
    src: Endpoint = ALICE,
    dst: Endpoint = PROXY,
    ts: int | None = None,
    from_tag: str | None = "alice-tag",
    to_tag: str | None = None,
    headers: tuple[str, ...] = (),
    body: bytes = b"",
) -> Message:
    """A request; by default from Alice to the proxy, CSeq 1 of its method."""
    return _message(
        f"{method} {ruri} SIP/2.0",
        method=method,
        ruri=ruri,
        status=None,
        call_id=call_id,
        cseq=cseq,
        cseq_method=method if cseq_method is None else cseq_method,
        branch=branch,
        sent_by=sent_by,
        src=src,
        dst=dst,
        ts=ts,
        from_tag=from_tag,
        to_tag=to_tag,
        headers=headers,
        body=body,
    )


def resp(
    status: int,
    cseq_method: str = "INVITE",
    *,
    call_id: str = "call-1",
    cseq: int | None = 1,
    branch: str | None = "z9hG4bK-inv1",
    sent_by: str = "10.0.0.1:5060",
    src: Endpoint = PROXY,
    dst: Endpoint = ALICE,
    ts: int | None = None,
    from_tag: str | None = "alice-tag",
    to_tag: str | None = "bob-tag",
    headers: tuple[str, ...] = (),
    body: bytes = b"",
) -> Message:
    """A response; by default from the proxy to Alice, to CSeq 1 INVITE, To tag ``bob-tag``."""
    return _message(
        f"SIP/2.0 {status} {REASONS.get(status, 'Whatever')}",
        method=None,
        ruri=None,
        status=status,
        call_id=call_id,
        cseq=cseq,
        cseq_method=cseq_method,
        branch=branch,
        sent_by=sent_by,
        src=src,
        dst=dst,
        ts=ts,
        from_tag=from_tag,
        to_tag=to_tag,
        headers=headers,
        body=body,
    )


CREDS = 'Authorization: Digest username="alice", realm="example.com", nonce="n", response="r"'
"""Credentials: a request that carries them is an answer to a challenge (RFC 3261 22.2)."""
PROXY_CREDS = "Proxy-" + CREDS


def feed(c: Correlator, messages: list[Message]) -> list[str]:
    """Add messages one by one; the dialog state of each right after it was added."""
    out = []
    for m in messages:
        entry = c.add(m)
        out.append(c.dialogs[entry.dialog].state)
    return out


def keys(c: Correlator) -> list[tuple[str | None, ...]]:
    """The key each transaction was opened with (the first one filed for it), in order; a
    branch filed alone stands for (branch, its first message's sent-by, its method)."""
    first: dict[int, tuple[str | None, ...]] = {}
    for state in c._states.values():
        for key, ti in state.txs.items():
            if isinstance(key, str):
                tx = c.transactions[ti]
                key = (key, c.entries[tx.messages[0]].sent_by, tx.method)
            first.setdefault(ti, key)
    return [first[ti] for ti in c.transactions]


def retrans(c: Correlator) -> list[int | None]:
    return [e.retransmission_of for e in c.entries.values()]


# -- REGISTER ----------------------------------------------------------------------------------
def test_register_407_then_200_is_registered_in_two_transactions() -> None:
    c = Correlator()
    flow = [
        req("REGISTER", cseq=1, branch="z9hG4bK-r1", ruri="sip:example.com"),
        resp(407, "REGISTER", cseq=1, branch="z9hG4bK-r1", to_tag="reg-a"),
        req("REGISTER", cseq=2, branch="z9hG4bK-r2", ruri="sip:example.com"),
        resp(
            200,
            "REGISTER",
            cseq=2,
            branch="z9hG4bK-r2",
            to_tag="reg-b",
            headers=("Contact: <sip:alice@10.0.0.1:5060>;expires=120",),
        ),
    ]
    live = feed(c, flow)
    assert live == ["REGISTERING", "CHALLENGED 407", "REGISTERING", "REGISTERED"]
    c.finish()
    (d,) = c.dialogs.values()
    assert d.state == "REGISTERED"
    assert d.first_method == "REGISTER"
    assert d.id == 1
    assert keys(c) == [
        ("z9hG4bK-r1", "10.0.0.1:5060", "REGISTER"),
        ("z9hG4bK-r2", "10.0.0.1:5060", "REGISTER"),
    ]
    assert [t.messages for t in c.transactions.values()] == [[1, 2], [3, 4]]
    assert [(t.request, t.final) for t in c.transactions.values()] == [(1, 2), (3, 4)]
    assert d.transactions == [1, 2]
    assert d.retransmissions == 0
    assert d.to_tags == []  # a registrar's tags are no dialogs (RFC 3261 section 12.1)
    assert retrans(c) == [None] * 4


@pytest.mark.parametrize(
    ("request_headers", "answer_headers", "state"),
    [
        # The Contact's expires parameter.
        ((), ("Contact: <sip:alice@10.0.0.1:5060>;expires=3600",), "REGISTERED"),
        ((), ("Contact: <sip:alice@10.0.0.1:5060>;expires=0",), "UNREGISTERED"),
        # Without it, the Expires header.
        ((), ("Contact: <sip:alice@10.0.0.1:5060>", "Expires: 0"), "UNREGISTERED"),
        ((), ("m: sip:alice@10.0.0.1:5060", "Expires: 60"), "REGISTERED"),
        # No binding listed: none left (RFC 3261 section 10.3 step 8).
        (("Contact: *", "Expires: 0"), (), "UNREGISTERED"),
        # Another device's binding remains; ours (asked to expire) is gone.
        (
            ("Contact: <sip:alice@10.0.0.1:5060>;expires=0",),
            ("Contact: <sip:alice@192.0.2.9:5060>;expires=300",),
            "UNREGISTERED",
        ),
        # Several bindings: ours is the one of the request's Contact.
        (
            ("Contact: <sip:alice@10.0.0.1:5060>",),
            (
                'Contact: "Desk" <sip:alice@192.0.2.9:5060>;expires=0, '
                "<sip:alice@10.0.0.1:5060>;q=0.5;expires=1800",
            ),
            "REGISTERED",
        ),
        (
            ("Contact: <sip:alice@10.0.0.1:5060>",),
            (
                "Contact: <sip:alice@192.0.2.9:5060>;expires=1800",
                "Contact: <sip:alice@10.0.0.1:5060>;expires=0",
            ),
            "UNREGISTERED",
        ),
    ],
)
def test_register_2xx_expires(
    request_headers: tuple[str, ...], answer_headers: tuple[str, ...], state: str
) -> None:
    c = Correlator()
    c.add(req("REGISTER", branch="z9hG4bK-r1", headers=request_headers))
    c.add(resp(200, "REGISTER", branch="z9hG4bK-r1", headers=answer_headers))
    c.finish()
    assert c.dialogs[1].state == state


def test_register_refresh_then_unregister() -> None:
    c = Correlator()
    contact = ("Contact: <sip:alice@10.0.0.1:5060>;expires=600",)
    gone = ("Contact: <sip:alice@10.0.0.1:5060>;expires=0",)
    live = feed(
        c,
        [
            req("REGISTER", cseq=1, branch="z9hG4bK-r1"),
            resp(200, "REGISTER", cseq=1, branch="z9hG4bK-r1", headers=contact),
            req("REGISTER", cseq=2, branch="z9hG4bK-r2"),  # a refresh keeps the outcome on show
            resp(200, "REGISTER", cseq=2, branch="z9hG4bK-r2", headers=gone),
        ],
    )
    assert live == ["REGISTERING", "REGISTERED", "REGISTERED", "UNREGISTERED"]


def test_register_401_403_twice_is_auth_failed() -> None:
    """Like the corpus's sip-register-wrong_password-401-403-401-403.pcapng."""
    c = Correlator()
    flow = []
    for i, status in enumerate((401, 403, 401, 403), start=1):
        # the REGISTERs answering a 401 carry credentials; after the 403 the phone starts over
        creds = (CREDS,) if status == 403 else ()
        flow += [
            req("REGISTER", cseq=i, branch=f"z9hG4bK-r{i}", headers=creds),
            resp(status, "REGISTER", cseq=i, branch=f"z9hG4bK-r{i}", to_tag=f"t{i}"),
        ]
    live = feed(c, flow)
    assert live == [
        "REGISTERING",
        "CHALLENGED 401",
        "REGISTERING",
        "AUTH FAILED",  # 403 to credentials
        "REGISTERING",  # a new attempt, without credentials
        "CHALLENGED 401",  # challenged: the normal first step
        "REGISTERING",
        "AUTH FAILED",
    ]
    c.finish()
    assert c.dialogs[1].state == "AUTH FAILED"
    assert len(c.transactions) == 4


def test_subscribe_401_403_is_auth_failed_and_other_outcomes() -> None:
    c = Correlator()
    sub = "SUBSCRIBE"
    feed(
        c,
        [
            req(sub, call_id="s1", branch="z9hG4bK-s1"),
            resp(401, sub, call_id="s1", branch="z9hG4bK-s1"),
            req(sub, call_id="s1", cseq=2, branch="z9hG4bK-s2", headers=(CREDS,)),
            resp(403, sub, call_id="s1", cseq=2, branch="z9hG4bK-s2"),
            # 401, retry, 489 Bad Event.
            req(sub, call_id="s2", branch="z9hG4bK-s3"),
            resp(401, sub, call_id="s2", branch="z9hG4bK-s3"),
            req(sub, call_id="s2", cseq=2, branch="z9hG4bK-s4", headers=(CREDS,)),
            resp(489, sub, call_id="s2", cseq=2, branch="z9hG4bK-s4"),
            req("PUBLISH", call_id="p1", branch="z9hG4bK-p1"),
            resp(489, "PUBLISH", call_id="p1", branch="z9hG4bK-p1"),
            req("OPTIONS", call_id="o1", branch="z9hG4bK-o1"),
            resp(200, "OPTIONS", call_id="o1", branch="z9hG4bK-o1"),
        ],
    )
    c.finish()
    assert [d.state for d in c.dialogs.values()] == [
        "AUTH FAILED",
        "SUBSCRIBE 489",
        "PUBLISH 489",
        "OPTIONS 200",
    ]


def test_unanswered_request_is_no_response_at_the_end() -> None:
    c = Correlator()
    assert feed(c, [req("OPTIONS", call_id="o"), req("REGISTER", call_id="r")]) == [
        "OPTIONS SENT",
        "REGISTERING",
    ]
    c.add(resp(100, "REGISTER", call_id="r"))
    c.finish()
    assert [d.state for d in c.dialogs.values()] == ["NO RESPONSE", "NO RESPONSE"]
    c.add(req("OPTIONS", call_id="o", cseq=2, branch="z9hG4bK-o2"))  # the capture goes on
    assert [d.state for d in c.dialogs.values()] == ["OPTIONS SENT", "NO RESPONSE"]


def test_subscribe_dialog_notify_does_not_change_the_state() -> None:
    c = Correlator()
    feed(
        c,
        [
            req("SUBSCRIBE", branch="z9hG4bK-s1"),
            resp(200, "SUBSCRIBE", branch="z9hG4bK-s1", to_tag="srv"),
            req(
                "NOTIFY",
                branch="z9hG4bK-n1",
                src=PROXY,
                dst=ALICE,
                sent_by="10.0.0.2:5060",
                from_tag="srv",
                to_tag="alice-tag",
            ),
            resp(
                481,
                "NOTIFY",
                branch="z9hG4bK-n1",
                src=ALICE,
                dst=PROXY,
                sent_by="10.0.0.2:5060",
                from_tag="srv",
                to_tag="alice-tag",
            ),
        ],
    )
    c.finish()
    (d,) = c.dialogs.values()
    assert d.state == "SUBSCRIBE 200"
    assert d.to_tags == ["srv"]  # the NOTIFY is oriented: its From tag is the notifier's


# -- INVITE ------------------------------------------------------------------------------------
def branch_shared() -> list[Message]:
    """One branch in one Call-ID for three transactions: an INVITE, its CANCEL and the ACK of
    its 487 (theirs by RFC 3261), then an OPTIONS and an INVITE of another sent-by that reuse
    it (their own), each with a retransmission."""
    other = "10.0.0.3:5062"
    return [
        req("INVITE", ts=1),
        resp(100, ts=2, to_tag=None),
        req("CANCEL", ts=3),
        resp(200, "CANCEL", ts=4),
        resp(487, ts=5),
        req("ACK", to_tag="bob-tag", ts=6),
        req("INVITE", ts=7),
        req("OPTIONS", cseq=7, sent_by=other, src=BOB, ts=8),
        resp(200, "OPTIONS", cseq=7, sent_by=other, dst=BOB, ts=9),
        req("OPTIONS", cseq=7, sent_by=other, src=BOB, ts=10),
        req("INVITE", cseq=8, sent_by=other, src=BOB, ts=11),
        req("INVITE", cseq=8, sent_by=other, src=BOB, ts=12),
    ]


def test_a_branch_reused_by_another_sent_by_or_method_is_a_transaction_of_its_own() -> None:
    """The first key of a branch is filed under the branch alone (the correlator's table): the
    others that share it must still find their own transactions, retransmissions included."""
    c = Correlator()
    feed(c, branch_shared())
    txs = zip(keys(c), c.transactions.values(), strict=True)
    assert [(k, t.method, t.messages) for k, t in txs] == [
        (("z9hG4bK-inv1", "10.0.0.1:5060", "INVITE"), "INVITE", [1, 2, 3, 4, 5, 6, 7]),
        (("z9hG4bK-inv1", "10.0.0.3:5062", "OPTIONS"), "OPTIONS", [8, 9, 10]),
        (("z9hG4bK-inv1", "10.0.0.3:5062", "INVITE"), "INVITE", [11, 12]),
    ]
    assert retrans(c) == [None] * 6 + [1, None, None, 8, None, 11]
    (st,) = c._states.values()
    assert sum(isinstance(k, str) for k in st.txs) == 1  # the rest as whole keys


def test_invite_call_completed_with_the_2xx_ack_in_its_own_transaction() -> None:
    c = Correlator()
    flow = [
        req("INVITE", ts=1_000),
        resp(100, ts=2_000, to_tag=None),
        resp(180, ts=3_000),
        resp(200, ts=4_000),
        req("ACK", branch="z9hG4bK-ack1", to_tag="bob-tag", ts=5_000),
        req("BYE", cseq=2, branch="z9hG4bK-bye1", to_tag="bob-tag", ts=6_000),
        resp(200, "BYE", cseq=2, branch="z9hG4bK-bye1", ts=7_000),
    ]
    live = feed(c, flow)
    assert live == [
        "CALL SETUP",
        "CALL SETUP",
        "RINGING",
        "IN CALL",
        "IN CALL",
        "COMPLETED",
        "COMPLETED",
    ]
    c.finish()
    (d,) = c.dialogs.values()
    assert d.state == "COMPLETED"
    assert (d.start_ns, d.end_ns, d.duration_ns) == (1_000, 7_000, 6_000)
    assert (d.src, d.dst) == (ALICE, PROXY)
    assert (d.from_uri, d.from_name, d.to_uri, d.to_name) == (
        "sip:alice@example.com",
        "Alice",
        "sip:bob@example.com",
        "Bob",
    )
    assert d.first_method == "INVITE"
    assert d.messages == [1, 2, 3, 4, 5, 6, 7]
    assert [
        (k, t.method, t.messages) for k, t in zip(keys(c), c.transactions.values(), strict=True)
    ] == [
        (("z9hG4bK-inv1", "10.0.0.1:5060", "INVITE"), "INVITE", [1, 2, 3, 4]),
        (("z9hG4bK-ack1", "10.0.0.1:5060", "ACK"), "ACK", [5]),
        (("z9hG4bK-bye1", "10.0.0.1:5060", "BYE"), "BYE", [6, 7]),
    ]
    assert [(t.request, t.final) for t in c.transactions.values()] == [(1, 4), (5, None), (6, 7)]
    assert [e.transaction for e in c.entries.values()] == [1, 1, 1, 1, 2, 3, 3]
    assert d.to_tags == ["bob-tag"]
    assert retrans(c) == [None] * 7


def test_lossy_invite_retransmissions_are_flagged_and_counted() -> None:
    """sipp -lost style: INVITE three times, 200 OK three times and as many ACKs."""
    c = Correlator()
    flow = [
        req("INVITE"),  # 0
        req("INVITE"),  # 1: T1 later
        req("INVITE"),  # 2
        resp(100, to_tag=None),  # 3
        resp(180),  # 4
        resp(200),  # 5
        resp(200),  # 6: the UAS re-sends its 2xx until the ACK (13.3.1.4)
        req("ACK", branch="z9hG4bK-ack1", to_tag="bob-tag"),  # 7
        resp(200),  # 8
        req("ACK", branch="z9hG4bK-ack1", to_tag="bob-tag"),  # 9: the same ACK again
        req("BYE", cseq=2, branch="z9hG4bK-bye1", to_tag="bob-tag"),  # 10
        req("BYE", cseq=2, branch="z9hG4bK-bye1", to_tag="bob-tag"),  # 11
        resp(200, "BYE", cseq=2, branch="z9hG4bK-bye1"),  # 12
    ]
    feed(c, flow)
    c.finish()
    assert retrans(c) == [None, 1, 1, None, None, None, 6, None, 6, 8, None, 11, None]
    assert [e.retransmission for e in c.entries.values()].count(True) == 6
    (d,) = c.dialogs.values()
    assert d.retransmissions == 6
    assert d.state == "COMPLETED"
    assert [t.messages for t in c.transactions.values()] == [
        [1, 2, 3, 4, 5, 6, 7, 9],
        [8, 10],
        [11, 12, 13],
    ]
    assert c.transactions[1].final == 6


def test_retransmitted_100_answers_each_invite_copy_and_is_flagged() -> None:
    c = Correlator()
    feed(c, [req("INVITE"), resp(100, to_tag=None), req("INVITE"), resp(100, to_tag=None)])
    assert retrans(c) == [None, None, 1, 2]


def test_provisional_with_new_content_is_not_a_retransmission() -> None:
    c = Correlator()
    feed(
        c,
        [
            req("INVITE"),
            resp(183, headers=("RSeq: 1",)),
            resp(183, headers=("RSeq: 2",)),  # reliable 1xx (RFC 3262): a new response
            resp(183, headers=("RSeq: 2",)),  # its retransmission
        ],
    )
    assert retrans(c) == [None, None, None, 3]


def test_same_branch_other_cseq_is_not_a_retransmission() -> None:
    c = Correlator()
    feed(
        c,
        [
            req("REGISTER", cseq=1, branch="z9hG4bK-same"),
            req("REGISTER", cseq=2, branch="z9hG4bK-same"),
            req("REGISTER", cseq=2, branch="z9hG4bK-same"),
        ],
    )
    assert retrans(c) == [None, None, 2]
    assert c.dialogs[1].retransmissions == 1


def test_same_branch_other_sent_by_is_another_transaction() -> None:
    c = Correlator()
    feed(
        c,
        [
            req("INVITE", branch="z9hG4bK-x", sent_by="10.0.0.1:5060"),
            req("INVITE", branch="z9hG4bK-x", sent_by="10.0.0.2:5060", src=PROXY, dst=BOB),
            resp(100, branch="z9hG4bK-x", sent_by="10.0.0.2:5060", src=BOB, dst=PROXY),
            resp(100, branch="z9hG4bK-x", sent_by="10.0.0.1:5060"),
        ],
    )
    assert [e.transaction for e in c.entries.values()] == [1, 2, 2, 1]
    assert [k[1] for k in keys(c)] == ["10.0.0.1:5060", "10.0.0.2:5060"]


def test_same_branch_in_two_call_ids_stays_apart() -> None:
    c = Correlator()
    feed(
        c,
        [
            req("OPTIONS", call_id="a", branch="z9hG4bK-1"),
            req("OPTIONS", call_id="b", branch="z9hG4bK-1"),
        ],
    )
    assert [(e.dialog, e.transaction, e.retransmission_of) for e in c.entries.values()] == [
        (1, 1, None),
        (2, 2, None),
    ]


def test_cancel_flow_is_cancelled_and_grouped_with_its_invite() -> None:
    c = Correlator()
    flow = [
        req("INVITE"),  # 0
        resp(100, to_tag=None),  # 1
        resp(180),  # 2
        req("CANCEL"),  # 3: the INVITE's branch (9.1)
        resp(200, "CANCEL"),  # 4
        resp(487),  # 5
        req("ACK", to_tag="bob-tag"),  # 6: the INVITE's branch (17.1.1.3)
    ]
    live = feed(c, flow)
    assert live == [
        "CALL SETUP",
        "CALL SETUP",
        "RINGING",
        "CANCELLED",
        "CANCELLED",
        "CANCELLED",
        "CANCELLED",
    ]
    c.finish()
    (tx,) = c.transactions.values()
    assert tx.method == "INVITE"
    assert keys(c) == [("z9hG4bK-inv1", "10.0.0.1:5060", "INVITE")]
    assert tx.messages == [1, 2, 3, 4, 5, 6, 7]
    assert (tx.request, tx.final) == (1, 6)  # the 487, not the CANCEL's 200
    assert retrans(c) == [None] * 7
    assert c.dialogs[1].state == "CANCELLED"


def test_cancel_without_its_invite_and_a_cancels_200_without_its_cancel() -> None:
    c = Correlator()
    feed(c, [req("CANCEL", call_id="a"), resp(200, "CANCEL", call_id="a")])
    feed(c, [req("INVITE", call_id="b"), resp(200, "CANCEL", call_id="b"), resp(487, call_id="b")])
    c.finish()
    assert [(t.method, t.dialog, t.messages, t.final) for t in c.transactions.values()] == [
        ("CANCEL", 1, [1, 2], 2),
        ("INVITE", 2, [3, 4, 5], 5),
    ]
    assert [d.state for d in c.dialogs.values()] == ["CANCELLED", "CANCELLED"]


def test_cancel_that_loses_the_race_with_the_2xx() -> None:
    c = Correlator()
    live = feed(c, [req("INVITE"), resp(180), req("CANCEL"), resp(200), resp(200, "CANCEL")])
    assert live == ["CALL SETUP", "RINGING", "CANCELLED", "IN CALL", "IN CALL"]
    assert retrans(c) == [None] * 5  # the CANCEL's 200 is not the INVITE's again
    assert c.transactions[1].final == 4


def test_forked_180s_from_two_sources_are_two_early_dialogs() -> None:
    c = Correlator()
    feed(
        c,
        [
            req("INVITE"),
            resp(180, src=BOB, to_tag="bob-1"),
            resp(180, src=CAROL, to_tag="carol-1"),
            resp(180, src=BOB, to_tag="bob-1"),  # this one is a retransmission
            resp(180, src=BOB, to_tag="bob-2"),  # same source, other tag: not one
        ],
    )
    (d,) = c.dialogs.values()
    assert d.to_tags == ["bob-1", "carol-1", "bob-2"]
    assert retrans(c) == [None, None, None, 2, None]
    assert d.state == "RINGING"


def test_many_forks_keep_distinct_tags_in_order() -> None:
    c = Correlator()
    c.add(req("INVITE"))
    for i in [*range(20), 3, 15, 20]:
        c.add(resp(180, to_tag=f"fork-{i}", src=Endpoint("10.0.1.1", 6000 + i)))
    assert c.dialogs[1].to_tags == [f"fork-{i}" for i in range(21)]


def test_same_call_id_on_two_hops_with_other_tags() -> None:
    """Like the corpus's erspan_sip_ipv4_udp.pcapng: an SBC keeps the Call-ID, changes the tags."""
    c = Correlator()
    feed(
        c,
        [
            req("SUBSCRIBE", branch="z9hG4bK-1", from_tag="a1"),
            req("SUBSCRIBE", branch="z9hG4bK-2", from_tag="a2", src=PROXY, dst=BOB),
            resp(
                202, "SUBSCRIBE", branch="z9hG4bK-2", from_tag="a2", to_tag="b2", src=BOB, dst=PROXY
            ),
            resp(202, "SUBSCRIBE", branch="z9hG4bK-1", from_tag="a1", to_tag="b1"),
            req("NOTIFY", branch="z9hG4bK-3", from_tag="b2", to_tag="a2", src=BOB, dst=PROXY),
            req("NOTIFY", branch="z9hG4bK-4", from_tag="b1", to_tag="a1", src=PROXY, dst=ALICE),
        ],
    )
    assert c.dialogs[1].to_tags == ["b2", "b1"]


def test_forked_2xx_forwarded_by_a_proxy_are_not_retransmissions() -> None:
    """RFC 3261 section 16.7: a proxy forwards every 2xx; same source, same status, two tags."""
    c = Correlator()
    feed(
        c,
        [
            req("INVITE"),
            resp(200, to_tag="bob-1"),
            resp(200, to_tag="carol-1"),
            resp(200, to_tag="bob-1"),
        ],
    )
    assert retrans(c) == [None, None, None, 2]
    assert c.dialogs[1].to_tags == ["bob-1", "carol-1"]


def test_invite_401_then_success_is_in_call() -> None:
    c = Correlator()
    flow = [
        req("INVITE", cseq=1, branch="z9hG4bK-i1"),
        resp(401, cseq=1, branch="z9hG4bK-i1", to_tag="challenge"),
        req("ACK", cseq=1, branch="z9hG4bK-i1", to_tag="challenge"),
        req("INVITE", cseq=2, branch="z9hG4bK-i2"),
        resp(100, cseq=2, branch="z9hG4bK-i2", to_tag=None),
        resp(180, cseq=2, branch="z9hG4bK-i2"),
        resp(200, cseq=2, branch="z9hG4bK-i2"),
        req("ACK", cseq=2, branch="z9hG4bK-a2", to_tag="bob-tag"),
    ]
    live = feed(c, flow)
    assert live == [
        "CALL SETUP",
        "CHALLENGED 401",
        "CHALLENGED 401",
        "CALL SETUP",
        "CALL SETUP",
        "RINGING",
        "IN CALL",
        "IN CALL",
    ]
    c.finish()
    (d,) = c.dialogs.values()
    assert d.state == "IN CALL"
    assert [e.transaction for e in c.entries.values()] == [1, 1, 1, 2, 2, 2, 2, 3]
    assert d.to_tags == ["bob-tag"]  # the 401's tag is no early dialog


def test_invite_challenged_twice_is_auth_failed_and_unanswered_challenge_is_rejected() -> None:
    c = Correlator()
    feed(
        c,
        [
            req("INVITE", call_id="x", cseq=1, branch="z9hG4bK-1"),
            resp(407, call_id="x", cseq=1, branch="z9hG4bK-1"),
            req("INVITE", call_id="x", cseq=2, branch="z9hG4bK-2", headers=(PROXY_CREDS,)),
            resp(407, call_id="x", cseq=2, branch="z9hG4bK-2"),
            req("INVITE", call_id="y", cseq=1, branch="z9hG4bK-3"),
            resp(401, call_id="y", cseq=1, branch="z9hG4bK-3"),
            req("INVITE", call_id="y", cseq=2, branch="z9hG4bK-4", headers=(CREDS,)),
            resp(403, call_id="y", cseq=2, branch="z9hG4bK-4"),
            req("INVITE", call_id="z", cseq=1, branch="z9hG4bK-5"),
            resp(407, call_id="z", cseq=1, branch="z9hG4bK-5"),
            req("INVITE", call_id="w", cseq=1, branch="z9hG4bK-6"),
            resp(486, call_id="w", cseq=1, branch="z9hG4bK-6"),
            req("INVITE", call_id="v", cseq=1, branch="z9hG4bK-7"),
            resp(603, call_id="v", cseq=1, branch="z9hG4bK-7"),
        ],
    )
    c.finish()
    assert [d.state for d in c.dialogs.values()] == [
        "AUTH FAILED",
        "AUTH FAILED",
        "REJECTED 407",
        "REJECTED 486",
        "REJECTED 603",
    ]


def test_ack_of_a_challenge_with_a_new_branch_adds_no_to_tag() -> None:
    """Like the corpus's sip_tcp_websocket.pcap: a WebRTC stack ACKs a 407 with a new branch."""
    c = Correlator()
    feed(
        c,
        [
            req("INVITE", branch="z9hG4bK-1"),
            resp(407, branch="z9hG4bK-1", to_tag="challenge"),
            req("ACK", branch="z9hG4bK-other", to_tag="challenge"),
            req("INVITE", cseq=2, branch="z9hG4bK-2"),
            resp(200, cseq=2, branch="z9hG4bK-2"),
        ],
    )
    assert [e.transaction for e in c.entries.values()] == [
        1,
        1,
        2,
        3,
        3,
    ]  # RFC 3261 17.1.1.3 not kept
    assert c.dialogs[1].to_tags == ["bob-tag"]
    assert c.dialogs[1].state == "IN CALL"


def test_reinvite_failure_keeps_the_call_up() -> None:
    c = Correlator()
    live = feed(
        c,
        [
            req("INVITE"),
            resp(200),
            req("ACK", branch="z9hG4bK-a1", to_tag="bob-tag"),
            req("INVITE", cseq=2, branch="z9hG4bK-re", to_tag="bob-tag"),
            resp(491, cseq=2, branch="z9hG4bK-re"),
        ],
    )
    assert live[-1] == "IN CALL"


def test_bye_from_the_callee_adds_no_to_tag() -> None:
    c = Correlator()
    feed(
        c,
        [
            req("INVITE"),
            resp(200),
            req(
                "BYE",
                cseq=7,
                branch="z9hG4bK-b",
                src=PROXY,
                dst=ALICE,
                sent_by="10.0.0.2:5060",
                from_tag="bob-tag",
                to_tag="alice-tag",
            ),
        ],
    )
    (d,) = c.dialogs.values()
    assert d.to_tags == ["bob-tag"]
    assert d.state == "COMPLETED"


def test_reinvite_from_the_callee_and_its_2xx_add_no_to_tag() -> None:
    """Like the corpus's sip-2phones-B2BUA-Asterisk.pcapng: Asterisk re-INVITEs the caller."""
    c = Correlator()
    feed(
        c,
        [
            req("INVITE"),
            resp(200),
            req(
                "INVITE",
                cseq=102,
                branch="z9hG4bK-re",
                src=PROXY,
                dst=ALICE,
                sent_by="10.0.0.2:5060",
                from_tag="bob-tag",
                to_tag="alice-tag",
            ),
            resp(
                200,
                cseq=102,
                branch="z9hG4bK-re",
                src=ALICE,
                dst=PROXY,
                sent_by="10.0.0.2:5060",
                from_tag="bob-tag",
                to_tag="alice-tag",
            ),
        ],
    )
    assert c.dialogs[1].to_tags == ["bob-tag"]


def test_register_and_invite_in_one_call_id_follow_the_call() -> None:
    """Like the corpus's branch-scenario-sipp.pcapng: a REGISTER, then an INVITE, same Call-ID."""
    c = Correlator()
    live = feed(
        c,
        [
            req("REGISTER", branch="z9hG4bK-r"),
            resp(
                200, "REGISTER", branch="z9hG4bK-r", headers=("Expires: 60", "Contact: <sip:a@h>")
            ),
            req("INVITE", branch="z9hG4bK-i"),
            resp(180, branch="z9hG4bK-i"),
            resp(403, branch="z9hG4bK-i"),
            req("BYE", cseq=2, branch="z9hG4bK-b", to_tag="bob-tag"),
            resp(200, "BYE", cseq=2, branch="z9hG4bK-b"),
        ],
    )
    assert live == [
        "REGISTERING",
        "REGISTERED",
        "CALL SETUP",
        "RINGING",
        "REJECTED 403",
        "REJECTED 403",
        "REJECTED 403",
    ]
    assert c.dialogs[1].first_method == "REGISTER"


# -- RFC 2543 fallback -------------------------------------------------------------------------
def test_rfc2543_transactions_without_branch() -> None:
    c = Correlator()
    flow = [
        req("INVITE", branch=None),  # 0
        req("INVITE", branch=None),  # 1: retransmission
        resp(100, branch=None, to_tag=None),  # 2
        resp(486, branch=None, to_tag="busy"),  # 3
        req("ACK", branch=None, to_tag="busy"),  # 4: CSeq number and To tag of the 486
        req("ACK", branch=None, to_tag="busy"),  # 5: re-sent
        req("INVITE", cseq=2, branch=None),  # 6: a new attempt
        resp(200, cseq=2, branch=None, to_tag="ok"),  # 7
        req("ACK", cseq=2, branch=None, to_tag="ok"),  # 8: the 2xx's ACK, its own transaction
        req("ACK", cseq=9, branch=None, to_tag="ok"),  # 9: another CSeq number: not the INVITE's
    ]
    live = feed(c, flow)
    c.finish()
    assert [e.transaction for e in c.entries.values()] == [1, 1, 1, 1, 1, 1, 2, 2, 3, 4]
    assert retrans(c) == [None, 1, None, None, None, 5, None, None, None, None]
    assert keys(c)[0] == (
        "sip:bob@example.com",
        "alice-tag",
        "call-1",
        "1",
        "INVITE",
        "10.0.0.1:5060",
    )
    assert c.transactions[3].method == "ACK"
    assert live[3] == "REJECTED 486"
    assert c.dialogs[1].state == "IN CALL"


def test_rfc2543_ack_with_another_to_tag_is_not_the_invites() -> None:
    c = Correlator()
    feed(
        c,
        [
            req("INVITE", branch=None),
            resp(486, branch=None, to_tag="busy"),
            req("ACK", branch=None, to_tag="other"),
        ],
    )
    assert [e.transaction for e in c.entries.values()] == [1, 1, 2]


def test_rfc2543_response_matches_without_the_to_tag_and_cancel_joins() -> None:
    c = Correlator()
    feed(
        c,
        [
            req("INVITE", branch="1234"),  # a branch without the cookie: RFC 2543
            resp(180, branch="1234", to_tag="a"),
            resp(180, branch="1234", to_tag="b"),
            req("CANCEL", branch="1234"),
            resp(200, "CANCEL", branch="1234", to_tag="a"),
            resp(487, branch="1234", to_tag="a"),
        ],
    )
    assert [e.transaction for e in c.entries.values()] == [1] * 6
    assert c.transactions[1].final == 6
    assert c.dialogs[1].to_tags == ["a", "b"]
    assert c.dialogs[1].state == "CANCELLED"


def test_bare_cookie_branch_falls_back_to_rfc2543() -> None:
    """RFC 4475 section 3.2.1 (badbranch): the branch is only the magic cookie."""
    c = Correlator()
    feed(
        c,
        [
            req("OPTIONS", cseq=8, branch="z9hG4bK"),
            resp(200, "OPTIONS", cseq=8, branch="z9hG4bK"),
            req("OPTIONS", cseq=9, branch="z9hG4bK"),
            resp(200, "OPTIONS", cseq=9, branch="z9hG4bK"),
        ],
    )
    assert [e.transaction for e in c.entries.values()] == [1, 1, 2, 2]
    assert [k[3:5] for k in keys(c)] == [("8", "OPTIONS"), ("9", "OPTIONS")]
    assert retrans(c) == [None] * 4


# -- responses only ----------------------------------------------------------------------------
def test_response_without_its_request() -> None:
    c = Correlator()
    live = feed(
        c, [resp(200, "OPTIONS", call_id="lone", ts=5), resp(200, "OPTIONS", call_id="lone", ts=9)]
    )
    c.finish()
    (d,) = c.dialogs.values()
    assert live == ["RESPONSE ONLY 200", "RESPONSE ONLY 200"]
    assert d.state == "RESPONSE ONLY 200"
    assert d.first_method == "OPTIONS"
    assert (d.src, d.dst, d.start_ns, d.end_ns) == (PROXY, ALICE, 5, 9)
    (tx,) = c.transactions.values()
    assert (tx.request, tx.final, tx.method) == (None, 1, "OPTIONS")
    assert retrans(c) == [None, 1]


def test_request_captured_after_its_response_joins_the_transaction() -> None:
    c = Correlator()
    live = feed(c, [resp(180), req("INVITE"), resp(200)])
    assert live == ["RESPONSE ONLY 180", "RINGING", "IN CALL"]
    assert [e.transaction for e in c.entries.values()] == [1, 1, 1]
    assert c.transactions[1].request == 2


def test_rfc2543_request_captured_after_its_response_joins_the_transaction() -> None:
    c = Correlator()
    feed(
        c,
        [
            resp(180, branch=None),
            req("INVITE", branch=None),
            req("INVITE", branch=None),
            resp(200, branch=None),
        ],
    )
    assert [e.transaction for e in c.entries.values()] == [1, 1, 1, 1]
    assert retrans(c) == [None, None, 2, None]
    assert keys(c)[0] == ("alice-tag", "call-1", "1", "INVITE", "10.0.0.1:5060")


# -- B2BUA legs --------------------------------------------------------------------------------
def test_b2bua_link_to_an_earlier_leg() -> None:
    c = Correlator()
    c.add(req("INVITE", call_id="leg-a"))
    c.add(req("INVITE", call_id="leg-b", src=PROXY, dst=BOB, headers=("X-Call-ID: leg-a",)))
    c.add(req("INVITE", call_id="leg-c"))
    c.finish()
    assert [d.linked for d in c.dialogs.values()] == [(2,), (1,), ()]


def test_b2bua_link_to_a_later_leg_and_several_names() -> None:
    c = Correlator()
    c.add(req("INVITE", call_id="out-1", headers=("x-cid:  in-1 ",)))
    c.add(req("INVITE", call_id="out-2", headers=("X-Call-ID: in-1",)))
    c.add(req("INVITE", call_id="in-1"))
    assert [d.linked for d in c.dialogs.values()] == [(3,), (3,), (1, 2)]
    c.finish()
    assert c.dialog_of("in-1") is c.dialogs[3]
    assert c.dialog_of("nowhere") is None


def test_link_header_name_is_configurable_and_read_on_first_requests_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[bytes] = []
    parse = parse_headers

    def counted(raw: bytes) -> list[tuple[str, str]]:
        calls.append(raw)
        return parse(raw)

    monkeypatch.setattr(correlator_module, "parse_headers", counted)
    c = Correlator(link_headers=("X-Leg",))
    c.add(req("INVITE", call_id="a", ts=1))
    c.add(req("INVITE", call_id="b", ts=2, headers=("X-Call-ID: a",)))  # not a link here
    c.add(req("INVITE", call_id="c", ts=3, headers=("X-LEG: a",)))
    c.add(req("BYE", call_id="b", ts=4, cseq=2, branch="z9hG4bK-b", headers=("X-Leg: a",)))
    assert [d.linked for d in c.dialogs.values()] == [(3,), (), (1,)]
    # only the first request that seemed to carry the header was read
    assert [c.entries[3].msg.raw] == calls


def test_link_to_itself_is_ignored() -> None:
    c = Correlator()
    c.add(req("INVITE", call_id="me", headers=("X-Call-ID: me",)))
    assert c.dialogs[1].linked == ()


# -- dialogs, headers --------------------------------------------------------------------------
def test_dialogs_numbered_in_order_of_first_message() -> None:
    c = Correlator()
    feed(
        c,
        [
            req("OPTIONS", call_id="b"),
            resp(200, "REGISTER", call_id="a"),
            resp(200, "OPTIONS", call_id="b"),
            req("REGISTER", call_id="a"),
        ],
    )
    assert [(d.id, d.call_id, d.first_method) for d in c.dialogs.values()] == [
        (1, "b", "OPTIONS"),
        (2, "a", "REGISTER"),
    ]
    assert [d.messages for d in c.dialogs.values()] == [[1, 3], [2, 4]]
    assert [e.dialog for e in c.entries.values()] == [1, 2, 1, 2]


def test_capture_starting_mid_call() -> None:
    c = Correlator()
    feed(
        c,
        [
            req("BYE", call_id="a", cseq=3, to_tag="b"),
            resp(200, "BYE", call_id="a", cseq=3),
            req("ACK", call_id="b", to_tag="b"),
        ],
    )
    c.finish()
    assert [d.state for d in c.dialogs.values()] == ["COMPLETED", "IN CALL"]


def test_every_phase_has_words() -> None:
    call_phases = {x for (before, _), after in states.CALL.items() for x in (before, after)}
    other_phases = {x for (before, _), after in states.OTHER.items() for x in (before, after)}
    assert call_phases == set(states.CALL_LABELS)
    assert other_phases == set(states.OTHER_LABELS) == set(states.REGISTER_LABELS)
    assert (
        states.verdict(True, states.CHALLENGED, "INVITE", 407, ended=True).label == "REJECTED 407"
    )
    assert (
        states.verdict(True, states.CHALLENGED, "INVITE", 407).label == "CHALLENGED 407"
    )  # goes on
    assert states.verdict(False, states.DONE, "REGISTER", 200, 0).label == "UNREGISTERED"
    assert states.verdict(False, states.FAILED, "MESSAGE", 404).label == "MESSAGE 404"
    assert (
        states.verdict(False, states.AUTH_SENT, "MESSAGE", 401, ended=True).label == "NO RESPONSE"
    )
    assert states.verdict(
        True, states.SETUP, "INVITE", 0, requested=False, last_status=180
    ).label == ("RESPONSE ONLY 180")


# -- properties --------------------------------------------------------------------------------
_ENDPOINTS = [ALICE, PROXY, BOB]
_METHODS = ["INVITE", "ACK", "CANCEL", "BYE", "REGISTER", "OPTIONS", "SUBSCRIBE"]
_HEADERS: list[tuple[str, ...]] = [
    (),
    ("X-Call-ID: a",),
    ("X-CID: b",),
    ("Contact: <sip:x@y>;expires=0",),
    ("Expires: 9",),
]


@st.composite
def messages(draw: st.DrawFn) -> Message:
    method = draw(st.sampled_from([*_METHODS, None]))
    cseq_method = draw(st.sampled_from([*_METHODS, ""])) if draw(st.booleans()) else method or ""
    call_id = draw(st.sampled_from(["a", "b", "c", ""]))
    cseq = draw(st.sampled_from([None, 1, 2]))
    branch = draw(st.sampled_from([None, "z9hG4bK", "z9hG4bK-1", "z9hG4bK-2", "old"]))
    sent_by = draw(st.sampled_from(["h1", "h2"]))
    src = draw(st.sampled_from(_ENDPOINTS))
    dst = draw(st.sampled_from(_ENDPOINTS))
    ts = draw(st.integers(0, 10))
    from_tag = draw(st.sampled_from([None, "f1", "f2"]))
    to_tag = draw(st.sampled_from([None, "", "t1", "t2", "f1"]))
    headers = draw(st.sampled_from(_HEADERS))
    if method is None:
        status = draw(st.sampled_from([100, 180, 183, 200, 202, 302, 401, 403, 407, 486, 487, 603]))
        return resp(
            status,
            cseq_method,
            call_id=call_id,
            cseq=cseq,
            branch=branch,
            sent_by=sent_by,
            src=src,
            dst=dst,
            ts=ts,
            from_tag=from_tag,
            to_tag=to_tag,
            headers=headers,
        )
    return req(
        method,
        cseq_method=cseq_method,
        call_id=call_id,
        cseq=cseq,
        branch=branch,
        sent_by=sent_by,
        src=src,
        dst=dst,
        ts=ts,
        from_tag=from_tag,
        to_tag=to_tag,
        headers=headers,
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(messages(), max_size=40))
def test_any_sequence_correlates_consistently(batch: list[Message]) -> None:
    c = Correlator()
    for m in batch:
        c.add(m)
        assert c.dialogs[c.entries[c.added].dialog].state
    c.finish()
    entries = c.entries
    # Ids: from 1, in order, never a gap when nothing was dropped; each filed under its id.
    assert list(entries) == [e.id for e in entries.values()] == list(range(1, len(batch) + 1))
    assert [e.message() for e in entries.values()] == batch
    assert list(c.dialogs) == [d.id for d in c.dialogs.values()]
    assert list(c.dialogs) == list(range(1, len(c.dialogs) + 1))
    assert list(c.transactions) == [t.id for t in c.transactions.values()]
    assert list(c.transactions) == list(range(1, len(c.transactions) + 1))
    # Dialogs and transactions partition the entries, in capture order.
    assert sorted(i for d in c.dialogs.values() for i in d.messages) == list(entries)
    assert sorted(i for t in c.transactions.values() for i in t.messages) == list(entries)
    for d in c.dialogs.values():
        assert d.messages == sorted(d.messages)
        assert {entries[i].msg.call_id for i in d.messages} == {d.call_id}
        assert d.retransmissions == sum(entries[i].retransmission for i in d.messages)
        assert sorted(d.transactions) == [t.id for t in c.transactions.values() if t.dialog == d.id]
        assert d.start_ns <= d.end_ns
        assert len(set(d.to_tags)) == len(d.to_tags)
        assert d.state
        for other in d.linked:
            assert d.id in c.dialogs[other].linked
    for t in c.transactions.values():
        assert all(
            entries[i].transaction == t.id and entries[i].dialog == t.dialog for i in t.messages
        )
    for e in entries.values():
        assert e.dialog in c.dialogs
        assert e.id in c.transactions[e.transaction].messages
        if e.retransmission_of is not None:
            first = entries[e.retransmission_of]
            assert first.id < e.id
            assert first.transaction == e.transaction
            assert (first.msg.src, first.msg.dst, first.msg.label) == (
                e.msg.src,
                e.msg.dst,
                e.msg.label,
            )
    # The same messages again give the same result.
    again = Correlator()
    for m in batch:
        again.add(m)
    again.finish()
    assert again.entries == entries
    assert again.dialogs == c.dialogs
    assert again.transactions == c.transactions


# -- speed -------------------------------------------------------------------------------------
def _calls(n: int) -> list[Message]:
    out = []
    for i in range(n):
        cid = f"{i}-bench@127.0.0.1"
        b = f"z9hG4bK-{i}"
        out += [
            req("INVITE", call_id=cid, branch=b + "-0", ts=i * 10 + 1),
            resp(180, call_id=cid, branch=b + "-0", ts=i * 10 + 2),
            resp(200, call_id=cid, branch=b + "-0", ts=i * 10 + 3),
            req("ACK", call_id=cid, branch=b + "-1", to_tag="bob-tag", ts=i * 10 + 4),
            req("BYE", call_id=cid, cseq=2, branch=b + "-2", to_tag="bob-tag", ts=i * 10 + 5),
            resp(200, "BYE", call_id=cid, cseq=2, branch=b + "-2", ts=i * 10 + 6),
        ]
    return out


def test_thirty_thousand_messages_of_five_thousand_calls() -> None:
    """Many calls in one run: every one completed, every transaction found. (How fast: that is
    for benchmarks/read_bench.py, never a timed unit test, which fails on a loaded machine.)"""
    batch = _calls(5_000)  # 30,000 messages
    c = Correlator()
    for m in batch:
        c.add(m)
    c.finish()
    assert Counter(d.state for d in c.dialogs.values()) == {"COMPLETED": 5_000}
    assert len(c.transactions) == 15_000
    assert len(c.entries) == len(batch)


def test_entries_are_model_entries() -> None:
    c = Correlator()
    e = c.add(req("INVITE"))
    assert e == Entry(1, c.entries[1].msg, 1, 1, None)


# -- credentials, stale nonces, calls never answered --------------------------------------------
def test_preemptive_credentials_refused_are_auth_failed() -> None:
    """An INVITE that carries credentials from the start (a nonce known from an earlier dialog)
    and gets 403: the credentials were refused (AUTH FAILED), not the call (REJECTED 403)."""
    c = Correlator()
    feed(c, [req("INVITE", headers=(PROXY_CREDS,)), resp(403)])
    c.finish()
    assert (c.dialogs[1].state, c.dialogs[1].outcome) == ("AUTH FAILED", "auth-failed")


def test_stale_nonce_is_a_challenge_not_a_refusal() -> None:
    """RFC 7616 3.3: a 401/407 with stale=true says the credentials were right and their nonce
    old; the retry with the new nonce is accepted. At no point was anything refused."""
    stale = 'Proxy-Authenticate: Digest realm="example.com", nonce="new", stale=true'
    c = Correlator()
    live = feed(
        c,
        [
            req("INVITE", branch="z9hG4bK-1", headers=(PROXY_CREDS,)),
            resp(407, branch="z9hG4bK-1", headers=(stale,)),
            req("INVITE", cseq=2, branch="z9hG4bK-2", headers=(PROXY_CREDS,)),
            resp(200, cseq=2, branch="z9hG4bK-2"),
        ],
    )
    assert live == ["CALL SETUP", "CHALLENGED 407", "CALL SETUP", "IN CALL"]
    assert "AUTH FAILED" not in live


def test_register_refresh_with_reused_nonce() -> None:
    """A refresh that reuses its nonce (RFC 7616 3.4) shows REGISTERED until answered; refused, it
    is AUTH FAILED; a stale nonce only asks for a retry."""
    stale = 'WWW-Authenticate: Digest realm="example.com", nonce="new", stale=TRUE'
    c = Correlator()
    contact = ("Contact: <sip:alice@10.0.0.1>;expires=60",)
    live = feed(
        c,
        [
            req("REGISTER", branch="z9hG4bK-1", headers=(CREDS, *contact)),
            resp(200, "REGISTER", branch="z9hG4bK-1", headers=contact),
            req("REGISTER", cseq=2, branch="z9hG4bK-2", headers=(CREDS, *contact)),
            resp(401, "REGISTER", cseq=2, branch="z9hG4bK-2", headers=(stale,)),
            req("REGISTER", cseq=3, branch="z9hG4bK-3", headers=(CREDS, *contact)),
            resp(200, "REGISTER", cseq=3, branch="z9hG4bK-3", headers=contact),
            req("REGISTER", cseq=4, branch="z9hG4bK-4", headers=(CREDS, *contact)),
            resp(401, "REGISTER", cseq=4, branch="z9hG4bK-4"),
        ],
    )
    assert live == [
        "REGISTERING",
        "REGISTERED",
        "REGISTERED",  # the refresh is under way
        "CHALLENGED 401",  # stale: a new nonce, retry expected
        "REGISTERING",
        "REGISTERED",
        "REGISTERED",
        "AUTH FAILED",  # not stale: the credentials were refused
    ]


def test_a_call_never_answered_is_never_completed() -> None:
    """An INVITE with no answer, then a BYE (sipp's branch scenario): the caller gave up
    (CANCELLED), as after a 180 and a BYE on the early dialog (RFC 3261 section 15)."""
    c = Correlator()
    feed(
        c,
        [
            req("INVITE", call_id="a", branch="z9hG4bK-a1"),
            req("BYE", call_id="a", cseq=2, branch="z9hG4bK-a2", to_tag="t"),
            resp(200, "BYE", call_id="a", cseq=2, branch="z9hG4bK-a2"),
            req("INVITE", call_id="b", branch="z9hG4bK-b1"),
            resp(180, call_id="b", branch="z9hG4bK-b1"),
            req("BYE", call_id="b", cseq=2, branch="z9hG4bK-b2", to_tag="bob-tag"),
        ],
    )
    c.finish()
    assert [(d.state, d.outcome) for d in c.dialogs.values()] == [
        ("CANCELLED", "cancelled"),
        ("CANCELLED", "cancelled"),
    ]


def test_no_response_at_all_vs_trying() -> None:
    """At the end of a capture an INVITE that got nothing is NO RESPONSE; one that got 100 Trying
    was received and is still CALL SETUP (in progress when the capture ended)."""
    c = Correlator()
    feed(
        c,
        [
            req("INVITE", call_id="a", branch="z9hG4bK-a1"),
            req("INVITE", call_id="b", branch="z9hG4bK-b1"),
            resp(100, call_id="b", branch="z9hG4bK-b1", to_tag=None),
        ],
    )
    assert [d.state for d in c.dialogs.values()] == ["CALL SETUP", "CALL SETUP"]
    c.finish()
    assert [(d.state, d.outcome) for d in c.dialogs.values()] == [
        ("NO RESPONSE", "no-response"),
        ("CALL SETUP", "in-progress"),
    ]


def test_a_call_is_a_dialog_with_an_invite() -> None:
    """A REGISTER then an INVITE in one Call-ID (sipp's branch scenario) is a call; an OPTIONS
    dialog is not."""
    c = Correlator()
    feed(
        c,
        [
            req("REGISTER", call_id="r", branch="z9hG4bK-r1"),
            resp(200, "REGISTER", call_id="r", branch="z9hG4bK-r1"),
            req("INVITE", call_id="r", cseq=2, branch="z9hG4bK-r2"),
            req("OPTIONS", call_id="o", branch="z9hG4bK-o1"),
        ],
    )
    assert [(d.first_method, d.call) for d in c.dialogs.values()] == [
        ("REGISTER", True),
        ("OPTIONS", False),
    ]


@settings(max_examples=300, deadline=None)
@given(
    names=st.lists(
        st.sampled_from(
            [
                "Authorization",
                "AUTHORIZATION",
                "proxy-Authorization",
                "Proxy-Authorization-Info",
                "X-Authorization",
                "Authentication-Info",
                "WWW-Authenticate",
                "Via",
                "Subject",
            ]
        ),
        max_size=4,
    ),
    gaps=st.lists(st.sampled_from(["", " ", "\t", " \t "]), min_size=4, max_size=4),
    folded=st.booleans(),
    method=st.sampled_from(["INVITE", "Authorization", "authorization"]),
)
def test_credentials_are_found_as_the_header_parser_names_them(
    names: list[str], gaps: list[str], folded: bool, method: str
) -> None:
    """The correlator's search for credentials (a pattern led by a line feed, for speed) agrees
    with the header parser: an Authorization or Proxy-Authorization header in any case, with
    blanks before its colon; not another header that contains the word, not a folded line, not
    the start line (even with a method of that name)."""
    lines = [f"{method} sip:bob@example.com SIP/2.0"]
    for name, gap in zip(names, gaps, strict=False):
        lines.append(f"{name}{gap}: Digest x=1")
        if folded:
            lines.append(f" {name}: y")  # a continuation of the line above
    raw = ("\r\n".join([*lines, "Content-Length: 0"]) + "\r\n\r\n").encode()
    said = {n.lower() for n, _ in parse_headers(raw)}
    expected = bool(said & {"authorization", "proxy-authorization"})
    assert (correlator_module._CREDENTIALS.search(raw, 0, len(raw)) is not None) == expected


def test_an_entry_whose_id_is_its_frame_number_holds_one_int_for_both() -> None:
    # A capture of SIP alone, one message per frame: ids and frame numbers are the same numbers,
    # and each entry holds the same int object twice (32 bytes less a message, in C and in
    # Python). Numbers past 256, which Python does not share by itself.
    from sipsniff.pipeline import read_trace
    from tests.conftest import CAPTURES

    trace = read_trace([str(CAPTURES / "invite-call.pcap")], parallel=False)
    msgs = [e.message() for e in trace.entries.values()]
    c = Correlator()
    c.added = 1000
    placed = [
        c.add(m._replace(pkt=m.pkt._replace(frame=int(str(1001 + i))))) for i, m in enumerate(msgs)
    ]
    assert (
        [e.id for e in placed] == [e.frame for e in placed] == list(range(1001, 1001 + len(msgs)))
    )
    assert all(e.id is e.frame for e in placed)
    assert c.dialogs[placed[-1].dialog].messages[-1] is placed[-1].frame
    # Where they part (a frame that is no SIP came first), each keeps its own number.
    other = c.add(msgs[0]._replace(pkt=msgs[0].pkt._replace(frame=5000)))
    assert (other.id, other.frame) == (1001 + len(msgs), 5000)
