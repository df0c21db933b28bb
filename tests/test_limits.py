"""Limits (issue #7): ``--max-message``, ``--max-buffer`` and ``read --max-dialogs``.

Each cap is hit on a capture built here, with a small limit: the command says so in one warning
line per kind of cap, exits 0 (a limit reached is no damage, docs/exit-status.md), and keeps every
message within the limits. The defaults change nothing on the captures of the project.
"""

from __future__ import annotations

import json
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from sipsniff.capture.files import read_frames
from sipsniff.capture.hep import HepListener
from sipsniff.cli import cli
from sipsniff.cli.common import format_size, parse_size, report_limits
from sipsniff.cli.live import live_session
from sipsniff.errors import UsageError
from sipsniff.model import CaptureInfo, Counts, Endpoint, Trace
from sipsniff.net.hep import encode_hep3
from sipsniff.pipeline import Limits, Session
from tests.builders import A, B, options_pair, pcap, sip, tcp_frame, udp_frame
from tests.conftest import CAPTURES
from tests.tools import free_ports, live_cmd, need_capture_tools, running, stop

ETHERNET = bytes.fromhex("001122334455 66778899aabb 0800")


# -- building captures -----------------------------------------------------------------------------
def invite(call_id: str, size: int) -> bytes:
    """An INVITE of exactly ``size`` bytes, most of them body (so its headers end early)."""
    head = sip("INVITE sip:bob@example.com SIP/2.0", call_id, "1 INVITE")
    head = head.replace(b"Content-Length: 0\r\n", b"Content-Type: text/plain\r\nContent-Length: ")
    body_len = size - len(head) - 6  # "NNNN\r\n\r\n" below for the last "\r\n"
    msg = head[:-2] + f"{body_len:04d}\r\n\r\n".encode() + b"b" * body_len
    assert len(msg) == size, len(msg)
    return msg


def options(call_id: str) -> bytes:
    return sip("OPTIONS sip:bob@example.com SIP/2.0", call_id, "1 OPTIONS")


def fragment(datagram: bytes, ident: int, start: int, end: int) -> bytes:
    """An Ethernet frame of one IPv4 fragment: bytes ``start:end`` of a UDP ``datagram`` from A
    to B (IP checksum 0: sipsniff does not check it)."""
    data = datagram[start:end]
    flags = 0x2000 if end < len(datagram) else 0  # MF
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(data),
        ident,
        flags | start // 8,
        64,
        17,
        0,
        bytes(A),
        bytes(B),
    )
    return ETHERNET + header + data


def udp_datagram(payload: bytes) -> bytes:
    return struct.pack("!HHHH", 5060, 5060, 8 + len(payload), 0) + payload


def ws_text(payload: bytes) -> bytes:
    """One unmasked WebSocket text frame (RFC 6455), as a server sends it."""
    n = len(payload)
    if n < 126:
        return bytes([0x81, n]) + payload
    return bytes([0x81, 126]) + n.to_bytes(2, "big") + payload


# -- running the command ---------------------------------------------------------------------------
def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def call_ids(r: Result) -> list[str]:
    return [m["call_id"] for m in json.loads(r.stdout)["messages"]]


def doc(r: Result) -> dict[str, Any]:
    d: dict[str, Any] = json.loads(r.stdout)
    return d


def capture(tmp_path: Path, name: str, frames: list[bytes]) -> str:
    path = tmp_path / name
    path.write_bytes(pcap(frames))
    return str(path)


# -- sizes on the command line ---------------------------------------------------------------------
def test_parse_size() -> None:
    assert parse_size("100M") == 100 << 20
    assert parse_size("2g") == 2 << 30
    assert parse_size("64k") == 64 << 10
    assert parse_size("1.5KB") == 1536
    assert parse_size("4096") == 4096
    for bad in ("", "M", "-1M", "x", "0", "0.1", "nan", "inf", "1e400"):
        with pytest.raises(UsageError):
            parse_size(bad)


