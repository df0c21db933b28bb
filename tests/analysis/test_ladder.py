"""The ladder as data (``analysis.ladder``) and the report ``read`` renders (``analysis.report``):
columns, rows with retransmissions folded in, labels, notes as facts."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipsniff.analysis.findings import findings
from sipsniff.analysis.ladder import (
    ChallengeNote,
    Label,
    MediaNote,
    MessageKind,
    ProblemsNote,
    ResponseTimeNote,
    RetransmittedNote,
    TruncatedNote,
    kind_of,
    ladder_of,
)
from sipsniff.analysis.report import TraceReport
from sipsniff.model import Endpoint
from tests.analysis.crafted import trace_of
from tests.builders import CALL, EVIL, LOSSY, REG, capture, evil_trace

# -- the ladder as data -------------------------------------------------------------------------


def test_retransmissions_fold_into_their_original() -> None:
    trace = capture(LOSSY)
    dialog = trace.dialogs[2]
    ladder = ladder_of(trace, dialog)
    assert [c.address for c in ladder.columns] == ["127.0.0.1:23907", "127.0.0.1:23906"]
    assert [c.agent for c in ladder.columns] == ["", ""]
    assert [a.entry.msg.label for a in ladder.rows] == [
        "INVITE",
        "180 Ringing",
        "200 OK",
        "ACK",
        "BYE",
        "200 OK",
    ]
    assert [a.count for a in ladder.rows] == [1, 1, 1, 1, 2, 2]
    assert [(a.src, a.dst) for a in ladder.rows] == [
        (0, 1),
        (1, 0),
        (1, 0),
        (0, 1),
        (0, 1),
        (1, 0),
    ]
    folded = sorted(c.id for a in ladder.rows for c in a.copies)
    assert folded == sorted(
        e.id for e in trace.entries.values() if e.retransmission and e.dialog == 2
    )
    assert len(folded) == dialog.retransmissions == 2


def test_every_message_is_an_arrow_or_folded_into_one() -> None:
    for path in (REG, CALL, LOSSY):
        trace = capture(path)
        for dialog in trace.dialogs.values():
            ladder = ladder_of(trace, dialog)
            shown = [a.entry.id for a in ladder.rows]
            folded = [c.id for a in ladder.rows for c in a.copies]
            assert sorted(shown + folded) == dialog.messages
            assert all(not trace.entries[i].retransmission for i in shown)


def test_by_host_merges_the_ports_of_an_address() -> None:
    trace = capture(CALL)
    assert [c.address for c in ladder_of(trace, trace.dialogs[1], by_host=True).columns] == [
        "127.0.0.1"
    ]


def test_agents_come_from_user_agent_or_server(tmp_path: Path) -> None:
    trace = evil_trace(tmp_path)
    assert [c.agent for c in ladder_of(trace, trace.dialogs[1]).columns] == [EVIL[1], EVIL[0]]


def test_copies_are_entries_and_the_count_includes_the_original() -> None:
    trace = capture(LOSSY)
    rows = ladder_of(trace, trace.dialogs[2]).rows
    bye = rows[4]
    assert bye.count == 2 and [c.retransmission_of for c in bye.copies] == [bye.entry.id]
    assert rows[0].count == 1 and rows[0].copies == ()


# -- labels ------------------------------------------------------------------------------------


def test_labels_go_from_richest_to_barest() -> None:
    trace = capture(LOSSY)
    rows = ladder_of(trace, trace.dialogs[2]).rows
    assert [[label.text for label in r.labels] for r in rows] == [
        ["INVITE (CSeq 1, SDP)", "INVITE (SDP)", "INVITE"],
        ["180 Ringing", "180"],
        ["200 OK (SDP)", "200 (SDP)", "200"],
        ["ACK (CSeq 1)", "ACK"],
        ["BYE ×2 (CSeq 2)", "BYE ×2", "BYE"],
        ["200 OK ×2", "200 ×2", "200"],
    ]
    # the reason is a part of its own: the part a narrow ladder shortens first
    assert rows[1].labels[0] == Label("180", "Ringing", "")
    assert [r.sdp for r in rows] == [True, False, True, False, False, False]


def test_kinds_colour_requests_and_response_classes() -> None:
    trace = capture(REG)
    kinds = [kind_of(trace.entries[i].msg) for i in trace.dialogs[1].messages]
    assert kinds == [
        MessageKind.REQUEST,
        MessageKind.FAILURE,
        MessageKind.REQUEST,
        MessageKind.SUCCESS,
    ]
    trace = capture(CALL)
    assert ladder_of(trace, trace.dialogs[1]).rows[1].kind is MessageKind.PROVISIONAL


# -- notes -------------------------------------------------------------------------------------


def test_a_challenge_note_carries_the_parsed_header() -> None:
    trace = capture(REG)
    rows = ladder_of(trace, trace.dialogs[1]).rows
    challenge = rows[1].notes[0]
    assert isinstance(challenge, ChallengeNote) and challenge.status == 407
    assert challenge.challenge is not None
    assert (challenge.challenge.realm, challenge.challenge.algorithm) == ("myvoipapp.com", "MD5")
    assert rows[0].notes == () and rows[2].notes == ()


def test_response_times_say_whether_the_request_is_the_row_above() -> None:
    trace = capture(LOSSY)
    rows = ladder_of(trace, trace.dialogs[2]).rows
    timed = {r.msg.label: n for r in rows for n in r.notes if isinstance(n, ResponseTimeNote)}
    assert timed["180 Ringing"] == ResponseTimeNote(72_000, follows_request=True)
    # the 200 OK comes after the 180: the time columns do not show its time since the INVITE
    ok = next(n for n in rows[2].notes if isinstance(n, ResponseTimeNote))
    assert ok == ResponseTimeNote(1_195_000, follows_request=False)
    invite = trace.entries[rows[0].entry.id].msg
    assert ok.ns == rows[2].ts_ns - invite.ts_ns


def test_retransmission_notes_count_copies_and_span_to_the_latest() -> None:
    trace = capture(LOSSY)
    rows = ladder_of(trace, trace.dialogs[2]).rows
    bye = rows[4]
    (note,) = [n for n in bye.notes if isinstance(n, RetransmittedNote)]
    assert note == RetransmittedNote(1, max(c.msg.ts_ns for c in bye.copies) - bye.ts_ns)
    assert note.ns == 502_773_000


def test_media_notes_only_when_asked() -> None:
    trace = capture(LOSSY)
    dialog = trace.dialogs[2]
    plain = ladder_of(trace, dialog)
    assert not any(isinstance(n, MediaNote) for r in plain.rows for n in r.notes)
    rich = ladder_of(trace, dialog, media=True)
    media = [n for r in rich.rows for n in r.notes if isinstance(n, MediaNote)]
    assert media == [MediaNote("PCMU · 127.0.0.1:6004"), MediaNote("PCMU · 127.0.0.1:6000")]
    assert media[0].codecs == "PCMU"
    # the notes come in a fixed order: media before the response time
    assert [type(n) for n in rich.rows[2].notes] == [MediaNote, ResponseTimeNote]


TRUNCATED_INVITE = """INVITE sip:b@x SIP/2.0
Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1
From: <sip:a@x>;tag=1
To: <sip:b@x>
Call-ID: c1
CSeq: 1 INVITE
Content-Type: application/sdp
Content-Length: 500

