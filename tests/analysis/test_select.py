"""The selection: ``select`` over a trace, and ``Watch``, the same as messages come."""

from __future__ import annotations

import re

import pytest

from sipsniff.analysis.select import DialogIndex, Selection, Shown, Watch, select
from sipsniff.analysis.terms import TimeBound, parse_state, parse_time
from sipsniff.capture.files import read_frames
from sipsniff.model import Entry
from sipsniff.pipeline import Session, read_trace
from tests.conftest import CAPTURES, CORPUS

SELECTIONS = [
    Selection(),
    Selection(statuses=("4xx",)),
    Selection(statuses=("failed",)),
    Selection(statuses=("200", "180")),
    Selection(statuses=("200",)),
    Selection(statuses=("2xx",), states=(parse_state("cancelled"),)),
    Selection(hosts=("127.0.0.0/8",)),
    Selection(hosts=("192.168.0.0/16", "2001:db8::/32")),
    Selection(users=("97239287044",)),
    Selection(call_ids=("1-*",)),
    Selection(call_ids=("*@127.0.0.1",)),
    Selection(call_ids=("*-*",)),
    Selection(since=parse_time("+1s")),
    Selection(until=parse_time("+0.5s")),
    Selection(min_duration_ns=500_000_000),
    Selection(grep_first=re.compile(rb"^INVITE")),
    Selection(grep_first=re.compile(rb"Performance Test"), statuses=("2xx",)),
    Selection(methods=("INVITE",)),
    Selection(exclude_methods=("OPTIONS", "REGISTER")),
    Selection(users=("1000",)),
    Selection(users=("nobody",)),
    Selection(hosts=("127.0.0.1",)),
    Selection(hosts=("127.0.0.1:5060",)),
    Selection(grep=re.compile(rb"180 Ringing")),
    Selection(grep=re.compile(rb"(?i)user-agent: *sipp")),
    Selection(calls_only=True),
    Selection(dialog=2),
    Selection(methods=("INVITE",), grep=re.compile(rb"BYE")),
]


def watched(
    path: str, sel: Selection, before: dict[int, str] | None = None
) -> tuple[list[Shown], set[int]]:
    """Feed a capture through a session watched by ``sel``; what it showed, and from which
    dialogs (``before``: filled with the states before the end of the capture)."""
    session = Session()
    watch = Watch(sel)
    shown: list[Shown] = []

    def see(entry: Entry) -> None:
        one = watch.see(entry, session.correlator.dialogs[entry.dialog])
        if one is not None:
            shown.append(one)

    session.observers.append(see)
    trace = read_trace([path])
    session.run(read_frames([path])[1])
    if before is not None:
        before.update({d.id: d.state for d in session.correlator.dialogs.values()})
    session.finish()
    assert session.trace().entries == trace.entries
    return shown, {s.entry.dialog for s in shown}


def _id(sel: Selection) -> str:
    return ",".join(
        f"{k}={getattr(sel, k)}"
        for k in sel.__slots__
        if getattr(sel, k) != getattr(Selection(), k)
    )


PATHS = [
    *(str(p) for p in sorted(CAPTURES.glob("*.pcap"))),
    *(str(p) for p in sorted(CORPUS.glob("*.pcap"))[:6]),
    str(CORPUS / "aaa.pcap"),
    *(
        str(CAPTURES / "scenarios" / f"{name}.pcap")
        for name in ("call-cancelled", "call-busy", "call-ipv6", "call-rejected-403-authenticated")
    ),
]
AAA = CORPUS / "aaa.pcap"
STATE_SELECTIONS = [
    Selection(states=(parse_state("completed"),)),
    Selection(states=(parse_state("rejected"),)),
    Selection(states=(parse_state("auth-failed"), parse_state("in call"))),
    Selection(states=(parse_state("registered"),), hosts=("212.242.33.35",)),
    Selection(states=(parse_state("busy"),)),
]


@pytest.mark.parametrize("sel", SELECTIONS, ids=_id)
def test_watch_shows_the_dialogs_select_picks(sel: Selection) -> None:
    """Once all is known, the dialogs a watch showed messages of are those ``select`` picks; a
    dialog's lines start at the message that met the last criterion, and run on to its end."""
    for path in PATHS:
        trace = read_trace([path])
        picked = {d.id for d in select(trace, sel)}
        shown, dialogs = watched(path, sel)
        assert dialogs <= {d.id for d in trace.dialogs.values()}
        if sel.dialog is None:
            assert dialogs == picked, path
        else:
            assert dialogs <= picked
        for d in dialogs:
            ids = [s.entry.id for s in shown if s.entry.dialog == d]
            assert ids == trace.dialogs[d].messages[-len(ids) :], (path, d)


