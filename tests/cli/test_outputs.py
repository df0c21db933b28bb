"""Safe in scripts and pipes (docs/exit-status.md): no output ever replaces an input, a failed or
interrupted run leaves the old output whole, outputs and HEP targets are checked before anything is
read, a closed pipe ends quietly, a full disk is one line, and so is a usage error.

Through real processes, real pipes and /dev/full: what a shell script sees."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from sipsniff.capture.outfile import OutputFile
from sipsniff.errors import ExitStatus, OutputError
from tests.builders import options_capture

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "captures"
LOSSY = CAPTURES / "calls-lossy.pcap"
REG = CAPTURES / "register-407.pcap"


def sipsniff(
    *args: str | Path, stdout: int | None = subprocess.PIPE, timeout: float = 60, **kw: object
) -> subprocess.CompletedProcess[bytes]:
    """``sipsniff ARGS`` as a process (the worktree's code), its stdout and stderr collected."""
    proc: subprocess.CompletedProcess[bytes] = subprocess.run(
        [sys.executable, "-m", "sipsniff", *map(str, args)],
        stdout=stdout,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        timeout=timeout,
        check=False,
        **kw,  # type: ignore[call-overload]
    )
    return proc


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_error(proc: subprocess.CompletedProcess[bytes]) -> str:
    """The one line a failed run wrote on stderr (and nothing else)."""
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("sipsniff: error: "), lines
    return lines[0].removeprefix("sipsniff: error: ")


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


@pytest.fixture
def cap(tmp_path: Path) -> Path:
    """A copy of calls-lossy.pcap, to be protected."""
    path = tmp_path / "cl.pcap"
    path.write_bytes(LOSSY.read_bytes())
    return path


# -- never write over an input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--dialog", "1", "--write-pcap", "{same}"], "--write-pcap"),
        (["-f", "json", "-o", "{same}"], "-o"),
        (["-f", "html", "-o", "{same}"], "-o"),
    ],
    ids=["write-pcap", "json", "html"],
)
@pytest.mark.parametrize("spelling", ["path", "dotted", "symlink", "hardlink"])
def test_an_output_that_is_an_input_is_refused_and_the_input_unchanged(
    cap: Path, tmp_path: Path, args: list[str], option: str, spelling: str
) -> None:
    before = digest(cap)
    same = {
        "path": cap,
        "dotted": tmp_path / "." / ".." / tmp_path.name / cap.name,
        "symlink": tmp_path / "link.pcap",
        "hardlink": tmp_path / "hard.pcap",
    }[spelling]
    if spelling == "symlink":
        same.symlink_to(cap)
    if spelling == "hardlink":
        os.link(cap, same)
    proc = sipsniff("read", cap, *[a.format(same=same) for a in args])
    assert proc.returncode == ExitStatus.USAGE
    assert one_error(proc) == (
        f"{option} {same} is the input {cap}: sipsniff never writes over what it reads or writes "
        "twice to one file; choose another file"
    )
    assert proc.stdout == b""
    assert digest(cap) == before
    assert leftovers(tmp_path) == []


def test_every_command_refuses_to_write_over_its_input(cap: Path) -> None:
    before = digest(cap)
    for command in (["stats"], ["auth"], ["read", "-f", "csv"]):
        proc = sipsniff(*command, cap, "-o", cap)
        assert proc.returncode == ExitStatus.USAGE, command
        assert "is the input" in one_error(proc)
    # standard input that is the file named by -o
    with cap.open("rb") as stdin:
        proc = sipsniff("read", "-", "-f", "json", "-o", cap, stdin=stdin)
    assert proc.returncode == ExitStatus.USAGE
    assert f"-o {cap} is the input (standard input)" in one_error(proc)
    # --tls-keylog is an input too, and two outputs cannot be one file
    keys = cap.parent / "keys.txt"
    keys.write_text("# no keys\n")
    proc = sipsniff("read", cap, "--tls-keylog", keys, "-f", "json", "-o", keys)
    assert "is the input" in one_error(proc)
    out = cap.parent / "out.pcap"
    proc = sipsniff("read", cap, "-f", "json", "-o", out, "--write-pcap", out)
    assert one_error(proc).startswith(f"--write-pcap {out} is the file of -o")
    assert not out.exists()
    assert digest(cap) == before


