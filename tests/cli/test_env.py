"""``read``, ``stats`` and ``auth`` driven through click's runner with an ``Environment`` of the
test's own (cli/env.py): a fixed width, a terminal or not, a fixed zone and clock, streams the test
reads. What they write is checked as a person would see it."""

from __future__ import annotations

import datetime
import gc
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sipsniff.cli import cli
from sipsniff.cli.env import Environment, environment, portable
from tests.builders import fake, run, write_pcap
from tests.conftest import CAPTURES, ROOT

REG = CAPTURES / "register-407.pcap"
LOSSY = CAPTURES / "calls-lossy.pcap"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
UTC1 = datetime.timezone(datetime.timedelta(hours=1))


REGISTER_80 = """\
Idx    Start Method   From          To            Msgs State      Duration
  1 0.000000 REGISTER 100@127.0.0.1 100@127.0.0.1    4 REGISTERED   400 µs
4 messages, 1 dialog, 0 retransmissions, 0 skipped, 0 keep-alives

Dialog 1  REGISTER  100 <100@127.0.0.1> → 100 <100@127.0.0.1>  REGISTERED
Call-ID 1-5488@127.0.0.1
           127.0.0.1:23150                              127.0.0.1:23149
                 SIPp
    time   delta  │                                            │
0.000000          │ ──── REGISTER (CSeq 1) ──────────────────▶ │
0.000195 +195 µs  │ ◀─── 407 Proxy Authentication Required ─── │  challenge
0.000338 +143 µs  │ ──── REGISTER (CSeq 2) ──────────────────▶ │
0.000400  +62 µs  │ ◀─── 200 OK ────────────────────────────── │
"""


# -- read --------------------------------------------------------------------------------------


def test_read_at_a_fixed_width_off_a_terminal() -> None:
    r = run(fake(), "read", str(REG))
    assert r.exit_code == 0 and r.stderr == ""
    assert r.stdout == REGISTER_80


def test_read_on_a_terminal_is_coloured_and_says_the_same() -> None:
    r = run(fake(isatty=True), "read", str(REG))
    assert r.exit_code == 0
    assert "\x1b[1;36mREGISTER" in r.stdout  # the method of the call list, bold cyan
    assert "\x1b[31m407 Proxy Authentication Required" in r.stdout  # a 4xx, red
    assert ANSI.sub("", r.stdout) == REGISTER_80


def colours(text: str) -> set[str]:
    """The foreground colours (SGR 30-37) that ``text`` sets."""
    found = set()
    for m in ANSI.finditer(text):
        found |= {p for p in m.group()[2:-1].split(";") if p.startswith("3") and len(p) == 2}
    return found


def test_no_color_on_a_terminal_keeps_bold_and_drops_colour() -> None:
    coloured = run(fake(isatty=True), "read", str(REG))
    assert colours(coloured.stdout) == {"31", "32", "33", "36"}
    r = run(fake(isatty=True, no_color=True), "read", str(REG))
    assert colours(r.stdout) == set()
    assert "\x1b[1mIdx" in r.stdout  # NO_COLOR is about colour: bold stays (rich's reading)
    assert ANSI.sub("", r.stdout) == REGISTER_80


@pytest.mark.parametrize("width", [60, 132])
def test_read_lays_out_to_the_environment_width(width: int) -> None:
    r = run(fake(width=width), "read", str(LOSSY))
    lines = r.stdout.splitlines()
    assert max(len(line) for line in lines) <= width
    # the call list widens with room: the Src -> Dst column comes at 132 columns only
    assert ("Src → Dst" in lines[0]) == (width == 132)


def test_wall_clock_times_in_the_environment_zone() -> None:
    # frame 1 of register-407.pcap: 2026-12-02 07:53:34.205651 UTC
    r = run(fake(tz=UTC1), "read", str(REG), "--time", "abs", "--list")
    assert r.stdout.splitlines()[0].split()[:3] == ["Idx", "Start", "UTC+01:00"]
    assert "08:53:34.205651" in r.stdout
    utc = run(fake(tz=UTC1), "read", str(REG), "--time", "abs", "--utc", "--list")
    assert "07:53:34.205651" in utc.stdout


