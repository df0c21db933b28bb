"""Wiring of the stages: frames in, correlated SIP messages out.

The same ``Pipeline`` serves files, live capture and HEP: whoever has frames feeds them one by one and
gets back the entries they completed (for live display), then calls ``finish`` for the whole ``Trace``.
"""

from __future__ import annotations

import gc
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import NamedTuple, cast

from sipsniff.capture.files import read_frames, regular_size
from sipsniff.capture.tls_keys import decrypted_pieces
from sipsniff.correlate.correlator import Correlator
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
from sipsniff.net.decode import Decoder
from sipsniff.net.hep import HEP_PORT, unwrap_hep
from sipsniff.net.tcp import TcpReassembler
from sipsniff.net.tls import TlsConnections
from sipsniff.net.websocket import WebSocketStreams
from sipsniff.parallel import Channel, Inbox, Outbox, Worker, cores, fork_available
from sipsniff.sip.framing import Framers
from sipsniff.sip.parser import keepalive_kind, looks_like_sip, parse_message

DEFAULT_LINK_HEADERS = ("X-Call-ID", "X-CID")

MiB = 1024 * 1024


class Limits(NamedTuple):
    """What one run may hold in memory: hostile or huge input must not exhaust it.

    Hitting a limit is reported: a ``Skipped`` record (a message too big, a stream's bytes lost),
    counters (``tcp_dropped_bytes``, ``dialogs_not_kept``...) and a warning of the command.
    """

    max_message: int = 1 * MiB
    """Largest SIP message kept from a stream (TCP, SCTP, WebSocket after inflating), in bytes."""
    max_buffer: int = 256 * MiB
    """Most bytes held for reassembly: over all TCP streams, and over all IP fragment sets."""
    max_dialogs: int = 0
    """Most dialogs kept (0: no limit). ``read`` keeps the first ones; messages of later Call-IDs
    are counted (``messages_not_kept``), not kept."""


DEFAULT_LIMITS = Limits()


