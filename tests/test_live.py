"""``sipsniff live``: real SIP traffic from sipp on loopback, checked against ``read`` and tcpdump.

The end-to-end tests need root (CAP_NET_RAW), sipp and tcpdump; each runs on random free ports with
a capture filter naming them, so other traffic on the loopback does not get in. Each runs with both
capture backends: Linux's packet socket ring and libpcap (``--backend ring|pcap``). The rest (the pcap
writer, the line renderer, the session's sweeps) runs anywhere.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sipsniff.capture.base import Device, default_device
from sipsniff.capture.files import read_frames
from sipsniff.capture.live import (
    LINKTYPE_ETHERNET,
    PcapWriter,
    _prefix,
    interfaces,
)
from sipsniff.cli import cli
from sipsniff.errors import ExitStatus
from sipsniff.model import Endpoint, Entry, Frame, Message, Payload
from sipsniff.render.stream import LineRenderer
from sipsniff.sip.parser import parse_message
from tests.conftest import CAPTURES, ROOT
from tests.tools import (
    SIPP_DIR,
    free_ports,
    live_cmd,
    need_capture_tools,
    port_filter,
    running,
    stop,
    wait_line,
)

BACKENDS = pytest.mark.parametrize("backend", ["ring", "pcap"])


def sipp_uas(args: list[str], port: int, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["sipp", *args, "-i", "127.0.0.1", "-p", str(port), "-nostdin", "-nd"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=cwd,
    )


def sipp_uac(args: list[str], server: int, port: int, calls: int, cwd: Path) -> None:
    """Run a client scenario to its end; ``port`` 0 lets the kernel choose the local port."""
    local = ["-p", str(port)] if port else []
    subprocess.run(
        [
            *("sipp", f"127.0.0.1:{server}", *args, "-i", "127.0.0.1", *local),
            *("-m", str(calls), "-nostdin", "-timeout", "60s"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=cwd,
        check=True,
        timeout=90,
    )


REG = ["-sf", str(SIPP_DIR / "reg_uas_407.xml"), "-inf", str(SIPP_DIR / "users.csv")]
REG_UAC = ["-sf", str(SIPP_DIR / "reg_uac.xml"), "-inf", str(SIPP_DIR / "users.csv")]
REG_UAC += ["-au", "101", "-ap", "101"]


@contextmanager
def sipp_servers(
    tmp: Path, reg_port: int | None, call_port: int | None, tcp_port: int | None = None
) -> Iterator[None]:
    """The registrar and the callees (UDP, TCP), stopped by their ids on the way out."""
    procs = []
    if reg_port is not None:
        procs.append(sipp_uas(REG, reg_port, tmp))
    if call_port is not None:
        procs.append(sipp_uas(["-sn", "uas"], call_port, tmp))
    if tcp_port is not None:
        procs.append(sipp_uas(["-sn", "uas", "-t", "t1"], tcp_port, tmp))
    try:
        time.sleep(0.5)
        yield
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=10)


def read_doc(path: Path) -> dict[str, Any]:
    r = CliRunner().invoke(cli, ["read", str(path), "-f", "json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    doc: dict[str, Any] = json.loads(r.stdout)
    return doc


def messages(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            m["frame"],
            m["method"] or m["status"],
            m["call_id"],
            m["cseq"],
            m["src"],
            m["dst"],
            m["retransmission"],
            m["dialog"],
        )
        for m in doc["messages"]
    ]


def dialogs(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (d["index"], d["call_id"], d["first_method"], d["state"], d["messages"])
        for d in doc["dialogs"]
    ]


def sip_datagram(call_id: str, reason: str = "OK", method: str | None = None) -> bytes:
    start = f"{method} sip:bob@example.com SIP/2.0" if method else f"SIP/2.0 200 {reason}"
    cseq = f"1 {method or 'OPTIONS'}"
    return (
        f"{start}\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK{call_id}\r\n"
        f"From: <sip:alice@example.com>;tag=a\r\nTo: <sip:bob@example.com>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: {cseq}\r\nContent-Length: 0\r\n\r\n"
    ).encode()


# -- end to end --------------------------------------------------------------------------------


@pytest.mark.tools
@BACKENDS
def test_live_equals_read_of_its_pcap_and_of_tcpdumps(tmp_path: Path, backend: str) -> None:
    """Registrations (with a 407 challenge) and calls from sipp: what live found while capturing
    is what ``read`` finds in the pcap live wrote and in the one tcpdump wrote beside it."""
    need_capture_tools()
    reg_s, reg_c, call_s, call_c, tcp_s = free_ports(5)
    bpf = [*port_filter([reg_s, reg_c, call_s, call_c]), "or", "tcp", "port", str(tcp_s)]
    ours, theirs, doc_path = tmp_path / "live.pcap", tmp_path / "tcpdump.pcap", tmp_path / "l.json"
    with ExitStack() as stack:
        dump = stack.enter_context(
            running(
                [
                    "tcpdump",
                    "-i",
                    "lo",
                    "-s",
                    "0",
                    "-U",
                    "--immediate-mode",
                    "-w",
                    str(theirs),
                    *bpf,
                ],
                b"listening on",
                stdout=subprocess.DEVNULL,
            )
        )
        live = stack.enter_context(
            running(
                live_cmd(
                    "--backend",
                    backend,
                    "-i",
                    "lo",
                    "-w",
                    str(ours),
                    "-f",
                    "json",
                    "-o",
                    str(doc_path),
                    *bpf,
                ),
                b"capturing on lo",
                stdout=subprocess.PIPE,
            )
        )
        with sipp_servers(tmp_path, reg_s, call_s, tcp_s):
            sipp_uac(REG_UAC, reg_s, reg_c, 3, tmp_path)
            sipp_uac(["-sn", "uac", "-r", "20"], call_s, call_c, 5, tmp_path)
            sipp_uac(["-sn", "uac", "-r", "20", "-t", "t1"], tcp_s, 0, 3, tmp_path)
        time.sleep(0.3)
        err = stop(live)
        assert live.returncode == 0, err
        stop(dump, signal.SIGINT)

    doc = json.loads(doc_path.read_text())
    from_ours, from_theirs = read_doc(ours), read_doc(theirs)
    # 3 registrations of 4 messages (REGISTER, 407, REGISTER, 200), 5 calls of 6 messages over
    # UDP and 3 over TCP (and a retransmission, should sipp on a busy machine resend something).
    assert len([m for m in doc["messages"] if not m["retransmission"]]) == 3 * 4 + 8 * 6
    assert sum(m["transport"] == "tcp" for m in doc["messages"]) == 3 * 6
    states = sorted(d["state"] for d in doc["dialogs"])
    assert states == ["COMPLETED"] * 8 + ["REGISTERED"] * 3
    assert messages(doc) == messages(from_ours) == messages(from_theirs)
    assert dialogs(doc) == dialogs(from_ours) == dialogs(from_theirs)
    # The same packets, the kernel's timestamps (tcpdump keeps microseconds). Each packet socket
    # may stamp a packet of lo itself when the skb carries none: on a busy machine the two were
    # seen 2.6 us apart, so the bound is loose; the order and count above are exact.
    for a, b in zip(doc["messages"], from_theirs["messages"], strict=True):
        assert abs(a["ts"] - b["ts"]) < 1e-4
    assert doc["inputs"][0]["frames"] == from_theirs["inputs"][0]["frames"]
    assert doc["counts"]["dropped_by_kernel"] == 0
    assert f"{len(doc['messages'])} SIP messages, 11 dialogs: COMPLETED 8, REGISTERED 3" in err
    assert f"written to {ours}" in err
    if shutil.which("tshark"):
        out = subprocess.run(
            ["tshark", "-n", "-r", str(ours), "-Y", "sip", "-T", "fields", "-e", "sip.Call-ID"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert out == [m["call_id"] for m in doc["messages"]]


@pytest.mark.tools
@BACKENDS
def test_ndjson_streams_each_message_and_count_stops(tmp_path: Path, backend: str) -> None:
    need_capture_tools()
    reg_s, reg_c = free_ports(2)
    bpf = port_filter([reg_s, reg_c])
    with (
        running(
            live_cmd("--backend", backend, "-i", "lo", "-f", "ndjson", "--count", "4", *bpf),
            b"capturing on",
            stdout=subprocess.PIPE,
        ) as live,
        sipp_servers(tmp_path, reg_s, None),
    ):
        sipp_uac(REG_UAC, reg_s, reg_c, 1, tmp_path)
        out, err = live.communicate(timeout=30)
    assert live.returncode == 0, err
    lines = [json.loads(line) for line in out.decode().splitlines()]
    assert [m["method"] or m["status"] for m in lines] == ["REGISTER", 407, "REGISTER", 200]
    assert [m["index"] for m in lines] == [1, 2, 3, 4]
    assert {m["dialog"] for m in lines} == {1}
    assert [m["transaction"] for m in lines] == [1, 1, 2, 2]
    assert b"4 SIP messages, 1 dialog: REGISTERED 1" in err


@pytest.mark.tools
@pytest.mark.parametrize("fmt", ["ndjson", "text"])
def test_a_closed_pipe_stops_the_capture_quietly_with_status_141(tmp_path: Path, fmt: str) -> None:
    """``sipsniff live | head``: when the reader goes, the capture stops by itself, the pcap of
    ``-w`` is complete and in place, the summary says so, and the status is a closed pipe's."""
    need_capture_tools()
    (port,) = free_ports(1)
    pcap = tmp_path / "seen.pcap"
    r, w = os.pipe()
    os.close(r)
    args = live_cmd("-i", "lo", "-f", fmt, "-w", str(pcap), f"udp port {port}")
    try:
        with running(args, b"capturing on", stdout=w) as live:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                for k in range(20):
                    s.sendto(sip_datagram(f"gone-{k}", method="OPTIONS"), ("127.0.0.1", port))
                    time.sleep(0.05)
                    if live.poll() is not None:
                        break
            _, err = live.communicate(timeout=30)
    finally:
        os.close(w)
    assert live.returncode == ExitStatus.CLOSED_OUTPUT, err
    text = err.decode()
    assert "error" not in text and "Traceback" not in text
    assert f"written to {pcap}" in text
    assert read_doc(pcap)["messages"][0]["call_id"] == "gone-0"
    assert [p.name for p in tmp_path.iterdir()] == ["seen.pcap"]  # no .part left behind


