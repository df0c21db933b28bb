"""``read_trace`` on two CPU cores: a worker process reads and decodes the frames (and parses
some, when parsing is Python's alone); this process correlates what it sends.

How this works:

* ``Worker`` starts a child process (``multiprocessing``) that runs one function with a
  ``Channel``. On Linux and the BSDs the child is forked and the function reaches it as it is,
  open files and all; on macOS (where CPython documents fork as unsafe: system libraries run
  threads) and Windows (no fork) it is spawned, a new interpreter, and the function is pickled:
  it must be a module-level function (or a ``partial`` of one) of plain arguments, that opens
  its inputs itself (``start_method``). Then: each ``Channel.send`` pickles one object into a pipe, and iterating the ``Worker``
  here yields them in order; the function's return value becomes ``Worker.result``. An exception in
  the child is pickled and raised here (for a bug, with the child's traceback as a note); a child
  that dies without a word (killed) is a ``SipsniffError``. ``Worker.close`` terminates and joins
  it: no child outlives its ``with`` block. The child ignores SIGINT (Ctrl-C reaches the whole
  process group; this process handles it and ends the child) and dies of SIGTERM silently.
* What crosses the pipe is batches of plain tuples: pickling a ``NamedTuple`` goes through its
  Python-level ``__reduce__`` and ``__new__`` and costs several times more than a tuple of the same
  fields. ``Outbox`` (in the child) flattens, ``Inbox`` (here) rebuilds with ``tuple.__new__``.
  Pickle's memo sends an object referenced twice in one batch once, so ``Message.raw`` that is its
  datagram's ``Payload.data`` travels once and arrives shared, as it was.
* A record is one of (told apart by length):
  - a message: the ``Payload`` fields, its endpoints as ``(ip, port)``, then the ``Message``
    fields after ``pkt``, then where its bytes are in the capture file (-1: not there; see
    ``Pipeline.offset_of``). Strings the parser interns are interned again here.
  - SIP data for this process to parse: the ``Payload`` fields, the bytes, ``framed``, their
    offset in the file. Parsing is most of the child's work; while this process waits for
    batches, ``Outbox`` leaves it a growing share of the messages to parse (``SHARES``), a
    smaller one while it lags behind; all of them when the parser's C fast path is there
    (``FIRST_SHARE``).
    Who parses changes nothing in the result: ``parse_message`` depends on its arguments only.
  - a skipped record: its fields, endpoints as ``(ip, port)``.
  - a datagram that is not SIP, for this process's media observers (``Pipeline.media``: RTP
    analysis), when asked (``media``): the ``Payload`` fields, endpoints as ``(ip, port)``.
  - how many frames the worker has read, ``(frames, None)``, at the end of each batch, when
    asked (``progress``: the browser's status line).
  - the end of a frame, ``(ts_ns,)``, after each frame that gave a record, when ``marks``: where
    ``read_trace(summarize=...)`` checks whether dialogs must go, exactly as it does per frame
    when it runs alone. Only where that check may find something: this process tells the child
    how many records it can take, counted from the first, before it may hold more dialogs than
    it may (``Worker.tell``, a shared number; a record adds one dialog at most), and the child
    marks no frame before that. The number only grows, so a child that reads it late marks more
    frames than it needs to, never fewer.
  Skipped records are moved to the batch before every other record, so they keep the order they
  would have had in one process.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import signal
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from multiprocessing.connection import Connection
from sys import intern
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, cast

from sipsniff import fast_module
from sipsniff.capture import system
from sipsniff.errors import SipsniffError
from sipsniff.model import Endpoint, Entry, Message, Payload, Skipped
from sipsniff.sip.parser import FAST_PARSE, parse_message

if TYPE_CHECKING:
    from sipsniff.pipeline.stages import Direct

_fastinbox = fast_module("pipeline._fastinbox")
FAST_TAKE: Final[Callable[..., None] | None] = None if _fastinbox is None else _fastinbox.take
"""``_fastinbox.take`` (``pipeline/_fastinbox.c``), or None (``fast_module``)."""

BATCH: Final = 1000
"""Records per batch: large enough that a send costs little per record, small enough that the
two processes overlap from the start."""
SHARES: Final = 16
"""The share of messages left to this process to parse counts in sixteenths."""
FIRST_SHARE = SHARES if FAST_PARSE is not None else 7
"""The share it starts with. When parsing is Python's: about where it settles on plain UDP calls
(benchmarks/read_bench.py), where the child spends 3 us a message reading, decoding and sending
it, this process 4 us taking it in and correlating it, and parsing takes 8.5 us on either side.
With the parser's C fast path (``parser.FAST_PARSE``) this process parses everything: a message
parsed in C costs it less than one parsed there and rebuilt here from its fields (and the child
is then left with reading and decoding alone); the share then stays as it starts."""
EVERY: Final = 4096
"""Frames between two sends even when they gave no record: this process sees the child alive,
and a child whose parent is gone finds out (a broken pipe) and ends."""

_PAYLOAD: Final = len(Payload._fields)
MESSAGE: Final = _PAYLOAD + len(Message._fields)
"""Length of a message record."""
SIP: Final = _PAYLOAD + 3
"""Length of a record of SIP data left to parse."""
SKIPPED: Final = len(Skipped._fields)
"""Length of a skipped record."""
MARK: Final = 1
"""Length of an end-of-frame record."""
MEDIA: Final = _PAYLOAD
"""Length of a record of a datagram for the media observers."""
PROGRESS: Final = 2
"""Length of a record of the frames read so far."""

PIPE_BYTES: Final = 1 << 20
"""Pipe capacity asked for: 1 MiB, the most an unprivileged process may (pipe-max-size)."""

_DATA, _END, _ERROR = 0, 1, 2
_CACHE_MAX: Final = 1 << 16
"""Endpoints remembered (on each side) before the cache starts again empty."""

Record = tuple[Any, ...]


def start_method() -> str:
    """How a worker process starts here: ``fork`` on Linux and the BSDs, ``spawn`` elsewhere
    (macOS, where fork is unsafe; Windows, where there is none)."""
    if (
        system.OS in (system.LINUX, system.BSD)
        and "fork" in multiprocessing.get_all_start_methods()
    ):
        return "fork"
    return "spawn"


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# -- the two processes ------------------------------------------------------------------------


class Channel:
    """The child's end of the pipe."""

    def __init__(self, conn: Connection, taken: Any, horizon: Any) -> None:
        self._conn = conn
        self._taken = taken
        self._horizon = horizon
        self.sent = 0
        """Weight of the objects sent so far."""

    def send(self, obj: object, weight: int = 1) -> None:
        """Send ``obj``; ``weight`` says how much work it is (``behind`` counts it)."""
        self._conn.send_bytes(pickle.dumps((_DATA, obj, weight), pickle.HIGHEST_PROTOCOL))
        self.sent += weight

    def behind(self) -> int:
        """Weight sent that the parent has not finished with (0: it waits for more)."""
        return self.sent - int(self._taken.value)

    def horizon(self) -> int:
        """What the parent said last through ``Worker.tell`` (0 when it has not)."""
        return int(self._horizon.value)

    def _end(self, result: object) -> None:
        self._conn.send_bytes(pickle.dumps((_END, result, 0), pickle.HIGHEST_PROTOCOL))

    def _error(self, exc: BaseException) -> None:
        tb = traceback.format_exc()
        try:
            blob = pickle.dumps((_ERROR, (exc, tb), 0), pickle.HIGHEST_PROTOCOL)
            pickle.loads(blob)  # an exception whose class cannot be rebuilt from its args
        except Exception:
            stand_in = RuntimeError(f"{type(exc).__name__}: {exc}")
            blob = pickle.dumps((_ERROR, (stand_in, tb), 0), pickle.HIGHEST_PROTOCOL)
        self._conn.send_bytes(blob)


