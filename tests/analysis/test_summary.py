"""``analysis.summary``: ``stats`` of a capture given a part at a time equals ``stats`` of the
whole capture held at once, on real captures and on a synthetic one many times the limit."""

from __future__ import annotations

import gc
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from sipsniff.analysis.findings import finding_dict, peer_dict, peer_table
from sipsniff.analysis.rtp import RtpObserver, streams_of
from sipsniff.analysis.select import Selection
from sipsniff.analysis.stats import Spread, Stats
from sipsniff.analysis.summary import Summary
from sipsniff.cli import cli
from sipsniff.model import Trace
from sipsniff.pipeline import read_trace
from tests.builders import options_capture
from tests.conftest import CAPTURES

BIG = 10**9


def figures(s: Stats) -> dict[str, Any]:
    """What ``stats`` prints, order-free where the order is not part of it."""
    t = s.tshark
    return {
        "messages": t.messages,
        "resent": t.resent,
        "resent_frames": sorted(t.resent_frames),
        "methods": dict(t.methods),
        "status_codes": dict(t.status_codes),
        "setup_ms": sorted(t.setup_times_ms),
        "calls": s.calls,
        "registrations": s.registrations,
        "times": {
            m: (Spread.of(mt.first), Spread.of(mt.final), mt.unanswered)
            for m, mt in s.response_times.items()
        },
        "talkers": s.talkers,
        "retransmissions": s.retransmissions,
        "requests": (s.requests, s.responses),
        "reasons": s.reasons,
    }


def summarize(
    path: Path, hold: int, selection: Selection | None = None
) -> tuple[Summary, Trace, int]:
    """The summary of ``path`` holding ``hold`` dialogs at most, the last trace, the parts."""
    observer = RtpObserver()
    summary = Summary(selection or Selection(), rtp=True)
    parts = 0

    def take(part: Trace) -> None:
        nonlocal parts
        parts += 1
        summary.add(part)

    trace = read_trace([str(path)], media=[observer], summarize=take, hold=hold)
    summary.add(trace)
    OBSERVERS[id(summary)] = observer
    return summary, trace, parts


OBSERVERS: dict[int, RtpObserver] = {}
"""The RTP observer of each summary made by ``summarize``."""


def document(summary: Summary) -> dict[str, Any]:
    observer = OBSERVERS[id(summary)]
    return {
        **figures(summary.totals.result(top=10)),
        "findings": sorted(
            (finding_dict(f) for f in summary.findings.result()),
            key=lambda d: (d["severity"], d["kind"], d["dialog"] or 0, d["frames"], d["summary"]),
        ),
        "peers": [peer_dict(p) for p in peer_table(summary.peers)],
        "rtp": streams_of(summary.sdp or {}, observer),
        "dialogs": summary.dialogs,
    }


def inputs(corpus: Path) -> list[Path]:
    return sorted(
        p
        for p in [*corpus.glob("*.pcap*"), *corpus.glob("*.cap"), *CAPTURES.glob("*.pcap")]
        if p.name != "c07-sip-r2.cap"  # NetMon format, not a capture sipsniff reads
    )


@pytest.mark.parametrize(("hold", "exactly"), [(4, 1), (40, 1), (60, 2)])
def test_parts_equal_the_whole_on_every_capture(corpus: Path, hold: int, exactly: int) -> None:
    """Holding few dialogs (swept beyond ``hold``) changes no figure, unless a dialog had to
    go before it was over, or a Call-ID came back after its dialog went (a new dialog then): the
    figures of each message still agree."""
    exact = 0
    for path in inputs(corpus):
        whole, _, none = summarize(path, BIG)
        assert none == 0
        parted, last, parts = summarize(path, hold)
        a, b = document(whole), document(parted)
        if parts == 0 or (last.counts.dialogs_cut_short == 0 and whole.dialogs == parted.dialogs):
            assert a == b, path.name
            exact += parts > 0
        else:
            for key in ("messages", "methods", "status_codes", "requests", "talkers"):
                assert a[key] == b[key], (path.name, key)
    # not vacuous: real captures were summed up in parts, exactly
    assert exact == exactly


@pytest.mark.parametrize(
    "sel", [Selection(methods=("INVITE",)), Selection(dialog=50)], ids=["INVITE", "dialog-50"]
)
def test_selection_in_parts(corpus: Path, sel: Selection) -> None:
    path = corpus / "sip_ipv4_tcp_fragmented.pcap"
    whole, _, _ = summarize(path, BIG, sel)
    parted, last, parts = summarize(path, 40, sel)
    assert parts == 2 and last.counts.dialogs_cut_short == 0
    assert document(whole) == document(parted)
    assert whole.shown == parted.shown and whole.chosen == parted.chosen > 0
    if sel.dialog is not None:
        assert parted.shown == {50}


