"""``sipsniff auth`` and ``analysis.auth``: real sipp recordings (captures/ and recorded here with
qop=auth), public captures compared with what tshark dissects, and small crafted dialogs for the
flags."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import sipsniff.cli.auth  # noqa: F401  (registers the command)
from sipsniff.analysis.auth import AuthReport, analyze, parse_credentials_file
from sipsniff.cli.common import cli
from sipsniff.model import Endpoint
from sipsniff.pipeline import read_trace
from sipsniff.sip.digest import compute, userhash
from tests.analysis.crafted import trace_of
from tests.conftest import CAPTURES, SHARED, need

REG = CAPTURES / "register-407.pcap"
DATA = Path(__file__).resolve().parents[1] / "data"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["auth", *args], catch_exceptions=False)


def doc(*args: str) -> dict[str, Any]:
    r = run(*args, "--format", "json")
    assert r.exit_code == 0, r.output
    d: dict[str, Any] = json.loads(r.stdout)
    assert d["schema"] == "sipsniff-auth/1"
    return d


# -- the sipp registration of captures/ --------------------------------------------------------


def test_register_407_right_wrong_and_no_password() -> None:
    (a,) = doc(str(REG), "--password", "101")["attempts"]
    assert a["dialog"] == 1 and a["frame"] == 3 and a["method"] == "REGISTER"
    assert (a["username"], a["realm"], a["algorithm"], a["qop"]) == (
        "101",
        "myvoipapp.com",
        "MD5",
        None,
    )
    assert a["header"] == "Proxy-Authorization"
    assert a["challenge"] == {"frame": 2, "status": 407}
    assert (a["outcome"], a["outcome_frame"], a["outcome_label"]) == (200, 4, "accepted")
    assert a["verified"] is True
    assert a["steps"]["response"] == a["response"] == "484b4364eb1ca6c233d0f76ed1023276"
    assert a["steps"]["a1"] == "101:myvoipapp.com:***"
    assert "password" not in a
    assert [f["code"] for f in a["flags"]] == ["md5-no-qop"]

    (wrong,) = doc(str(REG), "--password", "wrong")["attempts"]
    assert wrong["verified"] is False and wrong["outcome"] == 200
    assert wrong["steps"]["response"] != wrong["response"]

    (unknown,) = doc(str(REG))["attempts"]
    assert unknown["verified"] is None and unknown["steps"] is None
    assert unknown["note"] == "no password for user '101'"


def test_text_shows_the_steps_and_masks_the_password() -> None:
    r = run(str(REG), "--password", "101")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert 'HA1      = MD5("101:myvoipapp.com:***")' in out
    assert 'HA2      = MD5("REGISTER:sip:127.0.0.1:23149")' in out
    assert "response = MD5(HA1:nonce:HA2)" in out
    assert "= 484b4364eb1ca6c233d0f76ed1023276" in out
    assert "password    fits" in out
    assert "outcome     200 OK (frame 4): accepted" in out
    assert "1 challenge, 1 attempt: 1 accepted. Password: 1 fit, 0 do not, 0 not checked." in out
    assert "101:myvoipapp.com:101" not in out
    shown = run(str(REG), "--password", "101", "--show-password").stdout
    assert 'MD5("101:myvoipapp.com:101")' in shown
    assert doc(str(REG), "--password", "101", "--show-password")["attempts"][0]["password"] == "101"


def test_credentials_file(tmp_path: Path) -> None:
    creds = tmp_path / "users.txt"
    creds.write_text("# user:password\n100:nope\n101:101\n\n", encoding="utf-8")
    assert doc(str(REG), "--credentials", str(creds))["attempts"][0]["verified"] is True
    creds.write_text("102:101\n", encoding="utf-8")
    assert doc(str(REG), "--credentials", str(creds))["attempts"][0]["verified"] is None
    creds.write_text("101\n", encoding="utf-8")
    bad = run(str(REG), "--credentials", str(creds))
    assert bad.exit_code == 2
    assert "line 1: expected user:password" in bad.stderr
    both = run(str(REG), "--credentials", str(creds), "--password", "x")
    assert both.exit_code == 2 and "exclude each other" in both.stderr
    assert parse_credentials_file("a:b:c\r\nb:\n") == {"a": "b:c", "b": ""}


def test_output_file(tmp_path: Path) -> None:
    out = tmp_path / "auth.json"
    r = run(str(REG), "--password", "101", "-f", "json", "-o", str(out))
    assert r.exit_code == 0 and r.stdout == ""
    assert json.loads(out.read_text(encoding="utf-8"))["attempts"][0]["verified"] is True


# -- public captures ---------------------------------------------------------------------------


def test_asterisk_call_with_known_password(corpus: Path) -> None:
    """rtp_conversacion.pcap: Asterisk challenges an INVITE with 407; user 102's password is 102.
    The ACK of the 200 repeats the INVITE's credentials, computed for INVITE (RFC 3261 13.2.2.4),
    and the BYE reuses the nonce."""
    d = doc(str(corpus / "rtp_conversacion.pcap"), "--password", "102")
    got = [(a["frame"], a["method"], a["verified"], a["repeats_frame"]) for a in d["attempts"]]
    assert got == [(10, "INVITE", True, None), (31, "ACK", True, 10), (2376, "BYE", True, None)]
    assert [a["outcome"] for a in d["attempts"]] == [200, None, 200]
    assert d["attempts"][1]["steps"]["a2"].startswith("INVITE:")
    assert [f["code"] for f in d["attempts"][2]["flags"]] == ["nonce-reuse", "md5-no-qop"]
    wrong = doc(str(corpus / "rtp_conversacion.pcap"), "--password", "101")
    assert [a["verified"] for a in wrong["attempts"]] == [False, False, False]


def test_wrong_password_capture(corpus: Path) -> None:
    path = corpus / "sip-register-wrong_password-401-403-401-403.pcapng"
    d = doc(str(path), "--password", "telephone1")
    assert [(a["frame"], a["outcome"], a["verified"]) for a in d["attempts"]] == [
        (3, 403, False),
        (7, 403, False),
    ]
    assert "wrong-password-loop" in [f["code"] for f in d["attempts"][1]["flags"]]
    only = doc(str(path), "--dialog", "2")
    assert [a["frame"] for a in only["attempts"]] == [7]
    assert [c["frame"] for c in only["challenges"]] == [6]


def test_ims_initial_register_is_not_an_answer(corpus: Path) -> None:
    """gtp-iphone.pcap: VoLTE. The initial REGISTER carries an Authorization with empty nonce and
    response (3GPP TS 24.229), then AKAv1-MD5 answers the 401: neither can be checked."""
    d = doc(str(corpus / "gtp-iphone.pcap"), "--password", "x")
    first, aka, again = d["attempts"]
    assert (first["frame"], first["verified"], first["flags"], first["challenge"]) == (
        14,
        None,
        [],
        None,
    )
    assert first["note"].startswith("no nonce or no response")
    assert (aka["algorithm"], aka["verified"], aka["outcome"]) == ("AKAv1-MD5", None, 200)
    assert aka["challenge"] == {"frame": 16, "status": 401}
    assert again["first_answer"] is False


AUTH_CAPTURES = [
    "aaa.pcap",
    "MagicJack_pwr_up.pcap",
    "sip-register-wrong_password-401-403-401-403.pcapng",
    "rtp_conversacion.pcap",
    "erspan_sip_ipv4_udp.pcapng",
    "gprshome-wireshark_sip.pcap",
    "Asterisk_ZFONE_XLITE.pcap",
    "sip-2phones-B2BUA-Asterisk.pcapng",
    "sip-register-publish-subscribe-489-401.pcapng",
    "private-test-sip.pcapng",
    "ipip0.pcap",
    "sip_ipv4_tcp_retrans.pcap",
    "sip_tcp_websocket.pcap",
    "voip-extension2downata.pcap",
    "wireuploaded.pcap",
    "gtp-iphone.pcap",
    "sip-488-Not-Acceptable-Here-codec-null.pcapng",
]

TSHARK_FIELDS = (
    "frame.number",
    "sip.Call-ID",
    "sip.CSeq.seq",
    "sip.CSeq.method",
    "sip.Method",
    "sip.Status-Code",
    "sip.Authorization",
    "sip.Proxy-Authorization",
    "sip.auth.username",
    "sip.auth.realm",
    "sip.auth.nonce",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "udp.srcport",
    "udp.dstport",
    "tcp.srcport",
    "tcp.dstport",
)


def tshark_rows(path: Path) -> list[dict[str, str]]:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    args = ["tshark", "-n", "-r", str(path), "-Y", "sip", "-T", "fields", "-E", "occurrence=l"]
    for f in TSHARK_FIELDS:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [dict(zip(TSHARK_FIELDS, line.split("\t"), strict=True)) for line in out.splitlines()]


def _unq(v: str) -> str:
    return v[1:-1] if len(v) >= 2 and v[0] == v[-1] == '"' else v


def _ends(r: dict[str, str]) -> tuple[str, str]:
    src = r["ipv6.src"] or r["ip.src"]
    dst = r["ipv6.dst"] or r["ip.dst"]
    sport = r["udp.srcport"] or r["tcp.srcport"]
    dport = r["udp.dstport"] or r["tcp.dstport"]
    return f"{src}|{sport}", f"{dst}|{dport}"


@pytest.mark.parametrize("name", AUTH_CAPTURES)
def test_pairing_and_outcomes_against_tshark(corpus: Path, name: str) -> None:
    """Every request tshark shows with Authorization / Proxy-Authorization is an attempt (or a
    retransmission folded into one) with the same username, realm and nonce; its challenge is the
    one the same rule finds in tshark's fields; its outcome is the first final response tshark shows
    in the other direction with the same Call-ID and CSeq."""
    path = corpus / name
    rows = tshark_rows(path)
    report = analyze(read_trace([str(path)]))
    ours = {a.frame: a for a in report.attempts}
    folded = {f for a in report.attempts for f in a.retransmission_frames}
    theirs = [r for r in rows if r["sip.Method"] and r["sip.auth.username"]]
    assert theirs, "no credentials in this capture?"
    assert {int(r["frame.number"]) for r in theirs} == set(ours) | folded
    for r in theirs:
        frame = int(r["frame.number"])
        if frame in folded:
            continue
        a = ours[frame]
        c = a.credentials
        assert (c.username, c.realm, c.nonce) == (
            _unq(r["sip.auth.username"]),
            _unq(r["sip.auth.realm"]),
            _unq(r["sip.auth.nonce"]),
        ), frame
        # the challenge, by the documented rule applied to tshark's fields
        status = "401" if r["sip.Authorization"] else "407"
        before = [x for x in rows if int(x["frame.number"]) < frame]
        challenges = [x for x in before if x["sip.Status-Code"] == status]
        nonce = _unq(r["sip.auth.nonce"])
        same_call = [x for x in challenges if x["sip.Call-ID"] == r["sip.Call-ID"]]
        pick = (
            [x for x in same_call if _unq(x["sip.auth.nonce"]) == nonce]
            or [x for x in challenges if _unq(x["sip.auth.nonce"]) == nonce]
            or same_call
        )
        expected_challenge = int(pick[-1]["frame.number"]) if pick else None
        got = None if a.challenge is None else report.challenges[a.challenge].frame
        assert got == expected_challenge, frame
        # the outcome
        src, dst = _ends(r)
        finals = [
            x
            for x in rows
            if int(x["frame.number"]) > frame
            and x["sip.Status-Code"]
            and int(x["sip.Status-Code"]) >= 200
            and x["sip.Call-ID"] == r["sip.Call-ID"]
            and (x["sip.CSeq.seq"], x["sip.CSeq.method"])
            == (r["sip.CSeq.seq"], r["sip.CSeq.method"])
            and _ends(x) == (dst, src)
        ]
        expected = (
            None if r["sip.Method"] == "ACK" or not finals else int(finals[0]["sip.Status-Code"])
        )
        assert a.outcome == expected, frame


def test_aaa_story(corpus: Path) -> None:
    """aaa.pcap (sip.cybercity.dk): voi18063 refused twice, voi18062 challenged again and accepted
    later, INVITEs refused with 403, one that passes authentication and ends 480."""
    report = analyze(read_trace([str(corpus / "aaa.pcap")]))
    got = [(a.frame, a.credentials.username, a.outcome) for a in report.attempts]
    assert got[:4] == [
        (30, "voi18063", 403),
        (121, "voi18063", 401),
        (154, "voi18062", 401),
        (180, "voi18062", 200),
    ]
    loops = [a.frame for a in report.attempts if "wrong-password-loop" in _codes(a.flags)]
    assert loops == [121, 453, 578]
    assert [a.outcome_label for a in report.attempts if a.frame == 617] == ["failed"]
    unanswered = [c.frame for c in report.challenges if not c.answered_by]
    assert unanswered == [122, 155, 432, 454, 560]


# -- sipp, recorded here: 401 with qop="auth" --------------------------------------------------


def record(out: Path, password: str, calls: int) -> None:
    capture = SHARED / "sipp" / "capture.sh"
    need(capture)
    if os.geteuid() != 0:
        pytest.skip("recording with tcpdump needs root")
    for tool in ("sipp", "tcpdump"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    env = {**os.environ, "T": "u1", "AUTH_USER": "101", "AUTH_PASS": password}
    subprocess.run(
        [
            str(capture),
            str(out),
            str(DATA / "reg_uas_401_qop.xml"),
            str(DATA / "reg_uac_401.xml"),
            str(calls),
        ],
        env=env,
        check=True,
        timeout=150,
        capture_output=True,
    )


@pytest.mark.tools
def test_sipp_registrations_with_qop_auth(tmp_path: Path) -> None:
    """Registrations recorded with sipp: a 401 offering qop="auth", answered with nc and cnonce;
    sipp's own verifyauth answers 200 or 403, and our verdict must agree with it."""
    for password, status, verified in (("101", 200, True), ("not-101", 403, False)):
        pcap = tmp_path / f"reg-{password}.pcap"
        record(pcap, password, 2)
        report = analyze(read_trace([str(pcap)]), passwords={"101": "101"})
        assert len(report.challenges) == 2 and len(report.attempts) == 2
        for a in report.attempts:
            assert a.challenge is not None
            ch = report.challenges[a.challenge]
            assert (ch.status, ch.digest.qop, ch.digest.realm) == (401, ("auth",), "sipsniff.test")
            c = a.credentials
            assert (c.qop, c.nc, c.username) == ("auth", "00000001", "101")
            assert c.cnonce and c.nonce == ch.digest.nonce and c.opaque == "0f1e2d3c"
            assert a.header == "Authorization" and a.first_answer
            assert (a.outcome, a.verified) == (status, verified)
            assert a.steps is not None
            assert a.steps.kd.count(":") == 5  # HA1:nonce:nc:cnonce:qop:HA2
            assert "md5-no-qop" not in _codes(a.flags)
        loops = ["wrong-password-loop" in _codes(a.flags) for a in report.attempts]
        assert loops == [False, not verified]
        # the CLI says the same
        d = doc(str(pcap), "--password", "101")
        assert [a["verified"] for a in d["attempts"]] == [verified, verified]
        assert [a["qop"] for a in d["attempts"]] == ["auth", "auth"]


