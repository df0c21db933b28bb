"""``findings.failure``: failure responses explained, with the severity of docs/findings.md."""

from __future__ import annotations

from pathlib import Path

from sipsniff.analysis.findings import CAUSES, findings
from sipsniff.pipeline import read_trace
from tests.analysis.findings.common import one


def test_codec_mismatch(corpus: Path) -> None:
    path = corpus / "sip-488-Not-Acceptable-Here-codec-null.pcapng"
    (f,) = findings(read_trace([str(path)]))
    assert (f.severity, f.kind, f.dialog, f.frames) == ("error", "failure", 4, (10, 12))
    assert f.summary == (
        "INVITE → 488 Not Acceptable Here from 192.168.8.13:5060: no common codec or media the "
        "callee accepts; offered audio PCMU (port 0: disabled), answered no SDP"
    )
    assert f.advice == CAUSES[488][1]


def test_decline_told_once_from_its_origin(corpus: Path) -> None:
    (f,) = findings(read_trace([str(corpus / "ring_decline.pcap")]))
    # the callee's own choice: worth knowing, nothing to fix
    assert (f.severity, f.kind, f.dialog, f.frames) == ("info", "failure", 2, (3, 4, 9, 10))
    assert f.summary == "INVITE → 603 Decline from 192.168.1.132:54053: callee declined"


def test_private_test(corpus: Path) -> None:
    found = findings(read_trace([str(corpus / "private-test-sip.pcapng")]))
    loop = found.items[0]
    assert (loop.kind, loop.dialog) == ("wrong-password", None)
    assert loop.frames[:6] == (5, 6, 9, 10, 13, 14)
    assert loop.summary == (
        "telephone1@domain.xyz from 172.16.98.181: credentials refused 11× in a row (403/407)"
    )
    # 21 responses 483 (tshark), in 20 dialogs: one finding per dialog
    hops = [f for f in found if f.kind == "failure" and "483 Too Many Hops" in f.summary]
    assert len(hops) == 20 and {f.severity for f in hops} == {"error"}
    assert hops[0].frames == (51, 57)
    assert hops[0].advice == "Fix the routing loop between proxies (Max-Forwards ran out)."
    # a challenge answered with refused credentials is the loop, not an unanswered challenge
    assert not [f for f in found if f.kind == "challenge-unanswered"]
    # an unsupported SUBSCRIBE / PUBLISH is worth knowing, not an error
    assert {f.severity for f in found if "501" in f.summary} == {"info"}
    assert one(found, "retransmissions", 14).summary == "REGISTER f51 sent 4×, answered after 3.5 s"
