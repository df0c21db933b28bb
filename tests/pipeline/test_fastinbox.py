"""The C fast path of the parent's side of a read on two cores (pipeline/_fastinbox.c) against
the Python code (``parallel.Inbox._take``): the same trace from the project's captures, taken in
batches where records for C and for Python come in turns; its errors raised as Python's are, with
the records before them taken; and all of it once more built under ASan and UBSan.
tests/pipeline/test_parallel.py compares every capture of the corpus read so with one process.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sipsniff.model import Payload, Trace
from sipsniff.pipeline import parallel, read_trace
from sipsniff.pipeline import read as reading
from tests.conftest import CAPTURES
from tests.fastpaths import needs_c, run_sanitized

pytestmark = needs_c(parallel.FAST_TAKE)


def fields(trace: Trace) -> tuple[object, ...]:
    return (trace.entries, trace.dialogs, trace.transactions, trace.skipped, trace.counts)


@pytest.mark.parametrize("batch", [3, parallel.BATCH])
def test_the_same_trace_as_python(batch: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Read on two cores with C, then with Python's ``_take`` alone: the same trace, and the
    same as in one process (the worker parses a share too: records of both kinds in a batch)."""
    monkeypatch.setattr(parallel, "FIRST_SHARE", 5)
    monkeypatch.setattr(parallel, "BATCH", batch)
    paths = sorted(CAPTURES.glob("*.pcap"))
    assert len(paths) >= 3
    for path in paths:
        fast = read_trace([str(path)], parallel=True)
        with monkeypatch.context() as m:
            m.setattr(parallel, "FAST_TAKE", None)
            slow = read_trace([str(path)], parallel=True)
        assert fields(fast) == fields(slow) == fields(read_trace([str(path)], parallel=False))


def test_an_error_is_raised_after_the_records_before_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """What takes a message raises (as the correlator would on a bug): raised out of ``take``,
    once the messages before it were taken, as Python's loop does."""
    taken: list[object] = []

    def add(msg: object) -> None:
        if len(taken) == 5:
            raise RuntimeError("the correlator failed")
        taken.append(msg)

    real = reading.TwoProcesses.batches

    def batches(self: reading.TwoProcesses) -> object:
        direct = self.session.pipe.direct()
        assert direct is not None
        self.session.pipe.direct = lambda: (*direct[:2], add)  # type: ignore[method-assign]
        return real(self)

    monkeypatch.setattr(reading.TwoProcesses, "batches", batches)
    monkeypatch.setattr(reading, "PARALLEL_MIN_BYTES", 0)
    path = CAPTURES / "calls-lossy.pcap"
    with pytest.raises(RuntimeError, match="the correlator failed"):
        read_trace([str(path)], parallel=True)
    assert len(taken) == 5


def test_observers_see_what_they_see_in_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """A session's observers (the browser's, the live view's) are shown each entry as it is
    made, in order, by C as by Python."""
    seen: list[tuple[int, int]] = []
    real = reading.TwoProcesses.batches

    def batches(self: reading.TwoProcesses) -> object:
        self.session.observers.append(lambda e: seen.append((e.id, e.dialog)))
        return real(self)

    monkeypatch.setattr(reading.TwoProcesses, "batches", batches)
    monkeypatch.setattr(parallel, "FIRST_SHARE", 5)  # the worker parses a share: both kinds
    path = str(CAPTURES / "calls-lossy.pcap")
    read_trace([path], parallel=True)
    fast = list(seen)
    seen.clear()
    monkeypatch.setattr(parallel, "FAST_TAKE", None)
    read_trace([path], parallel=True)
    assert fast == seen and len(seen) > 20


def test_arguments_it_refuses() -> None:
    assert parallel.FAST_TAKE is not None
    take = parallel.FAST_TAKE
    with pytest.raises(TypeError):
        take([], {}, None, {}, None, None, [], None, None, Payload)  # one short
    with pytest.raises(TypeError):
        take((), {}, None, {}, None, None, [], None, None, Payload, parallel.SIP)  # no list
    with pytest.raises(ValueError):
        take([], {}, None, {}, None, None, [], None, None, Payload, 3)
    # records it does not take go to ``rest``, in runs, in order
    runs: list[list[object]] = []
    marks: list[int] = []
    batch = [(1,), (7, None), (2,), (1, 2, 3), (3,)]
    take(batch, {}, None, {}, None, None, [], marks.append, runs.append, Payload, parallel.SIP)
    assert marks == [1, 2, 3] and runs == [[(7, None)], [(1, 2, 3)]]


def test_under_address_and_undefined_behaviour_sanitizers(tmp_path: Path) -> None:
    run_sanitized(
        tmp_path, "sipsniff/pipeline/_fastinbox.c", "sipsniff.pipeline._fastinbox", [Path(__file__)]
    )
