"""``findings.scanner``: a toll-fraud probe, its own dialogs folded into its finding."""

from __future__ import annotations

from pathlib import Path

from sipsniff.analysis.findings import findings
from sipsniff.pipeline import read_trace


def test_scanner_like(corpus: Path) -> None:
    found = findings(read_trace([str(corpus / "ipip0.pcap")]))
    # The prober's own dialogs (its unanswered INVITE, the 403 to the other) are the probe: told
    # once, by the scanner finding. 5.148.125.101 got one challenge (f4, the normal first step)
    # and had its credentials refused twice: a wrong password, not yet a burst of guesses.
    assert [(f.severity, f.kind, f.dialog, f.frames) for f in found] == [
        ("error", "wrong-password", 3, (5, 6, 7, 8)),
        ("warning", "scanner", None, (1, 2)),  # toll-fraud probe
    ]
    (probe,) = found.capture
    assert probe.summary == (
        "179.43.150.26 calls +3908351673002 at bare IP addresses (2 INVITEs, none answered): "
        "a toll-fraud probe"
    )
    assert probe.dialogs == (1, 2)
