"""``sipsniff hep`` driven through click's runner with an ``Environment`` of the test's own: the
lines it shows on a terminal (colour, width, NO_COLOR), the summary on its stderr, the document at
the end; HEP packets sent to it over the loopback from a thread."""

from __future__ import annotations

import io
import json
import re
import socket
import threading
import time

import pytest

from sipsniff.model import Endpoint
from sipsniff.net.hep import encode_hep3
from tests.builders import fake, options_pair, run
from tests.tools import free_ports

ANSI = re.compile(r"\x1b\[[0-9;]*m")
A, B = Endpoint("10.0.0.1", 5060), Endpoint("10.0.0.2", 5060)


def send_later(port: int, packets: list[bytes]) -> threading.Thread:
    def send() -> None:
        time.sleep(0.5)  # the collector binds first
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for p in packets:
                s.sendto(p, ("127.0.0.1", port))

    t = threading.Thread(target=send, daemon=True)
    t.start()
    return t


def pair(n: int, agent: int) -> list[bytes]:
    request, reply = (f[42:] for f in options_pair(n))
    ts = 1_700_000_000_000_000_000 + n * 1_000_000
    return [
        encode_hep3(A, B, request, ts_ns=ts, agent_id=agent),
        encode_hep3(B, A, reply, ts_ns=ts + 500_000, agent_id=agent),
    ]


def collect(env_fields: dict[str, object], *args: str, packets: list[bytes]) -> tuple[str, str]:
    (port,) = free_ports(1)
    sender = send_later(port, packets)
    env = fake(**env_fields)
    r = run(env, "hep", "--listen", f"udp:127.0.0.1:{port}", "--duration", "20", *args)
    sender.join()
    assert r.exit_code == 0, r.stderr
    return r.stdout, r.stderr


def test_lines_on_a_terminal_are_coloured_and_fit_its_width() -> None:
    out, err = collect({"isatty": True, "width": 60}, "--count", "2", packets=pair(1, 7))
    lines = out.splitlines()
    assert "\x1b[" in lines[0]
    plain = [ANSI.sub("", line) for line in lines]
    assert plain[0].startswith("22:13:20.001000  [1]  10.0.0.1:5060 ──▶ 10.0.0.2:5060")
    assert all(len(line) <= 60 for line in plain[:2])
    assert err.startswith("sipsniff: listening for HEP on udp:127.0.0.1:")
    assert "2 HEP packets" in err and "(agent 7: 2)" in err


def test_no_color_and_a_pipe_give_plain_full_lines() -> None:
    terminal: dict[str, object] = {"isatty": True, "no_color": True, "width": 200}
    pipe: dict[str, object] = {"isatty": False}
    for fields in (terminal, pipe):
        out, _ = collect(fields, "--count", "2", packets=pair(1, 7))
        first, second = out.splitlines()[:2]
        assert "\x1b[" not in first + second
        assert first.endswith("OPTIONS (CSeq 1)  OPTIONS SENT  agent 7")
        assert second.endswith("200 OK  OPTIONS 200  agent 7")


def test_the_selection_chooses_the_lines_and_the_report() -> None:
    packets = pair(1, 7) + pair(2, 8)
    out, _ = collect({}, "--count", "4", "--call-id", "call-2", "-f", "ndjson", packets=packets)
    objects = [json.loads(line) for line in out.splitlines()]
    assert [(o["call_id"], o["agent"]) for o in objects] == [("call-2", 8), ("call-2", 8)]


def test_a_document_at_the_end_goes_to_the_environments_stdout() -> None:
    out, err = collect({}, "--count", "2", "-f", "json", packets=pair(3, 9))
    doc = json.loads(out)
    assert [d["call_id"] for d in doc["dialogs"]] == ["call-3"]
    assert doc["inputs"][0]["format"] == "hep"
    assert isinstance(err, str) and "1 dialogs" in err


def test_live_table_needs_a_terminal() -> None:
    env = fake(stdout=io.StringIO(), isatty=False)
    r = run(env, "live", "--table")
    assert r.exit_code == 2
    assert "--table shows a call list in a terminal" in r.stderr


def test_a_port_in_use_is_refused_in_one_line() -> None:
    """A second collector on the port of a first one is refused, UDP as TCP (with SO_REUSEADDR
    on UDP, Linux let the two share the port, the second taking the datagrams, silently)."""
    from sipsniff.capture.hep import HepListener

    for transport in ("udp", "tcp"):
        first = HepListener([f"{transport}:127.0.0.1:0"])
        port = first.bound[0].port
        try:
            env = fake(monotonic=time.monotonic)  # a real clock: a bug ends in a second
            r = run(env, "hep", "--listen", f"{transport}:127.0.0.1:{port}", "--duration", "1")
        finally:
            first.close()
        assert r.exit_code == 2, r.stderr
        assert r.stderr.strip().splitlines() == [
            f"sipsniff: error: cannot listen on {transport}:127.0.0.1:{port}: "
            "Address already in use"
        ]


def test_listeners_ask_for_an_exclusive_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows' ``SO_EXCLUSIVEADDRUSE`` where the socket module has it (Windows only), else
    ``SO_REUSEADDR`` on TCP only."""
    from sipsniff.capture import hep as capture_hep

    class Recorder:
        def __init__(self, type_: int) -> None:
            self.type = type_
            self.options: list[tuple[int, int, int]] = []

        def setsockopt(self, level: int, name: int, value: int) -> None:
            self.options.append((level, name, value))

    udp, tcp = Recorder(socket.SOCK_DGRAM), Recorder(socket.SOCK_STREAM)
    for r in (udp, tcp):
        capture_hep._exclusive(r)  # type: ignore[arg-type]
    assert udp.options == []
    assert tcp.options == [(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)]
    windows = Recorder(socket.SOCK_DGRAM)
    monkeypatch.setattr(socket, "SO_EXCLUSIVEADDRUSE", -5, raising=False)  # Windows' value
    capture_hep._exclusive(windows)  # type: ignore[arg-type]
    assert windows.options == [(socket.SOL_SOCKET, -5, 1)]


def test_a_selection_that_matches_nothing_says_so() -> None:
    for fmt in ("text", "ndjson", "json"):
        out, err = collect(
            {},
            "--count",
            "4",
            "--call-id",
            "no-such-call",
            "-f",
            fmt,
            packets=pair(1, 7) + pair(2, 8),
        )
        assert "sipsniff: 0 of 2 dialogs match\n" in err, (fmt, err)
        assert "call-1" not in out and "call-2" not in out
