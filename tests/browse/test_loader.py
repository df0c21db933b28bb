"""What the browser reads a capture file with (``cli.browse.file_source``): on a big file a worker
process reads, decodes and parses while the browser's reading thread correlates. The person sees
the same dialogs, states, RTP streams and exportable datagrams as from one process."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from sipsniff.browse.app import Source
from sipsniff.browse.loader import Progress
from sipsniff.cli import browse as browse_cli
from sipsniff.model import Trace
from sipsniff.pipeline import parallel
from sipsniff.pipeline import read as reading
from tests.conftest import CAPTURES, CORPUS, need


def read(source: Source, stop_after: int | None = None) -> tuple[Trace, list[Progress]]:
    """Feed ``source`` as the browser's reading thread does; ``stop_after``: the person quits
    after that many updates."""
    seen: list[Progress] = []
    source.feed(seen.append, lambda: stop_after is not None and len(seen) >= stop_after)
    trace = source.session.trace()
    if source.finish is not None:
        source.finish(trace)
    return trace, seen


def sources(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Source, Source]:
    """The browser's source of ``path`` read in one process, then with a worker process."""
    monkeypatch.setattr(browse_cli, "two_processes", lambda files: False)
    one = browse_cli.file_source([str(path)])
    monkeypatch.setattr(browse_cli, "two_processes", lambda files: True)
    return one, browse_cli.file_source([str(path)])


@pytest.mark.parametrize(
    "name",
    ["sip-rtp-g711.pcap", "SIP_CALL_RTP_G711", "sip-rtp-opus-hybrid.pcap", "sip-tcp.pcap"],
)
def test_the_same_browser_from_a_worker_process(
    name: str, monkeypatch: pytest.MonkeyPatch, workers: list[int]
) -> None:
    one, two = sources(need(CORPUS / name), monkeypatch)
    assert len(workers) == 1  # started with the source, before the browser's threads
    trace1, seen1 = read(one)
    trace2, seen2 = read(two)
    assert (trace2.entries, trace2.dialogs, trace2.transactions) == (
        trace1.entries,
        trace1.dialogs,
        trace1.transactions,
    )
    assert [d.state for d in trace2.dialogs.values()] == [d.state for d in trace1.dialogs.values()]
    assert (trace2.inputs, trace2.tls, trace2.counts) == (trace1.inputs, trace1.tls, trace1.counts)
    # every dialog was shown as new once, in order; the status line's frame count is whole
    assert [d.id for p in seen2 for d in p.new] == list(trace1.dialogs)
    assert seen2[-1].done and seen2[-1].frames == seen1[-1].frames == trace1.inputs[0].frames
    # the RTP streams of the flow and the datagrams pcap export copies
    assert two.rtp.streams == one.rtp.streams and two.rtp.first_ts_ns == one.rtp.first_ts_ns
    assert two.media is not None and one.media is not None
    assert two.media.datagrams == one.media.datagrams
    if name != "sip-tcp.pcap":
        assert one.rtp.streams  # not vacuous
    assert multiprocessing.active_children() == []


def test_quitting_while_a_worker_reads_ends_it(
    monkeypatch: pytest.MonkeyPatch, workers: list[int]
) -> None:
    """The person quits after the first rows: the worker process is gone, what was read is
    shown until the browser closes."""
    path = need(CORPUS / "branch-scenario-sipp.pcapng")
    monkeypatch.setattr(parallel, "BATCH", 50)
    _, two = sources(path, monkeypatch)
    trace, seen = read(two, stop_after=1)
    assert len(workers) == 1 and multiprocessing.active_children() == []
    assert 0 < len(trace.entries) < 8989
    assert seen[-1].done and seen[0].new


def test_a_small_file_is_read_in_one_process(workers: list[int]) -> None:
    source = browse_cli.file_source([str(CAPTURES / "invite-call.pcap")])
    trace, _ = read(source)
    assert trace.dialogs and not workers
    assert not reading.two_processes([str(CAPTURES / "invite-call.pcap")])


def test_a_spawned_worker_gives_the_same_browser(
    monkeypatch: pytest.MonkeyPatch, workers: list[int]
) -> None:
    """As on macOS and Windows: the worker is a new interpreter that opens the file again; the
    RTP it sees reaches this process all the same."""
    monkeypatch.setattr(reading, "start_method", lambda: "spawn")
    one, two = sources(need(CORPUS / "sip-rtp-g711.pcap"), monkeypatch)
    trace1, _ = read(one)
    trace2, seen2 = read(two)
    assert len(workers) == 1
    assert (trace2.entries, trace2.dialogs) == (trace1.entries, trace1.dialogs)
    assert two.rtp.streams == one.rtp.streams and one.rtp.streams
    assert seen2[-1].frames == trace1.inputs[0].frames
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize("two", [False, True])
def test_what_only_later_messages_need_goes_when_the_file_is_read(
    two: bool, monkeypatch: pytest.MonkeyPatch, workers: list[int]
) -> None:
    """Once the file is read, the correlator's look-up state (per Call-ID) is let go before the
    findings are worked out; the trace the browser shows is the one ``read`` makes."""
    path = need(CORPUS / "sip-rtp-g711.pcap")
    monkeypatch.setattr(browse_cli, "two_processes", lambda files: two)
    source = browse_cli.file_source([str(path)])
    trace, _ = read(source)
    assert source.session.correlator._states == {} and trace.dialogs
    ref = reading.read_trace([str(path)])
    assert (trace.entries, trace.dialogs, trace.transactions) == (
        ref.entries,
        ref.dialogs,
        ref.transactions,
    )
    assert multiprocessing.active_children() == []
