"""``read_trace`` with a worker process (``sipsniff.pipeline.parallel``) gives what it gives alone.

The same trace field by field on every capture of the corpus and of the project, whoever parses
(the worker, this process, or both in turns), in small batches and large; the same with
``--max-dialogs`` and with ``summarize`` (every part handed over, the skipped records kept and
counted); the same errors and warnings for damaged files, through ``read_trace`` and the CLI. An
error on either side, Ctrl-C or SIGTERM leaves no worker process behind and prints no traceback.
"""

from __future__ import annotations

import gc
import gzip
import multiprocessing
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from sipsniff import pipeline
from sipsniff.analysis.frames import MediaLog
from sipsniff.analysis.rtp import RtpObserver
from sipsniff.capture import files
from sipsniff.cli import cli
from sipsniff.errors import CaptureError, ExitStatus, SipsniffError
from sipsniff.model import Counts, Message, Payload, Skipped, Trace
from sipsniff.pipeline import Limits, parallel, read_trace, stages
from sipsniff.pipeline import read as reading
from sipsniff.pipeline import session as sessions
from sipsniff.sip import parser
from tests.builders import GOOD, options_capture, options_pair, pcap
from tests.conftest import CAPTURES, CORPUS, ROOT, need

NETMON = "c07-sip-r2.cap"
"""The corpus capture in Network Monitor's format (read the same in both modes)."""


def captures(corpus: Path) -> list[Path]:
    return sorted(
        p for p in [*corpus.glob("*.pcap*"), *corpus.glob("*.cap"), *CAPTURES.glob("*.pcap")]
    )


FIELDS = ("entries", "dialogs", "transactions", "skipped", "counts", "inputs", "tls")


def assert_same(a: Trace, b: Trace, what: str) -> None:
    for name in FIELDS:
        assert getattr(a, name) == getattr(b, name), (what, name)


def gone(pid: int, wait: float = 2.0) -> bool:
    """Whether process ``pid`` has ended (reaped, or a zombie nobody reaps in a container)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rpartition(")")[2].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def assert_no_worker_left(pids: list[int]) -> None:
    assert pids, "no worker process was started"
    assert multiprocessing.active_children() == []
    for pid in pids:
        assert gone(pid, wait=0.5), pid


# -- the same trace ------------------------------------------------------------------------------
MODES = {
    "worker parses": {"FIRST_SHARE": 0, "fixed": True},
    "this process parses": {"FIRST_SHARE": parallel.SHARES, "fixed": True},
    "both, in small batches": {"FIRST_SHARE": 5, "BATCH": 3, "fixed": False},
}


@pytest.fixture(params=list(MODES))
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Who parses: the share left to this process held at 0 or at all, or adjusting as it goes
    (batches of 3 records, so that it moves and batches end anywhere)."""
    name: str = request.param
    settings = dict(MODES[name])
    if settings.pop("fixed"):
        monkeypatch.setattr(parallel.Channel, "behind", lambda self: 1)  # never adjusts
    for key, value in settings.items():
        monkeypatch.setattr(parallel, key, value)
    return name


def test_the_same_trace_on_every_capture(corpus: Path, mode: str, workers: list[int]) -> None:
    paths = captures(corpus)
    for i, path in enumerate(paths):
        alone = read_trace([str(path)], parallel=False)
        assert len(workers) == i
        two = read_trace([str(path)], parallel=True)
        assert len(workers) == i + 1  # not vacuous: it ran with a worker
        assert_same(alone, two, path.name)
    assert_no_worker_left(workers)


