"""The selection options of every command that selects, through the CLI, against tshark's reading
of the same captures."""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sipsniff.cli import cli
from tests.builders import fake, options_capture, run
from tests.conftest import CAPTURES, CORPUS, need

AAA = CORPUS / "aaa.pcap"
LOSSY = CAPTURES / "calls-lossy.pcap"
WITH_4XX = [
    "aaa.pcap",
    "sip-register-wrong_password-401-403-401-403.pcapng",
    "sip-488-Not-Acceptable-Here-codec-null.pcapng",
    "sip-register-publish-subscribe-489-401.pcapng",
    "ring_decline.pcap",
    "voip-extension.pcap",
]


def call_ids(*args: str) -> list[str]:
    r = run(fake(), "read", *args, "-f", "json")
    assert r.exit_code == 0, r.stderr
    doc: dict[str, Any] = json.loads(r.stdout)
    return [d["call_id"] for d in doc["dialogs"]]


def tshark(path: Path, *fields: str) -> list[list[str]]:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (apt-get install tshark): it is the oracle here")
    args = ["tshark", "-n", "-r", str(path), "-Y", "sip", "-T", "fields", "-E", "occurrence=f"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


@pytest.mark.parametrize("name", WITH_4XX)
@pytest.mark.parametrize("status", ["4xx", "401", "failed", "2xx"])
def test_status_against_tshark(name: str, status: str) -> None:
    """A dialog has a status when a response to its INVITE or to its first request carries it
    (tshark: sip.Status-Code and sip.CSeq.method of each message, in frame order)."""
    path = need(CORPUS / name)
    first: dict[str, str] = {}
    codes: dict[str, set[int]] = {}
    for call_id, method, code, cseq_method in tshark(
        path, "sip.Call-ID", "sip.Method", "sip.Status-Code", "sip.CSeq.method"
    ):
        first.setdefault(call_id, method or cseq_method)
        if code and cseq_method in ("INVITE", first[call_id]):
            codes.setdefault(call_id, set()).add(int(code))

    def has(c: int) -> bool:
        if status == "failed":
            return c >= 400 and c not in (401, 407)
        if status.endswith("xx"):
            return c // 100 == int(status[0])
        return c == int(status)

    expected = sorted(cid for cid, cs in codes.items() if any(has(c) for c in cs))
    assert sorted(call_ids(str(path), "--status", status)) == expected


@pytest.mark.parametrize(
    "name, network",
    [
        ("aaa.pcap", "212.242.33.0/24"),
        ("aaa.pcap", "200.0.0.0/8"),
        ("sip_ipv6_udp.pcap", "::/0"),
        ("sip_tcp_websocket.pcap", "10.0.0.0/8"),
        ("voip-extension.pcap", "192.168.0.0/16"),
    ],
)
def test_host_network_against_tshark(name: str, network: str) -> None:
    path = need(CORPUS / name)
    net = ipaddress.ip_network(network)
    expected = set()
    for call_id, src4, dst4, src6, dst6 in tshark(
        path, "sip.Call-ID", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst"
    ):
        if any(a and ipaddress.ip_address(a) in net for a in (src4, dst4, src6, dst6)):
            expected.add(call_id)
    got = call_ids(str(path), "--host", network)
    assert sorted(got) == sorted(expected) and got


def test_user_by_digits_as_the_issue_asks() -> None:
    """``--user 97239287044`` finds the calls to ``0097239287044`` too (aaa.pcap)."""
    need(AAA)
    plain = call_ids(str(AAA), "--user", "97239287044")
    assert plain == call_ids(str(AAA), "--user", "0097239287044")
    assert plain == call_ids(str(AAA), "--user", "+97239287044")
    users = {
        cid
        for cid, *us in tshark(AAA, "sip.Call-ID", "sip.from.user", "sip.to.user", "sip.r-uri.user")
        if {u.lstrip("+").removeprefix("00") for u in us} & {"97239287044"}
    }
    assert sorted(plain) == sorted(users) and len(plain) == 3


def test_nothing_matches_says_so_and_exits_0() -> None:
    """Status 0 as before (a selection that matches nothing is an answer, as for tshark -Y; 1
    means a bug here), with one line on stderr; the JSON document is still whole."""
    r = run(fake(), "read", str(LOSSY), "--status", "486", "-f", "json")
    assert r.exit_code == 0
    assert r.stderr == "sipsniff: 0 of 5 dialogs match\n"
    assert json.loads(r.stdout)["dialogs"] == []
    r = run(fake(), "read", str(CAPTURES / "register-407.pcap"), "--calls")
    assert (r.exit_code, r.stderr) == (0, "sipsniff: 0 of 1 dialog matches\n")
    for command in ("stats", "auth"):
        r = run(fake(), command, str(LOSSY), "--method", "REGISTER")
        assert (r.exit_code, r.stderr) == (0, "sipsniff: 0 of 5 dialogs match\n"), command
    r = run(fake(), "read", str(LOSSY), "--status", "200")  # some match: nothing said
    assert (r.exit_code, r.stderr) == (0, "")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--state", "faild"], "--state: not a state: 'faild'"),
        (["--status", "99"], "--status: not a status: '99'"),
        (["--since", "yesterday"], "--since: not a time: 'yesterday'"),
        (["--until", "25:00"], "--until: not a time: '25:00'"),
        (["--min-duration", "5x"], "--min-duration: not a duration: '5x'"),
        (["--host", "172.16.98.0/33"], "--host: not an address, address:port or network"),
        (["--grep-first", "("], "--grep-first: not a valid regular expression"),
    ],
)
@pytest.mark.parametrize("command", ["read", "stats", "auth"])
def test_bad_values_are_one_line_naming_the_option(
    command: str, args: list[str], message: str
) -> None:
    r = run(fake(), command, str(LOSSY), *args)
    assert r.exit_code == 2
    assert r.stderr.startswith(f"sipsniff: error: {message}") and r.stderr.count("\n") == 1
    assert r.stdout == ""