# -- an old output stays whole until the new one is complete ---------------------------------------


def test_a_run_that_fails_after_reading_leaves_the_old_output_whole(cap: Path) -> None:
    out = cap.parent / "out.json"
    out.write_text("the old report\n")
    proc = sipsniff("read", cap, "-f", "json", "-o", out, "--dialog", "999")
    assert proc.returncode == ExitStatus.USAGE
    assert one_error(proc) == "--dialog 999: there are 5 dialogs"
    assert out.read_text() == "the old report\n"
    assert leftovers(cap.parent) == []


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_an_interrupted_run_leaves_the_old_output_whole(
    tmp_path: Path, sig: int, status: int
) -> None:
    """The input is a pipe that never ends: the run is stopped while reading it, its output
    already open beside the old file."""
    out = tmp_path / "out.html"
    out.write_text("the old page\n")
    r, w = os.pipe()
    with subprocess.Popen(
        [sys.executable, "-m", "sipsniff", "read", "-", "-f", "html", "-o", str(out)],
        stdin=r,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    ) as proc:
        os.close(r)
        os.write(w, LOSSY.read_bytes()[:5000])
        deadline = time.monotonic() + 30
        while not leftovers(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert leftovers(tmp_path), "the output is opened before the input is read"
        time.sleep(0.5)  # past opening: now reading the pipe, which never ends
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        os.close(w)
    assert proc.returncode == status, err
    assert out.read_text() == "the old page\n"
    assert leftovers(tmp_path) == []


def test_the_new_output_takes_the_place_of_the_old_one_keeping_its_mode(cap: Path) -> None:
    out = cap.parent / "out.json"
    out.write_text("old")
    out.chmod(0o640)
    link = cap.parent / "link.json"
    link.symlink_to(out)
    proc = sipsniff("read", cap, "-f", "json", "-o", link)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().startswith("{")
    assert link.is_symlink()  # the file it points to was replaced, not the link
    assert out.stat().st_mode & 0o777 == 0o640
    assert leftovers(cap.parent) == []


def test_output_file_discards_on_error_and_names_the_file(tmp_path: Path) -> None:
    out = tmp_path / "x.txt"
    out.write_text("kept")
    with (
        pytest.raises(OutputError, match=f"cannot write {out}: No space left on device"),
        OutputFile(str(out)) as f,
    ):
        f.text.write("new")
        raise OSError(28, "No space left on device")
    assert out.read_text() == "kept"
    assert leftovers(tmp_path) == []


# -- checked before the capture is read ------------------------------------------------------------


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    """An input that would block whoever opens it to read: a run that reads first hangs."""
    path = tmp_path / "in.pcap"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (
            ["--write-pcap", "/nonexistent/x.pcap"],
            ExitStatus.OUTPUT_FAILED,
            "cannot write /nonexistent/x.pcap: no such directory",
        ),
        (
            ["-f", "json", "-o", "/nonexistent/x.json"],
            ExitStatus.OUTPUT_FAILED,
            "cannot write /nonexistent/x.json: no such directory",
        ),
        (["-o", "/tmp"], ExitStatus.USAGE, "invalid value for '-o' / '--output': File '/tmp' is"),
        (
            ["--hep", "udp:nonexistent.invalid:9060"],
            ExitStatus.USAGE,
            "udp:nonexistent.invalid:9060: cannot resolve nonexistent.invalid",
        ),
    ],
    ids=["write-pcap", "output", "directory", "hep"],
)
def test_outputs_and_hep_targets_are_checked_before_reading(
    fifo: Path, args: list[str], status: int, message: str
) -> None:
    proc = sipsniff("read", fifo, *args, timeout=20)
    assert proc.returncode == status
    assert one_error(proc).startswith(message)


