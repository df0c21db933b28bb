"""Learn mode (``analysis.explain``) on real captures: every explanation names the right RFC section
and states facts that hold in that capture, read back from the ``Facts`` and the words, and
compared with tshark's dissection and with the labels of the scenarios (what really happened)."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

import pytest

from sipsniff.analysis.auth import analyze
from sipsniff.analysis.explain import DialogExplanation, Ref, RowExplanation, explain
from sipsniff.analysis.explain.headers import every
from sipsniff.analysis.ladder import Ladder, ladder_of
from sipsniff.model import Dialog, Message, Trace
from sipsniff.pipeline import read_trace
from sipsniff.sip.headers import parse_headers, split_list
from tests.conftest import CAPTURES
from tests.scenarios.labels import SCENARIOS, pick, scenarios

PCAPS = sorted(CAPTURES.glob("*.pcap")) + sorted(SCENARIOS.glob("*.pcap"))


@functools.cache
def told(path: Path, full: bool = False) -> tuple[Trace, list[tuple[Ladder, DialogExplanation]]]:
    trace = read_trace([str(path)])
    auth = analyze(trace)
    out = []
    for d in trace.dialogs.values():
        lad = ladder_of(trace, d)
        out.append((lad, explain(trace, lad, auth, full=full)))
    return trace, out


def rows(path: Path) -> list[tuple[Message, RowExplanation, Dialog]]:
    _, explained = told(path)
    return [
        (row.msg, ex, lad.dialog)
        for lad, dex in explained
        for row, ex in zip(lad.rows, dex.rows, strict=True)
    ]


def text(ex: RowExplanation) -> str:
    return " ".join(s.text for s in ex.sentences)


def refs(ex: RowExplanation) -> set[Ref]:
    return {r for s in ex.sentences for r in s.refs}


def sip(section: str) -> Ref:
    return Ref(3261, section)


@pytest.mark.parametrize("path", PCAPS, ids=lambda p: p.name)
def test_every_arrow_is_explained_with_a_reference(path: Path) -> None:
    """One explanation per arrow, in the ladder's order, each with words and an RFC section; a
    paragraph per dialog."""
    _, explained = told(path)
    for lad, dex in explained:
        assert [r.entry for r in dex.rows] == [row.entry.id for row in lad.rows]
        assert dex.summary.text and dex.summary.refs
        for ex in dex.rows:
            assert ex.sentences
            for s in ex.sentences:
                assert s.text and s.refs, s


SECTIONS = {
    # (method or status, CSeq method) -> the section the explanation of a first copy must name
    ("REGISTER", "REGISTER"): sip("10.2"),
    (401, "REGISTER"): sip("22.2"),
    (407, "REGISTER"): sip("22.3"),
    (407, "INVITE"): sip("22.3"),
    (200, "REGISTER"): sip("10.3"),
    (100, "INVITE"): sip("21.1.1"),
    (180, "INVITE"): sip("21.1.2"),
    (487, "INVITE"): sip("9.2"),
    (486, "INVITE"): sip("21.4.24"),
    (480, "INVITE"): sip("21.4.18"),
    ("CANCEL", "CANCEL"): sip("9.1"),
    ("BYE", "BYE"): sip("15.1.1"),
    (200, "BYE"): sip("15.1.2"),
}


@pytest.mark.parametrize("path", PCAPS, ids=lambda p: p.name)
def test_each_message_names_its_section(path: Path) -> None:
    checked = 0
    for msg, ex, _ in rows(path):
        if ex.facts.relayed_by is not None:
            assert refs(ex) & {sip("16.6"), sip("16.7"), sip("16.10")}, text(ex)
            continue
        key = (msg.method if msg.status is None else msg.status, msg.cseq_method)
        want = SECTIONS.get(key)
        if key[0] == "REGISTER":
            # a binding (10.2), its removal (10.2.2), a query (10.2.3), a refresh (10.2.4)
            assert refs(ex) & {sip(s) for s in ("10.2", "10.2.2", "10.2.3", "10.2.4")}
            checked += 1
        elif want is not None:
            assert want in refs(ex), (msg.label, text(ex))
            checked += 1
        if msg.method == "INVITE" and msg.to_tag is None and "again after" not in text(ex):
            assert sip("13.2.1") in refs(ex), text(ex)
        if msg.method == "ACK" and "three-way" in text(ex):
            assert sip("13.2.2.4") in refs(ex)
    assert checked or path.name.startswith(("attack-", "control-", "feature-"))


def test_register_407_states_its_facts() -> None:
    """The quick start's capture: a 407 with realm myvoipapp.com, MD5, no qop; the binding asked
    for 3600 s and granted 120 s."""
    _, explained = told(CAPTURES / "register-407.pcap")
    dex = explained[0][1]
    challenge = dex.rows[1]
    assert challenge.facts.realm == "myvoipapp.com"
    assert challenge.facts.algorithm == "MD5" and challenge.facts.qop == ()
    assert '"myvoipapp.com"' in text(challenge) and "Proxy-Authorization" in text(challenge)
    retry = dex.rows[2]
    assert "CSeq 2 (was 1)" in text(retry) and "a new Via branch" in text(retry)
    assert retry.facts.username == "101" and "sipsniff auth" in text(retry)
    ok = dex.rows[3]
    assert (ok.facts.expires_asked, ok.facts.expires_granted) == (3600, 120)
    assert "120 s" in text(ok) and "3600 s asked for" in text(ok)
    assert dex.facts.expires_granted == 120
    assert "not the 3600 s asked for" in dex.summary.text
    assert "challenged the first attempt (407)" in dex.summary.text


# -- against tshark --------------------------------------------------------------------------------


def tshark_fields(path: Path, *fields: str) -> dict[int, list[str]]:
    """frame -> the values of ``fields`` tshark dissects (several values of one field joined by
    ``,``)."""
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (apt-get install tshark): it is the oracle here")
    args = ["tshark", "-n", "-r", str(path), "-Y", "sip", "-T", "fields", "-e", "frame.number"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, check=True, text=True).stdout
    table = {}
    for line in out.splitlines():
        number, *values = line.split("\t")
        table[int(number)] = values
    return table


AUTH_CAPTURES = [CAPTURES / "register-407.pcap"] + [
    SCENARIOS / f"{name}.pcap"
    for name in ("register-ok", "call-answered", "register-wrong-password", "net-nat", "call-busy")
]


@pytest.mark.parametrize("path", AUTH_CAPTURES, ids=lambda p: p.name)
def test_realm_and_via_facts_agree_with_tshark(path: Path) -> None:
    seen = tshark_fields(path, "sip.auth.realm", "sip.Via.received", "sip.Via.rport")
    checked = 0
    for msg, ex, _ in rows(path):
        realm, received, rport = seen[msg.frame]
        if msg.status in (401, 407) and ex.facts.relayed_by is None:
            assert ex.facts.realm == realm.strip('"'), msg.frame
            assert f'realm "{ex.facts.realm}"' in text(ex)
            checked += 1
        if ex.facts.received is not None:
            assert ex.facts.received == received.split(",")[0]
            assert str(ex.facts.rport) == rport.split(",")[0]
            assert f"received={ex.facts.received}" in text(ex)
    assert checked


REGISTERS = [CAPTURES / "register-407.pcap"] + [
    SCENARIOS / f"{name}.pcap"
    for name in (
        "register-ok",
        "register-refresh",
        "register-tcp",
        "register-interval-too-brief",
        "register-unregister",
        "net-nat",
    )
]


@pytest.mark.parametrize("path", REGISTERS, ids=lambda p: p.name)
def test_expires_granted_agrees_with_tshark(path: Path) -> None:
    """The expiry a 2xx to a REGISTER grants: tshark's Contact ``expires`` parameter (or its
    Expires header) in that frame."""
    seen = tshark_fields(path, "sip.contact.parameter", "sip.Expires", "sip.Min-Expires")
    checked = 0
    for msg, ex, _ in rows(path):
        if msg.cseq_method != "REGISTER" or msg.status is None or ex.facts.relayed_by:
            continue
        params, expires, minimum = seen[msg.frame]
        if 200 <= msg.status < 300 and ex.facts.expires_granted:
            granted = [p.split("=")[1] for p in params.split(",") if p.startswith("expires=")]
            assert str(ex.facts.expires_granted) in (granted or [expires]), msg.frame
            assert f"for {ex.facts.expires_granted} s" in text(ex)
            checked += 1
        if msg.status == 423:
            assert str(ex.facts.min_expires) == minimum
            assert f"at least {minimum} s" in text(ex)
            checked += 1
    assert checked


CALLS = [CAPTURES / "invite-call.pcap", CAPTURES / "calls-lossy.pcap"] + [
    SCENARIOS / f"{name}.pcap"
    for name in (
        "call-answered",
        "call-early-media",
        "call-tcp",
        "call-ipv6",
        "call-direct",
        "net-nat",
        "net-loss",
    )
]


@pytest.mark.parametrize("path", CALLS, ids=lambda p: p.name)
def test_codecs_agree_with_tshark(path: Path) -> None:
    """The codecs of each SDP as tshark reads its rtpmap lines, and the codec an answer chose: the
    first of the answer's that the offer had."""
    seen = tshark_fields(path, "sdp.mime.type")
    checked = 0
    for msg, ex, _ in rows(path):
        if not ex.facts.codecs:
            continue
        names = [n for n in seen[msg.frame][0].split(",") if n]
        assert list(ex.facts.codecs)[: len(names)] == names or not names, msg.frame
        if ex.facts.codec is not None:
            assert ex.facts.codec in names
            if ex.facts.relayed_by is None:
                assert f"the codec chosen is {ex.facts.codec}" in text(ex)
            checked += 1
    assert checked


