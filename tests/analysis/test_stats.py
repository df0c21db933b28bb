"""``sipsniff stats`` and ``analysis.stats``: tshark's ``-z sip,stat`` figures on every capture of
the corpus (tshark run here as the oracle), and the KPIs against times read with tshark."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import sipsniff.cli.stats  # noqa: F401  (registers the command)
from sipsniff.analysis.stats import Spread, kpis, nearest_rank, tshark_figures, tshark_status
from sipsniff.cli.common import cli
from sipsniff.pipeline import read_trace
from tests.conftest import CAPTURES, CORPUS, need

CALL = CAPTURES / "invite-call.pcap"
LOSSY = CAPTURES / "calls-lossy.pcap"
REG = CAPTURES / "register-407.pcap"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["stats", *args], catch_exceptions=False)


def doc(*args: str) -> dict[str, Any]:
    r = run(*args, "--format", "json")
    assert r.exit_code == 0, r.output
    d: dict[str, Any] = json.loads(r.stdout)
    return d


def tshark(*args: str) -> str:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    return subprocess.run(
        ["tshark", "-n", *args], capture_output=True, text=True, check=True
    ).stdout


def sip_stat(path: Path, decode_as: str = "") -> dict[str, Any]:
    """``tshark -q -z sip,stat`` parsed."""
    extra = ["-d", decode_as] if decode_as else []
    out = tshark("-q", "-r", str(path), *extra, "-z", "sip,stat")
    head, _, rest = out.partition("* List of SIP Request methods")
    methods_part = rest.partition("* Average setup time")[0]
    setup = re.search(r"Average setup time (\d+) ms\n Min (\d+) ms\n Max (\d+) ms", out)
    assert setup is not None, out
    return {
        "messages": int(re.search(r"Number of SIP messages: (\d+)", head).group(1)),  # type: ignore[union-attr]
        "resent": int(re.search(r"Number of resent SIP messages: (\d+)", head).group(1)),  # type: ignore[union-attr]
        "codes": {int(c): int(n) for c, n in re.findall(r"  SIP (\d+) .*?:\s+(\d+) Packets", head)},
        "methods": {
            m.strip(): int(n) for m, n in re.findall(r"  (\S.*?)\s*:\s+(\d+) Packets", methods_part)
        },
        "setup": tuple(int(x) for x in setup.groups()),
    }


def corpus_files() -> list[tuple[str, str]]:
    manifest = CORPUS / "manifest.tsv"
    if not manifest.exists():
        return []
    with open(manifest, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [(r["file"], r["decode_as"]) for r in rows]


def ours(path: Path) -> dict[str, Any]:
    s = tshark_figures(read_trace([str(path)]).entries.values())
    return {
        "messages": s.messages,
        "resent": s.resent,
        "codes": s.tshark_rows(),
        "methods": dict(s.methods),
        "setup": (s.setup_avg_ms, s.setup_min_ms, s.setup_max_ms),
    }


@pytest.mark.parametrize(("name", "decode_as"), corpus_files() or [("(no corpus)", "")])
def test_sip_stat_like_tshark(name: str, decode_as: str, tmp_path: Path) -> None:
    """Every figure of ``tshark -z sip,stat`` equals ours, on every public capture. Where the two
    differ, the reason is known and the difference itself is asserted:

    * sip_ipv4_tcp_fragmented.pcap: tshark decodes TCP port 6060 as X11 by default; with the
      decode-as of the manifest (``-d tcp.port==6060,sip``) all figures are equal;
    * c07-sip-r2.cap is a NetMon 2 file, which sipsniff refuses (it names editcap): converted with
      ``editcap -F pcap`` the figures are equal;
    * sip_reqs.pcap: tshark's dissector throws on the BYE of frame 4 ([Malformed Packet]) before
      its tap sees it, so tshark counts one message (a BYE) fewer;
    * fuzz-2006-06-26-2594.pcap (fuzzed on purpose): tshark's tap misses every message whose
      dissection threw, or that it does not take for SIP; sipsniff parses them leniently. Every
      count of tshark's is then at most ours, and resent and setup times are still equal.
    """
    path = need(CORPUS) / name
    if name == "c07-sip-r2.cap":
        if shutil.which("editcap") is None:
            pytest.skip("editcap is not installed")
        converted = tmp_path / "c07.pcap"
        subprocess.run(["editcap", "-F", "pcap", str(path), str(converted)], check=True)
        path = converted
    theirs = sip_stat(path, decode_as)
    mine = ours(path)
    if name == "sip_reqs.pcap":
        assert mine["messages"] == theirs["messages"] + 1
        assert Counter(mine["methods"]) - Counter(theirs["methods"]) == Counter({"BYE": 1})
        mine["messages"] -= 1
        mine["methods"]["BYE"] -= 1
        mine["methods"] = {k: v for k, v in mine["methods"].items() if v}
    if name.startswith("fuzz-"):
        assert mine["messages"] > theirs["messages"]
        assert not Counter(theirs["codes"]) - Counter(mine["codes"])
        assert not Counter(theirs["methods"]) - Counter(mine["methods"])
        assert (mine["resent"], mine["setup"]) == (theirs["resent"], theirs["setup"])
        return
    assert mine == theirs


def test_captures_like_tshark() -> None:
    for path in sorted(CAPTURES.glob("*.pcap")):
        assert ours(path) == sip_stat(path), path.name


def test_resent_frames_are_tsharks() -> None:
    """Not only the count: the very frames tshark marks ``sip.resend``."""
    out = tshark("-r", str(LOSSY), "-Y", "sip.resend == 1", "-T", "fields", "-e", "frame.number")
    expected = [int(x) for x in out.split()]
    assert len(expected) == 4
    assert list(tshark_figures(read_trace([str(LOSSY)]).entries.values()).resent_frames) == expected


def test_status_folding() -> None:
    assert [tshark_status(c) for c in (200, 299, 289, 150, 199, 442, 650, 99, 700, 999)] == [
        200,
        299,
        299,
        199,
        199,
        499,
        699,
        None,
        None,
        999,
    ]


# -- KPIs, against times read with tshark ------------------------------------------------------


def times(path: Path) -> list[tuple[int, int, str, str]]:
    """(frame, ns since epoch, method or status, CSeq method) per SIP message, from tshark."""
    out = tshark(
        "-r",
        str(path),
        "-Y",
        "sip",
        "-T",
        "fields",
        "-e",
        "frame.number",
        "-e",
        "frame.time_epoch",
        "-e",
        "sip.Method",
        "-e",
        "sip.Status-Code",
        "-e",
        "sip.CSeq.method",
    )
    rows = []
    for line in out.splitlines():
        frame, epoch, method, status, cseq = line.split("\t")
        secs, _, frac = epoch.partition(".")
        ns = int(secs) * 1_000_000_000 + int(frac.ljust(9, "0")[:9])
        rows.append((int(frame), ns, method or status, cseq))
    return rows


def test_call_kpis_of_one_call() -> None:
    rows = times(CALL)
    assert [r[2] for r in rows] == ["INVITE", "180", "200", "ACK", "BYE", "200"]
    invite, ringing, ok, _, bye, _ = (r[1] for r in rows)
    s = kpis(read_trace([str(CALL)]))
    (call,) = s.calls
    assert (call.pdd_ns, call.setup_ns, call.duration_ns) == (
        ringing - invite,
        ok - invite,
        bye - ok,
    )
    assert call.answered and call.status == 200 and call.ended_by == "caller"
    assert (call.state, call.outcome) == ("COMPLETED", "answered")
    assert (s.asr, s.seer, s.registrations) == (100.0, 100.0, [])
    assert list(s.response_times["INVITE"].first) == [ringing - invite]
    assert list(s.response_times["INVITE"].final) == [ok - invite]
    assert list(s.response_times["BYE"].final) == [rows[5][1] - bye]
    assert "ACK" not in s.response_times


def test_registration_kpis() -> None:
    rows = times(REG)
    assert [r[2] for r in rows] == ["REGISTER", "407", "REGISTER", "200"]
    s = kpis(read_trace([str(REG)]))
    (reg,) = s.registrations
    assert (reg.requests, reg.outcome, reg.delay_ns) == (2, 200, rows[3][1] - rows[0][1])
    assert s.registration_success == 100.0
    assert s.calls == []
    assert sorted(s.response_times["REGISTER"].final) == sorted(
        [rows[1][1] - rows[0][1], rows[3][1] - rows[2][1]]
    )


def test_lossy_calls_json() -> None:
    d = doc(str(LOSSY))
    assert d["schema"] == "sipsniff-stats/2"
    assert (d["messages"], d["resent"]) == (33, 4)
    assert d["methods"] == {"BYE": 7, "INVITE": 5, "ACK": 4}
    assert d["status_codes"] == {"180": 5, "200": 12}
    assert d["requests"] + d["responses"] == d["messages"]
    assert d["setup_time_ms"]["count"] == 4
    calls = d["calls"]
    assert (calls["attempts"], calls["answered"], calls["asr"]) == (5, 5, 100.0)
    assert calls["setup_time"]["count"] == 5 and calls["duration"]["count"] == 5
    assert len(d["dialogs"]) == 5
    assert all(c["setup_time"] > c["post_dial_delay"] > 0 for c in d["dialogs"])
    # retransmissions seen by the correlator: those of tshark's resent frames are among them
    resent = sum(v["requests"] + v["responses"] for v in d["retransmissions"].values())
    assert resent >= d["resent"]
    talkers = d["top_talkers"]
    assert talkers[0]["ip"] == "127.0.0.1"
    assert talkers[0]["sent"] == talkers[0]["received"] == 33


def test_asr_and_seer_on_the_corpus() -> None:
    """aaa.pcap: four INVITE dialogs, none answered (408, 403, 403, 480): ASR 0, and the 480 is
    effective for SEER (the finals tshark lists for those Call-IDs)."""
    path = need(CORPUS) / "aaa.pcap"
    s = kpis(read_trace([str(path)]))
    assert sorted(c.status or 0 for c in s.calls) == [403, 403, 408, 480]
    # in words: the 403s answered credentials; the caller of the 408 had cancelled first
    assert sorted(c.outcome for c in s.calls) == [
        "auth-failed",
        "auth-failed",
        "cancelled",
        "no-answer",
    ]
    assert (s.asr, s.seer) == (0.0, 25.0)
    assert [r.outcome for r in s.registrations if not r.removal] == [403, 200, 401, 200, 200]
    # f421 and f430 (Contact expires=0, Expires 0) un-register, refused twice (401): apart
    assert [(r.first_frame, r.outcome) for r in s.registrations if r.removal] == [(421, 401)]


def test_text_output() -> None:
    r = run(str(LOSSY))
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "messages 33  (requests 16, responses 17)" in out
    assert "resent   4" in out
    assert "200 OK" in out and "180 Ringing" in out
    assert "avg 1 ms  min 1 ms  max 1 ms  (4 ACKs)" in out
    assert "Calls  5 calls, 5 answered  ASR 100.0%  SEER 100.0%" in out
    assert "outcomes: answered x5" in out
    assert "post-dial delay (INVITE -> 18x)" in out


def test_selection_narrows_the_figures() -> None:
    d = doc(str(LOSSY), "--dialog", "1")
    assert d["calls"]["attempts"] == 1
    assert d["messages"] < 33
    bad = run(str(LOSSY), "--dialog", "99")
    assert bad.exit_code == 2


def test_nearest_rank() -> None:
    assert nearest_rank([1, 2, 3, 4], 0.5) == 2
    assert nearest_rank([1, 2, 3, 4], 0.95) == 4
    assert nearest_rank([7], 0.5) == 7
    values = list(range(1, 101))
    assert (nearest_rank(values, 0.5), nearest_rank(values, 0.95)) == (50, 95)
    s = Spread.of([30, 10, 20])
    assert (s.count, s.p50, s.p95, s.max, s.mean) == (3, 20, 30, 30, 20)
    assert Spread.of([]).p50 is None