# -- crafted dialogs, one flag at a time -------------------------------------------------------

A = Endpoint("192.0.2.1", 5060)
B = Endpoint("192.0.2.2", 5060)
CRLF = "\r\n"


def _codes(flags: Sequence[Any]) -> list[str]:
    return [f.code for f in flags]


def req(method: str, cseq: int, extra: str = "", call: str = "c1", body: str = "") -> str:
    return (
        f"{method} sip:registrar.example SIP/2.0\n"
        f"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK{call}{cseq}{method}\n"
        f"From: <sip:alice@example>;tag=a1\nTo: <sip:alice@example>\nCall-ID: {call}\n"
        f"CSeq: {cseq} {method}\n{extra}Content-Length: {len(body.replace(chr(10), CRLF))}\n\n{body}"
    )


def resp(
    status: int, reason: str, method: str, cseq: int, extra: str = "", call: str = "c1"
) -> str:
    return (
        f"SIP/2.0 {status} {reason}\n"
        f"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK{call}{cseq}{method}\n"
        f"From: <sip:alice@example>;tag=a1\nTo: <sip:alice@example>;tag=s1\nCall-ID: {call}\n"
        f"CSeq: {cseq} {method}\n{extra}Content-Length: 0\n\n"
    )


def challenge(nonce: str, *, realm: str = "example", extra: str = "") -> str:
    return f'WWW-Authenticate: Digest realm="{realm}", nonce="{nonce}"{extra}\n'