def _child(
    job: list[Callable[[Channel], object]],
    channel: Channel,
    mask: set[int] | None,
    recv: Connection,
) -> None:
    """The child process: run the job, send its result or its exception, quietly."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _set_mask(mask)
    # The parent's end, inherited: closed, so that the pipe breaks when the parent is gone.
    recv.close()
    try:
        channel._end(job[0](channel))
    except BaseException as exc:
        with suppress(OSError):  # the parent is gone: nobody to tell
            channel._error(exc)


def _block_signals() -> set[int] | None:
    """Hold SIGINT and SIGTERM back; the mask as it was (None where threads have no signal
    mask: Windows, where a Ctrl-C reaches every process of the console anyway)."""
    if not hasattr(signal, "pthread_sigmask"):
        return None
    return set(signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM}))


def _set_mask(mask: set[int] | None) -> None:
    if mask is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _widen(conn: Connection) -> None:
    """Make the pipe hold a batch or two (Linux: 64 KiB by default), so the child can go on
    with the next batch while this process is busy with the last one. Linux only: elsewhere
    there is no such setting (Windows' pipes are no file descriptors ``fcntl`` knows)."""
    try:
        import fcntl
    except ImportError:  # Windows
        return
    setsize = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setsize is not None:
        with suppress(OSError):  # over /proc/sys/fs/pipe-max-size: the default then
            fcntl.fcntl(conn.fileno(), setsize, PIPE_BYTES)


class Worker:
    """A child process, started to run ``job(channel)``; iterate to get what it sends.

    Start it inside a ``with`` block: leaving the block ends the child (terminated when still
    running), whatever happened.

    Args:
        method: ``fork`` or ``spawn`` (default: ``start_method()``). With ``spawn`` the job is
            pickled: a module-level function, or a ``partial`` of one, of plain arguments.
    """

    def __init__(self, job: Callable[[Channel], object], method: str | None = None) -> None:
        self.method = method or start_method()
        """How the child starts: ``fork`` or ``spawn``."""
        # Any: typeshed knows the Process of each context by its literal name only.
        self._ctx: Any = multiprocessing.get_context(self.method)
        self._recv, self._send = self._ctx.Pipe(duplex=False)
        _widen(self._send)
        self._taken = self._ctx.RawValue("q", 0)
        self._horizon = self._ctx.RawValue("q", 0)
        # The job reaches the child through the fork (or pickled, when spawned): this process
        # lets go of it (and of the frames and buffers it holds) once the child has started.
        self._box = [job]
        self._proc: multiprocessing.process.BaseProcess | None = None
        self.result: object = None
        """What the job returned, once the iteration is over."""
        self._signals = ExitStack()
        """While in its ``with`` block: SIGTERM ends the block first (``_terminable``)."""

    def start(self) -> None:
        """Start the child; it starts on the job at once."""
        # Signals wait until the child has its own handlers (a Ctrl-C now would otherwise print
        # the child's traceback); the child starts with this mask and restores the old one.
        mask = _block_signals()
        if self.method == "fork":
            # What this process holds now (the modules, above all) out of the collector's sight
            # for good: a collection in either process would write to every object it goes
            # over, and each page it writes to is then copied, one copy for each. The worker's
            # PSS on 30,000 calls in the browser: 20 MB with this, 22 without.
            gc.freeze()
        try:
            proc = self._ctx.Process(
                target=_child,
                args=(
                    self._box,
                    Channel(self._send, self._taken, self._horizon),
                    mask,
                    self._recv,
                ),
                daemon=True,
            )
            proc.start()
            self._proc = proc
        finally:
            self._box.clear()
            self._send.close()
            _set_mask(mask)

    def tell(self, horizon: int) -> None:
        """Let the child know ``horizon`` (``Channel.horizon``): one number, read when it likes
        (what ``Outbox.end_of_frame`` makes of it)."""
        self._horizon.value = horizon

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def __iter__(self) -> Iterator[Any]:
        if self._proc is None:
            raise RuntimeError("Worker.start first")
        recv = self._recv.recv_bytes
        taken = self._taken
        while True:
            try:
                blob = recv()
            except EOFError:
                raise self._lost() from None
            kind, obj, weight = pickle.loads(blob)
            if kind == _DATA:
                yield obj
                taken.value += weight
            elif kind == _END:
                self.result = obj
                return
            else:
                exc, tb = obj
                if not isinstance(exc, SipsniffError):
                    exc.add_note(f"in the worker process:\n{tb.rstrip()}")
                raise exc

    def __enter__(self) -> Worker:
        self._signals.enter_context(_terminable())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.close()
        finally:
            self._signals.__exit__(exc_type, exc, tb)

    def close(self) -> None:
        """End the child (terminate it when still running) and wait for it. Safe to call twice."""
        # Not cut short by Ctrl-C or SIGTERM (they wait until the child is gone).
        mask = _block_signals()
        try:
            proc = self._proc
            if proc is not None:
                if proc.exitcode is None:
                    proc.terminate()
                proc.join()
            self._send.close()
            self._recv.close()
        finally:
            _set_mask(mask)

    def _lost(self) -> SipsniffError:
        proc = self._proc
        code = None
        if proc is not None:
            proc.join(5)
            code = proc.exitcode
        if code is not None and code < 0:
            how = f"was killed by {signal.Signals(-code).name}"
        else:
            how = f"ended with status {code}"
        return SipsniffError(f"the worker process reading the captures {how} without a word")


class _Terminated(BaseException):
    """SIGTERM arrived while a worker process was running."""


@contextmanager
def _terminable() -> Iterator[None]:
    """Let SIGTERM end a ``with Worker`` block (its child then ends too) before it ends the
    process, as it would have without the block. Only in the main thread, and when nobody
    handles SIGTERM."""
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


# -- what travels -----------------------------------------------------------------------------


class Outbox:
    """The child's side: becomes ``Pipeline``'s handler of SIP data and fills batches of records.

    Args:
        skipped: the pipeline's list of skipped records, emptied into the batches as it fills.
        channel: where batches go.
        marks: add end-of-frame records (``mark``).
    """

    def __init__(
        self, skipped: list[Skipped], channel: Channel, *, marks: bool, progress: bool = False
    ) -> None:
        self.records: list[Record] = []
        self.skipped = skipped
        self.channel = channel
        self.marks = marks
        self.progress = progress
        self.frames = 0
        """Frames read so far (``end_of_frame``)."""
        self.marked = 0
        """Records in the batch at the last end-of-frame record."""
        self.share = FIRST_SHARE
        """Sixteenths of the SIP data left to the parent to parse."""
        self._credit = 0
        self._endpoints: dict[Endpoint, tuple[str, int]] = {}
        self.offset_of: Callable[[bytes, Payload], int] = _nowhere
        """Where bytes of a payload are in their capture file: the pipeline's ``offset_of``."""

    def sip(self, raw: bytes, origin: Payload, framed: bool) -> Entry | None:
        """``Pipeline``'s handler of data that looks like SIP: parse it here or leave it."""
        if self.skipped:
            self.drain()
        self._credit += self.share
        if self._credit >= SHARES:
            self._credit -= SHARES
            self.records.append((*self._payload(origin), raw, framed, self.offset_of(raw, origin)))
            return None
        parsed = parse_message(raw, origin, framed=framed)
        if type(parsed) is Skipped:
            self.records.append(self._skipped(parsed))
        else:
            offset = self.offset_of(cast(Message, parsed).raw, origin)
            self.records.append((*self._payload(origin), *parsed[1:], offset))
        return None

    def media(self, p: Payload) -> None:
        """``Pipeline``'s media observer: the datagram goes to the parent's observers."""
        if self.skipped:
            self.drain()
        self.records.append(self._payload(p))

    def end_of_frame(self, ts_ns: int, i: int) -> None:
        """After the ``i``-th frame (from 0), taken at ``ts_ns``: send when it is time."""
        self.frames = i + 1
        records = self.records
        if self.marks:
            if self.skipped:
                self.drain()
            n = len(records)
            if n != self.marked:
                self.marked = n
                # Only where a sweep may be due: the parent sweeps when it holds more dialogs
                # than it may, and it has said how many records it can take before that can be
                # (``Channel.horizon``: each record adds a dialog at most).
                if self.channel.sent + n > self.channel.horizon():
                    records.append((ts_ns,))
                    self.marked = n + 1
        if len(records) >= BATCH or not i % EVERY:
            self.flush()

    def flush(self) -> None:
        """Send the batch (maybe empty); adjust the share left to the parent."""
        if self.skipped:
            self.drain()
        if FAST_PARSE is None:
            behind = self.channel.behind()
            if behind == 0:  # it waits for this batch: leave it more to do
                self.share = min(SHARES, self.share + 1)
            elif behind > BATCH:  # it is still on the batch before the last
                self.share = max(0, self.share - 1)
        if self.progress:
            self.records.append((self.frames, None))
        self.channel.send(self.records, len(self.records))
        self.records = []
        self.marked = 0

    def drain(self) -> None:
        """Move the skipped records collected so far into the batch."""
        self.records.extend(map(self._skipped, self.skipped))
        del self.skipped[:]  # the same list: the pipeline's stages hold it

    def _plain(self, ep: Endpoint) -> tuple[str, int]:
        cache = self._endpoints
        plain = cache.get(ep)
        if plain is None:
            if len(cache) >= _CACHE_MAX:
                cache.clear()
            plain = cache[ep] = (ep[0], ep[1])
        return plain

    def _payload(self, p: Payload) -> Record:
        # The endpoints looked up here (``_plain`` only for one not seen yet): the hot path.
        cache = self._endpoints
        src = cache.get(p[2]) or self._plain(p[2])
        dst = cache.get(p[3]) or self._plain(p[3])
        return (p[0], p[1], src, dst, *p[4:])

    def _skipped(self, s: Skipped) -> Record:
        src, dst = s[4], s[5]
        return (
            *s[:4],
            None if src is None else self._plain(src),
            None if dst is None else self._plain(dst),
            *s[6:],
        )


def _nowhere(raw: bytes, origin: Payload) -> int:
    return -1


class Inbox:
    """The parent's side: rebuilds the records of each batch and hands them on.

    Args:
        keep: takes each message (the correlator, behind the ``max_dialogs`` cap).
        parse: takes SIP data left to this process (and its offset in the capture file): parses
            it, then as ``keep``.
        filed: a message and the offset of its bytes in the capture file: the message to keep.
        skipped: where skipped records go.
        mark: called at each end-of-frame record with the frame's time.
        media: the observers of the datagrams that are not SIP (``Pipeline.media``).
        progress: called with the frames the worker has read, after each batch.
        direct: ``Pipeline.direct``: SIP data whose bytes are in one of its files, which
            ``parse`` would parse with its C parser and give to what it names, may be taken so
            (``take``, in C where it was built: ``_fastinbox.c``), each entry then shown to
            ``observers`` (as ``parse`` does, when it is ``read._observed``).
    """

    def __init__(
        self,
        keep: Callable[[Message], object],
        parse: Callable[[bytes, Payload, bool, int], object],
        skipped: list[Skipped],
        mark: Callable[[int], object] | None = None,
        filed: Callable[[Message, int], Message] | None = None,
        media: Sequence[Callable[[Payload], None]] = (),
        progress: Callable[[int], object] | None = None,
        direct: Direct | None = None,
        observers: list[Callable[[Entry], object]] | None = None,
    ) -> None:
        self.keep = keep
        self.parse = parse
        self.filed = filed
        self.skipped = skipped
        self.mark = mark
        self.media = media
        self.progress = progress
        self._endpoints: dict[tuple[str, int], Endpoint] = {}
        self._direct = None if FAST_TAKE is None else direct
        self._observers = [] if observers is None else observers

    def _endpoint(self, plain: tuple[str, int]) -> Endpoint:
        cache = self._endpoints
        ep = cache.get(plain)
        if ep is None:
            if len(cache) >= _CACHE_MAX:
                cache.clear()
            ep = cache[plain] = tuple.__new__(Endpoint, plain)
        return ep

    def take(self, batch: list[Record]) -> None:
        """Take in a batch of records, in order."""
        if self._direct is None:
            self._take(batch)
            return
        files, parse, add = self._direct
        # SIP data in a file, and the ends of frames, taken in C; the others by ``_take``
        assert FAST_TAKE is not None
        FAST_TAKE(batch, self._endpoints, self._endpoint, files, parse, add, self._observers,
                  self.mark, self._take, Payload, SIP)  # fmt: skip

    def _take(self, batch: list[Record]) -> None:
        """``take`` in Python alone: the reference of ``_fastinbox.take``."""
        new = tuple.__new__
        endpoint = self._endpoint
        endpoints = self._endpoints
        keep = self.keep
        filed = self.filed
        for r in batch:
            n = len(r)
            if n == MESSAGE:
                src = endpoints.get(r[2]) or endpoint(r[2])
                dst = endpoints.get(r[3]) or endpoint(r[3])
                pkt = new(Payload, (r[0], r[1], src, dst, *r[4:_PAYLOAD]))
                # As the parser made it: the strings a dialog repeats interned (one copy each).
                method, reason, ftag, ttag = r[13], r[16], r[24], r[27]
                msg = new(
                    Message,
                    (
                        pkt,
                        r[12],
                        method and intern(method),
                        r[14],
                        r[15],
                        reason and intern(reason),
                        intern(r[17]),
                        r[18],
                        intern(r[19]),
                        r[20],
                        intern(r[21]),
                        intern(r[22]),
                        intern(r[23]),
                        ftag and intern(ftag),
                        intern(r[25]),
                        intern(r[26]),
                        ttag and intern(ttag),
                        *r[28:-1],
                    ),
                )
                offset = r[-1]
                keep(msg if offset < 0 or filed is None else filed(msg, offset))
            elif n == SIP:
                src = endpoints.get(r[2]) or endpoint(r[2])
                dst = endpoints.get(r[3]) or endpoint(r[3])
                offset = r[_PAYLOAD + 2]
                # In the file (offset >= 0): the payload without its data (``stages.bare``).
                data = r[5] if offset < 0 else b""
                pkt = new(Payload, (r[0], r[1], src, dst, r[4], data, *r[6:_PAYLOAD]))
                self.parse(r[_PAYLOAD], pkt, r[_PAYLOAD + 1], offset)
            elif n == SKIPPED:
                src, dst = r[4], r[5]
                self.skipped.append(
                    new(
                        Skipped,
                        (
                            *r[:4],
                            None if src is None else endpoint(src),
                            None if dst is None else endpoint(dst),
                            *r[6:],
                        ),
                    )
                )
            elif n == MEDIA:
                src = endpoints.get(r[2]) or endpoint(r[2])
                dst = endpoints.get(r[3]) or endpoint(r[3])
                pkt = new(Payload, (r[0], r[1], src, dst, *r[4:]))
                for observe in self.media:
                    observe(pkt)
            elif n == PROGRESS:
                if self.progress is not None:
                    self.progress(r[0])
            elif self.mark is not None:
                self.mark(r[0])
