"""``findings.serialise``: findings as JSON-ready values, in ranked order."""

from __future__ import annotations

import json
from pathlib import Path

from sipsniff.analysis.findings import SEVERITIES, finding_dict, findings
from sipsniff.pipeline import read_trace


def test_ranked_and_json(corpus: Path) -> None:
    found = findings(read_trace([str(corpus / "aaa.pcap")]))
    ranks = [SEVERITIES.index(f.severity) for f in found]
    assert ranks == sorted(ranks)
    d = finding_dict(found.items[0])
    assert d == {
        "severity": "error",
        "kind": "wrong-password",
        "dialog": None,
        "frames": [558, 560, 578, 581],
        "summary": "voi18062@sip.cybercity.dk from 192.168.1.2: credentials refused 2× in a row "
        "(401/403)",
        "advice": "Fix the password (or username / realm) on the client; check for a locked account.",
        "dialogs": [4, 5],
    }
    json.dumps([finding_dict(f) for f in found])
    assert set(found.by_dialog) == {1, 2, 3, 5, 6}
    for f in found:
        assert "\n" not in f.summary and "\n" not in f.advice
        assert f.frames == tuple(sorted(set(f.frames)))
