"""The stages wired in order: frames in, correlated SIP messages out.

``Pipeline`` decodes (``net``), reassembles, frames and parses (``sip``) and correlates
(``correlate``) whatever it is fed, and returns the entries each frame completed. It keeps what it is
given: ``Session`` (session.py) decides what a run keeps in memory, ``read_trace`` (read.py) and the
commands feed it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from sipsniff.capture.filed import FiledBytes
from sipsniff.correlate.correlator import Correlator
from sipsniff.model import (
    PLACE_BITS,
    Counts,
    Entry,
    Frame,
    Message,
    Payload,
    Skipped,
    Trace,
)
from sipsniff.net.decode import Decoder
from sipsniff.net.hep import HEP_LEADS, unwrap_hep
from sipsniff.net.tcp import TcpReassembler
from sipsniff.net.tls import TlsConnections
from sipsniff.net.websocket import WebSocketStreams
from sipsniff.sip.framing import Framers
from sipsniff.sip.parser import (
    FAST_PARSE,
    keepalive_kind,
    looks_like_sip,
    parse_message,
)

SipHandler = Callable[[bytes, Payload, bool], Entry | None]
"""What becomes of data that looks like SIP: ``(raw, origin, framed)`` to an entry or None."""

DEFAULT_LINK_HEADERS = ("X-Call-ID", "X-CID")

MiB = 1024 * 1024


def bare(p: Payload) -> Payload:
    """``p`` without its data (a filed message's: its bytes stay in the file)."""
    return tuple.__new__(
        Payload, (p[0], p[1], p[2], p[3], p[4], b"", p[6], p[7], p[8], p[9], p[10], p[11])
    )


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


Direct = tuple[dict[int, FiledBytes], Callable[..., object], Callable[[Message], Entry | None]]
"""``Pipeline.direct``: the capture files by input, the C parser, what takes a message."""


class Pipeline:
    """Decode, reassemble, parse and correlate; sans-IO apart from what the caller feeds it."""

    def __init__(
        self,
        *,
        link_headers: Sequence[str] = DEFAULT_LINK_HEADERS,
        limits: Limits = DEFAULT_LIMITS,
        skipped: list[Skipped] | None = None,
        sip: SipHandler | None = None,
    ) -> None:
        """
        Args:
            skipped: where every stage records what it could not use (a new list when None;
                ``session.SkippedLog`` keeps a bounded part of it).
            sip: what becomes of data that looks like SIP instead of ``parse_sip``: in the worker
                process of ``read_trace``, ``parallel.Outbox.sip``, which sends it on. (Not
                ``self.parse_sip`` by default: a bound method here would make ``self`` a cycle,
                left to the garbage collector instead of freed with the last reference.)
        """
        self.counts = Counts()
        self.skipped: list[Skipped] = [] if skipped is None else skipped
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
        self._sip = sip
        self._max_dialogs = limits.max_dialogs
        self.not_kept_from: Payload | None = None
        """Where the first message of a dialog beyond ``limits.max_dialogs`` came from."""
        self.files: dict[int, FiledBytes] = {}
        """Capture files by input index, where the messages found whole in a frame are kept
        (``model.FiledMessage``) instead of their bytes: ``read_trace`` sets it."""
        self._frame: Frame | None = None
        """The frame being fed."""

    def feed(self, frame: Frame) -> list[Entry]:
        """Take one captured frame; return the entries of the SIP messages it completed."""
        self._frame = frame
        payloads = self._decode(frame)
        if not payloads:
            return []
        if len(payloads) == 1 and not payloads[0].stream:  # the common case: one datagram
            p = payloads[0]
            entry = self.message(p.data, p, framed=False)
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
            entry = self.message(raw, origin, framed=True)
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
            origin_ns=c.first_ns,
        )

    # -- internals -------------------------------------------------------------------------
    def _payloads(self, payloads: Iterable[Payload]) -> list[Entry]:
        out: list[Entry] = []
        message = self.message
        for p in payloads:
            if not p[9]:  # stream (by index: the hot path)
                entry = message(p[5], p, framed=False)  # data
                if entry is not None:
                    out.append(entry)
                continue
            if p[4] == "tcp" and self.tls.feed(p):  # transport
                continue  # encrypted: listed in trace.tls, never taken for noise
            messages = self.websockets.feed(p)
            if messages is not None:  # a WebSocket connection: whole SIP messages
                for m in messages:
                    entry = message(m.data, m, framed=False)
                    if entry is not None:
                        out.append(entry)
                continue
            framed = self.framers.feed(p)
            if framed:
                self.websockets.text(p.src, p.dst)
                for raw, origin in framed:
                    entry = message(raw, origin, framed=True)
                    if entry is not None:
                        out.append(entry)
        return out

    def message(self, raw: bytes, origin: Payload, *, framed: bool) -> Entry | None:
        """Take the data of one datagram (``framed`` False) or one message cut from a stream."""
        if not looks_like_sip(raw):
            if not framed and raw[:1] in HEP_LEADS:
                # HEP on its way to a collector (HOMER): the SIP inside, with the original
                # addresses and time.
                inner = unwrap_hep(raw, origin)
                if isinstance(inner, Skipped):
                    self.skipped.append(inner)
                    return None
                if inner is not None:
                    self.counts.hep += 1
                    return self.message(inner.data, inner, framed=False)
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

    def parse_sip(
        self, raw: bytes, origin: Payload, framed: bool, offset: int | None = None
    ) -> Entry | None:
        """Parse SIP data (a skipped record when it is not a message) and ``keep`` it.

        ``offset``: where ``raw`` is in its capture file (-1: nowhere); None: found by
        ``offset_of``. The message is filed there when ``files`` has its file: made so by the C
        fast path, else filed here (``filed``).
        """
        files = self.files
        store = None
        at = -1
        if files:
            at = self.offset_of(raw, origin) if offset is None else offset
            if at >= 0:
                store = files.get(origin[6])  # origin.file
        if store is None:
            parsed = parse_message(raw, origin, framed=framed)
        else:
            message = store.message
            # the C fast path called as ``parse_message`` would (a hot path: one call less)
            fast = (
                None if FAST_PARSE is None else FAST_PARSE(raw, origin, message, at, message.flows)
            )
            parsed = (
                fast
                if fast is not None
                else parse_message(raw, origin, framed=framed, filed=(message, at, message.flows))
            )
            if at >= store.due:  # the bytes at ``at`` are ``raw``: what the file is checked by
                store.mark(at, raw)
        if isinstance(parsed, Skipped):
            self.skipped.append(parsed)
            return None
        if store is not None and type(parsed) is not store.message:  # the Python parser's
            kept = parsed.raw
            if kept is not raw:  # a part of the data: the message without what follows
                i = raw.find(kept)
                at = -1 if i < 0 else at + i
            if at < 0:  # not as it is in the file: it holds its bytes, not the frame's too
                parsed = parsed._replace(pkt=bare(parsed.pkt))
            parsed = self.filed(parsed, at)
        if self._max_dialogs:
            return self.keep(parsed)
        return self._add(parsed)  # ``keep`` without a cap (a hot path: one call less)

    def offset_of(self, raw: bytes, origin: Payload) -> int:
        """Where ``raw`` (of ``origin``) is in its capture file: found whole in the data of the
        frame being fed, from a file that holds it as it is; else -1 (reassembled from several
        frames, decrypted, read from standard input or gzip...)."""
        frame = self._frame
        # By index (a hot path): Frame number, data, file, offset; Payload frame, file.
        if frame is None or frame[6] < 0 or origin[0] != frame[0] or origin[6] != frame[5]:
            return -1
        data = frame[3]
        if data.endswith(raw):  # a datagram
            return frame[6] + len(data) - len(raw)
        i = data.find(raw)
        return -1 if i < 0 else frame[6] + i

    def filed(self, msg: Message, offset: int) -> Message:
        """``msg`` kept as the place of its bytes, at ``offset`` in its file (-1: as it is)."""
        store = self.files.get(msg[0][6])  # pkt.file
        if store is None or offset < 0:
            return msg
        if offset >= store.due:
            store.mark(offset, msg[1])
        return store.message.of(msg, offset << PLACE_BITS | len(msg[1]))

    def direct(self) -> Direct | None:
        """What ``parse_sip`` does with SIP data whose bytes are in a file of ``files``, for a
        caller that does it itself (``parallel.Inbox``): those files, the C parser it calls, and
        what it gives the message (``keep``, or without a cap the correlator's ``add``); None
        without the C parser."""
        if FAST_PARSE is None:
            return None
        return self.files, FAST_PARSE, self.keep if self._max_dialogs else self._add

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