@BACKENDS
def test_html_page_at_the_end(tmp_path: Path, backend: str) -> None:
    """``-f html -o FILE``: the page of what was captured, written when the capture stops."""
    need_capture_tools()
    reg_s, reg_c = free_ports(2)
    bpf = port_filter([reg_s, reg_c])
    page = tmp_path / "live.html"
    args = live_cmd(
        "--backend", backend, "-i", "lo", "-f", "html", "-o", str(page), "--count", "4", *bpf
    )
    with (
        running(args, b"capturing on", stdout=subprocess.DEVNULL) as live,
        sipp_servers(tmp_path, reg_s, None),
    ):
        sipp_uac(REG_UAC, reg_s, reg_c, 1, tmp_path)
        _, err = live.communicate(timeout=30)
    assert live.returncode == 0, err
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "REGISTERED" in html and "Proxy Authentication Required" in html


@pytest.mark.tools
@BACKENDS
def test_any_interface_is_read_behind_cooked_headers(tmp_path: Path, backend: str) -> None:
    need_capture_tools()
    reg_s, reg_c = free_ports(2)
    bpf = port_filter([reg_s, reg_c])
    pcap, doc_path = tmp_path / "any.pcap", tmp_path / "any.json"
    args = live_cmd(
        "--backend", backend, "-i", "any", "-w", str(pcap), "-f", "json", "-o", str(doc_path), *bpf
    )
    with (
        running(args, b"capturing on any", stdout=subprocess.DEVNULL) as live,
        sipp_servers(tmp_path, reg_s, None),
    ):
        sipp_uac(REG_UAC, reg_s, reg_c, 2, tmp_path)
        time.sleep(0.2)
        err = stop(live, signal.SIGINT)
    assert live.returncode == 0, err
    doc = json.loads(doc_path.read_text())
    # The ring writes Linux cooked v2 headers; libpcap's "any" device, v1 (LINUX_SLL).
    assert doc["inputs"][0]["linktypes"] == [276 if backend == "ring" else 113]
    # Seen once each, though the loopback shows every packet sent and received.
    assert [m["method"] or m["status"] for m in doc["messages"]] == 2 * [
        "REGISTER",
        407,
        "REGISTER",
        200,
    ]
    assert messages(doc) == messages(read_doc(pcap))