def test_outputs_do_not_depend_on_the_clock() -> None:
    early = run(fake(clock=lambda: 0, monotonic=lambda: 0.0), "read", str(LOSSY), "-f", "html")
    late = run(fake(), "read", str(LOSSY), "-f", "html")
    assert early.stdout == late.stdout and early.stdout.startswith("<!DOCTYPE html>")


def test_messages_go_to_the_environment_stderr(tmp_path: Path) -> None:
    out = tmp_path / "out.pcap"
    r = run(fake(), "read", str(REG), "-f", "json", "--write-pcap", str(out))
    assert json.loads(r.stdout)["schema"] == "sipsniff/1"
    assert r.stderr == f"sipsniff: wrote 4 frames of 1 dialog to {out} (pcap)\n"


def test_output_file_is_not_the_terminal(tmp_path: Path) -> None:
    out = tmp_path / "ladder.txt"
    r = run(fake(isatty=True), "read", str(REG), "-o", str(out))
    assert r.stdout == "" and r.stderr == ""
    assert out.read_text(encoding="utf-8") == REGISTER_80  # no colour in a file


# -- stats -------------------------------------------------------------------------------------


def test_stats_text_and_json() -> None:
    r = run(fake(), "stats", str(LOSSY))
    assert r.exit_code == 0 and r.stderr == ""
    lines = r.stdout.splitlines()
    assert lines[:3] == [
        "SIP messages",
        "  messages 33  (requests 16, responses 17)",
        "  resent   4  (tshark's rule: UDP, same CSeq and direction)",
    ]
    assert "  outcomes: answered x5" in lines
    doc = json.loads(run(fake(), "stats", str(LOSSY), "-f", "json").stdout)
    assert doc["schema"] == "sipsniff-stats/2"
    assert doc["calls"]["attempts"] == 5


def test_stats_titles_are_bold_on_a_terminal() -> None:
    r = run(fake(isatty=True), "stats", str(LOSSY))
    assert r.stdout.startswith("\x1b[1mSIP messages\x1b[0m\n")
    assert ANSI.sub("", r.stdout) == run(fake(), "stats", str(LOSSY)).stdout


def test_stats_warnings_go_to_the_environment_stderr(tmp_path: Path) -> None:
    empty = write_pcap(
        tmp_path / "rtp.pcap", [(10**18, ("10.0.0.1", 4000), ("10.0.0.2", 4000), b"x")]
    )
    r = run(fake(), "stats", str(empty), "-f", "json")
    assert json.loads(r.stdout)["messages"] == 0
    assert r.stderr == (
        "sipsniff: warning: no SIP in this capture: 1 frame read, none carried a SIP message "
        "(sipsniff looks for SIP by content, on every port)\n"
    )
    # on a terminal the text says it, and nothing more is said on stderr
    r = run(fake(), "stats", str(empty))
    assert r.stdout.startswith("No SIP in this capture: 1 frame read") and r.stderr == ""


# -- auth --------------------------------------------------------------------------------------


def test_auth_text_on_a_terminal_and_off() -> None:
    plain = run(fake(), "auth", str(REG), "--password", "101")
    assert plain.exit_code == 0
    assert "      password    fits  (user 101, password ***)" in plain.stdout.splitlines()
    coloured = run(fake(isatty=True), "auth", str(REG), "--password", "101")
    assert "\x1b[1;32mfits\x1b[0m" in coloured.stdout
    assert ANSI.sub("", coloured.stdout) == plain.stdout


def test_auth_json_has_a_schema_of_its_own() -> None:
    r = run(fake(), "auth", str(REG), "--password", "101", "-f", "json")
    doc = json.loads(r.stdout)
    assert doc["schema"] == "sipsniff-auth/1"
    assert [a["verified"] for a in doc["attempts"]] == [True]


# -- the environment itself --------------------------------------------------------------------


def test_from_process_takes_the_streams_and_no_color_of_the_run() -> None:
    seen: list[Environment] = []

    @cli.command("probe-env", hidden=True)
    def probe() -> None:
        env = environment()
        seen.append(env)
        env.stdout.write("out\n")
        env.warn("careful")
        assert environment() is env  # made once per run

    try:
        result = CliRunner().invoke(cli, ["probe-env"], env={"NO_COLOR": "1", "COLUMNS": "77"})
    finally:
        cli.commands.pop("probe-env")
    assert result.exit_code == 0, result.output
    assert result.stdout == "out\n"
    assert result.stderr == "sipsniff: warning: careful\n"
    (env,) = seen
    assert env.no_color and not env.isatty and env.width is None and env.tz is None


