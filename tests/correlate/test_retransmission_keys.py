"""Retransmissions are found by the hash of a message's signature (``correlator._key``); messages
whose signatures share a hash must be told apart exactly as if each hash were unique.

Every capture of the project (its scenarios: lossy calls, scanners, retransmitted INVITEs and
1xx) and of the public corpus is read with hashes that all collide, and with few distinct
hashes: the same retransmissions, the same dialogs, the same states.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sipsniff.correlate import correlator
from sipsniff.model import Trace
from sipsniff.pipeline import read_trace

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


KEYS: dict[str, Callable[[tuple[object, ...]], int]] = {
    "all-collide": lambda sig: 0,
    "three-hashes": lambda sig: hash(sig) % 3,
}


@pytest.mark.parametrize("keys", sorted(KEYS))
def test_colliding_hashes_change_nothing(keys: str, monkeypatch: pytest.MonkeyPatch) -> None:
    captures = _captures()
    assert len(captures) > 20
    expected = {p: _read(p) for p in captures}
    monkeypatch.setattr(correlator, "_key", KEYS[keys])
    retransmissions = 0
    for path, trace in expected.items():
        if trace is None:
            continue
        again = _read(path)
        assert again is not None
        assert _story(again) == _story(trace), path.name
        retransmissions += sum(e.retransmission_of is not None for e in trace.entries.values())
    assert retransmissions > 50  # the captures do hold retransmissions to find
