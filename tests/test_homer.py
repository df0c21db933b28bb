"""sipsniff with HOMER's capture node, both ways, over UDP and TCP (docs/hep.md, "Scale out").

As an agent: ``read --hep`` and ``live --hep`` into Kamailio 5.6's ``sipcapture`` storing into
PostgreSQL, and every message arrives as one row of ``sip_capture`` with its Call-ID, method or
status, CSeq, addresses, ports, microsecond time and exact bytes, and the agent id in ``node``.
As a collector: Kamailio as a proxy mirroring its traffic with ``siptrace`` (HEPv3) into
``sipsniff hep --listen``, where every message tcpdump saw the proxy receive or send arrives.

The cluster and the two capture nodes (one for HEP over UDP, one over TCP) start once for the
module (tests/homer.py); each test has agent ids of its own, so its rows are its own.
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import NamedTuple

import pytest

from sipsniff.model import Message
from sipsniff.pipeline import read_trace
from sipsniff.sip.headers import header_value
from tests.conftest import CAPTURES, ROOT
from tests.homer import PROXY_CFG, Kamailio, Postgres, Row, capture_node, free_port, need_homer
from tests.tools import SIPP_DIR, live_cmd, need_capture_tools, running, stop

pytestmark = pytest.mark.tools

SIPSNIFF = [sys.executable, "-m", "sipsniff"]
PROTO = {"udp": 1, "tcp": 2}
"""Kamailio's numbers for the transport a message was seen on."""
_AGENTS = itertools.count(3001)


class Homer(NamedTuple):
    db: Postgres
    urls: dict[str, str]
    """HEP URL of the capture node, by transport."""
    names: dict[str, str]
    """``capture_node`` of each node, by transport."""


@pytest.fixture(scope="module")
def homer() -> Iterator[Homer]:
    need_homer()
    with ExitStack() as stack:
        db = Postgres()
        stack.callback(db.stop)
        urls, names = {}, {}
        for transport, name in (("udp", "homer01"), ("tcp", "homer02")):
            node, url = capture_node(db, transport, name)
            stack.callback(node.stop)
            urls[transport], names[transport] = url, name
        yield Homer(db, urls, names)


def expected(msgs: list[Message]) -> list[Row]:
    """The rows a capture node stores for ``msgs`` (without the node)."""
    return [
        Row(
            m.call_id,
            m.method if m.method is not None else str(m.status),
            m.reason or "",
            header_value(m.raw, "CSeq") or "",  # the header's text: "1  ACK" stays so
            m.src.ip,
            m.src.port,
            m.dst.ip,
            m.dst.port,
            m.ts_ns // 1000,
            PROTO[m.transport],
            "",
            m.raw,
        )
        for m in msgs
    ]


def without_node(rows: list[Row]) -> list[Row]:
    return [r._replace(node="") for r in rows]


