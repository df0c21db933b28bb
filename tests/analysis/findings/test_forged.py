"""``findings.forged``: a Via no real client sends."""

from __future__ import annotations

from pathlib import Path

from sipsniff.analysis.findings import findings
from sipsniff.pipeline import read_trace


def test_forged(corpus: Path) -> None:
    (f,) = findings(read_trace([str(corpus / "metasploit-sip-invite-spoof.pcap")]))
    assert (f.severity, f.kind, f.dialog, f.frames) == ("warning", "forged", 1, (1,))
    assert f.summary == (
        "INVITE from 10.0.1.199 has Via 10.0.1.45 (the destination itself): crafted by a tool, "
        "caller ID likely spoofed"
    )