@pytest.mark.skipif(
    parallel.FAST_TAKE is None,
    reason="the C fast path of Inbox.take is not built here (no C compiler at install time, or "
    "SIPSNIFF_PURE_PYTHON is set): the Python code alone runs, nothing to compare",
)
def test_this_process_takes_the_sip_data_in_files_in_c(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, workers: list[int]
) -> None:
    """``_fastinbox.take`` parses and correlates the SIP data whose bytes are in the capture file
    itself: Python's ``Inbox._take`` gets none of a capture of datagrams, and the rest of others
    (data reassembled from several frames, messages the C parser leaves to Python), in batches
    where both come in turns (3 records), with the same trace as in one process."""
    monkeypatch.setattr(parallel, "FIRST_SHARE", 5)
    monkeypatch.setattr(parallel, "BATCH", 3)
    lengths: list[int] = []
    take = parallel.Inbox._take

    def spy(self: parallel.Inbox, batch: list[parallel.Record]) -> None:
        lengths.extend(map(len, batch))
        take(self, batch)

    monkeypatch.setattr(parallel.Inbox, "_take", spy)
    left = 0
    for path in captures(corpus):
        lengths.clear()
        two = read_trace([str(path)], parallel=True)
        assert_same(read_trace([str(path)], parallel=False), two, path.name)
        if path.name == "calls-lossy.pcap":  # the worker parsed some, C the others
            assert parallel.SIP not in lengths
            assert 0 < lengths.count(parallel.MESSAGE) < len(two.entries)
        left += lengths.count(parallel.SIP)
    assert left > 10  # and the others were taken by Python as they came
    assert_no_worker_left(workers)


def test_the_same_trace_of_several_inputs_merged(corpus: Path, workers: list[int]) -> None:
    paths = [
        str(CAPTURES / "invite-call.pcap"),
        str(corpus / "sip-tcp.pcap"),
        str(corpus / "ipv6frag.pcap"),
    ]
    assert_same(read_trace(paths, parallel=False), read_trace(paths, parallel=True), "merged")
    assert len(workers) == 1


def test_the_same_dialogs_kept_under_max_dialogs(
    corpus: Path, mode: str, workers: list[int]
) -> None:
    limits = Limits(max_dialogs=3)
    capped = 0
    for path in captures(corpus):
        alone = read_trace([str(path)], limits=limits, parallel=False)
        two = read_trace([str(path)], limits=limits, parallel=True)
        assert_same(alone, two, path.name)
        capped += alone.counts.messages_not_kept > 0
    assert capped >= 5  # not vacuous: the cap left messages out of several captures


def summarized(path: Path, *, hold: int, parallel: bool) -> tuple[list[Trace], Trace]:
    parts: list[Trace] = []
    last = read_trace([str(path)], summarize=parts.append, hold=hold, parallel=parallel)
    return parts, last


@pytest.mark.parametrize("kept", [sessions.SKIPPED_KEPT, 2])
def test_the_same_parts_when_summarizing(
    corpus: Path, mode: str, kept: int, monkeypatch: pytest.MonkeyPatch, workers: list[int]
) -> None:
    """Every part handed to ``summarize`` the same, at the same point, and the same rest; with
    2 skipped records kept, the trimming of the others too."""
    monkeypatch.setattr(sessions, "SKIPPED_KEPT", kept)
    swept = trimmed = 0
    for path in captures(corpus):
        parts, last = summarized(path, hold=4, parallel=False)
        parts2, last2 = summarized(path, hold=4, parallel=True)
        assert len(parts) == len(parts2), path.name
        for a, b in zip(parts, parts2, strict=True):
            assert (a.entries, a.dialogs, a.transactions) == (b.entries, b.dialogs, b.transactions)
            assert (a.skipped, a.counts) == (b.skipped, b.counts) == ([], Counts())
        assert_same(last, last2, path.name)
        swept += bool(parts)
        trimmed += last.counts.skipped_not_kept > 0
    assert swept == 6  # not vacuous: captures of more than 16 dialogs were summed up in parts
    assert trimmed == (4 if kept == 2 else 0)  # every capture with more than 2 skipped records