def test_console_follows_the_environment() -> None:
    env = fake(width=50, isatty=True)
    console = env.console()
    assert console.width == 50 and console.is_terminal and not console.no_color
    other = io.StringIO()
    assert not env.console(other).is_terminal  # a file of -o is asked itself
    assert fake(no_color=True, isatty=True).console().no_color


@pytest.mark.parametrize(
    "args",
    [
        ["read", str(REG)],
        ["read", str(REG), "-f", "mermaid"],
        ["stats", str(LOSSY)],
    ],
    ids=lambda a: " ".join(a[:1] + a[2:]),
)
def test_redirected_output_is_utf8_whatever_the_locale(args: list[str], tmp_path: Path) -> None:
    """Windows gives a redirected stdout its ANSI code page (cp1252): the ladder's glyphs were
    an internal error there (UnicodeEncodeError). It is UTF-8, byte for byte as elsewhere."""
    outputs = {}
    for encoding in ("utf-8", "cp1252", "ascii"):
        out = tmp_path / f"{encoding}.txt"
        with out.open("wb") as f:
            p = subprocess.run(
                [sys.executable, "-m", "sipsniff", *args],
                stdout=f,
                stderr=subprocess.PIPE,
                env=dict(os.environ, PYTHONIOENCODING=encoding, PYTHONUTF8="0"),
                cwd=ROOT,
                check=False,
            )
        assert p.returncode == 0, p.stderr
        outputs[encoding] = out.read_bytes()
    assert outputs["cp1252"] == outputs["ascii"] == outputs["utf-8"]
    assert any(glyph in outputs["utf-8"].decode() for glyph in "─▶→µ")


def test_portable_leaves_utf8_alone_and_a_terminal_never_fails() -> None:
    """``portable`` leaves a stream that carries the glyphs alone; a terminal that cannot gets
    replacements, never an exception."""
    utf8 = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    assert portable(utf8, terminal=False) is utf8 and utf8.encoding == "utf-8"
    term = io.TextIOWrapper(io.BytesIO(), encoding="cp1252")
    portable(term, terminal=True)
    term.write("a ──▶ b")
    term.flush()
    assert term.buffer.getvalue() == b"a ??? b"


@pytest.mark.parametrize("ends", [False, True], ids=["a-caller-goes-on", "the-process-ends"])
def test_a_trace_kept_until_exit_is_freed_only_when_a_caller_goes_on(ends: bool) -> None:
    """``keep_until_exit``: a command that ends the process (``main``) leaves its trace to the
    system at exit (freeing it an object at a time cost 5-9% of a read); one run by a caller that
    goes on (a test's runner, a program that imports sipsniff) frees it as it ends."""
    import click

    from sipsniff.cli.common import keep_until_exit
    from sipsniff.pipeline import read_trace

    freed: list[bool] = []

    class Sentinel(list[object]):
        def __del__(self) -> None:
            freed.append(True)

    trace = read_trace([str(REG)])
    trace.tls.append(Sentinel())  # type: ignore[arg-type]  # held by the trace, seen when freed
    env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), ends_with_command=ends)
    with click.Context(cli, obj=env).scope():
        keep_until_exit(trace)
    del trace
    gc.collect()
    assert freed == ([] if ends else [True])


def test_the_program_ends_with_its_command() -> None:
    """``main``, the program, runs its command in an environment that ends with it."""
    code = (
        "import sipsniff.cli.env as e, sipsniff.cli as c\n"
        "seen = []\n"
        "@c.cli.command('probe-end', hidden=True)\n"
        "def probe() -> None:\n"
        "    seen.append(e.environment().ends_with_command)\n"
        "try:\n"
        "    c.main(['probe-end'])\n"
        "finally:\n"
        "    print(seen)\n"
    )
    run_ = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert run_.stdout.strip() == "[True]", run_.stderr
