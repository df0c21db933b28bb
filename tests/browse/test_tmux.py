"""The real program in a real terminal: ``sipsniff browse`` in tmux, keys sent, the screen read
back with capture-pane, as a person would use it over SSH in an 80x24 terminal."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from sipsniff.pipeline import read_trace
from tests.conftest import CAPTURES, ROOT

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")

LOSSY = CAPTURES / "calls-lossy.pcap"
GREYS = {0, 7, 8, 15, 16, 59, 102, 145, 188, 231, *range(232, 256)}
"""Colours of the 256-colour palette that are shades of grey."""


@dataclass
class Terminal:
    """A tmux session on a server of its own (``-L name``): a shared server would start the
    program with the environment of whichever test started that server, not with this one's."""

    name: str
    no_color: bool

    def screen(self, *keys: str, escapes: bool = False) -> str:
        if keys:
            subprocess.run(
                ["tmux", "-L", self.name, "send-keys", "-t", self.name, *keys], check=True
            )
            time.sleep(0.5)
        flags = ["-p", "-e"] if escapes else ["-p"]
        got = subprocess.run(
            ["tmux", "-L", self.name, "capture-pane", *flags, "-t", self.name],
            capture_output=True,
            text=True,
            check=False,
        )
        return got.stdout

    def running(self) -> bool:
        """Is the program still there (its tmux session ends with it)?"""
        got = subprocess.run(
            ["tmux", "-L", self.name, "has-session", "-t", self.name],
            capture_output=True,
            check=False,
        )
        return got.returncode == 0

    def wait_for(self, text: str, seconds: float = 20.0) -> str:
        deadline = time.monotonic() + seconds
        shown = ""
        while time.monotonic() < deadline:
            shown = self.screen()
            if text in shown:
                return shown
            time.sleep(0.2)
        raise AssertionError(f"{text!r} not on screen:\n{shown}")

    def colours(self) -> set[int]:
        """The palette colours on screen (-1 for a true colour that is not a grey)."""
        shown = self.screen(escapes=True)
        found = {int(n) for n in re.findall(r"[34]8;5;(\d+)", shown)}
        found |= {
            -1 for r, g, b in re.findall(r"[34]8;2;(\d+);(\d+);(\d+)", shown) if not r == g == b
        }
        return found


@pytest.fixture(params=[False, True], ids=["colour", "NO_COLOR"])
def terminal(request: pytest.FixtureRequest) -> Iterator[Terminal]:
    name = f"sipsniff-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "TZ": "UTC", "TERM": "xterm-256color", "PYTHONPATH": str(ROOT)}
    env.pop("NO_COLOR", None)
    if request.param:
        env["NO_COLOR"] = "1"
    command = f"{sys.executable} -m sipsniff browse {LOSSY}"
    subprocess.run(
        ["tmux", "-L", name, "new-session", "-d", "-s", name, "-x", "80", "-y", "24", command],
        env=env,
        check=True,
    )
    yield Terminal(name, request.param)
    subprocess.run(
        ["tmux", "-L", name, "kill-session", "-t", name], capture_output=True, check=False
    )


def test_browse_in_a_terminal_lists_opens_a_ladder_and_quits(terminal: Terminal) -> None:
    trace = read_trace([str(LOSSY)])
    shown = terminal.wait_for(f"{len(trace.dialogs)} dialogs")
    lines = shown.splitlines()
    head = next(k for k, line in enumerate(lines) if "Idx" in line and "Method" in line)
    rows = [line for line in lines[head + 1 :] if line.strip()[:1].isdigit()]
    assert len(rows) == len(trace.dialogs)
    for row, d in zip(rows, trace.dialogs.values(), strict=True):
        assert row.split()[0] == str(d.id) and d.first_method in row
        assert d.state.split()[0] in row  # colour aside, the state read gives
    assert "State" in lines[head] and "From" in lines[head]
    assert max(len(line) for line in lines) <= 80
    if terminal.no_color:
        assert terminal.colours() <= GREYS, "NO_COLOR: shades of grey only"
    else:
        assert terminal.colours() - GREYS, "in colour otherwise"

    terminal.screen("Enter")
    flow = terminal.wait_for("Flow of dialog 1")
    assert "time UTC" in flow
    first = trace.entries[trace.dialogs[1].messages[0]].msg
    assert "INVITE" in flow and "frame " + str(first.frame) in flow
    stamp = time.strftime("%H:%M:%S", time.gmtime(first.ts_ns // 1_000_000_000))
    assert stamp in flow  # the time column, wall clock in UTC

    back = terminal.screen("q")
    assert "Flow of dialog" not in back and "Idx" in back
    assert terminal.running()
    terminal.screen("q")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and terminal.running():
        time.sleep(0.2)
    assert not terminal.running(), "q on the call list quits"


def test_browse_a_capture_on_standard_input_keys_from_the_terminal() -> None:
    """``tcpdump -w - | sipsniff browse -``: the capture is read from the pipe, keys come from
    the terminal (as in less)."""
    name = f"sipsniff-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "TZ": "UTC", "TERM": "xterm-256color", "PYTHONPATH": str(ROOT)}
    command = f"cat {LOSSY} | {sys.executable} -m sipsniff browse -"
    subprocess.run(
        ["tmux", "-L", name, "new-session", "-d", "-s", name, "-x", "80", "-y", "24", command],
        env=env,
        check=True,
    )
    terminal = Terminal(name, False)
    try:
        trace = read_trace([str(LOSSY)])
        shown = terminal.wait_for(f"{len(trace.dialogs)} dialogs")
        assert "standard input" in shown
        terminal.screen("Down", "Enter")
        assert "Flow of dialog 2" in terminal.wait_for("Flow of dialog")
    finally:
        subprocess.run(
            ["tmux", "-L", name, "kill-session", "-t", name], capture_output=True, check=False
        )
