"""The real program in a real terminal: ``sipsniff browse`` in tmux, keys sent, the screen read
back with capture-pane, as a person would use it over SSH in an 80x24 terminal."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from sipsniff.pipeline import read_trace
from tests.conftest import CAPTURES, ROOT

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")

LOSSY = CAPTURES / "calls-lossy.pcap"


@pytest.fixture
def tmux() -> Iterator[Callable[..., str]]:
    name = f"sipsniff-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "TZ": "UTC", "TERM": "xterm-256color", "PYTHONPATH": str(ROOT)}
    env.pop("NO_COLOR", None)
    command = f"{sys.executable} -m sipsniff browse {LOSSY}"
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", name, "-x", "80", "-y", "24", command],
        env=env,
        check=True,
    )

    def screen(*keys: str, running: bool = False) -> str:
        if running:  # is the program still there (its session ends with it)?
            alive = subprocess.run(
                ["tmux", "has-session", "-t", name], capture_output=True, check=False
            )
            return "yes" if alive.returncode == 0 else ""
        if keys:
            subprocess.run(["tmux", "send-keys", "-t", name, *keys], check=True)
            time.sleep(0.5)
        got = subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", name], capture_output=True, text=True, check=False
        )
        return got.stdout

    yield screen
    subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True, check=False)


def wait_for(screen: Callable[..., str], text: str, seconds: float = 20.0) -> str:
    deadline = time.monotonic() + seconds
    shown = ""
    while time.monotonic() < deadline:
        shown = screen()
        if text in shown:
            return shown
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not on screen:\n{shown}")


def test_browse_in_a_terminal_lists_opens_a_ladder_and_quits(tmux: Callable[..., str]) -> None:
    trace = read_trace([str(LOSSY)])
    shown = wait_for(tmux, f"{len(trace.dialogs)} dialogs")
    lines = shown.splitlines()
    head = next(k for k, line in enumerate(lines) if "Idx" in line and "Method" in line)
    rows = [line for line in lines[head + 1 :] if line.strip()[:1].isdigit()]
    assert len(rows) == len(trace.dialogs)
    for row, d in zip(rows, trace.dialogs.values(), strict=True):
        assert row.split()[0] == str(d.id) and d.first_method in row
        assert d.state.split()[0] in row  # colour aside, the state read gives
    assert "State" in lines[head] and "From" in lines[head]
    assert max(len(line) for line in lines) <= 80

    flow = tmux("Enter")
    flow = wait_for(tmux, "Flow of dialog 1")
    assert "time UTC" in flow
    first = trace.entries[trace.dialogs[1].messages[0]].msg
    assert "INVITE" in flow and "frame " + str(first.frame) in flow
    stamp = time.strftime("%H:%M:%S", time.gmtime(first.ts_ns // 1_000_000_000))
    assert stamp in flow  # the time column, wall clock in UTC

    back = tmux("q")
    assert "Flow of dialog" not in back and "Idx" in back
    assert tmux(running=True)
    tmux("q")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and tmux(running=True):
        time.sleep(0.2)
    assert not tmux(running=True), "q on the call list quits"