def test_many_short_dialogs_held_few_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "options.pcap"
    options_capture(path, 3000)
    sizes: list[int] = []
    summary = Summary(Selection(), rtp=False)

    def take(part: Trace) -> None:
        sizes.append(len(part.dialogs))
        summary.add(part)

    last = read_trace([str(path)], summarize=take, hold=100)
    summary.add(last)
    # swept whenever 101 were held, down to 50: 51 a time, from the 101st dialog on
    assert sizes == [51] * 57
    assert len(last.dialogs) == 3000 - 57 * 51 and len(last.entries) == 2 * len(last.dialogs)
    assert max(last.dialogs) == 3000 and summary.dialogs == 3000
    assert last.counts.dialogs_cut_short == 0
    s = summary.totals.result()
    assert (s.tshark.messages, s.requests, s.responses) == (6000, 3000, 3000)
    assert dict(s.tshark.methods) == {"OPTIONS": 3000}
    first = Spread.of(s.response_times["OPTIONS"].first)
    assert (first.count, first.p50, first.max) == (3000, 200_000, 200_000)
    (row,) = summary.peers.values()
    assert (row.requests, row.replied, row.avg_reply_ns) == (3000, 3000, 200_000)
    assert list(summary.findings.result()) == []


def test_calls_in_progress_cut_short_are_counted(tmp_path: Path) -> None:
    """Dialogs not over (an OPTIONS never answered) go only when they must, and are counted."""
    path = tmp_path / "unanswered.pcap"
    options_capture(path, 300)
    data = path.read_bytes()
    # keep the requests only: every record of a 200 OK dropped
    out = bytearray(data[:24])
    pos = 24
    while pos < len(data):
        incl = struct.unpack_from("<I", data, pos + 8)[0]
        record = data[pos : pos + 16 + incl]
        if b"SIP/2.0 200 OK" not in record:
            out += record
        pos += 16 + incl
    path.write_bytes(bytes(out))
    summary = Summary(Selection(), rtp=False)
    sizes: list[int] = []

    def take(part: Trace) -> None:
        sizes.append(len(part.dialogs))
        summary.add(part)

    last = read_trace([str(path)], summarize=take, hold=20)
    summary.add(last)
    assert summary.dialogs == 300
    # in progress, they go only beyond 20; then a sweep every 10 (half of hold) more, not each
    assert sizes == [1] + [11] * 25 and len(last.dialogs) == 24
    assert last.counts.dialogs_cut_short == 300 - len(last.dialogs)
    s = summary.totals.result()
    assert s.response_times["OPTIONS"].unanswered == 300


@pytest.mark.parametrize("hold", [1, 7])
def test_number_stays_with_its_dialog(tmp_path: Path, hold: int) -> None:
    path = tmp_path / "options.pcap"
    options_capture(path, 200)
    seen: dict[int, str] = {}

    def take(part: Trace) -> None:
        for d in part.dialogs.values():
            seen[d.id] = d.call_id

    last = read_trace([str(path)], summarize=take, hold=hold)
    take(last)
    assert seen == {n: f"{n - 1:08x}-options@10.0.0.1" for n in range(1, 201)}


# -- sipsniff stats ----------------------------------------------------------------------------


def stats(*args: str) -> Result:
    return CliRunner().invoke(cli, ["stats", *args], catch_exceptions=False)


@pytest.mark.parametrize(
    ("name", "hold"), [("sip_ipv4_tcp_fragmented.pcap", 40), ("branch-scenario-sipp.pcapng", 60)]
)
def test_stats_document_in_parts_is_the_whole_one(corpus: Path, name: str, hold: int) -> None:
    path = str(corpus / name)
    whole = stats("-f", "json", "--max-dialogs", "100000", path)
    parted = stats("-f", "json", "--max-dialogs", str(hold), path)
    assert whole.exit_code == parted.exit_code == 0
    assert parted.stdout == whole.stdout
    assert json.loads(whole.stdout)["messages"] > 400
    if name.startswith("branch"):
        # 19 calls left in CALL SETUP had to go early: nothing of theirs came later
        assert parted.stderr == (
            "sipsniff: warning: 19 dialogs not over yet had to be summed up early, to hold 60 at "
            "most (--max-dialogs): messages of theirs that came later count as new dialogs; "
            "raise --max-dialogs for exact figures\n"
        )
    else:
        assert parted.stderr == ""


def test_stats_text_of_many_dialogs(tmp_path: Path) -> None:
    path = tmp_path / "options.pcap"
    options_capture(path, 500)
    r = stats("--max-dialogs", "16", str(path))
    assert r.exit_code == 0 and r.stderr == ""
    lines = r.stdout.splitlines()
    assert "  messages 1000  (requests 500, responses 500)" in lines
    assert "  OPTIONS                     500" in lines
    assert any(line.split()[:3] == ["OPTIONS", "first", "500"] for line in lines)
    r = stats("--max-dialogs", "0", str(path))
    assert r.exit_code == 2 and "--max-dialogs" in r.stderr


def test_stats_sums_up_with_the_cyclic_collector_off_and_gives_it_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The summary of what is held at the end makes hundreds of thousands of objects and no
    cycle: the collector is off while it runs (each collection would go over them all again),
    and on again after it, as it was."""
    seen: list[bool] = []
    add = Summary.add

    def spy(self: Summary, part: Trace) -> None:
        seen.append(gc.isenabled())
        add(self, part)

    monkeypatch.setattr(Summary, "add", spy)
    assert gc.isenabled()
    result = CliRunner().invoke(cli, ["stats", str(CAPTURES / "invite-call.pcap")])
    assert result.exit_code == 0, result.output
    assert seen == [False]
    assert gc.isenabled()