@pytest.mark.parametrize("hold", [300, 1990, 5000])
def test_frames_are_marked_only_where_a_sweep_may_be_due(
    hold: int, long_capture: Path, monkeypatch: pytest.MonkeyPatch, workers: list[int]
) -> None:
    """The worker marks the end of a frame only where this process may hold too many dialogs
    by then (``Worker.tell``; a worker ahead of this process marks more): the same parts as in
    one process, from fewer marks than frames, and none at all when the capture never comes near
    the limit."""
    marks: list[int] = []
    marker = reading._marker

    def counted(session: sessions.Session) -> Callable[[int], None]:
        mark = marker(session)

        def count(ts_ns: int) -> None:
            marks.append(ts_ns)
            mark(ts_ns)

        return count

    monkeypatch.setattr(reading, "_marker", counted)
    monkeypatch.setattr(parallel, "BATCH", 50)  # the parent tells the child often
    parts, last = summarized(long_capture, hold=hold, parallel=False)
    parts2, last2 = summarized(long_capture, hold=hold, parallel=True)
    assert len(workers) == 1
    assert [p.dialogs for p in parts2] == [p.dialogs for p in parts]
    assert_same(last, last2, "last")
    if hold < 2000:  # every frame gives a record: each one was marked before
        assert parts and 0 < len(marks) < 4000
    else:
        assert not parts and not marks


def test_the_strings_a_dialog_repeats_are_interned(corpus: Path, workers: list[int]) -> None:
    """As the parser makes them: one copy of a Call-ID or a tag for a whole capture."""
    trace = read_trace([str(corpus / "sip-2phones-B2BUA-Asterisk.pcapng")], parallel=True)
    assert workers
    for e in trace.entries.values():
        m = e.msg
        for value in (m.call_id, m.from_uri, m.to_uri, m.sent_by, m.cseq_method, m.from_tag):
            assert value is None or value is sys.intern(value)


def test_a_datagram_and_its_message_share_their_bytes(workers: list[int], tmp_path: Path) -> None:
    """When they are held (a gzip input: from a plain file, neither is; tests/capture/
    test_filed.py)."""
    packed = tmp_path / "invite-call.pcap.gz"
    packed.write_bytes(gzip.compress((CAPTURES / "invite-call.pcap").read_bytes()))
    trace = read_trace([str(packed)], parallel=True)
    assert workers
    assert all(e.msg.raw is e.msg.pkt.data for e in trace.entries.values())


def test_this_process_lets_go_of_the_inputs_the_worker_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: list[int]
) -> None:
    """A gzip input is held whole, decompressed: once the worker has it, only the worker."""
    readers: list[weakref.ref[files.CaptureReader]] = []
    alive: list[bool] = []
    init, start = files.CaptureReader.__init__, parallel.Worker.start

    def spy_init(self: files.CaptureReader, path: str, file_index: int = 0) -> None:
        init(self, path, file_index)
        readers.append(weakref.ref(self))

    def spy_start(self: parallel.Worker) -> None:
        start(self)
        alive.extend(r() is not None for r in readers)

    monkeypatch.setattr(files.CaptureReader, "__init__", spy_init)
    monkeypatch.setattr(parallel.Worker, "start", spy_start)
    path = tmp_path / "calls.pcap.gz"
    path.write_bytes(gzip.compress((CAPTURES / "invite-call.pcap").read_bytes()))
    assert len(read_trace([str(path)], parallel=True).entries) == 6
    assert alive == [False]


