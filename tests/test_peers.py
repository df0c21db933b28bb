"""Real peers: sipp calls recorded by tcpdump on loopback, read by sipsniff and by tshark.

Each recording (../shared/sipp/capture.sh) is read by both; sipsniff must find the same messages:
frame, method or status, Call-ID and CSeq. The recordings: 50 calls over one TCP connection at a high
rate (several messages share segments), calls over IPv6, and INVITEs with a ~3400-byte body over UDP
in a network namespace whose loopback has a 1500-byte MTU (so they leave in IP fragments; the
machine's own loopback is not touched). Needs root, sipp, tcpdump and tshark; skipped otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipsniff.analysis.frames import message_frames
from sipsniff.pipeline import read_trace
from tests.conftest import SHARED, need
from tests.tools import tshark_messages

pytestmark = pytest.mark.tools

CAPTURE_SH = SHARED / "sipp" / "capture.sh"
BIG_UAC = Path(__file__).parent / "data" / "uac_big_sdp.xml"


@pytest.fixture
def peers(tmp_path: Path) -> Path:
    """A directory with sipp's built-in uac and uas scenarios; skips without root or tools."""
    if os.geteuid() != 0:
        pytest.skip("recording on loopback with tcpdump needs root")
    for tool in ("sipp", "tcpdump", "tshark"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt-get install sip-tester tcpdump tshark)")
    need(CAPTURE_SH)
    for name in ("uac", "uas"):
        # sipp -sd dumps a built-in scenario (and exits 99, whatever happens)
        text = subprocess.run(
            ["sipp", "-sd", name], capture_output=True, text=True, check=False
        ).stdout
        assert "<scenario" in text, f"sipp -sd {name} printed no scenario"
        (tmp_path / f"{name}.xml").write_text(text)
    return tmp_path


def record(
    out: Path, uac: Path, calls: int, *args: str, env: dict[str, str], netns: str | None = None
) -> None:
    cmd = ["bash", str(CAPTURE_SH), str(out), str(uac.parent / "uas.xml"), str(uac)]
    cmd += [str(calls), *args]
    if netns is not None:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    proc = subprocess.run(
        cmd, env={**os.environ, **env}, capture_output=True, timeout=180, check=False
    )
    assert proc.returncode == 0, f"sipp failed ({proc.returncode}): {proc.stderr[-500:]!r}"
    assert out.exists() and out.stat().st_size > 24


def server_port(path: Path) -> tuple[str, int]:
    """Transport and port of the sipp server: the destination of the first UDP or TCP packet."""
    args = ["tshark", "-n", "-r", str(path), "-Y", "udp || tcp", "-T", "fields"]
    args += ["-e", "udp.dstport", "-e", "tcp.dstport"]
    lines = subprocess.run(args, capture_output=True, text=True, check=True).stdout.splitlines()
    assert lines, f"{path}: no UDP or TCP packet"
    udp, tcp = [*lines[0].split("\t"), "", ""][:2]
    return ("udp", int(udp)) if udp.strip() else ("tcp", int(tcp))


Key = tuple[int, str, str, str]


def both(path: Path) -> tuple[list[Key], list[Key], dict[Key, tuple[int, ...]], dict[Key, int]]:
    """sipsniff's messages and tshark's (sorted); per message, sipsniff's frames and how many
    frames tshark rebuilt it from."""
    transport, port = server_port(path)
    seen = tshark_messages(path, ("-d", f"{transport}.port=={port},sip"))
    theirs = sorted((m.frame, m.label, m.call_id, m.cseq) for m in seen)
    trace = read_trace([str(path)])
    ours: list[Key] = []
    frames: dict[Key, tuple[int, ...]] = {}
    for e in trace.entries.values():
        m = e.msg
        key = (m.frame, m.method or str(m.status), m.call_id, m.cseq)
        ours.append(key)
        frames[key] = tuple(n for _, n in message_frames(m))
    per_frame: dict[Key, int] = {}
    for s in seen:
        per_frame[(s.frame, s.label, s.call_id, s.cseq)] = len(s.frames)
    return sorted(ours), theirs, frames, per_frame


def test_tcp_many_calls_on_one_connection(peers: Path) -> None:
    out = peers / "tcp.pcap"
    # all 50 calls in one burst (50 per 10 ms): sipp's writes queue up and share segments. Whether
    # they do depends on the scheduler; on a loaded machine a run may send one message a segment,
    # so up to three runs are recorded and the first with shared segments is compared.
    for _ in range(3):
        record(out, peers / "uac.xml", 50, "-r", "50", "-rp", "10", env={"T": "t1"})
        ours, theirs, _, _ = both(out)
        assert len(theirs) >= 50 * 6 * 0.9, len(theirs)  # sipp's calls: 6 messages each
        assert ours == theirs
        frames = [k[0] for k in theirs]
        if len(set(frames)) < len(frames):  # the point: segments that carry several messages
            break
    else:
        pytest.fail("in three runs no segment carried two messages: raise the rate")


def test_ipv6(peers: Path) -> None:
    out = peers / "v6.pcap"
    record(out, peers / "uac.xml", 10, env={"HOST": "::1"})
    ours, theirs, _, _ = both(out)
    assert len(theirs) == 60
    assert ours == theirs
    trace = read_trace([str(out)])
    assert {e.msg.src.ip for e in trace.entries.values()} == {"::1"}


@pytest.fixture
def small_mtu() -> Iterator[str]:
    """A network namespace of our own whose loopback has a 1500-byte MTU; deleted afterwards."""
    if shutil.which("ip") is None:
        pytest.skip("iproute2 (ip) is needed for a network namespace")
    name = f"sipsniff-test-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {made.stderr.strip()}")
    try:
        for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "link", "set", "lo", "mtu", "1500"]):
            subprocess.run(["ip", "netns", "exec", name, *cmd], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_udp_invites_in_ip_fragments(peers: Path, small_mtu: str) -> None:
    uac = peers / "uac_big.xml"
    uac.write_bytes(BIG_UAC.read_bytes())
    out = peers / "frag.pcap"
    record(out, uac, 5, env={"T": "u1"}, netns=small_mtu)
    ours, theirs, frames, parts = both(out)
    assert len(theirs) == 30
    assert ours == theirs
    invites = [k for k in theirs if k[1] == "INVITE"]
    assert len(invites) == 5
    for key in invites:
        # every fragment of it, as tshark reassembled it
        assert len(frames[key]) == parts[key] >= 3, (key, frames[key], parts[key])
