"""``findings.password``: wrong-password runs and guessed passwords, on a real capture and crafted
messages."""

from __future__ import annotations

from pathlib import Path

from sipsniff.analysis.findings import findings
from sipsniff.model import Endpoint
from sipsniff.pipeline import read_trace
from tests.analysis.crafted import trace_of


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
