"""``findings.dead_hop`` and ``findings.no_answer``: a hop that answered nothing, requests with no
response."""

from __future__ import annotations

from pathlib import Path

from sipsniff.analysis.findings import findings
from sipsniff.pipeline import read_trace


def test_dead_hop(corpus: Path) -> None:
    found = findings(read_trace([str(corpus / "voip-extension2downata.pcap")]))
    assert [(f.severity, f.kind, f.dialog, f.frames) for f in found] == [
        ("error", "dead-hop", None, (1, 5, 9, 13, 17)),
        ("error", "no-answer", 1, (1, 2, 7, 11, 16, 20, 256)),
        # the caller got its 200 OK from elsewhere: one level down
        ("warning", "no-answer", 2, (5, 6, 8, 9, 10, 12, 13, 14, 15, 17, 18, 19)),
        ("info", "nat", 3, (410, 411)),
        # sent once, 0.2 s before the capture's end: it may have been answered after it
        ("info", "no-answer", 3, (412,)),
    ]
    assert found.items[0].summary == (
        "192.168.5.2:5060 answered nothing: 5 requests (CANCEL, INVITE) from 192.168.5.5:1072 "
        "sent 19×"
    )
    assert found.items[2].summary == (
        "4 requests (INVITE) to 192.168.5.2:5060: no response (sent 12×)"
    )