def test_format_size_gives_back_what_parse_size_reads() -> None:
    for n, text in [
        (1 << 20, "1M"),
        (256 << 20, "256M"),
        (2048, "2K"),
        (3 << 30, "3G"),
        (1536, "1536"),
        (1, "1"),
    ]:
        assert format_size(n) == text
        assert parse_size(text) == n


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--max-message", "0"], "--max-message: a size must be 1 byte or more, not '0'"),
        (["--max-message", "abc"], "--max-message: not a size: 'abc' (e.g. 500K, 100M, 2G)"),
        (["--max-buffer", "1X"], "--max-buffer: not a size: '1X' (e.g. 500K, 100M, 2G)"),
        (["--max-buffer", "nan"], "--max-buffer: not a size: 'nan' (e.g. 500K, 100M, 2G)"),
    ],
)
def test_bad_sizes_are_usage_errors_in_one_line(args: list[str], line: str) -> None:
    path = str(CAPTURES / "invite-call.pcap")
    for command in (["read", path], ["hep", "--listen", "udp:127.0.0.1:0", "--duration", "1"]):
        r = run(*command, *args)
        assert (r.exit_code, r.stdout, r.stderr) == (2, "", f"sipsniff: error: {line}\n")


def test_max_dialogs_must_not_be_negative() -> None:
    r = run("read", str(CAPTURES / "invite-call.pcap"), "--max-dialogs", "-1")
    assert r.exit_code == 2
    assert r.stderr == (
        "sipsniff: error: invalid value for '--max-dialogs': -1 is not in the range x>=0; "
        "see 'sipsniff read --help'\n"
    )


# -- --max-message ---------------------------------------------------------------------------------
BIG_LINE = (
    "sipsniff: warning: --max-message 2K reached: 1 SIP message over 2048 bytes was dropped (see "
    "the skipped records); raise it to keep such messages\n"
)


def test_max_message_drops_a_big_message_of_a_tcp_stream_and_keeps_the_next(
    tmp_path: Path,
) -> None:
    big, small = invite("big", 3000), options("small")
    # A datagram is not capped: it is whole already (64 KiB at most).
    frames = [tcp_frame(big, 1000), tcp_frame(small, 4000), udp_frame(invite("udp-big", 3000))]
    path = capture(tmp_path, "big.pcap", frames)
    r = run("read", path, "-f", "json", "--max-message", "2k")
    assert (r.exit_code, r.stderr) == (0, BIG_LINE)
    assert call_ids(r) == ["small", "udp-big"]
    assert [(s["frame"], s["reason"]) for s in doc(r)["skipped"]] == [
        (
            1,
            "SIP message of 3000 bytes is over the 2048-byte limit in 10.0.0.1:40000 -> "
            "10.0.0.2:5060 (tcp): dropped",
        )
    ]
    assert doc(r)["counts"]["sip_stream_oversize"] == 1
    r = run("read", path, "-f", "json", "--max-message", "3000")
    assert (r.exit_code, r.stderr, call_ids(r)) == (0, "", ["big", "small", "udp-big"])


def test_max_message_drops_a_big_websocket_message(tmp_path: Path) -> None:
    # A capture that starts after the handshake: text frames holding SIP are enough.
    seq, frames = 1, []
    for payload in (options("ws-1"), invite("ws-big", 3000), options("ws-2")):
        frames.append(tcp_frame(ws_text(payload), seq))
        seq += len(ws_text(payload))
    path = capture(tmp_path, "ws.pcap", frames)
    r = run("read", path, "-f", "json", "--max-message", "2K")
    assert (r.exit_code, r.stderr) == (0, BIG_LINE)
    assert call_ids(r) == ["ws-1", "ws-2"]
    assert [(s["frame"], s["reason"]) for s in doc(r)["skipped"]] == [
        (
            2,
            "WebSocket frame of 3000 bytes over the limit (10.0.0.1:40000 -> 10.0.0.2:5060): dropped",
        )
    ]
    assert run("read", path, "--max-message", "3K", "--list").stderr == ""


