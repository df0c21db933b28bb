"""HEP against real peers on the loopback: sngrep as collector and as agent, tcpdump, tshark.

Oracles: ``read_trace`` on the original capture (what must arrive), sngrep 1.6's own HEP sender,
listener and HEP parser (``-E``), and tshark's HEP dissector where this tshark has one. Each test
runs on free ports of 127.0.0.1 and stops the processes it started by their pid.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sipsniff.capture.files import read_frames
from sipsniff.capture.hep import HepSender
from sipsniff.model import Counts, Payload, Trace
from sipsniff.net.decode import Decoder
from sipsniff.net.hep import unwrap_hep
from sipsniff.pipeline import read_trace
from tests.conftest import CAPTURES

pytestmark = pytest.mark.tools

REGISTER = CAPTURES / "register-407.pcap"
LOSSY = CAPTURES / "calls-lossy.pcap"
COLLECTOR = [sys.executable, "-c", "import sipsniff.cli.hep; from sipsniff.cli import main; main()"]
"""``sipsniff`` with the ``hep`` command registered (until cli/__init__ imports it)."""
SENDER = """
import sys
from sipsniff.capture.hep import HepSender
from sipsniff.pipeline import read_trace
url, agent = sys.argv[1], int(sys.argv[2])
sender = HepSender(url, agent)
for path in sys.argv[3:]:
    for e in read_trace([path]).entries.values():
        sender.send(e.msg)