def test_a_pipeline_is_freed_with_its_last_reference() -> None:
    """No cycle through the pipeline (its hooks): the trace it made is freed as soon as it is
    dropped, not at the next full collection (0.7 s for a big capture, at exit)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        pipe = pipeline.Pipeline()
        ref = weakref.ref(pipe)
        del pipe
        assert ref() is None
    finally:
        if enabled:
            gc.enable()


def test_records_hold_the_fields_in_their_order() -> None:
    """The record layout ``Inbox.take`` reads by index."""
    assert parallel.MESSAGE == 33 and parallel.SIP == 15 and parallel.SKIPPED == 8
    fields = (*Payload._fields, *Message._fields[1:], "offset")
    assert fields[12:14] == ("raw", "method") and fields[17] == "call_id"
    assert fields[24] == "from_tag" and fields[27] == "to_tag" and fields[31] == "problems"
    assert len(fields) == parallel.MESSAGE
    lengths = {parallel.MESSAGE, parallel.SIP, parallel.SKIPPED, parallel.MARK}
    lengths |= {parallel.MEDIA, parallel.PROGRESS}
    assert len(lengths) == 6


# -- when the worker is used -------------------------------------------------------------------
def test_when_it_pays_and_when_it_can(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: list[int]
) -> None:
    small = str(CAPTURES / "invite-call.pcap")
    decide = reading.two_processes
    assert not decide([small], None)  # too small to pay
    monkeypatch.setattr(reading, "PARALLEL_MIN_BYTES", 0)
    assert decide([small], None) == (parallel.cores() >= 2)
    assert decide([small], True)
    assert not decide([small], False)
    for cannot in (
        decide([small], True, tls=True),
        decide([small, "-"], True),
        decide(["/dev/null"], True),
        decide([], True),
    ):
        assert not cannot
    monkeypatch.setattr(reading, "cores", lambda: 1)
    assert not decide([small], None)


@pytest.mark.parametrize(
    "name", ["sip-rtp-g711.pcap", "SIP_CALL_RTP_G711", "sip-rtp-opus-hybrid.pcap"]
)
def test_media_observers_see_the_same_datagrams(name: str, workers: list[int]) -> None:
    """The RTP analysis and the datagram log get every datagram that is not SIP from the worker,
    in order, as they do in one process."""
    path = str(need(CORPUS / name))
    seen = []
    for two in (False, True):
        log, rtp = MediaLog(), RtpObserver()
        trace = read_trace([path], media=[log, rtp], parallel=two)
        seen.append((log.datagrams, rtp.first_ts_ns, rtp.streams, trace.entries))
    assert len(workers) == 1
    assert seen[0][0] and seen[0][2]  # datagrams and RTP streams to compare
    assert seen[0] == seen[1]


# -- damaged and unreadable files ----------------------------------------------------------------
def absurd(data: bytes) -> bytes:
    """``data`` with frame 2 claiming more than 256 MiB."""
    out = bytearray(data)
    struct.pack_into("<I", out, 24 + 16 + len(GOOD[0]) + 8, 0x1000_0000 + 1)
    return bytes(out)


def damaged(tmp_path: Path) -> Iterator[Path]:
    data = pcap(GOOD)
    for name, content in [
        ("cut.pcap", data[:-30]),
        ("cut-header.pcap", data[: 24 + 8]),
        ("cut.pcap.gz", gzip.compress(data)[:-40]),
        ("absurd.pcap", absurd(data)),
    ]:
        path = tmp_path / name
        path.write_bytes(content)
        yield path


def test_the_same_warnings_for_damaged_files(tmp_path: Path, workers: list[int]) -> None:
    for path in damaged(tmp_path):
        alone = read_trace([str(path)], parallel=False)
        two = read_trace([str(path)], parallel=True)
        assert alone.inputs[0].warnings, path.name  # damage it is
        assert_same(alone, two, path.name)
    assert len(workers) == 4


def raised(call: Callable[..., object], *args: Any, **kwargs: Any) -> BaseException:
    with pytest.raises(BaseException) as info:
        call(*args, **kwargs)
    return info.value


def test_the_same_error_for_unreadable_files(tmp_path: Path, workers: list[int]) -> None:
    text = tmp_path / "notes.pcap"
    text.write_text("not a capture\n")
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    short = tmp_path / "short.pcap"
    short.write_bytes(pcap(GOOD)[:20])
    for path in (text, empty, short, tmp_path / "missing.pcap"):
        a = raised(read_trace, [str(path)], parallel=False)
        b = raised(read_trace, [str(path)], parallel=True)
        assert type(a) is type(b) is CaptureError
        assert str(a) == str(b)
    assert not workers  # inputs are opened here, before any worker starts


def run_cli(monkeypatch: pytest.MonkeyPatch, *, two: bool, args: list[str]) -> Result:
    monkeypatch.setattr(reading, "PARALLEL_MIN_BYTES", 0 if two else 1 << 62)
    monkeypatch.setattr(reading, "cores", lambda: 2)
    return CliRunner().invoke(cli, args, catch_exceptions=False)


@pytest.mark.parametrize(
    "args",
    [["read", "-f", "json"], ["read", "--list"], ["read", "-f", "csv"], ["stats"]],
    ids=["json", "list", "csv", "stats"],
)
def test_the_cli_says_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: list[int], args: list[str]
) -> None:
    """Output, one-line errors and warnings, exit statuses (3 unreadable, 4 damaged)."""
    inputs = [*damaged(tmp_path), need(CORPUS / NETMON), CAPTURES / "invite-call-tcp.pcap"]
    for path in inputs:
        alone = run_cli(monkeypatch, two=False, args=[*args, str(path)])
        n = len(workers)
        two = run_cli(monkeypatch, two=True, args=[*args, str(path)])
        assert len(workers) == n + 1, path.name
        assert (alone.exit_code, alone.stdout, alone.stderr) == (
            two.exit_code,
            two.stdout,
            two.stderr,
        ), path.name
        assert alone.exit_code == {NETMON: 0, "invite-call-tcp.pcap": 0}.get(path.name, 4)
    assert_no_worker_left(workers)


# -- errors on either side ---------------------------------------------------------------------
def test_a_bug_in_the_worker_is_raised_here(
    monkeypatch: pytest.MonkeyPatch, workers: list[int]
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Message | Skipped:
        raise KeyError("no such header")

    monkeypatch.setattr(parallel, "parse_message", broken)  # the worker's parser
    monkeypatch.setattr(stages, "parse_message", broken)  # this process's
    if parser.FAST_PARSE is not None:  # which it calls itself for a message in a file
        monkeypatch.setattr(stages, "FAST_PARSE", broken)
    monkeypatch.setattr(parallel, "FIRST_SHARE", 0)  # the worker parses the first one
    path = str(CAPTURES / "invite-call.pcap")
    alone = raised(read_trace, [path], parallel=False)
    two = raised(read_trace, [path], parallel=True)
    assert type(alone) is type(two) is KeyError
    assert str(alone) == str(two)
    notes = getattr(two, "__notes__", [])
    assert len(notes) == 1 and "in the worker process" in notes[0] and "broken" in notes[0]
    assert_no_worker_left(workers)


def test_a_sipsniff_error_in_the_worker_is_raised_as_it_is(
    monkeypatch: pytest.MonkeyPatch, workers: list[int]
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Message | Skipped:
        raise CaptureError("the disk went away")

    monkeypatch.setattr(parallel, "parse_message", broken)
    monkeypatch.setattr(parallel, "FIRST_SHARE", 0)
    exc = raised(read_trace, [str(CAPTURES / "invite-call.pcap")], parallel=True)
    assert type(exc) is CaptureError and str(exc) == "the disk went away"
    assert not hasattr(exc, "__notes__")
    assert_no_worker_left(workers)


def test_a_worker_killed_is_an_error(monkeypatch: pytest.MonkeyPatch, workers: list[int]) -> None:
    def killed(*args: Any, **kwargs: Any) -> Message | Skipped:
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("not reached")

    monkeypatch.setattr(parallel, "parse_message", killed)
    monkeypatch.setattr(parallel, "FIRST_SHARE", 0)
    exc = raised(read_trace, [str(CAPTURES / "invite-call.pcap")], parallel=True)
    assert type(exc) is SipsniffError
    assert (
        str(exc) == "the worker process reading the captures was killed by SIGKILL without a word"
    )
    assert_no_worker_left(workers)


def test_an_error_here_ends_the_worker(
    long_capture: Path, monkeypatch: pytest.MonkeyPatch, workers: list[int]
) -> None:
    """``summarize`` fails while the worker still has frames to go: it is ended, not left."""
    monkeypatch.setattr(parallel, "BATCH", 2)

    def fails(part: Trace) -> None:
        raise ValueError("summary full")

    exc = raised(read_trace, [str(long_capture)], summarize=fails, hold=1, parallel=True)
    assert type(exc) is ValueError and str(exc) == "summary full"
    assert_no_worker_left(workers)


# -- signals -------------------------------------------------------------------------------------
SLOW_RUN = """
import os, sys, time
from sipsniff import pipeline
from sipsniff.pipeline import parallel, stages
from sipsniff.pipeline import read as reading
from sipsniff.pipeline import session as sessions
from sipsniff.capture import files