# -- a closed pipe ends quietly --------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["read", LOSSY],
        ["read", "-f", "ndjson", LOSSY],
        ["read", "-f", "json", LOSSY],
        ["read", "-f", "html", LOSSY],
        ["stats", LOSSY],
        ["stats", "-f", "json", LOSSY],
        ["auth", REG],
    ],
    ids=lambda a: " ".join(str(x) for x in a if not isinstance(x, Path)),
)
def test_a_closed_pipe_ends_quietly_with_status_141(args: Sequence[str | Path]) -> None:
    r, w = os.pipe()
    os.close(r)  # the reader is gone before the first line
    try:
        proc = sipsniff(*args, stdout=w)
    finally:
        os.close(w)
    assert (proc.returncode, proc.stderr) == (ExitStatus.CLOSED_OUTPUT, b"")


def test_head_reads_the_first_line_and_the_status_is_that_of_grep(tmp_path: Path) -> None:
    """``sipsniff read big | head -1``: the pipeline's status is head's, sipsniff's 141 (as grep's
    when head closes its pipe), nothing on stderr."""
    capture = tmp_path / "many.pcap"
    options_capture(capture, 3000)  # a call list of 3,000 rows: more than a pipe buffer holds
    script = (
        f"{sys.executable} -m sipsniff read --list {capture} | head -1; "
        'echo "status ${PIPESTATUS[0]}" >&2'
    )
    proc = subprocess.run(
        ["bash", "-c", script], capture_output=True, cwd=ROOT, timeout=120, check=False
    )
    assert proc.stdout.decode().split()[:3] == ["Idx", "Start", "Method"]
    assert proc.stderr.decode().splitlines()[-1] == "status 141"
    assert "error" not in proc.stderr.decode()


# -- a full disk, an I/O error ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["read", LOSSY], ["read", "-f", "json", LOSSY], ["stats", LOSSY], ["auth", REG]],
    ids=["read", "json", "stats", "auth"],
)
def test_a_full_disk_is_one_line_and_status_5(args: list[str | Path]) -> None:
    proc = sipsniff(*args, "-o", "/dev/full")
    assert proc.returncode == ExitStatus.OUTPUT_FAILED
    assert one_error(proc) == "cannot write /dev/full: No space left on device"
    with open("/dev/full", "wb") as full:
        proc = sipsniff(*args, stdout=full.fileno())
    assert proc.returncode == ExitStatus.OUTPUT_FAILED
    assert one_error(proc) == "cannot write standard output: No space left on device"


def test_write_pcap_onto_a_full_disk() -> None:
    proc = sipsniff("read", LOSSY, "--list", "--write-pcap", "/dev/full")
    assert proc.returncode == ExitStatus.OUTPUT_FAILED
    assert proc.stderr.decode().splitlines() == [
        "sipsniff: error: cannot write /dev/full: No space left on device"
    ]


def test_a_file_system_that_makes_no_files_is_one_line() -> None:
    proc = sipsniff("read", REG, "-o", "/proc/version")
    assert proc.returncode == ExitStatus.OUTPUT_FAILED
    assert one_error(proc).startswith("cannot write /proc/version: ")


# -- usage errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["read", "--bogus", str(REG)],
            "no such option '--bogus' (did you mean one of: '--by-host', '--host', '--user'?); "
            "see 'sipsniff read --help'",
        ),
        (
            ["read", str(REG), "--max-dialogs", "x"],
            "invalid value for '--max-dialogs': 'x' is not a valid integer range; "
            "see 'sipsniff read --help'",
        ),
        (["read"], "missing argument 'FILE...'; see 'sipsniff read --help'"),
        (["bogus"], "no such command 'bogus'; see 'sipsniff --help'"),
        (
            ["stats", str(REG), "-f", "xml"],
            "invalid value for '-f' / '--format': 'xml' is not one of 'text', 'json'; "
            "see 'sipsniff stats --help'",
        ),
    ],
)
def test_usage_errors_are_one_line_with_where_the_help_is(args: list[str], line: str) -> None:
    proc = sipsniff(*args)
    assert proc.returncode == ExitStatus.USAGE
    assert one_error(proc) == line
    assert proc.stdout == b""