def creds(
    nonce: str,
    password: str,
    *,
    method: str = "REGISTER",
    realm: str = "example",
    user: str = "alice",
    qop: str | None = None,
    nc: str = "00000001",
    cnonce: str = "c0ffee",
    algo: str = "MD5",
    body: bytes = b"",
    hashed_user: str | None = None,
) -> str:
    steps = compute(
        algorithm=algo,
        username=user,
        realm=realm,
        password=password,
        method=method,
        uri="sip:registrar.example",
        nonce=nonce,
        qop=qop,
        nc=nc if qop else None,
        cnonce=cnonce if qop else None,
        body=body,
    )
    text = (
        f'Authorization: Digest username="{hashed_user or user}", realm="{realm}", '
        f'nonce="{nonce}", uri="sip:registrar.example", response="{steps.response}", '
        f"algorithm={algo}"
    )
    if qop:
        text += f', qop={qop}, nc={nc}, cnonce="{cnonce}"'
    if hashed_user:
        text += ", userhash=true"
    return text + "\n"


def analyzed(*items: tuple[Endpoint, Endpoint, str], password: str = "pw") -> AuthReport:
    return analyze(trace_of(*items), default_password=password)


def test_stale_nonce_is_not_a_wrong_password() -> None:
    report = analyzed(
        (A, B, req("REGISTER", 1)),
        (B, A, resp(401, "Unauthorized", "REGISTER", 1, challenge("n1"))),
        (A, B, req("REGISTER", 2, creds("n1", "pw"))),
        (B, A, resp(401, "Unauthorized", "REGISTER", 2, challenge("n2", extra=", stale=TRUE"))),
        (A, B, req("REGISTER", 3, creds("n2", "pw"))),
        (B, A, resp(200, "OK", "REGISTER", 3)),
    )
    first, second = report.attempts
    assert (first.outcome_label, first.verified) == ("stale", True)
    assert _codes(first.flags) == ["md5-no-qop", "stale-nonce"]
    assert (second.outcome_label, second.verified) == ("accepted", True)
    assert report.challenges[1].digest.stale


