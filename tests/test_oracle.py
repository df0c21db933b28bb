"""Differential test: sipsniff against tshark, frame by frame, on every capture of the public corpus.

The oracle (../shared/corpus/oracle/NAME.tsv, made by make_oracle.sh) lists for every frame that
carries SIP: frame, time, src, dst, transport, ports, method, status, Call-ID, CSeq. Tunnelled frames
list the outer and inner values joined with '|'; the innermost (last) is the one that counts.

For UDP (this issue's scope) agreement must be complete; every difference is listed in
``TSHARK_WRONG`` with the reason tshark is the one in error. Streams (TCP, WebSocket) are compared
too, where the oracle sees them, with their own table of explained differences.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from sipsniff.pipeline import read_trace
from tests.conftest import CORPUS, ORACLE, need

NOT_A_CAPTURE: set[str] = set()  # every corpus file is read (c07-sip-r2.cap: NetMon 2.x)

# (file, frame) -> why tshark's line is wrong and sipsniff's reading is right.
_ICMP = (
    "ICMP destination unreachable quoting a SIP datagram: tshark dissects the quoted copy as if it"
    " were a message on the wire; it is the error about an earlier frame's message, which sipsniff"
    " reports as a skipped record naming the ICMP error"
)
TSHARK_WRONG: dict[tuple[str, int], str] = {
    ("private-test-sip.pcapng", 2): _ICMP,
    ("private-test-sip.pcapng", 150): _ICMP,
    ("private-test-sip.pcapng", 152): _ICMP,
}
_NUL = (
    "the fuzzer put a NUL byte inside the value; tshark's string ends at the NUL (and it prints the"
    " fuzzed '%s' literally), sipsniff keeps the whole value as sent"
)
_CSEQ = (
    "the fuzzer replaced the CSeq number ('%s' then NUL, or a control byte): tshark shows the broken"
    " text, sipsniff keeps the method and lists 'malformed CSeq' among the message's problems"
)
TSHARK_WRONG |= {
    ("fuzz-2006-06-26-2594.pcap", 155): _CSEQ,
    ("fuzz-2006-06-26-2594.pcap", 182): _NUL,
    ("fuzz-2006-06-26-2594.pcap", 247): _NUL,
    ("fuzz-2006-06-26-2594.pcap", 550): _CSEQ,
}
ICMP_FRAMES = {k for k, why in TSHARK_WRONG.items() if why is _ICMP}

# What sipsniff reads in those fuzzed frames instead: (label, Call-ID, CSeq, a problem noted or "").
FUZZ_READING = {
    155: ("401", "578222729-4665d775@578222732-4665d772", "REGISTER", "malformed CSeq"),
    182: ("200", "578222%s\x00-4665d775@578222732-4665d772", "75 REGISTER", ""),
    247: ("CANCEL", "105090259-446faf7a@192.168.%s\x00", "1 CANCEL", ""),
    550: ("407", "24487391-449bf2a0@192.168.1.2", "INVITE", "malformed CSeq"),
}

# make_oracle.sh takes ip.src over ipv6.src and udp ports over tcp ones, so for IPv6 (over TCP or
# UDP) inside an IPv4 GTP-U tunnel its lines name the outer tunnel endpoints and say "udp". For these
# files the addresses are taken from tshark itself, innermost, when tshark is installed.
INNER_FROM_TSHARK = {"gtp-iphone.pcap"}

Key = tuple[str, str, str, str, str]  # label, call_id, cseq, src, dst


def _captures() -> list[str]:
    if not CORPUS.exists():
        return []
    return sorted(
        p.name
        for p in CORPUS.iterdir()
        if p.suffix not in {".md", ".tsv"} and p.name not in NOT_A_CAPTURE
    )


def _last(value: str) -> str:
    return value.rsplit("|", maxsplit=1)[-1] if value else value


def _endpoint(ip: str, port: str) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def oracle_rows(name: str) -> dict[int, tuple[str, list[Key]]]:
    """frame -> (transport, messages) from tshark's listing."""
    rows: dict[int, tuple[str, list[Key]]] = {}
    with (ORACLE / f"{name}.tsv").open(newline="") as f:
        for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            methods = r["method"].split("|") if r["method"] else []
            statuses = r["status"].split("|") if r["status"] else []
            call_ids = r["call_id"].split("|") if r["call_id"] else []
            cseqs = r["cseq"].split("|") if r["cseq"] else []
            labels = methods + statuses
            src = _endpoint(_last(r["src"]), _last(r["srcport"]))
            dst = _endpoint(_last(r["dst"]), _last(r["dstport"]))
            keys: list[Key] = []
            # tshark's aggregation loses which Call-ID goes with which start line when several
            # messages share a frame; the corpus has none (SOURCES.md), so zip is exact here.
            for i, label in enumerate(labels):
                cid = call_ids[i] if i < len(call_ids) else ""
                cseq = cseqs[i] if i < len(cseqs) else ""
                keys.append((label, cid, " ".join(cseq.split()), src, dst))
            rows[int(r["frame"])] = (r["transport"], keys)
    return rows


