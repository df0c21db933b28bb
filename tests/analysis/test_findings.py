"""``analysis.findings``: exact findings, frames and words on real captures (frames checked with
``tshark -r FILE -Y sip -T fields -e frame.number -e sip.Method -e sip.Status-Code``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sipsniff.analysis.findings import (
    CAUSES,
    SEVERITIES,
    Finding,
    Findings,
    finding_dict,
    findings,
    peer_dict,
    peers,
)
from sipsniff.model import Endpoint
from sipsniff.pipeline import read_trace
from tests.analysis.crafted import trace_of
from tests.conftest import CAPTURES

Row = tuple[str, str, int | None, tuple[int, ...]]


def rows(path: Path) -> list[Row]:
    return [(f.severity, f.kind, f.dialog, f.frames) for f in findings(read_trace([str(path)]))]


def one(found: Findings, kind: str, dialog: int | None) -> Finding:
    match = [f for f in found if f.kind == kind and f.dialog == dialog]
    assert len(match) == 1, match
    return match[0]


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


def test_wrong_password_loop(corpus: Path) -> None:
    path = corpus / "sip-register-wrong_password-401-403-401-403.pcapng"
    found = findings(read_trace([str(path)]))
    assert [(f.severity, f.kind, f.dialog, f.frames) for f in found] == [
        ("error", "wrong-password", None, (3, 4, 7, 8)),
        ("error", "failure", 1, (3, 4)),
        ("error", "failure", 2, (7, 8)),
    ]
    assert found.items[0].summary == (
        "telephone1@asterisk from 172.16.98.1: credentials refused 2× in a row (403)"
    )
    assert found.items[0].dialogs == (1, 2)
    assert found.items[1].summary == (
        "REGISTER → 403 Forbidden from 172.16.98.101:5060: credentials refused (a wrong "
        "password, or an account locked or not allowed)"
    )
    assert found.items[1].advice == (
        "Check the password of 'telephone1' and whether that account is locked."
    )


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


def test_codec_mismatch(corpus: Path) -> None:
    path = corpus / "sip-488-Not-Acceptable-Here-codec-null.pcapng"
    (f,) = findings(read_trace([str(path)]))
    assert (f.severity, f.kind, f.dialog, f.frames) == ("error", "failure", 4, (10, 12))
    assert f.summary == (
        "INVITE → 488 Not Acceptable Here from 192.168.8.13:5060: no common codec or media the "
        "callee accepts; offered audio PCMU (port 0: disabled), answered no SDP"
    )
    assert f.advice == CAUSES[488][1]


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


def test_forged(corpus: Path) -> None:
    (f,) = findings(read_trace([str(corpus / "metasploit-sip-invite-spoof.pcap")]))
    assert (f.severity, f.kind, f.dialog, f.frames) == ("warning", "forged", 1, (1,))
    assert f.summary == (
        "INVITE from 10.0.1.199 has Via 10.0.1.45 (the destination itself): crafted by a tool, "
        "caller ID likely spoofed"
    )


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


A = Endpoint("203.0.113.9", 5060)
S = Endpoint("198.51.100.1", 5060)


def _register(n: int, user: str, auth: bool) -> str:
    creds = (
        f'Authorization: Digest username="{user}", realm="r", nonce="n{n}", uri="sip:x", '
        f'response="{n:032x}", qop=auth, nc=00000001, cnonce="c{n}"\n'
        if auth
        else ""
    )
    return (
        f"REGISTER sip:x SIP/2.0\nVia: SIP/2.0/UDP 203.0.113.9;branch=z9hG4bK{n}\n"
        f"From: <sip:{user}@x>;tag=f\nTo: <sip:{user}@x>\nCall-ID: c1\nCSeq: {n} REGISTER\n"
        f"User-Agent: friendly-scanner\n{creds}Content-Length: 0\n\n"
    )


def _answer(n: int, user: str, status: str) -> str:
    challenge = (
        f'WWW-Authenticate: Digest realm="r", nonce="n{n + 1}", qop="auth"\n'
        if status.startswith("401")
        else ""
    )
    return (
        f"SIP/2.0 {status}\nVia: SIP/2.0/UDP 203.0.113.9;branch=z9hG4bK{n}\n"
        f"From: <sip:{user}@x>;tag=f\nTo: <sip:{user}@x>;tag=t\nCall-ID: c1\n"
        f"CSeq: {n} REGISTER\n{challenge}Content-Length: 0\n\n"
    )


def test_guessed_password_and_scanner_agent() -> None:
    items = [(A, S, _register(0, "100", False)), (S, A, _answer(0, "100", "401 Unauthorized"))]
    for n in range(1, 5):
        items.append((A, S, _register(n, "100", True)))
        status = "200 OK" if n == 4 else "401 Unauthorized"
        items.append((S, A, _answer(n, "100", status)))
    found = findings(trace_of(*items))
    assert [(f.severity, f.kind, f.dialog, f.frames) for f in found] == [
        ("error", "guessed-password", 1, (3, 4, 5, 6, 7, 8, 9, 10)),
        ("warning", "scanner", None, (1,)),
    ]
    assert found.items[0].summary == "100@r from 203.0.113.9 accepted (f9) after 3 refusals"
    assert found.items[1].summary == (
        "203.0.113.9 sends User-Agent 'friendly-scanner': a SIP scanner (1 dialog, 1 user)"
    )


@pytest.mark.parametrize("code", [401, 403, 404, 407, 408, 480, 486, 487, 488, 500, 503, 603])
def test_causes_short(code: int) -> None:
    if code in (401, 407):
        assert code not in CAUSES  # told by the auth kinds
        return
    cause, advice = CAUSES[code]
    assert len(cause) <= 70 and len(advice) <= 100