def test_the_text_output_warns_too_and_the_status_is_0(tmp_path: Path) -> None:
    path = capture(
        tmp_path, "big.pcap", [tcp_frame(invite("big", 3000), 1), tcp_frame(options("s"), 3001)]
    )
    r = run("read", path, "--max-message", "2K", "--list")
    assert (r.exit_code, r.stderr) == (0, BIG_LINE)
    assert "1 message, 1 dialog, 0 retransmissions, 1 skipped" in r.stdout


# -- --max-buffer ----------------------------------------------------------------------------------
def test_max_buffer_gives_up_a_tcp_gap_early(tmp_path: Path) -> None:
    """Segment X (the start of "two") comes after segment Y (the rest, then "three" and
    "four"): the reassembler holds Y waiting for X, unless Y is over the cap."""
    one, two, three, four, five = (
        options("one"),
        options("two"),
        invite("three", 600),
        invite("four", 600),
        options("five"),
    )
    s = 1000
    x, y = two[:100], two[100:] + three + four
    frames = [
        tcp_frame(one, s),
        tcp_frame(y, s + len(one) + 100),
        tcp_frame(x, s + len(one)),
        tcp_frame(five, s + len(one) + len(two) + len(three) + len(four)),
    ]
    path = capture(tmp_path, "gap.pcap", frames)
    r = run("read", path, "-f", "json")
    assert (r.exit_code, r.stderr) == (0, "")
    assert call_ids(r) == ["one", "two", "three", "four", "five"]
    r = run("read", path, "-f", "json", "--max-buffer", "1K")
    assert (r.exit_code, r.stderr) == (
        0,
        "sipsniff: warning: --max-buffer 1K reached: 1 TCP gap given up without waiting for the "
        "missing bytes; raise it to hold more for reassembly\n",
    )
    assert call_ids(r) == ["one", "three", "four", "five"]
    assert doc(r)["skipped"][0]["reason"] == (
        "TCP gap: 100 bytes missing in 10.0.0.1:40000 -> 10.0.0.2:5060 before frame 2 (total TCP "
        "buffer cap reached)"
    )


def test_max_buffer_drops_the_oldest_incomplete_ip_datagram(tmp_path: Path) -> None:
    a, b, c = (udp_datagram(invite(n, 1000)) for n in ("frag-a", "frag-b", "frag-c"))

    def halves(d: bytes, ident: int) -> tuple[bytes, bytes]:
        return fragment(d, ident, 0, 800), fragment(d, ident, 800, len(d))

    (a1, a2), (b1, b2), (c1, c2) = halves(a, 1), halves(b, 2), halves(c, 3)
    # 800 + 800 bytes held; c1 makes 2400, over 2K: a goes; a2 comes too late.
    frames = [udp_frame(options("before")), a1, b1, c1, b2, c2, a2, udp_frame(options("after"))]
    path = capture(tmp_path, "frag.pcap", frames)
    r = run("read", path, "-f", "json")
    assert (r.exit_code, r.stderr) == (0, "")
    assert call_ids(r) == ["before", "frag-b", "frag-c", "frag-a", "after"]
    r = run("read", path, "-f", "json", "--max-buffer", "2K")
    assert (r.exit_code, r.stderr) == (
        0,
        "sipsniff: warning: --max-buffer 2K reached: 1 incomplete IP datagram dropped; raise it "
        "to hold more for reassembly\n",
    )
    assert call_ids(r) == ["before", "frag-b", "frag-c", "after"]
    assert [(s["frame"], s["reason"]) for s in doc(r)["skipped"]] == [
        (
            2,
            "IPv4 datagram id 0x1 from 10.0.0.1 to 10.0.0.2: 1 fragment, 800 bytes, the last "
            "fragment missing, dropped: the 2048-byte cap on fragment memory was reached",
        ),
        (
            7,
            "IPv4 datagram id 0x1 from 10.0.0.1 to 10.0.0.2: 1 fragment, 208 of 1008 bytes, "
            "incomplete at the end of the capture",
        ),
    ]