v=0
"""
BROKEN_OK = """SIP/2.0 200 OK
Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1
From: <sip:a@x>;tag=1
To: <sip:b@x>;tag=2
Call-ID: c1
CSeq: 1 INVITE
Bogus header line
Content-Length: 0

"""


def test_truncation_and_problems_are_notes() -> None:
    a, b = Endpoint("10.0.0.1", 5060), Endpoint("10.0.0.2", 5060)
    trace = trace_of((a, b, TRUNCATED_INVITE), (b, a, BROKEN_OK))
    invite, ok = ladder_of(trace, trace.dialogs[1]).rows
    assert invite.notes == (TruncatedNote(), ProblemsNote(1))
    assert ok.notes == (ResponseTimeNote(10_000_000, follows_request=True), ProblemsNote(1))


def test_hosts_counts_addresses_of_copies_too() -> None:
    trace = capture(LOSSY)
    ladder = ladder_of(trace, trace.dialogs[2])
    assert ladder.hosts == 1 and len(ladder.columns) == 2


# -- the report ----------------------------------------------------------------------------------


def test_report_findings_are_the_findings_about_its_dialogs() -> None:
    trace = capture(LOSSY)
    chosen = [trace.dialogs[2]]
    report = TraceReport(trace, chosen)
    assert report.findings == findings(trace).about([2])
    assert report.findings is report.findings  # worked out once


@pytest.mark.parametrize("by_host", [False, True])
def test_report_ladders_follow_its_by_host(by_host: bool) -> None:
    trace = capture(CALL)
    report = TraceReport(trace, list(trace.dialogs.values()), by_host=by_host)
    ladder = report.ladder(trace.dialogs[1])
    assert ladder.by_host is by_host
    assert ladder == ladder_of(trace, trace.dialogs[1], by_host=by_host)


def test_report_counts_retransmissions_of_the_whole_trace() -> None:
    trace = capture(LOSSY)
    report = TraceReport(trace, [trace.dialogs[1]])
    assert report.retransmissions == sum(d.retransmissions for d in trace.dialogs.values()) == 4