def slowly(parse):
    def slow(*args, **kwargs):
        time.sleep(0.002)
        return parse(*args, **kwargs)
    return slow

parallel.parse_message = slowly(parallel.parse_message)  # the worker's parser
stages.parse_message = slowly(stages.parse_message)  # this process's
if stages.FAST_PARSE is not None:  # which it calls itself for a message in a file
    stages.FAST_PARSE = slowly(stages.FAST_PARSE)
parallel.FIRST_SHARE = 0  # the worker parses all
parallel.BATCH = int(os.environ.get("BATCH", parallel.BATCH))
parallel.Channel.behind = lambda self: 1
reading.cores = lambda: 2
reading.PARALLEL_MIN_BYTES = 0 if os.environ["TWO"] else 1 << 62
start = parallel.Worker.start
def spy(self):
    start(self)
    print(self.pid, flush=True)
parallel.Worker.start = spy
from sipsniff.cli import main  # before the "0": a signal must not come in the middle of imports
if not os.environ["TWO"]:
    print(0, flush=True)
main(sys.argv[1:])
"""


@pytest.fixture(scope="module")
def long_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two thousand OPTIONS and their answers: seconds of work for the slowed-down parser."""
    path = tmp_path_factory.mktemp("parallel") / "long.pcap"
    path.write_bytes(pcap([f for n in range(2000) for f in options_pair(n)]))
    return path