def test_wrong_password_loop_and_realm_mismatch() -> None:
    report = analyzed(
        (A, B, req("REGISTER", 1)),
        (B, A, resp(401, "Unauthorized", "REGISTER", 1, challenge("n1"))),
        (A, B, req("REGISTER", 2, creds("n1", "bad"))),
        (B, A, resp(401, "Unauthorized", "REGISTER", 2, challenge("n2"))),
        (A, B, req("REGISTER", 3, creds("n2", "bad"))),
        (B, A, resp(401, "Unauthorized", "REGISTER", 3, challenge("n3"))),
        (A, B, req("REGISTER", 4, creds("n3", "pw", realm="elsewhere"))),
        (B, A, resp(403, "Forbidden", "REGISTER", 4)),
    )
    a1, a2, a3 = report.attempts
    assert [a.verified for a in report.attempts] == [False, False, True]
    assert "wrong-password-loop" not in _codes(a1.flags)
    assert "wrong-password-loop" in _codes(a2.flags)
    # another realm: another run; the password fits the realm it was computed for
    assert "wrong-password-loop" not in _codes(a3.flags)
    assert "realm-mismatch" in _codes(a3.flags)
    assert a3.outcome_label == "forbidden"


def test_nonce_mismatch_unchallenged_and_reuse() -> None:
    report = analyzed(
        (A, B, req("REGISTER", 1, creds("early", "pw"))),
        (B, A, resp(401, "Unauthorized", "REGISTER", 1, challenge("n1"))),
        (A, B, req("REGISTER", 2, creds("made-up", "pw"))),
        (B, A, resp(401, "Unauthorized", "REGISTER", 2, challenge("n2"))),
        (A, B, req("REGISTER", 3, creds("n2", "pw"))),
        (B, A, resp(200, "OK", "REGISTER", 3)),
        (A, B, req("REGISTER", 4, creds("n2", "pw"))),
        (B, A, resp(200, "OK", "REGISTER", 4)),
    )
    pre, mismatch, good, again = report.attempts
    assert pre.challenge is None and "unchallenged" in _codes(pre.flags)
    assert mismatch.challenge is not None and "nonce-mismatch" in _codes(mismatch.flags)
    assert good.first_answer and "nonce-reuse" not in _codes(good.flags)
    assert not again.first_answer and "nonce-reuse" in _codes(again.flags)
    assert again.repeats_frame is None  # the same hop: a reuse, not a proxy's copy