stats = sender.close()
print(stats.sent, stats.dropped)
"""


def need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (apt-get install {tool})")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, socket.socket() as t:
        for _ in range(50):
            u.bind(("127.0.0.1", 0))
            port = int(u.getsockname()[1])
            try:
                t.bind(("127.0.0.1", port))
                return port
            except OSError:
                u.close()
                u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    raise RuntimeError("no free port")


def wait_udp_bound(port: int, timeout: float = 10.0) -> None:
    """Until something listens on UDP ``port`` of 127.0.0.1 (as /proc/net/udp shows it)."""
    hexport = f":{port:04X} "
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if hexport in Path("/proc/net/udp").read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing bound UDP port {port}")


@contextmanager
def started(cmd: list[str], **kw: object) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)  # type: ignore[call-overload]
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def stop(proc: subprocess.Popen[bytes]) -> tuple[str, str]:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    return out.decode(), err.decode()


def messages(trace: Trace) -> list[tuple[bytes, str, str, str]]:
    return [
        (e.msg.raw, str(e.msg.src), str(e.msg.dst), e.msg.transport) for e in trace.entries.values()
    ]


def dialogs(trace: Trace) -> list[tuple[str, int]]:
    return [(d.call_id, len(d.messages)) for d in trace.dialogs.values()]


def send(url: str, agent: int, *paths: Path) -> None:
    sender = HepSender(url, agent)
    for path in paths:
        for e in read_trace([str(path)]).entries.values():
            sender.send(e.msg)
            time.sleep(0.0005)  # sngrep reads one packet per poll: do not outrun its buffer
    stats = sender.close()
    assert (stats.dropped, stats.errors) == (0, 0), stats


# -- sngrep as the collector of our agent ---------------------------------------------------------


@pytest.mark.parametrize("capture", [REGISTER, LOSSY], ids=["register-407", "calls-lossy"])
def test_sngrep_collects_what_we_send(tmp_path: Path, capture: Path) -> None:
    need("sngrep")
    port = free_port()
    out = tmp_path / "sngrep.pcap"
    cmd = ["sngrep", "-L", f"udp:127.0.0.1:{port}", "-N", "-q", "-O", str(out)]
    with started(cmd, stdin=subprocess.DEVNULL) as proc:
        wait_udp_bound(port)
        send(f"udp:127.0.0.1:{port}", 2001, capture)
        time.sleep(0.5)
        stop(proc)
    want = read_trace([str(capture)])
    got = read_trace([str(out)])
    assert messages(got) == messages(want)
    assert [e.msg.ts_ns // 1000 for e in got.entries.values()] == [
        e.msg.ts_ns // 1000 for e in want.entries.values()
    ]
    assert dialogs(got) == dialogs(want)


# -- sngrep as an agent of our collector ----------------------------------------------------------


def collect(port: int, count: int, *extra: str) -> subprocess.Popen[bytes]:
    cmd = [*COLLECTOR, "hep", "--listen", f"udp:127.0.0.1:{port}", "--listen"]
    cmd += [f"tcp:127.0.0.1:{port}", "-f", "ndjson", "--count", str(count), "--duration", "30"]
    return subprocess.Popen([*cmd, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_listening(proc: subprocess.Popen[bytes], port: int) -> None:
    wait_udp_bound(port)


def test_sngrep_agent_to_sipsniff_hep(tmp_path: Path) -> None:
    need("sngrep")
    port = free_port()
    want = read_trace([str(LOSSY)])
    pcap = tmp_path / "collected.pcap"
    proc = collect(port, len(want.entries), "-w", str(pcap))
    try:
        wait_listening(proc, port)
        subprocess.run(
            ["sngrep", "-I", str(LOSSY), "-H", f"udp:127.0.0.1:{port}", "-N", "-q"],
            check=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
            capture_output=True,
        )
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in out.decode().splitlines()]
    assert [(d["call_id"], d["src"], d["dst"], d["cseq"]) for d in lines] == [
        (e.msg.call_id, str(e.msg.src), str(e.msg.dst), e.msg.cseq) for e in want.entries.values()
    ]
    # sngrep 1.6 writes its capture id (2002 by default) with htons() into the 32-bit chunk, so a
    # HEPv3 collector reading it as the spec says (heplify-server too) sees 2002 << 16.
    assert {d["agent"] for d in lines} == {2002 << 16}
    got = read_trace([str(pcap)])
    assert dialogs(got) == dialogs(want)
    assert messages(got) == messages(want)


# -- several agents at once -----------------------------------------------------------------------


def test_two_agents_into_one_collector() -> None:
    port = free_port()
    reg = read_trace([str(REGISTER)])
    lossy = read_trace([str(LOSSY)])
    total = len(reg.entries) + len(lossy.entries)
    proc = collect(port, total)
    try:
        wait_listening(proc, port)
        senders = [
            subprocess.Popen(
                [sys.executable, "-c", SENDER, f"udp:127.0.0.1:{port}", "11", str(REGISTER)],
                stdout=subprocess.PIPE,
            ),
            subprocess.Popen(
                [sys.executable, "-c", SENDER, f"tcp:127.0.0.1:{port}", "22", str(LOSSY)],
                stdout=subprocess.PIPE,
            ),
        ]
        results = [s.communicate(timeout=30)[0].decode().split() for s in senders]
        assert results == [[str(len(reg.entries)), "0"], [str(len(lossy.entries)), "0"]]
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in out.decode().splitlines()]
    by_agent: dict[int, list[tuple[str, str]]] = {}
    for d in lines:
        by_agent.setdefault(d["agent"], []).append((d["call_id"], d["cseq"]))
    assert by_agent == {
        11: [(e.msg.call_id, e.msg.cseq) for e in reg.entries.values()],
        22: [(e.msg.call_id, e.msg.cseq) for e in lossy.entries.values()],
    }
    assert "(agent 11: 4, agent 22: 33)" in err.decode()


# -- our packets on the wire, decoded by others ---------------------------------------------------


@contextmanager
def tcpdump(path: Path, port: int) -> Iterator[None]:
    need("tcpdump")
    if os.geteuid() != 0:
        pytest.skip("tcpdump on lo needs root (CAP_NET_RAW)")
    proc = subprocess.Popen(
        # -Z root: pytest's temporary folders are not writable by the user tcpdump switches to.
        [
            "tcpdump",
            "-Z",
            "root",
            "--immediate-mode",
            "-i",
            "lo",
            "-U",
            "-w",
            str(path),
            "udp",
            "port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    proc.stderr.readline()  # "listening on lo": the filter is attached
    try:
        yield
        time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert b"\n0 packets dropped by kernel" in err, err


def record_our_hep(tmp_path: Path) -> tuple[Path, int]:
    port = free_port()
    path = tmp_path / "hep.pcap"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", port))  # something listens: no ICMP errors in the capture
        with tcpdump(path, port):
            send(f"udp:127.0.0.1:{port}", 4242, LOSSY)
    return path, port


def test_unwrap_hep_on_a_real_capture_of_our_agent(tmp_path: Path) -> None:
    """What decode.py will do: the UDP payloads of a capture of HEP, unwrapped, are the messages."""
    path, _ = record_our_hep(tmp_path)
    _, frames = read_frames([str(path)])
    decoder = Decoder(Counts(), [])
    inner: list[Payload] = []
    for frame in frames:
        for p in decoder.decode(frame):
            got = unwrap_hep(p.data, p)
            assert isinstance(got, Payload)
            inner.append(got)
    want = read_trace([str(LOSSY)])
    assert [(p.data, p.src, p.dst, p.transport, p.ts_ns // 1000) for p in inner] == [
        (e.msg.raw, e.msg.src, e.msg.dst, "udp", e.msg.ts_ns // 1000) for e in want.entries.values()
    ]


def test_sngrep_parses_our_hep_in_a_capture(tmp_path: Path) -> None:
    """sngrep -E (its own HEP parser) finds the original messages in a capture of our packets."""
    need("sngrep")
    path, _ = record_our_hep(tmp_path)
    out = tmp_path / "decoded.pcap"
    subprocess.run(
        ["sngrep", "-I", str(path), "-E", "-N", "-q", "-O", str(out)],
        check=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    got = messages(read_trace([str(out)]))
    # sngrep 1.6 writes each message it unwrapped twice with -I -E -O: keep one of each.
    unique = [m for i, m in enumerate(got) if i == 0 or got[i - 1] != m]
    assert unique == messages(read_trace([str(LOSSY)]))
