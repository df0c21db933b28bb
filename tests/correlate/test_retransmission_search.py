"""Retransmissions are found by looking through the earlier messages of a transaction, latest
first, for one with the message's signature; in a transaction of more than ``correlator.SCAN``
messages, by signatures filed in a dict. Both ways must find the same.

Every capture of the project (its scenarios: lossy calls, scanners, retransmitted INVITEs and
1xx) and of the public corpus is read with every transaction filed from its first message, and
with none ever filed: the same retransmissions, the same dialogs, the same states.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sipsniff.correlate import correlator
from sipsniff.model import Trace
from sipsniff.pipeline import read_trace
from tests.builders import A, B, pcap, sip, udp_frame

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus" / "public"


def _captures() -> list[Path]:
    mine = sorted((ROOT / "captures").rglob("*.pcap"))
    public = sorted(p for p in CORPUS.glob("*") if p.suffix in (".pcap", ".pcapng", ".cap"))
    return mine + public


def _story(trace: Trace) -> list[object]:
    return [
        [(e.id, e.dialog, e.transaction, e.retransmission_of) for e in trace.entries.values()],
        [(d.id, d.retransmissions, d.state, d.outcome, d.to_tags) for d in trace.dialogs.values()],
        [(t.id, t.messages, t.request, t.final) for t in trace.transactions.values()],
    ]


def _read(path: Path) -> Trace | None:
    try:
        return read_trace([str(path)], parallel=False)
    except Exception:  # a capture the reader refuses (c07-sip-r2.cap): nothing to compare
        return None


@pytest.mark.parametrize("scan", [0, 1, 3, 1 << 30])
def test_filed_signatures_find_what_the_scan_finds(
    scan: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    captures = _captures()
    assert len(captures) > 20
    expected = {p: _read(p) for p in captures}
    monkeypatch.setattr(correlator, "SCAN", scan)
    retransmissions = 0
    for path, trace in expected.items():
        if trace is None:
            continue
        again = _read(path)
        assert again is not None
        assert _story(again) == _story(trace), path.name
        retransmissions += sum(e.retransmission_of is not None for e in trace.entries.values())
    # the captures do hold retransmissions to find (none would be found if the signature made in
    # ``Correlator.add`` and ``correlator._signature`` differed)
    assert retransmissions > 50


def test_a_flood_of_copies_in_one_transaction(tmp_path: Path) -> None:
    """An INVITE sent 3,000 times, answered 100 Trying each time, and a 180 with new content
    halfway (the later 180s repeat it): copies of the first copies, found through the filed
    signatures once the transaction is long (a scan over every earlier message would take
    quadratic time)."""
    invite = sip("INVITE sip:bob@example.com SIP/2.0", "flood-1", "1 INVITE")
    trying = sip("SIP/2.0 100 Trying", "flood-1", "1 INVITE")
    ringing = [
        sip("SIP/2.0 180 Ringing", "flood-1", "1 INVITE", f"X-N: {n}", tag=";tag=b") for n in (1, 2)
    ]
    frames = []
    for i in range(3000):
        frames += [udp_frame(invite), udp_frame(trying, B, A)]
        frames.append(udp_frame(ringing[i >= 1500], B, A))
    path = tmp_path / "flood.pcap"
    path.write_bytes(pcap(frames, step_ns=1000))
    trace = read_trace([str(path)], parallel=False)
    (dialog,) = trace.dialogs.values()
    assert len(trace.transactions) == 1
    originals = [e.id for e in trace.entries.values() if e.retransmission_of is None]
    assert originals == [1, 2, 3, 3 * 1500 + 3]  # INVITE, 100, the first 180, the other 180
    assert dialog.retransmissions == 9000 - 4
    assert {e.retransmission_of for e in trace.entries.values()} == {None, 1, 2, 3, 4503}