def test_max_buffer_cuts_a_message_being_framed_and_the_stream_stays_in_step(
    tmp_path: Path,
) -> None:
    """An INVITE of 1800 bytes in three segments: after two, the framer holds 1200 bytes, over
    1K. It is handed on cut short; the rest of it is skipped by its length, so the OPTIONS after
    it is framed where it starts."""
    big = invite("slow", 1800)
    frames = [tcp_frame(big[i : i + 600], 1000 + i) for i in range(0, 1800, 600)]
    path = capture(tmp_path, "slow.pcap", [*frames, tcp_frame(options("next"), 2800)])
    r = run("read", path, "-f", "json", "--max-buffer", "1K")
    assert (r.exit_code, r.stderr) == (
        0,
        "sipsniff: warning: --max-buffer 1K reached: 1 SIP stream cut off mid-message; raise it "
        "to hold more for reassembly\n",
    )
    messages = doc(r)["messages"]
    assert [(m["method"], m["call_id"], m["size"]) for m in messages] == [
        ("INVITE", "slow", 1200),
        ("OPTIONS", "next", len(options("next"))),
    ]
    assert [s["reason"] for s in doc(r)["skipped"]] == [
        "1200 bytes buffered for 10.0.0.1:40000 -> 10.0.0.2:5060 (tcp) given up: over the buffer cap"
    ]
    r = run("read", path, "-f", "json", "--max-buffer", "2K")
    assert (r.exit_code, r.stderr) == (0, "")
    assert [(m["call_id"], m["size"]) for m in doc(r)["messages"]] == [
        ("slow", 1800),
        ("next", len(options("next"))),
    ]


# -- read --max-dialogs ----------------------------------------------------------------------------
def test_max_dialogs_keeps_the_first_dialogs_and_counts_the_rest(tmp_path: Path) -> None:
    frames = [f for n in range(5) for f in options_pair(n)]
    frames += options_pair(0)  # a late retransmission of dialog 1: kept with its dialog
    path = capture(tmp_path, "five.pcap", frames)
    r = run("read", path, "--max-dialogs", "2", "--list")
    assert r.exit_code == 0
    assert r.stderr == (
        f"sipsniff: warning: --max-dialogs 2 reached at frame 5 (file {path}): 6 later messages "
        "of new dialogs were not kept; raise it (0: no limit), or use `sipsniff stats`, which "
        "reads any size\n"
    )
    assert r.stdout.splitlines()[1:] == [
        "  1  0.000000  OPTIONS  alice@example.com  bob@example.com  "
        "10.0.0.1:5060 → 10.0.0.2:5060     4  OPTIONS 200  110.0 ms",
        "  2  0.020000  OPTIONS  alice@example.com  bob@example.com  "
        "10.0.0.1:5060 → 10.0.0.2:5060     2  OPTIONS 200  10.00 ms",
        "6 messages, 2 dialogs, 2 retransmissions, 0 skipped, 0 keep-alives",
    ]
    r = run("read", path, "--max-dialogs", "2", "-f", "json")
    assert call_ids(r) == ["call-0", "call-0", "call-1", "call-1", "call-0", "call-0"]
    assert doc(r)["counts"]["messages_not_kept"] == 6
    for args in ([], ["--max-dialogs", "0"], ["--max-dialogs", "5"]):
        r = run("read", path, "-f", "json", *args)
        assert (r.exit_code, r.stderr) == (0, "")
        assert len(doc(r)["dialogs"]) == 5


