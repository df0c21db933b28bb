"""The selection: ``select`` over a trace, and ``Watch``, the same as messages come."""

from __future__ import annotations

import re

import pytest

from sipsniff.analysis.select import Selection, Shown, Watch, select
from sipsniff.capture.files import read_frames
from sipsniff.model import Entry
from sipsniff.pipeline import Session, read_trace
from tests.conftest import CAPTURES, CORPUS

SELECTIONS = [
    Selection(),
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


def watched(path: str, sel: Selection) -> tuple[list[Shown], set[int]]:
    """Feed a capture through a session watched by ``sel``; what it showed, and from which
    dialogs."""
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
    session.finish()
    assert session.trace().entries == trace.entries
    return shown, {s.entry.dialog for s in shown}


@pytest.mark.parametrize("sel", SELECTIONS, ids=lambda s: repr(s)[10:60])
def test_watch_shows_the_dialogs_select_picks(sel: Selection) -> None:
    """Once all is known, the dialogs a watch showed messages of are those ``select`` picks; a
    dialog's lines start at the message that met the last criterion, and run on to its end."""
    for path in [
        *(str(p) for p in sorted(CAPTURES.glob("*.pcap"))),
        *(str(p) for p in sorted(CORPUS.glob("*.pcap"))[:6]),
    ]:
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