def test_watch_follows_the_dialog_as_known_so_far() -> None:
    """--grep on the 180's text: the dialog's lines show from that message on, with its state."""
    shown, _ = watched(str(CAPTURES / "invite-call.pcap"), Selection(grep=re.compile(b"180 Ring")))
    assert shown[0].entry.msg.label.startswith("180") and len(shown) >= 3
    assert [s.state for s in shown if s.state] == ["RINGING", "IN CALL", "COMPLETED"][
        : len([s for s in shown if s.state])
    ]
    everything, _ = watched(str(CAPTURES / "invite-call.pcap"), Selection())
    assert len(everything) > len(shown)
    assert everything[0].state == "CALL SETUP"


@pytest.mark.parametrize("sel", STATE_SELECTIONS, ids=_id)
def test_watch_shows_a_dialog_from_when_it_is_in_the_state(sel: Selection) -> None:
    """A state changes: live shows a dialog from the message that brought it into the state, then
    to its end; every dialog ``select`` picks at the end is shown, but those the end of the
    capture itself moved (a challenge nobody answered becomes REJECTED 407 only then)."""
    for path in PATHS:
        trace = read_trace([path])
        picked = {d.id for d in select(trace, sel)}
        before: dict[int, str] = {}
        shown, dialogs = watched(path, sel, before)
        moved_at_end = {d.id for d in trace.dialogs.values() if before[d.id] != d.state}
        assert picked - moved_at_end <= dialogs, path
        for d in dialogs:
            ids = [s.entry.id for s in shown if s.entry.dialog == d]
            assert ids == trace.dialogs[d].messages[-len(ids) :], (path, d)
            first = trace.entries[ids[0]]
            assert sel.hosts or first.id in trace.dialogs[d].messages


def test_the_index_gives_the_answer_select_gives() -> None:
    """One index per trace, used for every selection in turn: the same dialogs, in order."""
    for path in PATHS:
        trace = read_trace([path])
        index = DialogIndex()
        for sel in [*SELECTIONS, *STATE_SELECTIONS]:
            assert select(trace, sel, index=index) == select(trace, sel), (path, sel)


def test_the_index_follows_a_trace_that_grows_and_forgets() -> None:
    """Live: dialogs gain messages and change state between queries; those let go are forgotten."""
    frames = list(read_frames([str(AAA)])[1])
    session = Session()
    index = DialogIndex()
    sels = [*SELECTIONS, *STATE_SELECTIONS]
    for k in range(0, len(frames), 40):
        for frame in frames[k : k + 40]:
            session.feed(frame)
        trace = session.trace()
        for sel in sels:
            assert select(trace, sel, index=index) == select(trace, sel), (k, sel)
    session.finish()
    trace = session.trace()
    for sel in sels:
        assert select(trace, sel, index=index) == select(trace, sel), sel
    part = session.correlator.expire_trace(trace.start_ns + 10**18, 0)
    assert part.dialogs
    index.forget(part)
    trace = session.trace()
    assert not trace.dialogs
    assert all(not ids for ids in index.by_user.values())


def picks(path: object, **fields: object) -> list[int]:
    trace = read_trace([str(path)])
    return [d.id for d in select(trace, Selection(**fields))]  # type: ignore[arg-type]


def test_users_match_numbers_by_their_digits() -> None:
    """aaa.pcap calls 97239287044 once as such (dialog 2) and twice as 0097239287044."""
    for user in ("97239287044", "0097239287044", "+97239287044", "+972 3928-7044"):
        assert picks(AAA, users=(user,)) == [2, 3, 5], user
    assert picks(AAA, users=("35104723",)) == [1, 4, 5, 6]  # 1 registers it too, late
    assert picks(AAA, users=("voi18063",)) == [1]
    assert picks(AAA, users=("VOI18063",)) == []  # other users as before: exact