def interrupted(
    path: Path, how: str, *, two: bool, batch: int = 1000
) -> tuple[int | None, bytes, int]:
    """Exit status and stderr of ``sipsniff read`` on ``path``, stopped by ``how`` after 0.3 s
    of work; the pid of its worker (0: none)."""
    with (
        tempfile.TemporaryFile() as err,
        subprocess.Popen(
            [sys.executable, "-c", SLOW_RUN, "read", str(path), "-f", "json", "-o", os.devnull],
            stdout=subprocess.PIPE,
            stderr=err,
            cwd=ROOT,
            env={**os.environ, "TWO": "1" if two else "", "BATCH": str(batch)},
            start_new_session=True,  # a process group of its own, as a terminal would make
        ) as proc,
    ):
        try:
            assert proc.stdout is not None
            worker = int(proc.stdout.readline())
            time.sleep(0.3)
            assert proc.poll() is None
            assert bool(worker) == two and not (two and gone(worker, wait=0))
            if how == "ctrl-c":
                os.killpg(proc.pid, signal.SIGINT)  # the terminal signals the whole group
            else:
                os.kill(proc.pid, signal.SIGKILL if how == "sigkill" else signal.SIGTERM)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        err.seek(0)
        return proc.returncode, err.read(), worker


@contextmanager
def reaped(pid: int) -> Iterator[int]:
    """``pid``, killed at the end if it is still there (a test that failed leaves nothing)."""
    try:
        yield pid
    finally:
        if pid and not gone(pid, wait=0):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_signals_end_both_processes_quietly(long_capture: Path, how: str) -> None:
    """As without a worker: Ctrl-C and SIGTERM end the run with their statuses (130, 143:
    docs/exit-status.md), no traceback; the worker is gone."""
    alone = interrupted(long_capture, how, two=False)
    status, err, worker = interrupted(long_capture, how, two=True)
    with reaped(worker):
        assert (status, err) == alone[:2]
        assert b"Traceback" not in err
        assert status == (ExitStatus.INTERRUPTED if how == "ctrl-c" else ExitStatus.TERMINATED)
        assert gone(worker, wait=0.5)