def test_every_command_that_selects_has_the_options() -> None:
    for command in ("read", "stats", "auth", "live", "hep"):
        r = CliRunner().invoke(cli, [command, "--help"])
        for option in (
            "--state",
            "--status",
            "--since",
            "--until",
            "--min-duration",
            "--grep-first",
        ):
            assert option in r.stdout, (command, option)


def stats_doc(*args: str) -> dict[str, Any]:
    r = run(fake(), "stats", *args, "-f", "json")
    assert r.exit_code == 0, r.stderr
    doc: dict[str, Any] = json.loads(r.stdout)
    return doc


@pytest.mark.parametrize("since", ["+30s", "+80s", "+119s"])
def test_stats_places_relative_times_as_read_does_when_it_sweeps(
    since: str, tmp_path: Path
) -> None:
    """stats selects a part of the capture at a time (400 dialogs, 300 ms apart, with at most
    16 held: parts of a few dialogs each); ``+30s`` still counts from the first message of the
    whole capture, as ``read`` counts it."""
    path = tmp_path / "options.pcap"
    options_capture(path, 400, gap_us=300_000)
    whole = stats_doc(str(path), "--since", since)
    swept = stats_doc(str(path), "--since", since, "--max-dialogs", "16")
    read = run(fake(), "read", str(path), "--since", since, "-f", "json")
    chosen = json.loads(read.stdout)["dialogs"]
    assert swept["messages"] == whole["messages"] == 2 * len(chosen)
    # Dialog n lasts from n * 300 ms to 200 µs later: it is kept when it ends at or after since.
    since_us = int(since[1:-1]) * 1_000_000
    first_kept = -((200 - since_us) // 300_000)  # the least n with n * 300000 + 200 >= since
    assert len(chosen) == 400 - first_kept > 0


def test_state_and_time_on_the_call_list() -> None:
    """A real call list: the dialogs kept are those whose State column says it."""
    need(AAA)
    r = run(fake(width=150), "read", str(AAA), "--list", "--state", "auth failed", "--since", "+5m")
    assert r.exit_code == 0
    rows = [line.split()[0] for line in r.stdout.splitlines()[1:] if line[:4].strip().isdigit()]
    assert rows == ["1", "3", "5"]
    assert all("AUTH FAILED" in line for line in r.stdout.splitlines()[1:4])