@pytest.mark.tools
@BACKENDS
def test_lines_on_a_terminal_are_coloured_and_packet_text_is_made_safe(
    tmp_path: Path, backend: str
) -> None:
    """A reason phrase with an escape sequence and a bell in it reaches the terminal escaped."""
    need_capture_tools()
    (port,) = free_ports(1)
    master, slave = pty.openpty()
    env = dict(os.environ, COLUMNS="200", LINES="50")
    env.pop("NO_COLOR", None)
    with subprocess.Popen(
        live_cmd("--backend", backend, "-i", "lo", "--count", "2", f"udp port {port}"),
        stdout=slave,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=env,
    ) as proc:
        os.close(slave)
        try:
            wait_line(proc, b"capturing on")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(sip_datagram("evil", method="OPTIONS"), ("127.0.0.1", port))
                s.sendto(sip_datagram("evil", reason="OK\x1b[2J\x07 pwned"), ("127.0.0.1", port))
            assert proc.wait(timeout=30) == 0
            screen = b""
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                screen += chunk
        finally:
            os.close(master)
            if proc.poll() is None:
                proc.kill()
    text = screen.decode()
    assert "\x1b[2J" not in text and "\x07" not in text
    assert "200 OK\\x1b[2J\\x07 pwned" in text
    assert "\x1b[1;36mOPTIONS (CSeq 1)" in text  # a request in bold cyan
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    assert re.search(r"\[1\]\s+127\.0\.0\.1:\d+ ──▶ 127\.0\.0\.1:\d+\s+OPTIONS", plain)


