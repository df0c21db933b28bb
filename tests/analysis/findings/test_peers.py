"""``findings.peers``: the table per destination, and ``peer_dict``."""

from __future__ import annotations

from pathlib import Path

from sipsniff.analysis.findings import peer_dict, peers
from sipsniff.model import Endpoint
from sipsniff.pipeline import read_trace
from tests.conftest import CAPTURES


def test_peers(corpus: Path) -> None:
    table = peers(read_trace([str(corpus / "aaa.pcap")]))
    assert [peer_dict(p) for p in table] == [
        {
            "peer": "212.242.33.35:5060",
            "ip": "212.242.33.35",
            "port": 5060,
            "requests": 24,
            "replied": 24,
            "attempts": 3,
            "answered": 0,
            "asr": 0.0,
            "avg_reply_ms": 212.313,
            "avg_pdd_ms": 426.462,  # f603 (the INVITE with credentials) -> 183 f620
            "failures": {"401": 14, "403": 3, "407": 3, "480": 1},
        },
        {
            "peer": "200.68.120.81:5060",
            "ip": "200.68.120.81",
            "port": 5060,
            "requests": 2,
            "replied": 2,
            "attempts": 1,
            "answered": 0,
            "asr": 0.0,
            "avg_reply_ms": 17593.657,
            "avg_pdd_ms": None,
            "failures": {"408": 2},
        },
    ]


def test_peers_relayed_and_other_port(corpus: Path) -> None:
    table = {p.peer: p for p in peers(read_trace([str(corpus / "voip-extension2downata.pcap")]))}
    dead = table[Endpoint("192.168.5.2", 5060)]
    assert (dead.requests, dead.replied, dead.attempts, dead.asr) == (5, 0, 1, 0.0)
    # 192.168.5.5 answers from port 1067 what was sent to its port 5060
    proxy = table[Endpoint("192.168.5.5", 5060)]
    assert (proxy.requests, proxy.replied, proxy.attempts, proxy.answered) == (1, 1, 1, 1)
    lossy = peers(read_trace([str(CAPTURES / "calls-lossy.pcap")]))
    assert [(p.attempts, p.answered, p.asr) for p in lossy] == [(5, 5, 100.0)]
