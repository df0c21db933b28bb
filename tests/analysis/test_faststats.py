"""The C replay of tshark's sip,stat tap (analysis/_faststats.c) against the Python code
(``stats._py_tshark_figures``, which tests/analysis/test_stats.py holds to tshark itself).

Where ``sip_stat`` answers, its figures must equal Python's, the orders of first sight of the
methods and status codes too; where it does not (None: a number beyond 64 bits, a message that is
not a tuple), ``tshark_figures`` gives Python's. Checked on every capture of the public corpus and
of captures/ (messages held in their file, ``FiledEntry``), and on generated messages (hypothesis)
made of what decides the replay: direction, transport, CSeq, methods and codes, times.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sipsniff.analysis import stats
from sipsniff.analysis.stats import _py_tshark_figures, tshark_figures
from sipsniff.errors import SipsniffError
from sipsniff.model import Endpoint, FiledMessage, Message, Payload
from sipsniff.pipeline import read_trace
from tests.fastpaths import captures, needs_c, run_sanitized

pytestmark = needs_c(stats.FAST_SIP_STAT)


def same(messages: list[Message]) -> bool:
    """Whether C answered; asserts the figures equal Python's either way."""
    assert stats.FAST_SIP_STAT is not None
    answer = stats.FAST_SIP_STAT(
        messages, stats._STAT_FIELDS, FiledMessage, stats._CALL_ID_SIZE, stats._CSEQ_METHOD_SIZE
    )
    slow = _py_tshark_figures(messages)
    figures = tshark_figures(messages)
    assert figures == slow
    assert list(figures.methods) == list(slow.methods)  # in order of first sight
    assert list(figures.status_codes) == list(slow.status_codes)
    return answer is not None


def test_every_capture_of_the_corpus() -> None:
    total = resent = timed = 0
    for path in captures():
        try:
            trace = read_trace([str(path)], parallel=False)
        except SipsniffError:  # a capture the reader refuses is read by other tests
            continue
        messages: list[Message] = list(trace.entries.values())
        assert same(messages), path
        figures = tshark_figures(messages)
        total += figures.messages
        resent += figures.resent
        timed += len(figures.setup_times_ms)
    # the corpus has what the replay counts: resent messages and setup times
    assert total > 10_000 and resent > 10 and timed > 100


A, B, C = (Endpoint(f"10.0.0.{n}", 5060) for n in (1, 2, 3))
_CALL_IDS = ["a", "b", "x" * 127, "y" * 127 + "1", "y" * 127 + "2", "\u00e9" * 130]
_METHODS = ["INVITE", "ACK", "CANCEL", "BYE", "ack", "REGISTER", "X" * 15 + "1", "X" * 15 + "2"]

_message = st.builds(
    lambda frame, ts, ends, transport, call_id, cseq, method, code: Message(
        pkt=Payload(frame, ts, ends[0], ends[1], transport, b""),
        raw=b"",
        method=method if code is None else None,
        ruri=None,
        status=code,
        reason=None if code is None else "",
        call_id=call_id,
        cseq_num=cseq,
        cseq_method=method,
        branch=None,
        sent_by="",
        from_uri="",
        from_name="",
        from_tag=None,
        to_uri="",
        to_name="",
        to_tag=None,
        content_length=None,
        body_start=0,
    ),
    frame=st.integers(1, 50),
    ts=st.integers(-(10**12), 3 * 10**9) | st.integers(0, 2**63 - 1),
    ends=st.sampled_from([(A, B), (B, A), (A, C)]),
    transport=st.sampled_from(["udp", "udp", "udp", "tcp"]),
    call_id=st.sampled_from(_CALL_IDS),
    cseq=st.none() | st.integers(0, 3) | st.just(2**31),
    method=st.sampled_from(_METHODS),
    code=st.none() | st.sampled_from([100, 180, 200, 200, 401, 487, 999]),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_message, max_size=40))
def test_generated_messages(messages: list[Message]) -> None:
    """Every generated run is answered in C, and equals Python's."""
    assert same(messages)


def test_what_c_leaves_to_python() -> None:
    """A number beyond 64 bits, or a message that is no tuple of the fields: Python's figures."""
    pkt = Payload(1, 10**9, A, B, "udp", b"")
    invite = Message(pkt, b"", "INVITE", None, None, None, "c", 1, "INVITE", None, "", "", "", None,
                     "", "", None, None, 0)  # fmt: skip
    assert same([invite, invite])
    assert not same([invite, invite._replace(cseq_num=2**64)])
    assert not same([invite, invite._replace(pkt=pkt._replace(ts_ns=2**63))])
    assert not same([invite._replace(status=2**64, method=None)])
    # an iterator, read again by Python when C gives up
    gives_up = [invite, invite._replace(cseq_num=2**64)]
    assert tshark_figures(iter(gives_up)) == _py_tshark_figures(gives_up)
    assert tshark_figures(iter([invite, invite])).resent == 1


def test_under_address_and_undefined_behaviour_sanitizers(tmp_path: Path) -> None:
    run_sanitized(
        tmp_path, "sipsniff/analysis/_faststats.c", "sipsniff.analysis._faststats", [Path(__file__)]
    )