def test_qop_nonce_count_and_auth_int() -> None:
    body = "v=0\no=- 1 1 IN IP4 192.0.2.1\n"
    wire_body = body.replace("\n", "\r\n").encode()
    qop_challenge = challenge("n1", extra=', qop="auth,auth-int"')
    report = analyzed(
        (A, B, req("REGISTER", 1)),
        (B, A, resp(401, "Unauthorized", "REGISTER", 1, qop_challenge)),
        (A, B, req("REGISTER", 2, creds("n1", "pw", qop="auth"))),
        (B, A, resp(200, "OK", "REGISTER", 2)),
        (A, B, req("MESSAGE", 3, creds("n1", "pw", method="MESSAGE", qop="auth-int", nc="00000002", body=wire_body), body=body)),
        (B, A, resp(200, "OK", "MESSAGE", 3)),
        (A, B, req("REGISTER", 4, creds("n1", "pw", qop="auth", nc="00000002"))),
        (B, A, resp(200, "OK", "REGISTER", 4)),
        (A, B, req("REGISTER", 5, creds("n1", "pw", qop="auth"))),
        (B, A, resp(401, "Unauthorized", "REGISTER", 5, challenge("n9"))),
    )  # fmt: skip
    _, integrity, repeated_nc, replay = report.attempts
    assert [a.verified for a in report.attempts] == [True, True, True, True]
    assert integrity.steps is not None and integrity.steps.body_hash is not None
    assert "nonce-reuse" not in _codes(integrity.flags)
    assert "nonce-reuse" in _codes(repeated_nc.flags)  # nc 00000002 was used already
    assert "nonce-reuse" in _codes(replay.flags)
    assert not [f for a in report.attempts for f in a.flags if f.code == "md5-no-qop"]
    # the body is covered: a changed body no longer fits
    tampered = analyzed(
        (A, B, req("MESSAGE", 1, creds("n1", "pw", method="MESSAGE", qop="auth-int", body=wire_body), body=body.upper())),
    )  # fmt: skip
    assert tampered.attempts[0].verified is False


def test_userhash_sha256_and_what_cannot_be_checked() -> None:
    hashed = userhash("SHA-256", "alice", "example")
    trace = trace_of(
        (A, B, req("REGISTER", 1, creds("n1", "pw", algo="SHA-256", hashed_user=hashed))),
        (A, B, req("REGISTER", 2, creds("n1", "pw").replace("MD5", "AKAv1-MD5"))),
    )
    report = analyze(trace, passwords={"bob": "x", "alice": "pw"})
    hashed_attempt, aka = report.attempts
    assert (hashed_attempt.user, hashed_attempt.verified) == ("alice", True)
    assert aka.verified is None and "SIM" in aka.note
    nobody = analyze(trace, passwords={"bob": "x"})
    assert nobody.attempts[0].verified is None
    assert nobody.attempts[0].note == "userhash: no known user hashes to this username"