# -- against the labels of the scenarios --------------------------------------------------------------

LABELLED_CALLS = [sc for sc in scenarios() for d in sc.label.get("dialog", []) if "ended_by" in d]


@pytest.mark.parametrize("scenario", LABELLED_CALLS, ids=lambda s: s.name)
def test_who_hung_up_is_the_label(scenario: object) -> None:
    """The labels say who ended each call (written from the recipe, not from sipsniff): the BYE's
    explanation, the dialog's facts and its paragraph say the same."""
    path = scenario.pcap  # type: ignore[attr-defined]
    trace, explained = told(path)
    by_id = {lad.dialog.id: (lad, dex) for lad, dex in explained}
    for spec in scenario.label["dialog"]:  # type: ignore[attr-defined]
        if "ended_by" not in spec:
            continue
        for d in pick(trace, spec["match"]):
            lad, dex = by_id[d.id]
            assert dex.facts.ended_by == spec["ended_by"]
            assert f"(the {spec['ended_by']}) hung up" in dex.summary.text
            byes = [
                ex
                for row, ex in zip(lad.rows, dex.rows, strict=True)
                if row.msg.method == "BYE" and ex.facts.relayed_by is None
            ]
            assert byes and byes[0].facts.ended_by == spec["ended_by"]
            assert f"the {spec['ended_by']}, hangs up" in text(byes[0])