@pytest.mark.tools
@BACKENDS
def test_stopping_drains_what_the_kernel_holds_and_selection_applies(
    tmp_path: Path, backend: str
) -> None:
    """A burst sent just before SIGINT is all there, in the pcap and in the output; --method
    keeps the lines of the dialogs asked for."""
    need_capture_tools()
    (port,) = free_ports(1)
    pcap = tmp_path / "burst.pcap"
    args = live_cmd(
        "--backend", backend, "-i", "lo", "-w", str(pcap), "-f", "ndjson", "--method", "MESSAGE"
    )
    with running([*args, f"udp port {port}"], b"capturing on", stdout=subprocess.PIPE) as live:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for k in range(3000):
                method = "MESSAGE" if k % 3 == 0 else "OPTIONS"
                s.sendto(sip_datagram(f"burst-{k}", method=method), ("127.0.0.1", port))
        live.send_signal(signal.SIGINT)
        out, err = live.communicate(timeout=60)
    assert live.returncode == 0, err
    lines = [json.loads(line) for line in out.decode().splitlines()]
    assert [m["call_id"] for m in lines] == [f"burst-{k}" for k in range(0, 3000, 3)]
    assert [m["dialog"] for m in lines] == list(range(1, 3001, 3))
    assert b"3000 SIP messages, 3000 dialogs" in err
    assert len(read_doc(pcap)["messages"]) == 3000