class Pipeline:
    """Decode, reassemble, parse and correlate; sans-IO apart from what the caller feeds it."""

    def __init__(
        self, *, link_headers: Sequence[str] = DEFAULT_LINK_HEADERS, limits: Limits = DEFAULT_LIMITS
    ) -> None:
        self.counts = Counts()
        self.skipped: list[Skipped] = []
        self.limits = limits
        self.tcp = TcpReassembler(
            self.counts,
            self.skipped,
            max_stream_bytes=max(4 * MiB, 2 * limits.max_message),
            max_total_bytes=limits.max_buffer,
        )
        self.decoder = Decoder(
            self.counts, self.skipped, tcp=self.tcp, frag_max_bytes=limits.max_buffer
        )
        self.framers = Framers(
            self.counts, self.skipped, max_message=limits.max_message, max_total=limits.max_buffer
        )
        self.websockets = WebSocketStreams(
            self.counts, self.skipped, max_message=limits.max_message
        )
        self.tls = TlsConnections(self.counts)
        self.correlator = Correlator(link_headers=link_headers)
        self.media: list[Callable[[Payload], None]] = []
        """Observers of the datagrams that are not SIP (RTP, RTCP, ...), e.g. an RTP analyzer."""
        self._decode = self.decoder.decode
        self._add = self.correlator.add
        self._sip: Callable[[bytes, Payload, bool], Entry | None] | None = None
        """What becomes of data that looks like SIP, when not ``parse_sip``: in the worker
        process of ``read_trace``, ``parallel.Outbox.sip``, which sends it on. (Not
        ``self.parse_sip`` by default: a bound method here would make ``self`` a cycle, left to
        the garbage collector instead of freed with the last reference.)"""
        self._max_dialogs = limits.max_dialogs
        self.not_kept_from: Payload | None = None
        """Where the first message of a dialog beyond ``limits.max_dialogs`` came from."""

    def feed(self, frame: Frame) -> list[Entry]:
        """Take one captured frame; return the entries of the SIP messages it completed."""
        payloads = self._decode(frame)
        if not payloads:
            return []
        if len(payloads) == 1 and not payloads[0].stream:  # the common case: one datagram
            p = payloads[0]
            entry = self._message(p.data, p, framed=False)
            return [] if entry is None else [entry]
        return self._payloads(payloads)

    def finish(self) -> list[Entry]:
        """End of input: release what reassembly still holds; return the entries that completes."""
        out = self.flush()
        self.correlator.finish()
        return out

    def flush(self) -> list[Entry]:
        """``finish`` but for the final states of the dialogs: the input may go on."""
        out = self._payloads(self.decoder.flush())
        out += self._payloads(self.tcp.flush())
        out += self._payloads(self.websockets.flush())
        for raw, origin in self.framers.flush():
            entry = self._message(raw, origin, framed=True)
            if entry is not None:
                out.append(entry)
        return out

    def feed_payloads(self, payloads: Iterable[Payload]) -> list[Entry]:
        """Take transport payloads that did not come from a frame (decrypted TLS records)."""
        return self._payloads(payloads)

    def trace(self) -> Trace:
        c = self.correlator
        return Trace(
            entries=c.entries,
            dialogs=c.dialogs,
            transactions=c.transactions,
            skipped=self.skipped,
            counts=self.counts,
            tls=self.tls.connections(),
        )

    # -- internals -------------------------------------------------------------------------
    def _payloads(self, payloads: Iterable[Payload]) -> list[Entry]:
        out: list[Entry] = []
        pieces: Iterable[tuple[bytes, Payload, bool]]
        for p in payloads:
            if not p.stream:
                pieces = ((p.data, p, False),)
            elif p.transport == "tcp" and self.tls.feed(p):
                continue  # encrypted: listed in trace.tls, never taken for noise
            else:
                messages = self.websockets.feed(p)
                if messages is not None:  # a WebSocket connection: whole SIP messages
                    pieces = [(m.data, m, False) for m in messages]
                else:
                    pieces = [(raw, origin, True) for raw, origin in self.framers.feed(p)]
                    if pieces:
                        self.websockets.text(p.src, p.dst)
            for raw, origin, framed in pieces:
                entry = self._message(raw, origin, framed=framed)
                if entry is not None:
                    out.append(entry)
        return out

    def _message(self, raw: bytes, origin: Payload, *, framed: bool) -> Entry | None:
        if not looks_like_sip(raw):
            if not framed and (
                raw[:4] == b"HEP3"
                or (
                    raw[:1] in (b"\x01", b"\x02") and HEP_PORT in (origin.src.port, origin.dst.port)
                )
            ):
                # HEP on its way to a collector (HOMER): the SIP inside, with the original
                # addresses and time.
                inner = unwrap_hep(raw, origin)
                if isinstance(inner, Skipped):
                    self.skipped.append(inner)
                    return None
                if inner is not None:
                    self.counts.hep += 1
                    return self._message(inner.data, inner, framed=False)
            kind = keepalive_kind(raw)
            if kind is None:
                self.counts.not_sip += 1
            else:
                self.counts.keepalive += 1
            if kind is None and not framed:
                for observe in self.media:
                    observe(origin)
            return None
        if self._sip is not None:
            return self._sip(raw, origin, framed)
        return self.parse_sip(raw, origin, framed)

    def parse_sip(self, raw: bytes, origin: Payload, framed: bool) -> Entry | None:
        """Parse SIP data (a skipped record when it is not a message) and ``keep`` it."""
        parsed = parse_message(raw, origin, framed=framed)
        if type(parsed) is Skipped:
            self.skipped.append(parsed)
            return None
        return self.keep(parsed)  # type: ignore[arg-type]

    def keep(self, msg: Message) -> Entry | None:
        """Correlate a parsed message, unless it opens a dialog beyond ``limits.max_dialogs``."""
        cap = self._max_dialogs
        if cap and len(self.correlator.dialogs) >= cap and self._not_kept(msg):
            return None
        return self._add(msg)

    def _not_kept(self, msg: Message) -> bool:
        """Whether ``msg`` opens a dialog beyond ``limits.max_dialogs`` (then it is counted)."""
        if self.correlator.dialog_of(msg.call_id) is not None:
            return False
        if self.not_kept_from is None:
            self.not_kept_from = msg.pkt
        # Only messages are counted: a set of the Call-IDs not kept would grow with them.
        self.counts.messages_not_kept += 1
        return True