OUTCOME_WORDS = {
    "busy": "was busy (486)",
    "cancelled": "gave up before an answer",
    "no-answer": "nobody answered",
    "auth-failed": "credentials were refused",
    "registered": "registered",
}


@pytest.mark.parametrize(
    "scenario",
    [sc for sc in scenarios() if sc.name.startswith(("call-", "register-"))],
    ids=lambda s: s.name,
)
def test_the_paragraph_tells_the_labelled_outcome(scenario: object) -> None:
    trace, explained = told(scenario.pcap)  # type: ignore[attr-defined]
    by_id = {lad.dialog.id: dex for lad, dex in explained}
    for spec in scenario.label["dialog"]:  # type: ignore[attr-defined]
        words = OUTCOME_WORDS.get(spec.get("outcome", ""))
        if words is None:
            continue
        for d in pick(trace, spec["match"]):
            assert words in by_id[d.id].summary.text, (d.id, by_id[d.id].summary.text)


def test_retransmissions_name_their_timer() -> None:
    """net-loss: the INVITE sent twice (Timer A, 500 ms later) and the 200 sent twice until the
    ACK came (RFC 3261 13.3.1.4)."""
    timers = {}
    for msg, ex, _ in rows(SCENARIOS / "net-loss.pcap"):
        if ex.facts.timer is not None:
            timers[msg.method or str(msg.status)] = ex
    assert timers["INVITE"].facts.timer == "A"
    assert sip("17.1.1.2") in refs(timers["INVITE"])
    assert "2 times (again at +500 ms)" in text(timers["INVITE"])
    assert timers["200"].facts.timer == "2xx" and sip("13.3.1.4") in refs(timers["200"])


def test_cancel_and_487() -> None:
    texts = [(msg.label, text(ex)) for msg, ex, _ in rows(SCENARIOS / "call-cancelled.pcap")]
    cancel = next(t for label, t in texts if label == "CANCEL")
    assert "gives up before an answer after 1.503 s of ringing" in cancel
    assert any(label.startswith("487") and "cancelled INVITE" in t for label, t in texts)


def test_early_media_is_told() -> None:
    early = [
        ex
        for msg, ex, _ in rows(SCENARIOS / "call-early-media.pcap")
        if msg.status == 183 and ex.facts.relayed_by is None
    ]
    assert early and "early media" in text(early[0]) and Ref(3960) in refs(early[0])
    assert early[0].facts.codec == "PCMA"


# -- headers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PCAPS[:4], ids=lambda p: p.name)
def test_full_explains_every_header(path: Path) -> None:
    _, explained = told(path, full=True)
    for lad, dex in explained:
        for row, ex in zip(lad.rows, dex.rows, strict=True):
            names = [
                n
                for n, v in parse_headers(row.msg.raw)
                for _ in (
                    split_list(v) if n in ("Via", "Contact", "Record-Route", "Route") else [v]
                )
            ]
            assert [h.name for h in ex.headers] == names
            assert ex.headers == tuple(every(row.msg))


@pytest.mark.parametrize("path", PCAPS, ids=lambda p: p.name)
def test_brief_tells_each_header_once_per_dialog(path: Path) -> None:
    _, explained = told(path)
    for lad, dex in explained:
        topics = [h.name for ex in dex.rows for h in ex.headers]
        for name in ("Via", "Call-ID", "CSeq", "From", "Max-Forwards"):
            assert topics.count(name) <= 1, (lad.dialog.id, name)
        if lad.rows and lad.rows[0].msg.status is None:
            assert {"Via", "Call-ID", "CSeq", "From"} <= {h.name for h in dex.rows[0].headers}