def tshark_inner(name: str) -> dict[int, tuple[str, str, str]]:
    """frame -> (transport, src, dst), innermost, straight from tshark."""
    if shutil.which("tshark") is None:
        pytest.skip(f"{name}: the oracle's addresses are the tunnel's; tshark is needed to compare")
    fields = ["frame.number", "ipv6.src", "ipv6.dst", "ip.src", "ip.dst"]
    fields += ["udp.srcport", "udp.dstport", "tcp.srcport", "tcp.dstport"]
    args = ["tshark", "-n", "-r", str(CORPUS / name), "-Y", "sip", "-T", "fields"]
    args += ["-E", "aggregator=|"] + [a for f in fields for a in ("-e", f)]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    inner: dict[int, tuple[str, str, str]] = {}
    for line in out.splitlines():
        f, s6, d6, s4, d4, us, ud, ts, td = (line.split("\t") + [""] * 9)[:9]
        src, dst = (s6, d6) if s6 else (s4, d4)
        transport, sp, dp = ("tcp", ts, td) if ts else ("udp", us, ud)
        inner[int(f)] = (
            transport,
            _endpoint(_last(src), _last(sp)),
            _endpoint(_last(dst), _last(dp)),
        )
    return inner


def _compare(name: str, want: set[str]) -> tuple[list[object], set[int]]:
    """Frames of transports ``want`` where sipsniff and tshark differ; frames with ICMP records."""
    expected = oracle_rows(name)
    if name in INNER_FROM_TSHARK:
        for frame, (transport, src, dst) in tshark_inner(name).items():
            if frame in expected:
                keys = [(k[0], k[1], k[2], src, dst) for k in expected[frame][1]]
                expected[frame] = (transport, keys)
    trace = read_trace([str(CORPUS / name)])
    seen: dict[int, list[Key]] = defaultdict(list)
    for e in trace.entries.values():
        m = e.msg
        label = m.method if m.method is not None else str(m.status)
        seen[m.frame].append((label, m.call_id, m.cseq, str(m.src), str(m.dst)))
    differ: list[object] = []
    for frame, (transport, keys) in sorted(expected.items()):
        if transport not in want or not keys or (name, frame) in TSHARK_WRONG:
            continue
        if sorted(seen.get(frame, [])) != sorted(keys):
            differ.append((frame, keys, seen.get(frame, [])))
    icmp = {s.frame for s in trace.skipped if "ICMP" in s.reason}
    return differ, icmp


@pytest.mark.parametrize("name", _captures())
def test_udp_messages_match_tshark(name: str, oracle: Path) -> None:
    if not (ORACLE / f"{name}.tsv").exists():
        pytest.skip(f"no oracle for {name}")
    differ, icmp = _compare(name, {"udp"})
    assert not differ, f"{len(differ)} UDP frames differ from tshark, first: {differ[:3]}"
    assert {f for n, f in ICMP_FRAMES if n == name} <= icmp


STREAMS = [
    "sip_ipv4_tcp.pcap",
    "sip_ipv4_tcp_retrans.pcap",
    "sip-tcp.pcap",
    "sip-body-large.pcap",
    "sip_ipv4_tcp_fragmented.pcap",
    "ipip.pcap",
    "sip_resp.pcap",
    "sip_tcp_websocket.pcap",
    "gtp-iphone.pcap",
]


@pytest.mark.parametrize("name", STREAMS)
def test_stream_messages_match_tshark(name: str, oracle: Path) -> None:
    """TCP and WebSocket (the oracle says tcp for both): the frame that completes each message."""
    differ, _ = _compare(name, {"tcp"})
    assert not differ, f"{len(differ)} TCP frames differ from tshark, first: {differ[:3]}"


def test_fuzzed_frames_where_tshark_errs(corpus: Path) -> None:
    trace = read_trace([str(need(corpus / "fuzz-2006-06-26-2594.pcap"))])
    got = {e.msg.frame: e.msg for e in trace.entries.values() if e.msg.frame in FUZZ_READING}
    for frame, (label, call_id, cseq, problem) in FUZZ_READING.items():
        m = got[frame]
        assert (m.method or str(m.status), m.call_id, m.cseq) == (label, call_id, cseq)
        assert not problem or any(p.startswith(problem) for p in m.problems), m.problems