PARALLEL_MIN_BYTES = 8 * MiB
"""Inputs smaller than this (in all) are read in one process: a worker would not pay for itself."""


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

    With ``summarize``, the capture may be of any size: whenever more than ``hold`` dialogs are
    held, those that are over (and silent for ``OVER_NS``) go to ``summarize`` as a trace of
    their own and are forgotten; so do those silent for ``IDLE_NS``; then, while more than half of
    ``hold`` are left, the oldest that are over; then, while more than ``hold`` are left, the
    oldest (``Correlator.expire_trace``). The returned trace holds the
    rest: give it to the summary last. ``counts.dialogs_cut_short`` says how many dialogs went
    before they were over; ``counts.skipped_not_kept`` how many skipped records were counted
    but not kept (the first ``SKIPPED_KEPT`` are). When more than half of ``hold`` dialogs in
    progress stay, the next sweep comes when half ``hold`` more were added.

    Args:
        limits: what the pipeline may hold (``Pipeline``); ``limits.max_dialogs`` keeps the
            first dialogs only.
        media: observers called with every datagram that is not SIP (for RTP analysis).
        tls_keylog: an SSLKEYLOGFILE: SIP over TLS is decrypted (by tshark) and joins the trace
            at the frames of its TLS records, with transport ``tls``.
        parallel: read, decode and parse in a second process (``sipsniff.parallel``) while this
            one correlates: the same trace, sooner. None: when it pays (two cores, inputs of
            ``PARALLEL_MIN_BYTES`` or more); True: whenever it can be done; False: never. It
            cannot be done with ``media`` observers, ``tls_keylog``, standard input or another
            input that is no regular file, or where processes cannot fork.
    """
    pending: dict[tuple[int, int], list[Payload]] = {}
    if tls_keylog is not None:
        if "-" in paths:
            raise UsageError("--tls-keylog needs capture files, not standard input")
        for i, path in enumerate(paths):
            for p in decrypted_pieces(path, tls_keylog, file=i):
                pending.setdefault((p.file, p.frame), []).append(p)
    pipe = Pipeline(link_headers=link_headers, limits=limits)
    pipe.media.extend(media)
    two = _parallel(paths, parallel, media=bool(media), tls=tls_keylog is not None)
    # Everything the pipeline makes is acyclic (tuples of values), so reference counting frees it;
    # the cyclic collector would only rescan hundreds of thousands of live tuples again and again.
    enabled = gc.isenabled()
    gc.disable()
    try:
        sweeper = None if summarize is None else _Sweeper(pipe, summarize, hold)
        if two:
            infos, tls = _read_parallel(pipe, paths, sweeper)
        else:
            infos = _read(pipe, paths, pending, sweeper)
            tls = pipe.tls.connections()
    finally:
        if enabled:
            # What is left is the trace, to be kept: straight to the oldest generation (freeze,
            # unfreeze), or the next collection would go over every object of it (0.3 s for
            # 180,000 messages), to find nothing to free. (Cyclic garbage made by the caller
            # and not collected yet goes there too: it waits for a full collection.)
            gc.freeze()
            gc.unfreeze()
            gc.enable()
    trace = pipe.trace()
    trace.inputs = infos
    trace.tls = tls
    if pipe.not_kept_from is not None:
        trace.counts.first_not_kept_frame = pipe.not_kept_from.frame
        trace.counts.first_not_kept_file = pipe.not_kept_from.file
    return trace


def _parallel(paths: Sequence[str], wanted: bool | None, *, media: bool, tls: bool) -> bool:
    """Whether ``read_trace`` reads with a worker process (see its ``parallel``)."""
    if wanted is False or media or tls or not paths or not fork_available():
        return False
    size = regular_size(paths)
    if size is None:
        return False
    return wanted is True or (cores() >= 2 and size >= PARALLEL_MIN_BYTES)


class _Sweeper:
    """When ``read_trace`` lets dialogs go (``summarize``): checked at the end of each frame."""

    def __init__(
        self,
        pipe: Pipeline,
        summarize: Callable[[Trace], None],
        hold: int,
    ) -> None:
        self.pipe = pipe
        self.summarize = summarize
        self.hold = hold
        self.high = max(hold, 16)
        """More dialogs held than this: a sweep."""

    def __call__(self, ts_ns: int) -> None:
        pipe = self.pipe
        held = pipe.correlator.dialogs
        if len(held) > self.high:
            self.summarize(_sweep(pipe, ts_ns, self.hold))
            # A sweep costs a pass over what stays: the next one when half ``hold`` more came.
            self.high = max(self.hold, 16, len(pipe.correlator.dialogs) + self.hold // 2)
        elif len(pipe.skipped) > 2 * SKIPPED_KEPT:
            _forget_skipped(pipe)


def _read(
    pipe: Pipeline,
    paths: Sequence[str],
    pending: dict[tuple[int, int], list[Payload]],
    sweeper: _Sweeper | None,
) -> list[CaptureInfo]:
    """``read_trace`` in this process alone; returns the inputs."""
    infos, frames = read_frames(paths)
    feed = pipe.feed
    correlator = pipe.correlator
    skipped = pipe.skipped
    for frame in frames:
        feed(frame)
        if pending:
            decrypted = pending.pop((frame.file, frame.number), None)
            if decrypted:
                pipe.feed_payloads(decrypted)
        if sweeper is not None and (
            len(correlator.dialogs) > sweeper.high or len(skipped) > 2 * SKIPPED_KEPT
        ):
            sweeper(frame.ts_ns)
    pipe.finish()
    return infos


def _read_parallel(
    pipe: Pipeline, paths: Sequence[str], sweeper: _Sweeper | None
) -> tuple[list[CaptureInfo], list[TlsConnection]]:
    """``read_trace`` with a worker process: it reads, decodes and parses (``_produce``), this
    process correlates and sweeps exactly as ``_read`` does. Returns the inputs and the TLS
    connections, as the worker saw them."""
    # Opened here, so that an input that cannot be read raises here as in ``_read``; read there.
    infos, frames = read_frames(paths)
    # The end of a frame that gave a record, as in ``_read``. Other frames are not marked: there,
    # ``_read`` finds nothing to do, for only records add dialogs and skipped records, and after a
    # sweep the sweeper's threshold is above what stays.
    mark: Callable[[int], None] | None = sweeper
    job = partial(_produce, pipe, frames, infos, marks=sweeper is not None)
    del frames
    inbox = Inbox(pipe.keep, pipe.parse_sip, pipe.skipped, mark)
    with _terminable(), Worker(job) as worker:
        del job
        worker.start()
        for batch in worker:
            inbox.take(batch)
        counts, infos, tls = cast(_Result, worker.result)
    pipe.correlator.finish()
    # The worker counted what it read and decoded; this process, what the limits left out.
    counts.add(pipe.counts)
    pipe.counts = counts
    return infos, tls


_Result = tuple[Counts, list[CaptureInfo], list[TlsConnection]]
"""What the worker process sends last: its counts, the inputs, the TLS connections."""


def _produce(
    pipe: Pipeline,
    frames: Iterator[Frame],
    infos: list[CaptureInfo],
    channel: Channel,
    *,
    marks: bool,
) -> _Result:
    """The worker process of ``_read_parallel``: the pipeline up to parsing, its messages sent."""
    out = Outbox(pipe.skipped, channel, marks=marks)
    pipe._sip = out.sip
    feed = pipe.feed
    end_of_frame = out.end_of_frame
    for i, frame in enumerate(frames):
        feed(frame)
        end_of_frame(frame.ts_ns, i)
    pipe.flush()
    out.flush()
    return pipe.counts, infos, pipe.tls.connections()


class _Terminated(BaseException):
    """SIGTERM arrived while a worker process was running."""


@contextmanager
def _terminable() -> Iterator[None]:
    """Let SIGTERM end a ``with`` block (its worker then ends too) before it ends the process, as
    it would have without the block. Only in the main thread, and when nobody handles SIGTERM."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def terminated(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one is enough: the cleanup goes on
        raise _Terminated

    signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    except _Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)
        raise  # not reached: the signal ended the process
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