# -- the report ------------------------------------------------------------------------------------
def test_report_limits_says_each_kind_once(capsys: pytest.CaptureFixture[str]) -> None:
    counts = Counts(
        sip_stream_oversize=2,
        ws_oversize=1,
        hep_oversize=1,
        tcp_gaps_at_cap=3,
        fragment_sets_at_cap=1,
        sip_streams_at_cap=2,
        hep_streams_at_cap=1,
        messages_not_kept=1,
        first_not_kept_frame=123,
        first_not_kept_file=1,
    )
    inputs = [CaptureInfo("a.pcap", "pcap"), CaptureInfo("x.pcap", "pcap")]
    report_limits(Trace(counts=counts, inputs=inputs), Limits(1 << 20, 256 << 20, 100_000))
    assert capsys.readouterr().err.splitlines() == [
        "sipsniff: warning: --max-message 1M reached: 4 SIP messages over 1048576 bytes were "
        "dropped (see the skipped records); raise it to keep such messages",
        "sipsniff: warning: --max-buffer 256M reached: 3 TCP gaps given up without waiting for "
        "the missing bytes, 1 incomplete IP datagram dropped, 2 SIP streams cut off mid-message, "
        "1 HEP TCP connection closed mid-packet; raise it to hold more for reassembly",
        "sipsniff: warning: --max-dialogs 100000 reached at frame 123 (file x.pcap): 1 later "
        "message of new dialogs was not kept; raise it (0: no limit), or use `sipsniff stats`, "
        "which reads any size",
    ]
    report_limits(Trace(counts=Counts(frames=9, tcp_gaps=2)), Limits())
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("path", sorted(CAPTURES.glob("*.pcap")), ids=lambda p: p.name)
def test_the_defaults_change_nothing_on_the_captures(path: Path) -> None:
    default = run("read", str(path), "-f", "json", "-v")
    unlimited = run(
        "read",
        str(path),
        "-f",
        "json",
        "-v",
        "--max-message",
        "2G",
        "--max-buffer",
        "2G",
        "--max-dialogs",
        "0",
    )
    assert (default.exit_code, default.stderr) == (0, "")
    assert (unlimited.exit_code, unlimited.stderr) == (0, "")
    assert default.stdout == unlimited.stdout
    assert doc(default)["messages"]


# -- live and the HEP collector --------------------------------------------------------------------
def test_live_session_passes_the_limits_to_its_pipeline(tmp_path: Path) -> None:
    path = capture(
        tmp_path, "big.pcap", [tcp_frame(invite("big", 3000), 1), tcp_frame(options("s"), 3001)]
    )
    _, frames = read_frames([path])
    session = live_session(limits=Limits(max_message=2048, max_dialogs=1))
    shown = [e for f in frames for e in session.feed(f)]
    shown += session.finish()
    assert [e.msg.call_id for e in shown] == ["s"]
    assert session.counts.sip_stream_oversize == 1
    assert session.pipe.limits.max_dialogs == 0  # live keeps its own --max-dialogs


def test_hep_session_drops_a_message_over_max_message() -> None:
    a, b = Endpoint("10.0.0.1", 5060), Endpoint("10.0.0.2", 5060)
    session = Session(limits=Limits(max_message=2048))
    ts = 1_700_000_000_000_000_000
    big = encode_hep3(a, b, invite("big", 3000), ts_ns=ts, agent_id=7)
    assert session.feed_hep(big, ts, None) == []
    kept = session.feed_hep(encode_hep3(a, b, options("small"), ts_ns=ts, agent_id=7), ts, None)
    assert [e.msg.call_id for e in kept] == ["small"]
    assert session.counts.hep_oversize == 1
    assert session.counts.hep_bad == 0
    assert [(s.frame, s.reason) for s in session.skipped] == [
        (
            1,
            "SIP message of 3000 bytes is over the 2048-byte limit in HEP from agent 7 "
            "(10.0.0.1:5060 -> 10.0.0.2:5060): dropped",
        )
    ]


def test_hep_listener_closes_the_connection_holding_most_over_max_buffer() -> None:
    a, b = Endpoint("10.0.0.1", 5060), Endpoint("10.0.0.2", 5060)
    packet = encode_hep3(a, b, invite("hep", 900), ts_ns=1, agent_id=7)
    got: list[Any] = []
    with HepListener(["tcp:127.0.0.1:0"], max_buffer=1000) as listener:
        port = listener.bound[0].port
        with (
            socket.create_connection(("127.0.0.1", port)) as first,
            socket.create_connection(("127.0.0.1", port)) as second,
        ):

            def poll_until(done: Any) -> None:
                end = time.monotonic() + 10
                while not done() and time.monotonic() < end:
                    got.extend(listener.poll(0.05))
                assert done()

            first.sendall(packet[:700])
            poll_until(lambda: listener.held == 700)
            second.sendall(packet[:600])  # 1300 held: the first connection, holding most, goes
            poll_until(lambda: listener.capped == 1)
            assert listener.held == 600
            second.sendall(packet[600:])
            poll_until(lambda: got)
            assert first.recv(10) == b""  # closed by the collector
            assert got == [(packet, second.getsockname(), "tcp")]