def test_status_is_a_response_to_the_invite_or_the_first_request() -> None:
    trace = read_trace([str(AAA)])
    by_status: dict[int, set[int]] = {}
    for d in trace.dialogs.values():
        for i in d.messages:
            m = trace.entries[i].msg
            if m.status is not None and m.cseq_method in ("INVITE", d.first_method):
                by_status.setdefault(m.status, set()).add(d.id)
    for code, ids in by_status.items():
        assert picks(AAA, statuses=(str(code),)) == sorted(ids), code
    assert picks(AAA, statuses=("480",)) == [6]
    assert picks(AAA, statuses=("4xx",)) == sorted(
        set().union(*(v for k, v in by_status.items() if 400 <= k < 500))
    )
    # failed: 400 and up, but the challenges of Digest authentication.
    failed = sorted(
        set().union(*(v for k, v in by_status.items() if k >= 400 and k not in (401, 407)))
    )
    assert picks(AAA, statuses=("failed",)) == failed and 6 in failed


def test_state_matches_the_words_or_the_outcome() -> None:
    assert picks(AAA, states=(parse_state("auth failed"),)) == [1, 3, 5]
    assert picks(AAA, states=(parse_state("rejected"),)) == [6]  # REJECTED 480
    assert picks(AAA, states=(parse_state("rejected 480"),)) == [6]
    assert picks(AAA, states=(parse_state("rejected 486"),)) == []
    assert picks(AAA, states=(parse_state("no-answer"),)) == [6]  # its outcome
    assert picks(AAA, states=(parse_state("cancelled"), parse_state("registered"))) == [2, 4]


def test_the_time_window_keeps_the_dialogs_that_overlap_it() -> None:
    trace = read_trace([str(AAA)])
    d = trace.dialogs[3]

    def at(ns: int) -> TimeBound:
        return TimeBound(str(ns), "epoch", ns)

    ids = [x.id for x in select(trace, Selection(since=at(d.start_ns), until=at(d.end_ns)))]
    assert 3 in ids and 1 in ids  # the REGISTER dialog 1 spans it
    assert 3 in [x.id for x in select(trace, Selection(since=at(d.end_ns)))]
    assert 3 not in [x.id for x in select(trace, Selection(since=at(d.end_ns + 1)))]
    assert 3 in [x.id for x in select(trace, Selection(until=at(d.start_ns)))]
    assert 3 not in [x.id for x in select(trace, Selection(until=at(d.start_ns - 1)))]
    # Relative to the capture's start: its first message.
    rel = d.start_ns - trace.start_ns
    assert trace.start_ns == trace.dialogs[1].start_ns
    assert 3 not in [x.id for x in select(trace, Selection(until=parse_time(f"+{rel - 1}ns")))]
    assert 3 in [x.id for x in select(trace, Selection(until=parse_time(f"+{rel}ns")))]


def test_min_duration() -> None:
    trace = read_trace([str(AAA)])
    for d in trace.dialogs.values():
        ids = [x.id for x in select(trace, Selection(min_duration_ns=d.duration_ns))]
        assert d.id in ids
        assert all(trace.dialogs[i].duration_ns >= d.duration_ns for i in ids)
        assert d.id not in [
            x.id for x in select(trace, Selection(min_duration_ns=d.duration_ns + 1))
        ]


def test_grep_first_reads_the_first_message_only() -> None:
    """The 407 challenge is in dialog 3's second message: --grep finds it, --grep-first not."""
    assert 3 in picks(AAA, grep=re.compile(rb"^SIP/2.0 407"))
    assert 3 not in picks(AAA, grep_first=re.compile(rb"^SIP/2.0 407"))
    assert picks(AAA, grep_first=re.compile(rb"^INVITE")) == [2, 3, 5, 6]


def test_call_id_forms() -> None:
    assert picks(AAA, call_ids=("85216695-42dcdb1d@192.168.1.2",)) == [3]  # exact, as before
    assert picks(AAA, call_ids=("85216695-42dcdb1d",)) == []  # not a part without *
    assert picks(AAA, call_ids=("85216695*",)) == [3]
    assert picks(AAA, call_ids=("*@192.168.1.2",)) == [2, 3, 5, 6]
    assert picks(AAA, call_ids=("*-4665d7*",)) == [1]
    assert picks(AAA, call_ids=("*",)) == [1, 2, 3, 4, 5, 6]


def test_hosts_by_network() -> None:
    assert picks(AAA, hosts=("212.242.33.0/24",)) == [1, 3, 4, 5, 6]
    assert picks(AAA, hosts=("200.68.120.81",)) == [2]
    assert picks(AAA, hosts=("200.68.0.0/16", "212.242.33.35:5060")) == [1, 2, 3, 4, 5, 6]
    assert picks(AAA, hosts=("192.168.1.2:5061",)) == []
    assert picks(AAA, hosts=("::/0",)) == []