def send_files(url: str, agent: int, paths: list[Path]) -> str:
    """``sipsniff read PATHS --hep URL``: its stderr."""
    args = [*SIPSNIFF, "read", *map(str, paths), "-f", "json", "-o", "/dev/null"]
    proc = subprocess.run(
        [*args, "--hep", url, "--hep-id", str(agent)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


# -- sipsniff as the agent ------------------------------------------------------------------------


def test_read_hep_over_udp_arrives_row_for_row(homer: Homer) -> None:
    paths = sorted(CAPTURES.glob("*.pcap"))
    msgs = [e.msg for e in read_trace(list(map(str, paths))).entries.values()]
    agent = next(_AGENTS)
    err = send_files(homer.urls["udp"], agent, paths)
    assert f"hep: {len(msgs)} HEP packets sent (UDP: not confirmed), 0 dropped" in err
    rows = homer.db.wait_rows(f"homer01:{agent}", len(msgs))
    assert without_node(rows) == expected(msgs)
    assert {r.node for r in rows} == {f"homer01:{agent}"}  # the agent id, as HOMER shows it


def test_read_hep_over_tcp_stores_all_of_captures(homer: Homer) -> None:
    """Every message of captures/ and captures/scenarios/ (real peers: Kamailio, baresip,
    linphone, sipp, SIPVicious) is valid enough for the capture node: it stores each once."""
    paths = sorted(CAPTURES.glob("*.pcap")) + sorted(CAPTURES.glob("scenarios/*.pcap"))
    msgs = [e.msg for e in read_trace(list(map(str, paths))).entries.values()]
    assert len(msgs) > 1000
    agent = next(_AGENTS)
    err = send_files(homer.urls["tcp"], agent, paths)
    line = next(ln for ln in err.splitlines() if ln.startswith("sipsniff: hep:"))
    written = int(line.split(" of ")[1].split()[0].replace(",", ""))
    assert f"{len(msgs)} HEP packets sent, {written:,} of {written:,} bytes acknowledged" in line
    rows = homer.db.wait_rows(f"homer02:{agent}", len(msgs), timeout=60)
    assert len(rows) == len(msgs)
    assert without_node(rows) == expected(msgs)


# -- live --hep -----------------------------------------------------------------------------------


def sipp(args: list[str], cwd: Path, *, server: bool = False) -> subprocess.Popen[bytes]:
    base = ["sipp", *args, "-i", "127.0.0.1", "-nostdin"]
    return subprocess.Popen(
        base + (["-nd"] if server else []),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=cwd,
    )


def run_client(args: list[str], cwd: Path) -> None:
    client = sipp([*args, "-timeout", "30s"], cwd)
    assert client.wait(60) == 0, args


REGISTRAR = ["-sf", str(CAPTURES / "sipp" / "reg_uas_407.xml"), "-inf", str(SIPP_DIR / "users.csv")]
REGISTER = ["-sf", str(SIPP_DIR / "reg_uac.xml"), "-inf", str(SIPP_DIR / "users.csv")]
REGISTER += ["-au", "101", "-ap", "101"]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_live_hep_arrives_row_for_row(homer: Homer, transport: str, tmp_path: Path) -> None:
    """sipp registrations and calls on the loopback, captured by ``live --hep``: the rows are
    the messages of the pcap live wrote (tests/test_live.py checks that pcap against tcpdump's)."""
    need_capture_tools()
    reg_s, call_s = free_port(), free_port()
    pcap = tmp_path / "live.pcap"
    agent = next(_AGENTS)
    args = live_cmd("-i", "lo", "-w", str(pcap), "-f", "json", "-o", str(tmp_path / "doc.json"))
    args += ["--hep", homer.urls[transport], "--hep-id", str(agent)]
    args += ["udp", "port", str(reg_s), "or", "udp", "port", str(call_s)]
    servers: list[subprocess.Popen[bytes]] = []
    try:
        with running(args, b"capturing on lo", stdout=subprocess.DEVNULL) as live:
            servers.append(sipp([*REGISTRAR, "-p", str(reg_s)], tmp_path, server=True))
            servers.append(sipp(["-sn", "uas", "-p", str(call_s)], tmp_path, server=True))
            time.sleep(0.3)
            run_client([f"127.0.0.1:{reg_s}", *REGISTER, "-m", "2"], tmp_path)
            run_client([f"127.0.0.1:{call_s}", "-sn", "uac", "-m", "3", "-r", "20"], tmp_path)
            time.sleep(0.3)
            err = stop(live)
            assert live.returncode == 0, err
    finally:
        for server in servers:
            server.terminate()
            server.wait(10)
    msgs = [e.msg for e in read_trace([str(pcap)]).entries.values()]
    assert len([m for m in msgs if m.method in ("REGISTER", "INVITE")]) >= 2 * 2 + 3
    sent = "(UDP: not confirmed)" if transport == "udp" else "bytes acknowledged by the collector"
    assert f"hep: {len(msgs)} HEP packets sent" in err and sent in err
    name = homer.names[transport]
    rows = homer.db.wait_rows(f"{name}:{agent}", len(msgs))
    assert without_node(rows) == expected(msgs)


# -- sipsniff as the collector of Kamailio's siptrace -----------------------------------------------


def collected(lines: str) -> list[tuple[str, str, str, str, str | int]]:
    out = []
    for line in lines.splitlines():
        d = json.loads(line)
        out.append((d["src"], d["dst"], d["call_id"], d["cseq"], d["method"] or d["status"]))
    return out


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_siptrace_proxy_into_hep_listen(transport: str, tmp_path: Path) -> None:
    """sipp calls through Kamailio as a stateful proxy, which mirrors what it receives and sends
    as HEPv3 into ``sipsniff hep --listen``; tcpdump records the same run on the loopback. Every
    SIP message tcpdump saw arrives, with its bytes, addresses and ports, from agent 77."""
    need_homer()
    need_capture_tools()
    proxy, callee, caller, hep = free_port(), free_port(), free_port(), free_port()
    calls = 3
    wire, pcap = tmp_path / "tcpdump.pcap", tmp_path / "collected.pcap"
    listen = f"{transport}:127.0.0.1:{hep}"
    collector = [*SIPSNIFF, "hep", "--listen", listen, "-f", "ndjson", "-w", str(pcap)]
    # SIP only: siptrace sends its HEP from the proxy's own socket, to port ``hep``
    bpf = ["(", *[a for p in (proxy, callee, caller) for a in ("or", "udp", "port", str(p))][1:]]
    bpf += [")", "and", "not", "port", str(hep)]
    dump_args = ["tcpdump", "-i", "lo", "-s", "0", "-U", "--immediate-mode", "-w", str(wire)]
    with ExitStack() as stack:
        dump = stack.enter_context(
            running([*dump_args, *bpf], b"listening on", stdout=subprocess.DEVNULL)
        )
        hep_proc = stack.enter_context(
            running(collector, b"listening for HEP", stdout=subprocess.PIPE)
        )
        uri = f'"sip:127.0.0.1:{hep}' + (';transport=tcp"' if transport == "tcp" else '"')
        defines: dict[str, str | None] = {
            "NEXT": f'"sip:127.0.0.1:{callee}"',
            "HEP": uri,
            "AGENT": "77",
        }
        if transport == "tcp":
            defines["WITH_TCP"] = None
            defines["TCP_LISTEN"] = f"tcp:127.0.0.1:{free_port()}"
        node = Kamailio(PROXY_CFG, ("udp", proxy), **defines)
        stack.callback(node.stop)
        uas = sipp(["-sn", "uas", "-p", str(callee)], tmp_path, server=True)
        stack.callback(uas.wait, 10)
        stack.callback(uas.terminate)
        time.sleep(0.3)
        run_client(
            [f"127.0.0.1:{proxy}", "-sn", "uac", "-p", str(caller), "-m", str(calls)], tmp_path
        )
        time.sleep(0.5)
        stop(dump)
        node.stop()
        hep_proc.send_signal(signal.SIGTERM)
        out, errb = hep_proc.communicate(timeout=30)
        err_text = errb.decode()
        assert hep_proc.returncode == 0, err_text
    on_wire = [e.msg for e in read_trace([str(wire)]).entries.values()]
    # caller -> proxy -> callee and back: INVITE, 100 (the proxy's), 180, 200, ACK, BYE, 200,
    # each seen arriving at and leaving the proxy (the 100 only leaving it).
    assert len(on_wire) == calls * 13
    want = sorted(
        (str(m.src), str(m.dst), m.call_id, m.cseq, m.method or m.status) for m in on_wire
    )
    assert sorted(collected(out.decode())) == want
    lines = [json.loads(line) for line in out.decode().splitlines()]
    assert {d["agent"] for d in lines} == {77}
    assert f"{calls * 13} SIP messages" in err_text and "(agent 77: " in err_text
    # the bytes too: the pcap the collector wrote holds each message as it was on the wire
    mirrored = [e.msg for e in read_trace([str(pcap)]).entries.values()]
    assert sorted((m.raw, str(m.src), str(m.dst)) for m in mirrored) == sorted(
        (m.raw, str(m.src), str(m.dst)) for m in on_wire
    )