@pytest.mark.tools
@BACKENDS
def test_a_selection_that_matches_nothing_says_so(backend: str) -> None:
    """As read does: the capture had dialogs, none was chosen, and stderr says so."""
    need_capture_tools()
    (port,) = free_ports(1)
    args = live_cmd("--backend", backend, "-i", "lo", "--call-id", "no-such-call")
    with running([*args, f"udp port {port}"], b"capturing on", stdout=subprocess.PIPE) as live:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for k in range(5):
                s.sendto(sip_datagram(f"quiet-{k}"), ("127.0.0.1", port))
        time.sleep(0.5)
        live.send_signal(signal.SIGINT)
        out, err = live.communicate(timeout=60)
    assert live.returncode == 0, err
    assert b"sipsniff: 0 of 5 dialogs match\n" in err, err
    assert b"quiet-" not in out


@pytest.mark.tools
@BACKENDS
def test_rotate_starts_new_files_past_the_size(tmp_path: Path, backend: str) -> None:
    need_capture_tools()
    (port,) = free_ports(1)
    pcap = tmp_path / "r.pcap"
    args = live_cmd(
        "--backend",
        backend,
        "-i",
        "lo",
        "-w",
        str(pcap),
        "--rotate",
        "4K",
        "-f",
        "json",
        "-o",
        "/dev/null",
    )
    with running([*args, f"udp port {port}"], b"capturing on", stdout=subprocess.DEVNULL) as live:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for k in range(40):
                s.sendto(sip_datagram(f"r{k}", method="OPTIONS"), ("127.0.0.1", port))
        err = stop(live)
    assert live.returncode == 0, err
    files = sorted(tmp_path.glob("r.pcap*"), key=lambda p: (len(p.name), p.name))
    assert len(files) >= 3
    assert [p.name for p in files] == ["r.pcap"] + [f"r.pcap.{n}" for n in range(1, len(files))]
    assert all(p.stat().st_size <= 4096 for p in files)
    call_ids = [m["call_id"] for p in files for m in read_doc(p)["messages"]]
    assert call_ids == [f"r{k}" for k in range(40)]


# -- errors ------------------------------------------------------------------------------------


