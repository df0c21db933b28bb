"""Capture files into a correlated ``Trace``: ``read_trace``, in one process or two.

The frames of the files (``capture.files.read_frames``, merged in time order) go through a
``Session``. With a worker process (``parallel``), the worker reads, decodes and parses while this
process correlates and sweeps, exactly as the session does alone: the same trace, sooner.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import ParamSpec, cast

from sipsniff.capture.filed import filed_bytes
from sipsniff.capture.files import read_frames, regular_size
from sipsniff.capture.tls_keys import decrypted_pieces
from sipsniff.errors import UsageError
from sipsniff.model import (
    CaptureInfo,
    Counts,
    Entry,
    Frame,
    Message,
    Payload,
    Skipped,
    TlsConnection,
    Trace,
)
from sipsniff.pipeline.parallel import (
    BATCH,
    EVERY,
    Channel,
    Inbox,
    Outbox,
    Worker,
    cores,
    start_method,
)
from sipsniff.pipeline.session import Retention, Session
from sipsniff.pipeline.stages import DEFAULT_LIMITS, DEFAULT_LINK_HEADERS, Limits, MiB, Pipeline

_P = ParamSpec("_P")

PARALLEL_MIN_BYTES = 8 * MiB
"""Inputs smaller than this (in all) are read in one process: a worker would not pay for itself."""


@contextmanager
def acyclic(*, keep: bool = False, age: bool = False) -> Iterator[None]:
    """The cyclic garbage collector off while the block runs, for work that makes hundreds of
    thousands of objects and no cycle (a trace as it grows, ``stats``'s summary of one): every
    collection meanwhile would go over them all again, for nothing. Cycles made there after all
    are collected after it.

    Args:
        keep: what the block made and still holds (a trace kept as long as the program) is put
            out of the collector's sight for good (``gc.freeze``): each full collection would go
            over all of it again.
        age: it goes straight to the oldest generation (freeze, unfreeze): the next collection
            would go over every object of it (0.3 s for 180,000 messages), to find nothing to
            free. (Cyclic garbage made before and not collected yet goes there too: it waits
            for a full collection.)
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if keep or age:
                gc.freeze()
            if age:
                gc.unfreeze()
            gc.enable()


def read_trace(
    paths: Sequence[str],
    *,
    link_headers: Sequence[str] = DEFAULT_LINK_HEADERS,
    media: Sequence[Callable[[Payload], None]] = (),
    tls_keylog: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    summarize: Callable[[Trace], None] | None = None,
    hold: int = 20_000,
    parallel: bool | None = None,
) -> Trace:
    """Read capture files (merged in time order) into a correlated ``Trace``.

    With ``summarize``, the capture may be of any size: the session sweeps as
    ``Retention.summarizing(hold)`` says, and each part it lets go goes to ``summarize`` as a
    trace of its own. The returned trace holds the rest: give it to the summary last.
    ``counts.dialogs_cut_short`` says how many dialogs went before they were over. Skipped
    records: the first ``session.SKIPPED_KEPT`` are kept, the others counted
    (``counts.skipped_not_kept``).

    Args:
        limits: what the pipeline may hold (``Pipeline``); ``limits.max_dialogs`` keeps the
            first dialogs only.
        media: observers called with every datagram that is not SIP (for RTP analysis).
        tls_keylog: an SSLKEYLOGFILE: SIP over TLS is decrypted (by tshark) and joins the trace
            at the frames of its TLS records, with transport ``tls``.
        parallel: read, decode and parse in a second process (``pipeline.parallel``) while this
            one correlates: the same trace, sooner. None: when it pays (two cores, inputs of
            ``PARALLEL_MIN_BYTES`` or more); True: whenever it can be done; False: never. It
            cannot be done with ``tls_keylog``, standard input or another input that is no
            regular file. Where the worker is spawned (macOS, Windows) it opens the files again
            by their paths. ``media`` observers then see the datagrams here, sent by the
            worker.
    """
    pending: dict[tuple[int, int], list[Payload]] = {}
    if tls_keylog is not None:
        if "-" in paths:
            raise UsageError("--tls-keylog needs capture files, not standard input")
        for i, path in enumerate(paths):
            for p in decrypted_pieces(path, tls_keylog, file=i):
                pending.setdefault((p.file, p.frame), []).append(p)
    retention = Retention() if summarize is None else Retention.summarizing(hold)
    session = Session(link_headers=link_headers, limits=limits, retention=retention)
    if summarize is not None:
        session.expired.append(summarize)
    session.pipe.media.extend(media)
    session.pipe.files.update(filed_bytes(paths))
    two = two_processes(paths, parallel, tls=tls_keylog is not None)
    # Everything the pipeline makes is acyclic (tuples of values), so reference counting frees it;
    # what is left is the trace, to be kept (the caller may freeze it: ``keep_until_exit``).
    with acyclic(age=True):
        if two:
            infos, tls = _read_parallel(session, paths)
        else:
            infos, frames = read_frames(paths)
            session.run(frames, pending)
            session.finish()
            tls = session.pipe.tls.connections()
    trace = session.trace()
    trace.inputs = infos
    trace.tls = tls
    return trace


def two_processes(paths: Sequence[str], wanted: bool | None = None, *, tls: bool = False) -> bool:
    """Whether ``paths`` are read with a worker process (see ``read_trace``'s ``parallel``)."""
    if wanted is False or tls or not paths:
        return False
    size = regular_size(paths)
    if size is None:
        return False
    return wanted is True or (cores() >= 2 and size >= PARALLEL_MIN_BYTES)


def _read_parallel(
    session: Session, paths: Sequence[str]
) -> tuple[list[CaptureInfo], list[TlsConnection]]:
    """``read_trace`` with a worker process (``TwoProcesses``). Returns the inputs and the TLS
    connections, as the worker saw them."""
    # Opened here, so that an input that cannot be read raises here as in one process.
    infos, frames = read_frames(paths)
    reader = TwoProcesses(session, paths, infos, frames)
    del frames
    with reader.worker:
        reader.start()
        for _ in reader.batches():
            pass
    return reader.infos, reader.tls


class TwoProcesses:
    """A read of capture files on two cores: a worker process reads, decodes and parses
    (``_produce``), this process correlates and sweeps exactly as ``Session.run`` does, and
    gives the media observers (``Pipeline.media``) and the session's observers what they would
    have seen there. ``read_trace`` drives it at full speed; the browser a batch at a time, to
    show what came.

    Args:
        infos, frames: ``read_frames(paths)``. A worker that is forked reads ``frames`` (this
            process had better let go of them once it started); a spawned one opens ``paths``
            again.
        progress: have the worker tell how many frames it has read (``frames``).
    """

    def __init__(
        self,
        session: Session,
        paths: Sequence[str],
        infos: list[CaptureInfo],
        frames: Iterator[Frame],
        *,
        progress: bool = False,
    ) -> None:
        pipe = session.pipe
        # The end of a frame that gave a record, where ``Session.run`` checks whether to sweep.
        # Other frames are not marked: there, ``run`` finds nothing to do, for only records add
        # dialogs.
        sweeps = bool(session.retention.hold)
        media = bool(pipe.media)
        method = start_method()
        job: Callable[[Channel], _Result]
        if method == "fork":
            job = partial(_produce, pipe.limits, frames, infos, sweeps, media, progress)
        else:
            # A spawned worker gets a pickled job: the paths, opened again there.
            job = partial(_produce_from, pipe.limits, list(paths), sweeps, media, progress)
        self.session = session
        self._sweeps = sweeps
        self.worker = Worker(job, method)
        self.frames = 0
        """Frames the worker has read so far (with ``progress``)."""
        self.infos = infos
        """The inputs, as the worker saw them once it is done."""
        self.tls: list[TlsConnection] = []
        """The TLS connections the worker saw, once it is done."""

    def start(self) -> None:
        """Start the worker process (from the main thread, before any other starts: it is
        forked where it can be)."""
        if self._sweeps:
            self.worker.tell(self.session.high - len(self.session.pipe.correlator.dialogs))
        self.worker.start()

    def batches(self) -> Iterator[None]:
        """Take in each batch the worker sends, yielding after each; at the end, the states
        are final and the counts, inputs and TLS connections are the worker's. The session's
        observers are those it has now."""
        session = self.session
        pipe = session.pipe
        keep: Callable[[Message], Entry | None] = pipe.keep
        parse: Callable[[bytes, Payload, bool, int], Entry | None] = pipe.parse_sip
        direct = pipe.direct()
        if session.observers:
            keep, parse = _observed(session, keep), _observed(session, parse)
        take = Inbox(
            keep,
            parse,
            pipe.skipped,
            _marker(session) if self._sweeps else None,
            filed=pipe.filed,
            media=pipe.media,
            progress=self._progress,
            direct=direct,
            observers=session.observers,
        ).take
        dialogs = pipe.correlator.dialogs
        taken = 0
        for batch in self.worker:
            take(batch)
            if self._sweeps:
                # The records it can take before a sweep may be due (``parallel``: marks).
                taken += len(batch)
                self.worker.tell(taken + session.high - len(dialogs))
            yield
        counts, self.infos, self.tls = cast(_Result, self.worker.result)
        self.session.pipe.correlator.finish()
        # The worker counted what it read and decoded; this process, what the limits left out.
        self.session.counts.add(counts)

    def _progress(self, frames: int) -> None:
        self.frames = frames


def _observed(session: Session, take: Callable[_P, Entry | None]) -> Callable[_P, Entry | None]:
    """``take`` (the pipeline's ``keep`` or ``parse_sip``), its entries shown to the session's
    observers as ``Session.run`` shows them."""
    observe = session.observers

    def observed(*args: _P.args, **kwargs: _P.kwargs) -> Entry | None:
        entry = take(*args, **kwargs)
        if entry is not None:
            for see in observe:
                see(entry)
        return entry

    return observed


def _marker(session: Session) -> Callable[[int], None]:
    dialogs = session.correlator.dialogs

    def mark(ts_ns: int) -> None:
        if len(dialogs) > session.high:
            session.sweep(ts_ns)

    return mark


_Result = tuple[Counts, list[CaptureInfo], list[TlsConnection]]
"""What the worker process sends last: its counts, the inputs, the TLS connections."""


def _produce(
    limits: Limits,
    frames: Iterator[Frame],
    infos: list[CaptureInfo],
    marks: bool,
    media: bool,
    progress: bool,
    channel: Channel,
) -> _Result:
    """The worker process of ``TwoProcesses``: the pipeline up to parsing, its messages sent
    (its correlator stays idle: this process correlates), and with ``media`` the datagrams that
    are not SIP."""
    skipped: list[Skipped] = []
    out = Outbox(skipped, channel, marks=marks, progress=progress)
    pipe = Pipeline(limits=limits, skipped=skipped, sip=out.sip)
    out.offset_of = pipe.offset_of
    if media:
        pipe.media.append(out.media)
    feed = pipe.feed
    end_of_frame = out.end_of_frame
    i = -1
    for i, frame in enumerate(frames):
        feed(frame)
        # Without marks, only where a batch may be due (``Outbox.end_of_frame``'s test).
        if marks or len(out.records) >= BATCH or not i % EVERY:
            end_of_frame(frame.ts_ns, i)
    out.frames = i + 1
    pipe.flush()
    out.flush()
    return pipe.counts, infos, pipe.tls.connections()


def _produce_from(
    limits: Limits,
    paths: list[str],
    marks: bool,
    media: bool,
    progress: bool,
    channel: Channel,
) -> _Result:
    """``_produce`` in a spawned worker: the files opened again, by their paths."""
    infos, frames = read_frames(paths)
    return _produce(limits, frames, infos, marks, media, progress, channel)
