"""Verdicts against traffic whose real story is known: the labelled scenarios of
``captures/scenarios`` (recorded from Kamailio, baresip, linphone, sipp and SIPVicious; each label
written from what its recipe did, never from sipsniff's output).

* every scenario: every dialog's state, outcome, call flag, KPIs; every required finding present,
  no finding the label does not allow, no warning or error on a healthy scenario;
* every output says the same: ``read`` (call list, JSON, CSV), ``stats`` (text and JSON), the HTML
  page; ``--calls``, ``stats`` and ``stats --calls`` count the same calls;
* the symptoms of issue #12, each on the capture it was seen on;
* some scenarios recorded again, here and now, from the real peers (root and the Debian packages
  needed; skipped otherwise), and checked against the same labels: the recipes stay true.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from sipsniff.analysis.findings import findings
from sipsniff.cli import cli
from sipsniff.correlate import states
from sipsniff.model import Trace
from sipsniff.pipeline import read_trace
from sipsniff.render.base import RenderOptions
from sipsniff.render.html import index_rows
from tests.conftest import need
from tests.scenarios.harness import missing_tools
from tests.scenarios.labels import SCENARIOS, Scenario, check, scenarios
from tests.scenarios.record import load_recipes, record

SCENARIO_LIST = scenarios()


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def doc(*args: str) -> dict[str, Any]:
    r = run(*args)
    assert r.exit_code == 0, r.output
    d: dict[str, Any] = json.loads(r.stdout)
    return d


def test_the_corpus_is_there() -> None:
    """Every label has its capture and a recipe that records it; every recipe has a label."""
    assert len(SCENARIO_LIST) >= 40
    recipes = load_recipes()
    readme = (SCENARIOS / "README.md").read_text(encoding="utf-8")
    for sc in SCENARIO_LIST:
        assert sc.pcap.exists(), sc.pcap
        assert sc.label["recipe"] in recipes, sc.name
        assert f"| `{sc.name}` | {sc.label['title']} |" in readme, f"{sc.name}: not in README.md"
    labelled = {sc.label["recipe"] for sc in SCENARIO_LIST}
    assert set(recipes) == labelled
    # the healthy and the broken both: a detector is judged on both
    assert 15 <= sum(sc.healthy for sc in SCENARIO_LIST) <= len(SCENARIO_LIST) - 10


@pytest.mark.parametrize("scenario", SCENARIO_LIST, ids=lambda s: s.name)
def test_scenario_matches_its_label(scenario: Scenario) -> None:
    assert check(scenario) == []


# -- every output says the same ------------------------------------------------------------------


def _truth(trace: Trace) -> list[tuple[str, str, bool]]:
    return [(d.state, d.outcome, d.call) for d in trace.dialogs.values()]


@pytest.mark.parametrize("scenario", SCENARIO_LIST, ids=lambda s: s.name)
def test_every_output_says_the_same(scenario: Scenario) -> None:
    path = str(scenario.pcap)
    trace = read_trace([path])
    truth = _truth(trace)
    # read -f json and -f csv
    dialogs = doc("read", path, "-f", "json")["dialogs"]
    assert [(d["state"], d["outcome"], d["call"]) for d in dialogs] == truth
    rows = list(csv.DictReader(io.StringIO(run("read", path, "-f", "csv").stdout)))
    assert [(r["state"], r["outcome"], r["call"] == "True") for r in rows] == truth
    # the HTML page: the state's words, coloured by its outcome
    html = list(index_rows(trace, list(trace.dialogs.values()), RenderOptions()))
    assert [r.state for r in html] == [s for s, _, _ in truth]
    assert [r.state_class for r in html] == [states.TONES[o] for _, o, _ in truth]
    # stats: the same calls, with the same states and outcomes
    calls = [(s, o) for s, o, call in truth if call]
    st = doc("stats", path, "-f", "json")
    assert [(c["state"], c["outcome"]) for c in st["dialogs"]] == calls
    assert st["calls"]["attempts"] == len(calls)
    assert st["calls"]["answered"] == sum(1 for _, o in calls if o == "answered")
    # --calls: the same dialogs in read and in stats
    assert len(doc("read", path, "--calls", "-f", "json")["dialogs"]) == len(calls)
    assert doc("stats", path, "--calls", "-f", "json")["calls"]["attempts"] == len(calls)
    # the text call list shows each state in words (given the room: cutting at 80 columns when
    # the output is no terminal is issue 17's)
    text = CliRunner().invoke(cli, ["read", path, "--list"], env={"COLUMNS": "200"}).stdout
    for state, _, _ in truth:
        assert state in text


def test_outcome_colours_are_defined_for_every_outcome() -> None:
    assert set(states.TONES) == set(states.OUTCOMES)
    assert set(states.TONES.values()) == {"good", "mid", "bad"}


# -- the symptoms of issue #12 --------------------------------------------------------------------


def _scenario(name: str) -> Path:
    return SCENARIOS / f"{name}.pcap"


def test_a_challenge_answered_right_is_no_refusal() -> None:
    """A PBX with digest authentication, phones registering and calling normally: no refusal,
    no password guessing, in read and stats (and nothing above info in the findings)."""
    for name in ("call-answered", "control-many-phones", "register-burst-ok", "register-refresh"):
        path = str(_scenario(name))
        for args in (("read", path), ("stats", path)):
            out = run(*args).stdout
            assert "refused" not in out and "guessing" not in out, (name, args)
        assert {f.severity for f in findings(read_trace([path]))} <= {"info"}, name


def test_an_unanswered_invite_is_never_completed(corpus: Path) -> None:
    """branch-scenario-sipp.pcapng: the INVITEs that got no response at all, followed by a BYE,
    are not COMPLETED (dialog 36); in every capture of the corpus and of the scenarios, a
    COMPLETED call had a 2xx to an INVITE, and stats agrees with read on answered."""
    path = str(need(corpus / "branch-scenario-sipp.pcapng"))
    d36 = doc("read", path, "--dialog", "36", "-f", "json")["dialogs"][0]
    assert (d36["state"], d36["outcome"]) == ("CANCELLED", "cancelled")
    stats = {c["dialog"]: c for c in doc("stats", path, "-f", "json")["dialogs"]}
    assert stats[36]["answered"] is False and stats[36]["outcome"] == "cancelled"
    captures = [*sorted(corpus.glob("*.pcap*")), *(s.pcap for s in SCENARIO_LIST)]
    for capture in captures:
        if capture.suffix not in (".pcap", ".pcapng", ".cap"):
            continue
        trace = read_trace([str(capture)])
        for d in trace.dialogs.values():
            if d.state != "COMPLETED":
                continue
            answered = any(
                (m := trace.entries[i].msg).status is not None
                and 200 <= m.status < 300
                and m.cseq_method.upper() == "INVITE"
                for i in d.messages
            )
            started_mid_call = d.first_method.upper() not in ("INVITE", "REGISTER", "OPTIONS")
            assert answered or started_mid_call, (capture.name, d.id)


def test_calls_are_counted_alike(corpus: Path) -> None:
    """branch-scenario: every Call-ID REGISTERs, then INVITEs: 1334 calls for read --calls,
    stats and stats --calls alike."""
    path = str(need(corpus / "branch-scenario-sipp.pcapng"))
    assert len(doc("read", path, "--calls", "-f", "json")["dialogs"]) == 1334
    assert doc("stats", path, "-f", "json")["calls"]["attempts"] == 1334
    assert doc("stats", path, "--calls", "-f", "json")["calls"]["attempts"] == 1334
    assert "1334 calls" in run("stats", path).stdout


def test_post_dial_delay_from_the_invite_that_went_through(corpus: Path) -> None:
    """aaa.pcap dialog 6: INVITE, 407, ACK, 17 s of the caller typing, INVITE with credentials
    (f603), 183 426 ms later (f620): PDD 426 ms, no slow-pdd finding."""
    path = str(need(corpus / "aaa.pcap"))
    st = doc("stats", path, "--dialog", "6", "-f", "json")
    (call,) = st["dialogs"]
    assert call["post_dial_delay"] == pytest.approx(0.426, abs=0.001)
    assert not [f for f in st["findings"] if f["kind"] == "slow-pdd"]
    assert "post-dial delay" not in run("read", path, "--dialog", "6").stdout
    # the peers table measures the same interval
    (peer,) = [p for p in st["peers"] if p["peer"] == "212.242.33.35:5060"]
    assert peer["avg_pdd_ms"] == pytest.approx(426.4, abs=0.1)
    # and a slow PDD that is one is still told (the callee rang 4 s after the INVITE)
    slow = findings(read_trace([str(_scenario("call-slow-pdd"))]))
    (f,) = [f for f in slow if f.kind == "slow-pdd"]
    assert f.summary.startswith("post-dial delay 4.")
    assert "from the INVITE that went through" in f.summary


def test_the_host_itself_is_not_forged(corpus: Path) -> None:
    """A Via of 127.0.1.1 (Debian's name for the host) from 127.0.0.1 is a UA on the same host;
    a Via of 127.0.0.1 or of the destination from another host is forged."""
    path = str(need(corpus / "branch-scenario-sipp.pcapng"))
    assert "forged" not in {f["kind"] for f in doc("stats", path, "-f", "json")["findings"]}
    local = findings(read_trace([str(_scenario("control-local-ua"))]))
    assert not [f for f in local if f.kind == "forged"]
    spoofed = findings(read_trace([str(_scenario("attack-spoofed-via"))]))
    assert len([f for f in spoofed if f.kind == "forged"]) == 2


def test_findings_follow_the_selection(corpus: Path) -> None:
    """aaa.pcap dialog 6: the capture's password findings are about other dialogs (1, 3, 4, 5):
    read --dialog 6, stats --dialog 6 and the HTML page of that dialog leave them out; a
    selection that takes their dialogs shows them."""
    path = str(need(corpus / "aaa.pcap"))
    text = run("read", path, "--dialog", "6").stdout
    assert "credentials refused" not in text and "INVITE → 480" in text
    st = doc("stats", path, "--dialog", "6", "-f", "json")
    assert [f["kind"] for f in st["findings"]] == ["failure"]
    page = run("read", path, "--dialog", "6", "-f", "html").stdout
    assert "credentials refused" not in page
    st5 = doc("stats", path, "--dialog", "5", "-f", "json")
    assert [f["kind"] for f in st5["findings"]] == ["wrong-password", "failure"]
    assert all(5 in f["dialogs"] for f in st5["findings"])


def test_no_sip_is_said_plainly(corpus: Path) -> None:
    """g711a.pcap holds RTP only: read and stats say so, JSON readers get a warning on stderr."""
    path = str(need(corpus / "g711a.pcap"))
    for command in ("read", "stats"):
        r = run(command, path)
        assert r.exit_code == 0
        assert r.stdout.startswith("No SIP in this capture: 236 frames read")
        assert "ms" not in r.stdout and "nothing wrong" not in r.stdout
    r = run("stats", path, "-f", "json")
    assert json.loads(r.stdout)["messages"] == 0
    assert "warning: no SIP in this capture" in r.stderr


# -- recorded again, now -------------------------------------------------------------------------

RERECORDED = ("call-answered", "register-wrong-password", "attack-svcrack-success")
"""A call through the PBX between two softphones, a phone with a wrong password, a password
cracked by SIPVicious: Kamailio, baresip and svcrack, run here and now."""


# A first try that disagreed is said in the warnings summary, not raised ("error" in pyproject).
@pytest.mark.filterwarnings("default:.*first recording disagreed:UserWarning")
@pytest.mark.parametrize("name", RERECORDED)
def test_recorded_again_from_the_real_peers(name: str, tmp_path: Path) -> None:
    missing = missing_tools()
    if missing:
        pytest.skip(f"recording needs {', '.join(missing)} (make tools installs them as root)")
    (scenario,) = [s for s in SCENARIO_LIST if s.name == name]
    tries: list[tuple[list[str], str]] = []
    for attempt in range(2):
        pcap = record(scenario.label["recipe"], tmp_path / str(attempt))
        problems = check(Scenario(name, pcap, scenario.label))
        if not problems:
            break
        tries.append((problems, _flow(pcap)))
    else:
        detail = "\n".join(f"try {i + 1}: {p}\n{flow}" for i, (p, flow) in enumerate(tries))
        pytest.fail(f"{name}: the real peers told another story twice\n{detail}")
    if tries:
        # the peers run on a machine busy with other jobs: one retry, said in the summary
        warnings.warn(
            f"{name}: first recording disagreed ({tries[0][0]}):\n{tries[0][1]}", stacklevel=1
        )


def _flow(pcap: Path) -> str:
    """The recorded messages, one line each: what a failed re-recording is diagnosed from."""
    trace = read_trace([str(pcap)])
    lines = []
    for e in trace.entries.values():
        m, p = e.msg, e.msg.pkt
        head = m.method or f"{m.status} {m.reason}"
        lines.append(f"  {p.frame} {p.ts_ns / 1e9:.6f} {p.src} -> {p.dst} {head} {m.cseq_num}")
    return "\n".join(lines)


def test_registration_kpis_follow_the_story() -> None:
    """A 423 then a longer Expires is one registration (its delay from the first REGISTER to the
    200); an un-registration is counted apart, not as a second registration."""
    path = _scenario("register-interval-too-brief")
    regs = doc("stats", str(path), "-f", "json")["registrations"]
    assert (regs["attempts"], regs["succeeded"], regs["unregistrations"]) == (1, 1, 0)
    times = [e.msg.ts_ns for e in read_trace([str(path)]).entries.values()]
    assert regs["delay"]["max"] == pytest.approx((times[-1] - times[0]) / 1e9)
    gone = doc("stats", str(_scenario("register-unregister")), "-f", "json")["registrations"]
    assert (gone["attempts"], gone["succeeded"], gone["unregistrations"]) == (1, 1, 1)