@BACKENDS
def test_without_cap_net_raw_one_line_says_how_to_grant_it(backend: str) -> None:
    if os.geteuid() != 0 or shutil.which("capsh") is None:
        pytest.skip("dropping CAP_NET_RAW needs root and capsh (libcap2-bin)")
    cmd = " ".join(live_cmd("--backend", backend, "-i", "lo", "--duration", "1"))
    p = subprocess.run(
        ["capsh", "--drop=cap_net_raw", "--", "-c", f"exec {cmd}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=60,
    )
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 3, p.stderr
    assert len(lines) == 1, lines
    assert lines[0].startswith("sipsniff: error: no permission to capture on lo")
    assert "CAP_NET_RAW" in lines[0]
    assert f"setcap cap_net_raw,cap_net_admin=eip {os.path.realpath(sys.executable)}" in lines[0]


def test_an_unknown_interface_lists_the_real_ones() -> None:
    r = CliRunner().invoke(cli, ["live", "-i", "nosuch0", "--duration", "1"])
    assert r.exit_code == 2
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("sipsniff: error: no interface 'nosuch0': the interfaces are ")
    names = line.split("the interfaces are ")[1].split(", ")
    assert {"lo", "any"} <= set(names)
    assert set(names) - {"any"} == {i.name for i in interfaces()}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-i", "lo", "udp port"], "bad capture filter 'udp port': can't parse filter"),
        (["-i", "lo", "--rotate", "1M"], "--rotate needs --write-pcap"),
        (["-i", "lo", "-w", "/tmp/x.pcap", "--rotate", "lots"], "not a size: 'lots'"),
        (["-i", "lo", "--table"], "--table shows a call list in a terminal"),
        (["-i", "lo", "--grep", "("], "--grep: not a valid regular expression"),
        (["-i", "lo", "-o", "/tmp/same.pcap", "-w", "/tmp/same.pcap"], "is the file of -o"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args: list[str], message: str) -> None:
    r = CliRunner().invoke(cli, ["live", *args, "--duration", "1"])
    assert r.exit_code == 2, r.output
    (line,) = r.stderr.strip().splitlines()
    assert message in line


def test_an_output_that_cannot_be_made_exits_5_before_capturing() -> None:
    r = CliRunner().invoke(cli, ["live", "-f", "json", "-o", "/nonexistent/x.json"])
    assert r.exit_code == ExitStatus.OUTPUT_FAILED
    assert r.stderr == "sipsniff: error: cannot write /nonexistent/x.json: no such directory\n"


def test_count_and_duration_must_be_positive() -> None:
    for args in (["--count", "0"], ["--duration", "-1"], ["--max-dialogs", "0"]):
        r = CliRunner().invoke(cli, ["live", "-i", "lo", *args])
        assert r.exit_code == 2
        assert "must be greater than 0" in r.stderr


@BACKENDS
def test_list_interfaces_needs_no_privilege(backend: str) -> None:
    r = CliRunner().invoke(cli, ["live", "--backend", backend, "-D"])
    assert r.exit_code == 0
    rows = [line.split() for line in r.stdout.splitlines() if not line.startswith("     ")]
    names = [row[1] for row in rows]
    if backend == "ring":
        assert names == [i.name for i in interfaces()] + ["any"]
    else:
        assert {"lo", "any"} <= set(names)
        assert [int(row[0]) for row in rows] == list(range(1, len(rows) + 1))
    (lo,) = (line for line in r.stdout.splitlines() if line.split()[1] == "lo")
    assert "loopback, up, running" in lo and lo.endswith("127.0.0.1, ::1")


def test_interfaces_are_named_by_any_alias_or_number() -> None:
    """What a Windows user sees (Npcap's devices with their adapters' names) and types."""
    from sipsniff.capture.base import resolve

    ethernet = Device(1, "Ethernet", r"\Device\NPF_{0F4A}", "Intel(R) Ethernet I219-V")
    loop = Device(
        2,
        "Adapter for loopback traffic capture",
        r"\Device\NPF_Loopback",
        "Adapter for loopback traffic capture",
        loopback=True,
    )
    found = [ethernet, loop]
    for name in ("Ethernet", "ethernet", r"\Device\NPF_{0F4A}", "Intel(R) Ethernet I219-V", "1"):
        assert resolve([name], found) == [ethernet], name
    for name in ("Adapter for loopback traffic capture", r"\Device\NPF_Loopback", "2"):
        assert resolve([name], found) == [loop], name
    assert resolve(["Ethernet", "1", "2"], found) == [ethernet, loop]


# -- parts -------------------------------------------------------------------------------------


def test_default_interface_is_the_first_up_non_loopback_else_the_loopback() -> None:
    from sipsniff.capture.live import Interface

    lo = Interface("lo", 1, 772, 0x9, "unknown")
    assert lo.running and lo.loopback
    lo_ = Device(1, "lo", "lo", loopback=True)
    down = Device(2, "eth9", "eth9", up=False, running=False)
    up = Device(3, "eth1", "eth1", running=False)
    running_ = Device(4, "eth2", "eth2")
    anyd = Device(5, "any", "any")
    assert default_device([anyd, lo_, down, up, running_]).name == "eth2"
    assert default_device([lo_, down, up]).name == "eth1"
    assert default_device([anyd, lo_, down]).name == "lo"


def test_filter_prefix_jumps_land_on_the_users_filter_or_a_drop() -> None:
    """Run the prefix on a tiny BPF interpreter: packets of the listed interfaces pass, the
    loopback's outgoing copies do not."""

    def run(prog: list[tuple[int, int, int, int]], ifindex: int, pkttype: int) -> str:
        pc, acc = 0, 0
        while pc < len(prog):
            code, jt, jf, k = prog[pc]
            if code == 0x20:
                acc = {(-0x1000 + 8) & 0xFFFFFFFF: ifindex, (-0x1000 + 4) & 0xFFFFFFFF: pkttype}[k]
            elif code == 0x15:
                pc += jt if acc == k else jf
            elif code == 0x05:
                pc += k
            elif code == 0x06:
                return "drop" if k == 0 else "accept"
            pc += 1
        return "user"

    prog = _prefix([2, 1, 7], [1], bound_loopback=False)
    assert run(prog, 2, 0) == "user"
    assert run(prog, 7, 4) == "user"
    assert run(prog, 1, 0) == "user"
    assert run(prog, 1, 4) == "drop"
    assert run(prog, 3, 0) == "drop"
    anyp = _prefix([], [1, 5], bound_loopback=False)
    assert [run(anyp, i, t) for i, t in [(1, 4), (5, 4), (5, 0), (2, 4)]] == [
        "drop",
        "drop",
        "user",
        "user",
    ]
    lo = _prefix([], [], bound_loopback=True)
    assert run(lo, 1, 4) == "drop" and run(lo, 1, 0) == "user"


def test_pcap_writer_round_trips_and_rotates(tmp_path: Path) -> None:
    _, frames = read_frames([str(CAPTURES / "invite-call.pcap")])
    original = list(frames)
    w = PcapWriter(str(tmp_path / "o.pcap"), LINKTYPE_ETHERNET, rotate=2000)
    for f in original:
        w.write(f)
    w.close()
    assert len(w.paths) > 1
    back: list[Frame] = []
    for path in w.paths:
        _, got = read_frames([path])
        records = list(got)
        assert Path(path).stat().st_size <= 2000 or len(records) == 1
        back += records
    assert [(f.ts_ns, f.data, f.orig_len, f.linktype) for f in back] == [
        (f.ts_ns, f.data, f.orig_len, f.linktype) for f in original
    ]


def _message(call_id: str, ts: int, start: str, cseq: str, src: Endpoint, dst: Endpoint) -> Message:
    text = (
        f"{start}\r\nVia: SIP/2.0/UDP {src}\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: {cseq}\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    msg = parse_message(text, Payload(1, ts, src, dst, "udp", text))
    assert isinstance(msg, Message)
    return msg


def test_line_renderer_cleans_packet_text_and_cuts_to_the_width() -> None:
    a, b = Endpoint("10.0.0.1", 5060), Endpoint("10.0.0.2", 5060)
    msg = _message("c", 0, "SIP/2.0 486 Busy\x1b]0;title\x07 Here", "1 INVITE", b, a)
    entry = Entry(1, msg, 12, 1)
    r = LineRenderer(color=False, utc=True)
    line = r.line(entry, "REJECTED 486")
    assert line == (
        "00:00:00.000000  [12]  10.0.0.2:5060 ──▶ 10.0.0.1:5060  "
        "486 Busy\\x1b]0;title\\x07 Here  REJECTED 486"
    )
    narrow = LineRenderer(color=False, width=50, utc=True).line(entry)
    assert narrow == "00:00:00.000000  [12]  10.0.0.2:5060 ──▶ 10.0.0.1…"
    coloured = LineRenderer(color=True, utc=True).line(entry._replace(retransmission_of=1))
    assert "\x1b[31m486 Busy" in coloured and "\x1b[35mretransmission" in coloured