def test_a_worker_whose_parent_was_killed_ends(long_capture: Path) -> None:
    """SIGKILL leaves no time to end the worker: it finds out at its next send (a broken pipe),
    within 10 slow messages here, and ends quietly."""
    status, _, worker = interrupted(long_capture, "sigkill", two=True, batch=10)
    with reaped(worker):
        assert status == -signal.SIGKILL
        assert gone(worker, wait=2)


def test_sigterm_handler_is_restored(workers: list[int]) -> None:
    before = signal.getsignal(signal.SIGTERM)
    read_trace([str(CAPTURES / "invite-call.pcap")], parallel=True)
    assert workers
    assert signal.getsignal(signal.SIGTERM) is before


def test_many_batches(workers: list[int], tmp_path: Path) -> None:
    """12,000 messages: many batches, the share of parsing moving between the two processes."""
    path = tmp_path / "options.pcap"
    options_capture(path, 6000, gap_us=50)
    serial = read_trace([str(path)], parallel=False)
    assert len(serial.entries) == 12_000
    assert_same(serial, read_trace([str(path)], parallel=True), "")
    assert len(workers) == 1


# -- spawned, as on macOS and Windows ------------------------------------------------------------
@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch, workers: list[int]) -> Iterator[list[int]]:
    """Workers started as macOS and Windows start them: a new interpreter, the job pickled, the
    files opened again by path (nothing of this process's memory comes along)."""
    monkeypatch.setattr(reading, "start_method", lambda: "spawn")
    methods: list[str] = []
    start = parallel.Worker.start

    def spy(self: parallel.Worker) -> None:
        methods.append(self.method)
        start(self)

    monkeypatch.setattr(parallel.Worker, "start", spy)
    yield workers
    assert methods and set(methods) == {"spawn"}


def test_start_method_by_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    from sipsniff.capture import system

    expected = {"linux": "fork", "bsd": "fork", "macos": "spawn", "windows": "spawn"}
    for os_name, method in expected.items():
        monkeypatch.setattr(system, "OS", os_name)
        assert parallel.start_method() == method, os_name


def test_a_spawned_worker_gives_the_same_trace(
    corpus: Path, spawned: list[int], long_capture: Path
) -> None:
    paths = [
        str(CAPTURES / "invite-call.pcap"),
        str(corpus / "sip-tcp.pcap"),
        str(corpus / "ipv6frag.pcap"),
    ]
    assert_same(read_trace(paths, parallel=False), read_trace(paths, parallel=True), "merged")
    parts: dict[bool, list[Trace]] = {False: [], True: []}
    for two in (False, True):
        rest = read_trace([str(long_capture)], summarize=parts[two].append, hold=300, parallel=two)
        parts[two].append(rest)
    assert len(parts[True]) > 2
    for a, b in zip(parts[False], parts[True], strict=True):
        assert_same(a, b, "part")
    assert len(spawned) == 2
    assert_no_worker_left(spawned)


def test_a_spawned_worker_reports_damage_and_errors_as_forked(
    tmp_path: Path, spawned: list[int]
) -> None:
    for path in damaged(tmp_path):
        alone = read_trace([str(path)], parallel=False)
        two = read_trace([str(path)], parallel=True)
        assert_same(alone, two, path.name)
    assert_no_worker_left(spawned)