OVER_NS = 32 * 1_000_000_000
"""How long a dialog that is over stays, when dialogs must go: RFC 3261 Timer J and the
retransmissions of a 2xx to INVITE (64 * T1) end within 32 s."""
IDLE_NS = 3600 * 1_000_000_000
"""A dialog silent this long goes when dialogs must go, over or not (a BYE not captured)."""
SKIPPED_KEPT = 1000
"""Skipped records kept while summarizing a capture of any size; the others are only counted."""


def _sweep(pipe: Pipeline, now_ns: int, hold: int) -> Trace:
    """The dialogs ``read_trace`` lets go of now, as a trace, their final states set."""
    c = pipe.correlator
    early = c.expired_early
    # Down to half of ``hold`` when dialogs are over: a sweep costs a pass over what stays.
    part = c.expire_trace(
        now_ns - OVER_NS,
        hold // 2,
        idle_before_ns=now_ns - IDLE_NS,
        max_active=hold,
    )
    if c.expired_early != early:
        pipe.counts.dialogs_cut_short = c.expired_early
    _forget_skipped(pipe)
    return part


def _forget_skipped(pipe: Pipeline) -> None:
    """Keep the first ``SKIPPED_KEPT`` skipped records, count the others."""
    skipped = pipe.skipped
    if len(skipped) > SKIPPED_KEPT:
        pipe.counts.skipped_not_kept += len(skipped) - SKIPPED_KEPT
        del skipped[SKIPPED_KEPT:]
