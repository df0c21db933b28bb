"""Hostile and broken input, end to end (issue #7): through ``sipsniff read`` and ``read_trace``.

Damaged files must give the exit status of docs/exit-status.md and exactly one line on stderr;
malformed packets must become messages or skipped records, never tracebacks; text from packets must
not reach any output format raw (terminal escapes, bidi overrides, NUL...), and what a terminal shows
of it is bounded. Captures are built here with ``struct``: Ethernet, IPv4, UDP or TCP.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from sipsniff.capture import inputs
from sipsniff.capture.files import read_frames
from sipsniff.cli import cli
from sipsniff.model import Counts, Skipped
from sipsniff.net.decode import Decoder
from sipsniff.pipeline import read_trace
from sipsniff.render.safe import clean
from sipsniff.sip.parser import looks_like_sip
from tests.builders import (
    GOOD,
    T0,
    A,
    B,
    block,
    epb,
    pcap,
    pcapng,
    sip,
    tcp_stream,
    udp_frame,
)
from tests.conftest import CORPUS, need


# -- running the command ---------------------------------------------------------------------------
def run(*args: str) -> Result:
    """``sipsniff ARGS`` in-process; exceptions reach the test (a traceback is a failure)."""
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def json_messages(r: Result) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = json.loads(r.stdout)["messages"]
    return messages


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- 1. damaged files ------------------------------------------------------------------------------
def test_nonexistent_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.pcap"
    r = run("read", str(path))
    assert (r.exit_code, r.stdout, r.stderr) == (3, "", f"sipsniff: error: no such file: {path}\n")


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "secret.pcap", pcap(GOOD))

    def refuse(file: str, mode: str = "r") -> io.BufferedReader:
        raise PermissionError(13, "Permission denied", file)

    monkeypatch.setattr(inputs, "open", refuse, raising=False)
    r = run("read", str(path))
    assert (r.exit_code, r.stdout) == (3, "")
    assert r.stderr == f"sipsniff: error: cannot read {path}: permission denied\n"


def test_directory(tmp_path: Path) -> None:
    r = run("read", str(tmp_path))
    assert (r.exit_code, r.stdout) == (3, "")
    assert r.stderr == f"sipsniff: error: {tmp_path} is a directory, not a capture file\n"


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, "empty.pcap", b"")
    r = run("read", str(path))
    assert (r.exit_code, r.stdout, r.stderr) == (3, "", f"sipsniff: error: {path} is empty\n")


def test_text_file(tmp_path: Path) -> None:
    path = write(tmp_path, "notes.pcap", b"INVITE sip:bob@example.com SIP/2.0\r\nCall-ID: 1\r\n")
    r = run("read", str(path))
    assert (r.exit_code, r.stdout) == (3, "")
    assert r.stderr == f"sipsniff: error: {path} looks like text, not a capture\n"


def test_netmon_file_of_an_unknown_version_named_as_such(tmp_path: Path) -> None:
    data = bytearray(need(CORPUS / "c07-sip-r2.cap").read_bytes())
    data[5] = 3  # major version 3: no such NetMon file format
    path = write(tmp_path, "v3.cap", bytes(data))
    r = run("read", str(path), "--format", "json")
    assert (r.exit_code, r.stdout) == (3, "")
    assert r.stderr == (
        f"sipsniff: error: {path} is a Network Monitor file of version 3.0, which cannot be "
        "read (only 1.x and 2.x can)\n"
    )


def test_truncated_in_the_file_header(tmp_path: Path) -> None:
    path = write(tmp_path, "head.pcap", pcap(GOOD)[:20])
    r = run("read", str(path))
    assert (r.exit_code, r.stdout) == (3, "")
    assert r.stderr == (
        f"sipsniff: error: {path} is too short to be a capture: 20 bytes, and a pcap file "
        "header alone takes 24\n"
    )
    path = write(tmp_path, "head.pcapng", pcapng([])[:16])
    r = run("read", str(path))
    assert (r.exit_code, r.stdout) == (3, "")
    assert r.stderr == (
        f"sipsniff: error: {path} is too short to be a capture: 16 bytes, and a pcapng section "
        "header alone takes 28\n"
    )


def test_truncated_mid_record_keeps_the_messages_before(tmp_path: Path) -> None:
    data = pcap(GOOD)
    path = write(tmp_path, "cut.pcap", data[:-30])
    r = run("read", str(path), "--format", "json")
    assert r.exit_code == 4
    assert [m["call_id"] for m in json_messages(r)] == [
        "call-0",
        "call-0",
        "call-1",
        "call-1",
        "call-2",
    ]
    last = len(data) - 24 - sum(16 + len(f) for f in GOOD[:5])
    assert r.stderr == (
        f"sipsniff: warning: {path}: last record (frame 6) is cut short: {last - 30} of {last} "
        "bytes; 5 frames read before it\n"
    )


def test_truncated_mid_record_in_text_and_list_too(tmp_path: Path) -> None:
    path = write(tmp_path, "cut.pcap", pcap(GOOD)[:-30])
    for args, shown in [
        ([], "5 messages, 3 dialogs"),
        (["--list"], "5 messages, 3 dialogs"),
        (["--format", "csv"], "call-2"),
        (["--format", "ndjson"], "call-2"),
    ]:
        r = run("read", str(path), *args)
        assert r.exit_code == 4, args
        assert r.stderr.count("\n") == 1
        assert r.stderr.startswith(f"sipsniff: warning: {path}: last record (frame 6)")
        assert shown in r.stdout


def test_pcapng_unknown_block_in_the_middle_is_read_past(tmp_path: Path) -> None:
    frames = [epb(f, T0 // 1000 + i * 10_000) for i, f in enumerate(GOOD)]
    odd = block(0x0000_7A7A, b"what is this block?")
    path = write(tmp_path, "odd.pcapng", pcapng([*frames[:3], odd, *frames[3:]]))
    r = run("read", str(path), "--format", "json")
    assert (r.exit_code, r.stderr) == (0, "")
    assert [m["frame"] for m in json_messages(r)] == [1, 2, 3, 4, 5, 6]


def test_absurd_snaplen_is_no_damage(tmp_path: Path) -> None:
    path = write(tmp_path, "snap.pcap", pcap(GOOD, snaplen=0xFFFF_FFFF))
    r = run("read", str(path), "--format", "json")
    assert (r.exit_code, r.stderr) == (0, "")
    assert len(json_messages(r)) == 6


def test_absurd_record_length_stops_there(tmp_path: Path) -> None:
    data = bytearray(pcap(GOOD))
    at = 24 + sum(16 + len(f) for f in GOOD[:4])  # record header of frame 5
    struct.pack_into("<I", data, at + 8, 0xFFFF_FFF0)
    path = write(tmp_path, "absurd.pcap", bytes(data))
    r = run("read", str(path), "--format", "json")
    assert r.exit_code == 4
    assert len(json_messages(r)) == 4
    assert r.stderr == (
        f"sipsniff: warning: {path}: record of frame 5 claims 4294967280 bytes, more than 256 "
        "MiB: the file is damaged there; 4 frames read before it\n"
    )


def test_absurd_original_length_is_no_damage(tmp_path: Path) -> None:
    data = bytearray(pcap(GOOD))
    at = 24 + sum(16 + len(f) for f in GOOD[:1])  # frame 2: says 4 GiB went over the wire
    struct.pack_into("<I", data, at + 12, 0xFFFF_FFFF)
    path = write(tmp_path, "orig.pcap", bytes(data))
    r = run("read", str(path), "--format", "json")
    assert (r.exit_code, r.stderr) == (0, "")
    assert len(json_messages(r)) == 6


def test_zero_length_packets_are_passed_over(tmp_path: Path) -> None:
    frames = [b"", *GOOD[:2], b"", b"", *GOOD[2:]]
    path = write(tmp_path, "zero.pcap", pcap(frames))
    r = run("read", str(path), "--format", "json")
    assert (r.exit_code, r.stderr) == (0, "")
    assert [m["frame"] for m in json_messages(r)] == [2, 3, 6, 7, 8, 9]
    doc = json.loads(r.stdout)
    assert doc["inputs"][0]["frames"] == 9
    assert [s["frame"] for s in doc["skipped"]] == [1, 4, 5]


def test_timestamps_going_backwards_are_kept(tmp_path: Path) -> None:
    times = [T0 + 50_000_000, T0 + 60_000_000, T0, T0 + 10_000_000, T0 + 90_000_000, T0 + 1_000]
    path = write(tmp_path, "back.pcap", pcap(GOOD, times=times))
    r = run("read", str(path), "--format", "json")
    assert (r.exit_code, r.stderr) == (0, "")
    messages = json_messages(r)
    assert [m["frame"] for m in messages] == [1, 2, 3, 4, 5, 6]
    assert [round(m["ts"] * 1e6) for m in messages] == [t // 1000 for t in times]
    assert run("read", str(path)).exit_code == 0


# -- every frame of the malformed corpus samples -------------------------------------------------
MALFORMED = {
    "fuzz-2006-06-26-2594.pcap": 59,
    "sip-junk-before-request.pcap": 1,
    "invalid-content-length.pcap": 2,
    "c07.pcap": 12,  # c07-sip-r2.cap, converted from NetMon by editcap
}
"""The malformed samples, with the UDP datagrams of each that look like SIP."""


def _sip_datagrams(path: Path) -> list[tuple[int, bytes]]:
    """(frame, payload) of every UDP datagram that looks like SIP, as the net stage decodes it."""
    counts = Counts()
    skipped: list[Skipped] = []
    decoder = Decoder(counts, skipped)
    _infos, frames = read_frames([str(path)])
    out = []
    for frame in frames:
        for p in decoder.decode(frame):
            if p.transport == "udp" and looks_like_sip(p.data):
                out.append((p.frame, p.data))
    for p in decoder.flush():
        if p.transport == "udp" and looks_like_sip(p.data):
            out.append((p.frame, p.data))
    return out


def _malformed_samples(tmp_path: Path) -> Iterator[Path]:
    for name in list(MALFORMED)[:-1]:
        yield need(CORPUS / name)
    editcap = shutil.which("editcap")
    if editcap is None:
        pytest.skip("editcap is not installed (apt-get install tshark)")
    converted = tmp_path / "c07.pcap"
    subprocess.run(
        [editcap, "-F", "pcap", str(need(CORPUS / "c07-sip-r2.cap")), str(converted)], check=True
    )
    yield converted


@pytest.mark.tools
def test_every_sip_datagram_of_the_malformed_samples_is_a_message_or_skipped(
    tmp_path: Path,
) -> None:
    for path in _malformed_samples(tmp_path):
        trace = read_trace([str(path)])
        messages = {(e.msg.frame, e.msg.raw) for e in trace.entries.values()}
        skipped = {s.frame for s in trace.skipped}
        datagrams = _sip_datagrams(path)
        assert len(datagrams) == MALFORMED[path.name]
        for frame, data in datagrams:
            placed = any(f == frame and data.startswith(raw) for f, raw in messages)
            assert placed or frame in skipped, (path.name, frame, data[:80])
        r = run("read", str(path), "--format", "json")
        assert (r.exit_code, r.stderr) == (0, ""), path.name
        assert len(json_messages(r)) == len(trace.entries)
        for args in ([], ["-v"], ["--format", "html"], ["--format", "csv"]):
            assert run("read", str(path), *args).exit_code == 0, (path.name, args)


# -- 2. injection, every output format -------------------------------------------------------------
ESCAPES = (
    "\x1b[2J"  # CSI: erase the screen
    "\x1b]8;;http://x\x07link\x1b]8;;\x07"  # OSC 8 hyperlink, BEL-terminated
    "\x07\x08\x08"  # BEL, backspaces
    "\rspoof"  # carriage return
    "[bold red]x[/]"  # rich markup
    "\u202eevil\u2066"  # bidi overrides
    "\x00"  # NUL
    "\x9b31m"  # C1 CSI
)
"""What a hostile peer puts in its header values."""
REASON = ESCAPES.replace("\r", "")
"""A reason phrase ends at a CR: the escapes a status line can carry."""
RAW = ("\x1b", "\x07", "\x08", "\x00", "\u202e", "\u2066", "\x9b")
"""Characters that must never reach an output raw (CR is checked apart: CSV ends lines with it)."""
LONG = 1_000_000
"""Length of the long header line (a TCP message under the framer's 1 MiB limit)."""
MANY = 10_000
"""Headers of the message with many."""


def hostile_frames() -> list[bytes]:
    """A rejected INVITE over UDP whose headers carry ``ESCAPES``, then over TCP a message with a
    1 MB header line and one with 10,000 headers."""
    evil = [
        f'From: "{ESCAPES}" <sip:alice@example.com>;tag=a1',
        f"Subject: {ESCAPES}",
        f"User-Agent: {ESCAPES}",
        f"X-{ESCAPES[:4]}: header name with an escape",
    ]
    invite = sip("INVITE sip:bob@example.com SIP/2.0", f"evil{ESCAPES}", "1 INVITE", *evil)
    busy = sip(f"SIP/2.0 486 Busy{REASON}", f"evil{ESCAPES}", "1 INVITE", *evil, tag=";tag=b")
    line = "X-Long: " + (ESCAPES + "A" * 1000) * (LONG // 1050)
    long = sip("OPTIONS sip:bob@example.com SIP/2.0", "long", "1 OPTIONS", line)
    headers = [f"X-H{i}: {ESCAPES}" for i in range(MANY)]
    many = sip("MESSAGE sip:bob@example.com SIP/2.0", "many", "1 MESSAGE", *headers)
    return [udp_frame(invite), udp_frame(busy, B, A), *tcp_stream(long + many)]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "hostile.pcap"
    path.write_bytes(pcap(hostile_frames()))
    return path


def test_the_hostile_capture_is_read_whole(hostile: Path) -> None:
    trace = read_trace([str(hostile)])
    assert [e.msg.call_id for e in trace.entries.values()] == [f"evil{ESCAPES}"] * 2 + [
        "long",
        "many",
    ]
    assert trace.entries[2].msg.reason == f"Busy{REASON}"
    assert len(trace.entries[3].msg.raw) > LONG
    assert trace.skipped == []


def _no_raw(text: str, what: str) -> None:
    for char in RAW:
        assert char not in text, (what, repr(char))


@pytest.mark.parametrize(
    "args",
    [[], ["--list"], ["-v"], ["-v", "--dialog", "1"], ["--by-host", "--time", "abs", "--utc"]],
    ids=["ladders", "list", "full", "dialog", "by-host"],
)
def test_text_shows_no_raw_control_and_stays_bounded(hostile: Path, args: list[str]) -> None:
    whole = run("read", str(hostile), *args)  # not a terminal: lines whole, the caps still hold
    assert (whole.exit_code, whole.stderr) == (0, "")
    _no_raw(whole.stdout, "text")
    assert len(whole.stdout) < 200_000
    r = CliRunner().invoke(
        cli, ["read", str(hostile), *args], catch_exceptions=False, env={"COLUMNS": "80"}
    )
    assert (r.exit_code, r.stderr) == (0, "")
    _no_raw(r.stdout, "text")
    assert "\r" not in r.stdout
    if "-v" in args:
        assert "[bold red]x[/]" in r.stdout  # markup is shown as the text it is
        assert "\\x1b[2J" in r.stdout  # the escape shows, as an escape
    lines = r.stdout.splitlines()
    drawn = [line for line in lines if not line.startswith("Call-ID ")]  # never cut: wraps
    assert max(len(line) for line in drawn) <= 80  # COLUMNS=80: laid out for 80 columns
    assert max(len(line) for line in lines) <= len("Call-ID ") + 1000
    assert len(r.stdout) < 200_000  # neither the 1 MB line nor the 10,000 headers are printed whole
    if "--list" not in args:
        assert any(line.endswith("…") or "…" in line for line in lines)


def test_text_long_values_end_with_a_visible_marker(hostile: Path) -> None:
    r = run("read", str(hostile), "-v", "--call-id", "long")
    assert r.exit_code == 0
    long_rows = [line for line in r.stdout.splitlines() if "AAAAAAAAAA" in line]
    assert 0 < len(long_rows) < 100
    assert "…" in r.stdout


@pytest.mark.parametrize("full", [False, True], ids=["brief", "full"])
def test_json_escapes_controls_and_keeps_values_exact(hostile: Path, full: bool) -> None:
    r = run("read", str(hostile), "--format", "json", *(["-v"] if full else []))
    assert (r.exit_code, r.stderr) == (0, "")
    doc = json.loads(r.stdout)
    messages = doc["messages"]
    assert [m["call_id"] for m in messages] == [f"evil{ESCAPES}"] * 2 + ["long", "many"]
    assert messages[1]["reason"] == f"Busy{REASON}"
    assert doc["dialogs"][0]["call_id"] == f"evil{ESCAPES}"
    if full:
        assert f"Subject: {ESCAPES}\r\n" in messages[0]["raw"]
        assert len(messages[2]["raw"]) > LONG
    for char in ("\x1b", "\x07", "\x08", "\x00", "\r"):
        assert char not in r.stdout


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_json_escapes_bidi_and_c1_controls(hostile: Path, fmt: str) -> None:
    r = run("read", str(hostile), "--format", fmt, "-v")
    assert r.exit_code == 0
    _no_raw(r.stdout, fmt)


def test_ndjson_escapes_controls_and_keeps_values_exact(hostile: Path) -> None:
    r = run("read", str(hostile), "--format", "ndjson", "-v")
    assert (r.exit_code, r.stderr) == (0, "")
    lines = r.stdout.split("\n")
    assert lines[-1] == ""
    objects = [json.loads(line) for line in lines[:-1]]
    assert [o["call_id"] for o in objects] == [f"evil{ESCAPES}"] * 2 + ["long", "many"]
    assert objects[1]["reason"] == f"Busy{REASON}"
    assert objects[3]["raw"].count(ESCAPES) == MANY
    for char in ("\x1b", "\x07", "\x08", "\x00", "\r"):
        assert char not in r.stdout


def test_csv_keeps_the_call_list_values(hostile: Path) -> None:
    r = run("read", str(hostile), "--format", "csv")
    assert (r.exit_code, r.stderr) == (0, "")
    rows = list(csv.DictReader(io.StringIO(r.stdout, newline="")))
    # shown escaped, as the terminal shows them (JSON is the format that keeps them exact)
    assert [row["call_id"] for row in rows] == [clean(f"evil{ESCAPES}"), "long", "many"]


def test_csv_shows_no_raw_control(hostile: Path) -> None:
    r = run("read", str(hostile), "--format", "csv")
    assert r.exit_code == 0
    _no_raw(r.stdout, "csv")
    assert "\r" not in r.stdout.replace("\r\n", "")


@pytest.mark.parametrize("fmt", ["html", "mermaid", "plantuml"])
def test_documents_show_no_raw_control(hostile: Path, fmt: str) -> None:
    for args in ([], ["-v"]):
        r = run("read", str(hostile), "--format", fmt, *args)
        assert (r.exit_code, r.stderr) == (0, ""), (fmt, args)
        _no_raw(r.stdout, fmt)
        assert "\r" not in r.stdout
        assert "[bold red]x[/]" not in r.stdout or fmt == "html"
        # bounded: the long line and the many headers are cut, not copied whole into the document
        assert len(r.stdout) < 3 * LONG, (fmt, len(r.stdout))


def test_mermaid_and_plantuml_labels_are_bounded(hostile: Path) -> None:
    for fmt in ("mermaid", "plantuml"):
        r = run("read", str(hostile), "--format", fmt)
        assert r.exit_code == 0
        assert max(len(line) for line in r.stdout.splitlines()) < 2000, fmt


def test_stats_of_the_hostile_capture(hostile: Path) -> None:
    r = run("stats", str(hostile))
    assert (r.exit_code, r.stderr) == (0, "")
    _no_raw(r.stdout, "stats")
    assert "\r" not in r.stdout
    r = run("stats", str(hostile), "--format", "json")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["messages"] == 4
