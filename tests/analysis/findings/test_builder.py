"""``findings.builder``: every detector on one real capture, ranked, selected and counted (frames
checked with ``tshark -r FILE -Y sip -T fields -e frame.number -e sip.Method -e sip.Status-Code``)."""

from __future__ import annotations

from pathlib import Path

from sipsniff.analysis.findings import findings
from sipsniff.analysis.findings.context import Context
from sipsniff.pipeline import read_trace
from tests.analysis.findings.common import one


def test_aaa(corpus: Path) -> None:
    found = findings(read_trace([str(corpus / "aaa.pcap")]))
    assert [(f.severity, f.kind, f.dialog, f.frames) for f in found] == [
        ("error", "wrong-password", None, (558, 560, 578, 581)),
        ("error", "wrong-password", 1, (30, 32, 121, 122)),
        # 403 to credentials: the failure quotes the server's words ("Wrong password or domain")
        ("error", "failure", 3, (346, 348)),
        ("error", "failure", 5, (578, 581)),
        ("warning", "wrong-password", None, (346, 348, 430, 432, 453, 454)),  # then accepted
        ("warning", "failure", 1, (30, 32)),  # REGISTER 403 to credentials, registered later
        # f154: credentials on the nonce of f144's challenge, refused (401, not stale); a person
        # types again 17 s later (f180) and is accepted: a typo, a warning
        ("warning", "wrong-password", 1, (154, 155)),
        # INVITE resent, then 408 with no ringing: the callee was not reached (a warning); the
        # CANCEL's 408 likewise
        ("warning", "failure", 2, (223, 252)),
        (
            "warning",
            "retransmissions",
            2,
            (223, 225, 227, 247, 249, 251, 255, 257, 259, 260, 264, 265, 266, 272),
        ),
        ("warning", "failure", 2, (247, 274)),
        ("warning", "retransmissions", 3, (321, 323, 325)),  # sent 3 times
        ("info", "nat", 1, (19, 20)),
        ("info", "failure", 6, (617, 621)),  # 480 after the 183: nobody answered
    ]
    # No slow-pdd: the 183 (f620) came 426 ms after the INVITE that went through (f603, with
    # credentials); the 17 s before it are the caller typing a password.
    assert not [f for f in found if f.kind == "slow-pdd"]
    f480 = next(f for f in found.of_dialog(6) if f.kind == "failure")
    assert f480.summary.startswith("INVITE → 480 Error from 212.242.33.35:5060: callee unavailable")
    assert f480.summary.endswith("; Q.850 cause 21 (call rejected)")
    f408 = found.of_dialog(2)[0]
    assert (
        "no final answer in time from the next hop; Warning 392 200.68.120.81:5060" in f408.summary
    )
    assert next(f for f in found if f.frames[0] == 30).summary == (
        "voi18063@sip.cybercity.dk from 192.168.1.2: credentials refused 2× in a row (403/401)"
    )
    assert next(f for f in found if f.frames[0] == 154).summary == (
        "voi18062@sip.cybercity.dk from 192.168.1.2: credentials refused once (401), then "
        "accepted (f180)"
    )
    assert one(found, "nat", 1).summary == (
        "192.168.1.2 reaches 212.242.33.35:5060 from 80.230.219.70: a NAT in between "
        "(Via received, rport)"
    )
    assert one(found, "retransmissions", 2).summary == (
        "INVITE f223 sent 3×, answered after 2.2 s; CANCEL f247 sent 11×, answered after 33.0 s"
    )
    assert found.counts() == {"error": 4, "warning": 7, "info": 2}
    assert [f.kind for f in found.capture] == ["wrong-password", "wrong-password"]
    # A capture-wide finding names the dialogs it cites: a selection shows it with them.
    assert [f.dialogs for f in found.capture] == [(4, 5), (1, 3, 4)]
    assert [f.kind for f in found.about([6])] == ["failure"]
    assert [f.frames[0] for f in found.about([5])] == [558, 578]


def test_dialogs_with_the_same_methods_share_one_set(corpus: Path) -> None:
    """A big capture's findings hold a ``Shape`` per dialog: its set of methods is one of a few
    (aaa.pcap: REGISTER, INVITE/ACK/BYE...), shared, not a copy per dialog (30,000 copies held
    10 MB)."""
    trace = read_trace([str(corpus / "aaa.pcap")])
    ctx = Context(trace, [], {})
    shapes = [ctx.shape(d) for d in trace.dialogs.values()]
    by_value = {s.methods: s.methods for s in shapes}
    assert len(shapes) > len(by_value)
    assert all(s.methods is by_value[s.methods] for s in shapes)
