"""``findings.retransmissions`` and ``findings.no_ack`` on the project's own captures."""

from __future__ import annotations

from sipsniff.analysis.findings import findings
from sipsniff.pipeline import read_trace
from tests.analysis.findings.common import rows
from tests.conftest import CAPTURES


def test_project_captures() -> None:
    assert rows(CAPTURES / "register-407.pcap") == []
    assert rows(CAPTURES / "invite-call.pcap") == []
    assert rows(CAPTURES / "calls-lossy.pcap") == [
        ("info", "retransmissions", 2, (11, 12, 19, 20)),
        ("info", "retransmissions", 4, (25, 26, 32, 33)),
        ("info", "no-ack", 5, (29, 30)),  # the 200 (f29), then the BYE (f30) with no ACK
    ]
    found = findings(read_trace([str(CAPTURES / "calls-lossy.pcap")]))
    assert (
        found.items[0].summary == "BYE f11 sent again though answered (f12); 200 to BYE f12 sent 2×"
    )
