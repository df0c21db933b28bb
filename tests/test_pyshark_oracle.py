"""Wireshark's own SIP dissector, through pyshark, as a live oracle: traffic recorded at test time.

sipp registers (407 challenge) and places calls over UDP and over one TCP connection on the
loopback while tcpdump records; pyshark (tshark's dissection, PDML) and sipsniff then read that
fresh capture, and must agree message for message: the frame that carries (or completes) it,
method or status, Call-ID, CSeq, source and destination. Unlike tests/test_oracle.py, whose
oracle files were made once, this runs on whatever the sipp and kernel of the day produce.

pyshark is for this kind of use: a few dozen messages, dissected whole. For bulk it is the slowest
way to ask tshark (branch-scenario-sipp.pcapng, 8,989 messages: pyshark 89 s, tshark PDML parsed
with ElementTree as tests/tools.tshark_messages does 39 s, ``tshark -T fields`` 1.9 s), and it has
no ``-z follow`` taps, which the TLS key-log path (capture/tls_keys.py) needs for in-order
decrypted streams: those stay direct tshark calls.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from sipsniff.pipeline import read_trace
from tests.conftest import CAPTURES
from tests.tools import SIPP_DIR, free_ports, need_capture_tools, running, stop

pytestmark = pytest.mark.tools

pyshark = pytest.importorskip("pyshark")

Seen = tuple[int, str, str, str, str, str]
"""frame, method or status, Call-ID, CSeq, source, destination."""


def _endpoint(ip: str, port: str) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def pyshark_messages(path: Path) -> list[Seen]:
    """Every SIP message as Wireshark dissects it (several per frame when TCP carries several)."""
    # A loop of its own: pyshark asks asyncio for "the current loop", which a test that ran
    # asyncio.run before (the browser's) has set to none.
    loop = asyncio.new_event_loop()
    cap = pyshark.FileCapture(str(path), display_filter="sip", keep_packets=False, eventloop=loop)
    seen: list[Seen] = []
    try:
        for packet in cap:
            ip = packet.ip if hasattr(packet, "ip") else packet.ipv6
            transport: Any = packet.tcp if hasattr(packet, "tcp") else packet.udp
            src = _endpoint(ip.src, transport.srcport)
            dst = _endpoint(ip.dst, transport.dstport)
            for sip in packet.get_multiple_layers("sip"):
                label = sip.get_field_value("Method") or sip.get_field_value("Status-Code")
                cseq = " ".join(str(sip.get_field_value("CSeq")).split())
                seen.append(
                    (int(packet.number), label, sip.get_field_value("Call-ID"), cseq, src, dst)
                )
    finally:
        cap.close()
        loop.close()
    return seen


def sipsniff_messages(path: Path) -> list[Seen]:
    out: list[Seen] = []
    for e in read_trace([str(path)]).entries.values():
        m = e.msg
        label = m.method if m.method is not None else str(m.status)
        out.append((m.frame, label, m.call_id, m.cseq, str(m.src), str(m.dst)))
    return out


def sipp(args: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["sipp", *args, "-i", "127.0.0.1", "-nostdin"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=cwd,
    )


def test_sipsniff_agrees_with_wiresharks_dissector_on_fresh_traffic(tmp_path: Path) -> None:
    need_capture_tools()
    reg, udp, tcp = free_ports(3)
    pcap = tmp_path / "fresh.pcap"
    bpf = f"udp port {reg} or udp port {udp} or tcp port {tcp}".split()
    users = ["-inf", str(SIPP_DIR / "users.csv")]
    auth = ["-au", "101", "-ap", "101"]
    dump = ["tcpdump", "-i", "lo", "-s", "0", "-U", "--immediate-mode", "-w", str(pcap), *bpf]
    servers = []
    with running(dump, b"listening on", stdout=subprocess.DEVNULL) as tcpdump:
        try:
            registrar = ["-sf", str(CAPTURES / "sipp" / "reg_uas_407.xml"), *users]
            servers.append(sipp([*registrar, "-p", str(reg), "-nd"], tmp_path))
            servers.append(sipp(["-sn", "uas", "-p", str(udp), "-nd"], tmp_path))
            servers.append(sipp(["-sn", "uas", "-t", "t1", "-p", str(tcp), "-nd"], tmp_path))
            time.sleep(0.3)
            clients = [
                [
                    f"127.0.0.1:{reg}",
                    "-sf",
                    str(SIPP_DIR / "reg_uac.xml"),
                    *users,
                    *auth,
                    "-m",
                    "2",
                ],
                [f"127.0.0.1:{udp}", "-sn", "uac", "-m", "3", "-r", "20"],
                [f"127.0.0.1:{tcp}", "-sn", "uac", "-t", "t1", "-m", "3", "-r", "20"],
            ]
            for args in clients:
                assert sipp([*args, "-timeout", "30s"], tmp_path).wait(60) == 0, args
        finally:
            for server in servers:
                server.terminate()
                server.wait(10)
        time.sleep(0.3)
        stop(tcpdump)
    ours = sipsniff_messages(pcap)
    theirs = pyshark_messages(pcap)
    assert len(theirs) >= 2 * 4 + 6 * 6  # and as many retransmissions as a busy machine made
    assert sum(1 for m in theirs if m[5].endswith(f":{tcp}") or m[4].endswith(f":{tcp}")) >= 18
    assert ours == theirs
