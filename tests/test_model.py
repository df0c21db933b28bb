"""``model``: the typed counters (what the JSON document's ``counts`` shows)."""

from __future__ import annotations

import copy
import pickle

import pytest

from sipsniff.model import Counts, Endpoint, Entry, Message, Payload
from sipsniff.sip.parser import parse_message
from tests.builders import sip


def test_counts_add_up_and_list_what_is_not_zero() -> None:
    a = Counts(frames=3, tcp_gaps=1, hep_types={5: 1})
    b = Counts(frames=2, tcp_gaps=2, not_sip=4, first_not_kept_frame=9, first_not_kept_file=0)
    a.add(b)
    assert (a.frames, a.tcp_gaps, a.not_sip) == (5, 3, 4)
    assert (a.first_not_kept_frame, a.first_not_kept_file) == (9, 0)
    a.add(Counts(hep_types={5: 2, 13: 1}))
    assert a.as_dict() == {
        "first_not_kept_file": 0,  # a figure once set, zero included
        "first_not_kept_frame": 9,
        "frames": 5,
        "hep_type_13": 1,
        "hep_type_5": 3,
        "not_sip": 4,
        "tcp_gaps": 3,
    }
    assert Counts().as_dict() == {"frames": 0}
    assert Counts(dropped_by_kernel=0).as_dict() == {"dropped_by_kernel": 0, "frames": 0}


def _parsed(text: bytes) -> Message:
    pkt = Payload(7, 1_000, Endpoint("10.0.0.1", 5060), Endpoint("10.0.0.2", 5060), "udp", text)
    msg = parse_message(text, pkt)
    assert isinstance(msg, Message)
    return msg


def test_an_entry_is_its_message_with_its_place() -> None:
    """``Entry(id, msg, dialog, transaction, retransmission_of)`` is the message itself with four
    items more: ``msg`` is the entry; it equals only an entry of the same place and message."""
    msg = _parsed(sip("OPTIONS sip:b@h SIP/2.0", "c1", "1 OPTIONS"))
    e = Entry(3, msg, 2, 5, 1)
    assert isinstance(e, Message) and type(e) is Entry and e.msg is e
    assert (e.id, e.dialog, e.transaction, e.retransmission_of, e.retransmission) == (
        3,
        2,
        5,
        1,
        True,
    )
    assert (e.frame, e.ts_ns, e.call_id, e.raw, e.label) == (7, 1_000, "c1", msg.raw, "OPTIONS")
    assert e.message() == msg and type(e.message()) is Message and e.fields() == tuple(msg)
    assert e != msg and msg != e and e == Entry(3, msg, 2, 5, 1) and e != Entry(4, msg, 2, 5, 1)
    assert hash(e) == hash(Entry(3, msg, 2, 5, 1))
    assert Entry(3, e, 2, 5) == e._replace(retransmission_of=None)  # of an entry: its message
    moved = e._replace(dialog=9, reason="x")
    assert (moved.dialog, moved.reason, moved.id) == (9, "x", 3) and moved.message() != msg
    assert e._replace(msg=msg._replace(call_id="c2")).call_id == "c2"
    assert repr(e) == (f"Entry(id=3, msg={msg!r}, dialog=2, transaction=5, retransmission_of=1)")
    for copied in (copy.copy(e), copy.deepcopy(e), pickle.loads(pickle.dumps(e))):
        assert type(copied) is Entry and copied == e
    assert e._asdict() == msg._asdict()


def test_an_entry_is_made_of_a_message_only() -> None:
    with pytest.raises(TypeError, match="is no Message"):
        Entry(1, (1, 2), 1, 1)  # type: ignore[arg-type]