@pytest.mark.tools
def test_live_warns_of_a_message_over_max_message() -> None:
    need_capture_tools()
    (port,) = free_ports(1)
    args = live_cmd("-i", "lo", "-f", "ndjson", "--count", "1", "--max-message", "2K")
    with running([*args, f"tcp port {port}"], b"capturing on", stdout=subprocess.PIPE) as live:
        with (
            socket.create_server(("127.0.0.1", port)) as server,
            socket.create_connection(("127.0.0.1", port)) as client,
        ):
            conn, _ = server.accept()
            with conn:
                client.sendall(invite("big", 3000) + options("small"))
                client.shutdown(socket.SHUT_WR)
                while conn.recv(65536):
                    pass
        out, err = live.communicate(timeout=30)
    assert live.returncode == 0, err
    assert [json.loads(line)["call_id"] for line in out.decode().splitlines()] == ["small"]
    assert err.decode().endswith(BIG_LINE)


def test_the_hep_collector_warns_of_a_message_over_max_message() -> None:
    (port,) = free_ports(1)
    args = [sys.executable, "-m", "sipsniff", "hep", "--listen", f"udp:127.0.0.1:{port}"]
    args += ["-f", "ndjson", "--count", "1", "--duration", "30", "--max-message", "2K"]
    a, b = Endpoint("10.0.0.1", 5060), Endpoint("10.0.0.2", 5060)
    with running(args, b"listening for HEP", stdout=subprocess.PIPE) as hep:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for payload in (invite("big", 3000), options("small")):
                s.sendto(encode_hep3(a, b, payload, ts_ns=1, agent_id=7), ("127.0.0.1", port))
        out, err = hep.communicate(timeout=30)
    assert hep.returncode == 0, err
    assert [json.loads(line)["call_id"] for line in out.decode().splitlines()] == ["small"]
    assert err.decode().endswith(BIG_LINE)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_flood_of_garbage_does_not_grow_the_hep_collector(tmp_path: Path) -> None:
    """Whoever can reach the port can send anything: 200,000 garbage datagrams and 64 MiB of
    garbage over TCP cost the collector counters and a thousand examples, not memory (before the
    session bounded what it keeps of skipped input, its RSS grew by 127 MB and 205 MB)."""
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc to read the collector's memory")
    udp, tcp = free_ports(2)
    out = tmp_path / "hep.json"
    args = [sys.executable, "-m", "sipsniff", "hep", "--listen", f"udp:127.0.0.1:{udp}"]
    args += ["--listen", f"tcp:127.0.0.1:{tcp}", "-f", "json", "-o", str(out)]
    with running(args, b"listening for HEP") as hep:
        time.sleep(0.5)
        before = _rss_kib(hep.pid)
        garbage = b"HEP3\x00\x40" + b"\xaa" * 58
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(200_000):
                s.sendto(garbage, ("127.0.0.1", udp))
                if not i % 1000:
                    time.sleep(0.002)  # let the collector keep up: what it counts is what came
        with socket.create_connection(("127.0.0.1", tcp)) as c:
            chunk = b"\x00\xff" * (1 << 19)
            for _ in range(64):
                c.sendall(chunk)
        time.sleep(1.0)
        after = _rss_kib(hep.pid)
        err = stop(hep, signal.SIGINT)
    doc = json.loads(out.read_text())
    counts = doc["counts"]
    # The kernel drops datagrams when the collector falls behind (a loaded machine): what came is
    # still many times what is kept.
    assert counts["hep_bad"] >= 50_000, err
    assert len(doc["skipped"]) == 1000
    assert counts["skipped_not_kept"] == counts["hep_bad"] - 1000
    assert after - before < 20 * 1024, (before, after)
