"""The ``sipsniff`` command through click's runner, on the captures recorded in captures/."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from sipsniff.cli import cli
from tests.conftest import CAPTURES, need

REG = CAPTURES / "register-407.pcap"
CALL = CAPTURES / "invite-call.pcap"
LOSSY = CAPTURES / "calls-lossy.pcap"
TCP_CALL = CAPTURES / "invite-call-tcp.pcap"


def run(*args: str, input: bytes | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def doc(*args: str, input: bytes | None = None) -> dict[str, Any]:
    r = run("read", *args, "--format", "json", input=input)
    assert r.exit_code == 0, r.output
    d: dict[str, Any] = json.loads(r.stdout)
    return d


def tshark_fields(path: Path, *fields: str) -> list[list[str]]:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (apt-get install tshark)")
    args = ["tshark", "-n", "-r", str(path), "-Y", "sip", "-T", "fields"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def test_demo_shows_call_list_and_ladder_with_time_column() -> None:
    r = run("read", str(REG))
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "REGISTERED" in out
    lines = out.splitlines()
    arrows = [ln for ln in lines if "─" in ln and ("REGISTER" in ln or "407" in ln or "200" in ln)]
    labels = ["REGISTER" if "REGISTER" in ln else "407" if "407" in ln else "200" for ln in arrows]
    assert labels[-4:] == ["REGISTER", "407", "REGISTER", "200"]
    # the time column: the first arrow at 0.000000, the others with microsecond times
    assert arrows[-4].lstrip().startswith("0.000000")
    assert all(any(ch.isdigit() for ch in ln.split("│")[0]) for ln in arrows[-4:])
    assert "Proxy Authentication Required" in out


def test_json_matches_tshark_on_register() -> None:
    d = doc(str(REG))
    assert d["schema"] == "sipsniff/1"
    msgs = d["messages"]
    assert [m["method"] or m["status"] for m in msgs] == ["REGISTER", 407, "REGISTER", 200]
    ref = tshark_fields(REG, "frame.number", "frame.time_epoch", "sip.Call-ID", "sip.CSeq")
    assert [m["frame"] for m in msgs] == [int(r[0]) for r in ref]
    assert [round(m["ts"], 6) for m in msgs] == [round(float(r[1]), 6) for r in ref]
    assert [m["call_id"] for m in msgs] == [r[2] for r in ref]
    assert [m["cseq"] for m in msgs] == [r[3] for r in ref]
    assert all(m["transport"] == "udp" for m in msgs)
    assert all(m["src"].startswith("127.0.0.1:") for m in msgs)
    assert [m["retransmission"] for m in msgs] == [False] * 4
    (dialog,) = d["dialogs"]
    assert dialog["state"] == "REGISTERED"
    assert dialog["first_method"] == "REGISTER"
    assert dialog["messages"] == [1, 2, 3, 4]
    assert dialog["from"] == "sip:100@127.0.0.1"
    assert all(m["dialog"] == 1 for m in msgs)
    assert d["skipped"] == []


def test_json_call_states_and_retransmissions() -> None:
    d = doc(str(LOSSY))
    assert len(d["messages"]) == 33
    retrans = [m for m in d["messages"] if m["retransmission"]]
    assert retrans, "sipp -lost 20 makes retransmissions"
    for m in retrans:
        originals = [
            o
            for o in d["messages"]
            if o["index"] < m["index"]
            and o["transaction"] == m["transaction"]
            and (o["method"], o["status"], o["src"]) == (m["method"], m["status"], m["src"])
        ]
        assert originals, m
    assert {dlg["state"] for dlg in d["dialogs"]} <= {"COMPLETED", "IN CALL"}
    assert len(d["dialogs"]) == 5


def test_tcp_call() -> None:
    d = doc(str(TCP_CALL))
    ref = tshark_fields(TCP_CALL, "frame.number", "sip.Method", "sip.Status-Code")
    assert [m["frame"] for m in d["messages"]] == [int(r[0]) for r in ref]
    assert [m["method"] or str(m["status"]) for m in d["messages"]] == [r[1] or r[2] for r in ref]
    assert {m["transport"] for m in d["messages"]} == {"tcp"}
    assert [dlg["state"] for dlg in d["dialogs"]] == ["COMPLETED", "COMPLETED"]


def test_selection_options() -> None:
    assert len(doc(str(LOSSY), str(REG))["dialogs"]) == 6
    assert [x["first_method"] for x in doc(str(LOSSY), str(REG), "--calls")["dialogs"]] == [
        "INVITE"
    ] * 5
    only = doc(str(LOSSY), str(REG), "--method", "register")
    assert [x["first_method"] for x in only["dialogs"]] == ["REGISTER"]
    assert {m["dialog"] for m in only["messages"]} == {only["dialogs"][0]["index"]}
    assert len(doc(str(LOSSY), str(REG), "--exclude-method", "INVITE")["dialogs"]) == 1
    assert len(doc(str(LOSSY), str(REG), "--user", "100")["dialogs"]) == 1
    assert len(doc(str(LOSSY), str(REG), "--user", "service")["dialogs"]) == 5
    assert len(doc(str(LOSSY), "--grep", "Proxy-Authorization")["dialogs"]) == 0
    assert len(doc(str(REG), "--grep", "Proxy-Authorization: Digest")["dialogs"]) == 1
    assert len(doc(str(REG), "--host", "127.0.0.1")["dialogs"]) == 1
    assert len(doc(str(REG), "--host", "10.0.0.1")["dialogs"]) == 0
    one = doc(str(LOSSY), "--dialog", "2")
    assert [x["index"] for x in one["dialogs"]] == [2]
    cid = one["dialogs"][0]["call_id"]
    assert [x["index"] for x in doc(str(LOSSY), "--call-id", cid)["dialogs"]] == [2]


def test_two_files_merge_in_time_order_with_file_index() -> None:
    d = doc(str(CALL), str(REG))
    ts = [m["ts"] for m in d["messages"]]
    assert ts == sorted(ts)
    assert {m["file"] for m in d["messages"]} == {0, 1}
    assert len(d["inputs"]) == 2


def test_gzip_and_stdin(tmp_path: Path) -> None:
    gz = tmp_path / "reg.pcap.gz"
    gz.write_bytes(gzip.compress(REG.read_bytes()))
    plain = doc(str(REG))["messages"]
    assert doc(str(gz))["messages"] == plain
    assert doc("-", input=REG.read_bytes())["messages"] == plain


def test_time_modes_and_full() -> None:
    for mode in ("abs", "rel", "dialog", "delta"):
        r = run("read", str(REG), "--time", mode, "--utc")
        assert r.exit_code == 0, r.output
    r = run("read", str(REG), "--time", "abs", "--utc")
    # frame 1 of register-407.pcap, in UTC, to the microsecond
    ref = tshark_fields(REG, "frame.time_epoch")[0][0]
    from datetime import UTC, datetime

    clock = datetime.fromtimestamp(float(ref), UTC).strftime("%H:%M:%S.%f")
    assert clock in r.stdout
    full = run("read", str(REG), "-v").stdout
    assert "Proxy-Authorization: Digest" in full
    assert "WWW-Authenticate" not in full


def test_missing_file_is_one_line_exit_3(tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["read", str(tmp_path / "nope.pcap")])
    assert r.exit_code == 3
    assert r.stderr.count("\n") == 1
    assert r.stderr.startswith("sipsniff: error:")
    assert "nope.pcap" in r.stderr


def test_netmon_file_read(corpus: Path) -> None:
    r = CliRunner().invoke(cli, ["read", str(need(corpus / "c07-sip-r2.cap")), "--list"])
    assert (r.exit_code, r.stderr) == (0, "")
    assert "12 messages, 12 dialogs" in r.stdout


def test_truncated_capture_keeps_what_came_before(tmp_path: Path) -> None:
    cut = tmp_path / "cut.pcap"
    data = REG.read_bytes()
    cut.write_bytes(data[:-50])
    r = CliRunner().invoke(cli, ["read", str(cut), "--format", "json"])
    assert r.exit_code == 4
    assert len(json.loads(r.stdout)["messages"]) == 3
    assert "sipsniff: warning:" in r.stderr


def test_usage_errors_exit_2() -> None:
    assert CliRunner().invoke(cli, ["read", str(REG), "--dialog", "9"]).exit_code == 2
    assert CliRunner().invoke(cli, ["read", str(REG), "--grep", "("]).exit_code == 2
    assert CliRunner().invoke(cli, ["read", str(REG), "--time", "x"]).exit_code == 2
    assert CliRunner().invoke(cli, ["read"]).exit_code == 2


def test_python_dash_m_and_output_file(tmp_path: Path) -> None:
    out = tmp_path / "o.json"
    p = subprocess.run(
        [sys.executable, "-m", "sipsniff", "read", str(REG), "-f", "json", "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(out.read_text())["dialogs"][0]["state"] == "REGISTERED"


def test_no_capture_of_the_corpus_crashes(corpus: Path) -> None:
    for path in sorted(corpus.iterdir()):
        if path.suffix in {".md", ".tsv"}:
            continue
        r = CliRunner().invoke(cli, ["read", str(path), "--format", "json"])
        assert r.exit_code in (0, 3, 4), (path.name, r.output)
        assert "Traceback" not in r.output
        if r.exit_code == 0:
            json.loads(r.stdout)


@pytest.mark.parametrize("fmt", ["json", "csv", "text"])
def test_reading_loads_no_openssl(fmt: str, tmp_path: Path) -> None:
    """hashlib loads OpenSSL's libcrypto (3.5 MB of memory): a run that only reads a capture,
    challenges and credentials in it, does not import it; one that checks a password does."""
    probe = (
        "import sys\n"
        "from sipsniff.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "print('_hashlib' in sys.modules, file=sys.stderr)\n"
    )

    def loads(*args: str) -> str:
        r = subprocess.run(
            [sys.executable, "-c", probe, *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=True,
        )
        return r.stderr.splitlines()[-1]

    assert loads("read", str(REG), "-f", fmt, "-o", str(tmp_path / "out")) == "False"
    assert loads("auth", str(REG), "--password", "secret", "-o", str(tmp_path / "a")) == "True"
