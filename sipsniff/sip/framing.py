"""SIP message framing over byte streams (TCP, TLS once decrypted): RFC 3261 section 18.3.

How this works. A ``StreamFramer`` serves one direction of one stream. It is fed the stream's
in-order pieces (``Payload`` with ``stream=True``) and hands back every message they complete;
"need more data" is an empty list, never an exception. Over a stream the Content-Length header is
mandatory and frames the message: the message is the headers up to the empty line plus exactly
Content-Length bytes of body. Between messages, CRLF keep-alives (RFC 5626 section 4.4.1: a
CRLFCRLF ping, a CRLF pong; RFC 3261 section 7.5 asks to ignore CRLFs before a start line) are
skipped and counted.

Bad traffic is data: when the buffer does not start with something like a SIP start line (after a
TCP gap, or on a stream that is not SIP at all: HTTP on port 5060, TLS, binary), the framer
discards bytes up to the next line that looks like a start line, and what it discards is counted
and recorded as one ``Skipped`` per run. What it buffers is bounded: a message over ``max_message``
is dropped, a first line longer than ``MAX_START_LINE`` is not SIP, and while resynchronising only
the last partial line is kept.

The common piece (nothing buffered before it, whole messages in it, each with its Content-Length
as plain digits) takes a short way, ``StreamFramer._whole``: where its messages end is found by
``_whole_ends`` in one call, the parser's C extension's (``sip/_fastsip.c``) or, when it is not
there, ``_py_whole_ends``, its reference, which the tests hold it to. Anything else in the piece
goes the long way below, byte run by byte run, with its counters.

Counters (in ``counts``): ``keepalive``, ``sip_stream_resyncs``, ``sip_stream_discarded_bytes``,
``sip_stream_no_content_length``, ``sip_stream_bad_content_length``, ``sip_stream_oversize``,
``sip_stream_truncated``, ``not_sip_streams``, ``not_sip_stream_bytes`` (and, in ``Framers``,
``sip_stream_evicted``, and ``sip_streams_at_cap`` for those of them evicted by the byte cap).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Final

from sipsniff import fast_module
from sipsniff.model import Counts, Endpoint, Payload, Skipped

_new_tuple = tuple.__new__

MAX_START_LINE = 8192
"""Longest first line taken for a SIP start line while it is incomplete."""
_SAMPLE = 256
"""Bytes of discarded data kept in a ``Skipped`` record."""

# token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")   (RFC 3261 25.1)
_TOKEN = rb"[A-Za-z0-9\-.!%*_+`'~]+"
# SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT   ("SIP" is case-insensitive, as every ABNF literal)
_VERSION = rb"[Ss][Ii][Pp]/[0-9]+\.[0-9]+"
# Request-Line = Method SP Request-URI SP SIP-Version CRLF
#   tolerant: runs of SP/HTAB, a Request-URI with odd characters, trailing blanks, a bare LF
_REQUEST_LINE = _TOKEN + rb"[ \t]+[^\r\n]+?[ \t]+" + _VERSION + rb"[ \t]*\r?\n"
# Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF; Status-Code = 3DIGIT
#   tolerant: a missing reason phrase, trailing blanks, a bare LF
_STATUS_LINE = _VERSION + rb"[ \t]+[0-9]{3}(?:[ \t][^\r\n]*)?\r?\n"
_START_LINE = re.compile(rb"(?:" + _REQUEST_LINE + rb"|" + _STATUS_LINE + rb")")
_START_AT_LINE = re.compile(rb"(?m)^(?:" + _REQUEST_LINE + rb"|" + _STATUS_LINE + rb")")
# An incomplete first line that may still become a start line: a method token, maybe followed by
# the rest of a request line, or a prefix of a status line.
_PARTIAL_START = re.compile(
    rb"(?:" + _TOKEN + rb"(?:[ \t][^\r\n]*)?|[Ss](?:[Ii](?:[Pp](?:/[^\r\n]*)?)?)?)\r?\Z"
)
# message-header end: the empty line (CRLF CRLF; a bare LF tolerated on either): see _header_end
_CRLF_RUN = re.compile(rb"[\r\n]+")
# Content-Length = ( "Content-Length" / "l" ) HCOLON 1*DIGIT   (RFC 3261 20.14, 7.3.3 compact form)
#   HCOLON = *( SP / HTAB ) ":" SWS; SWS may fold onto the next line
_CONTENT_LENGTH = re.compile(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(?:\r?\n[ \t]+)?([^\r\n]*)")
# The same after a line feed (see _content_length_header).
_CONTENT_LENGTH_AFTER_LF = re.compile(
    rb"\n(?i:content-length|l)[ \t]*:[ \t]*(?:\r?\n[ \t]+)?([^\r\n]*)"
)
_DIGITS = re.compile(rb"[0-9]{1,12}")
_PLAIN_LENGTH = re.compile(rb"([0-9]{1,12})[ \t]*\r?\n")


def _header_end(buf: bytes | bytearray, start: int, end: int) -> tuple[int, int]:
    """(end of the last header line, start of the body), or (-1, -1) when not found yet.

    The empty line ends the headers: CRLF CRLF, or with a bare LF on either side.
    """
    i = buf.find(b"\n\r\n", start, end)  # CRLF CRLF, LF CRLF
    j = buf.find(b"\n\n", start, end if i < 0 else i + 2)  # LF LF, CRLF LF
    if j >= 0:
        return (j - 1 if j > start and buf[j - 1] == 13 else j), j + 2
    if i >= 0:
        return (i - 1 if i > start and buf[i - 1] == 13 else i), i + 3
    return -1, -1


def _py_headers(buf: bytes | bytearray, pos: int, start: int, end: int) -> tuple[int, int, int]:
    """``_header_end(buf, start, end)`` and then, when found, the Content-Length of the message at
    ``pos``: as ``StreamFramer._content_length`` finds it, the usual spelling first; -1 when it
    has none or a bad one (``_content_length`` counts them)."""
    hdr, body = _header_end(buf, start, end)
    if hdr >= 0:
        k = buf.find(b"\nContent-Length: ", pos, hdr)
        if k >= 0:
            m = _PLAIN_LENGTH.match(buf, k + 17)
            if m is not None:
                return hdr, body, int(m.group(1))
        m = _content_length_header(buf, pos, hdr)
        if m is not None:
            value = m.group(1).strip()
            if _DIGITS.fullmatch(value) is not None:
                return hdr, body, int(value)
    return hdr, body, -1


def _content_length_header(buf: bytes | bytearray, start: int, end: int) -> re.Match[bytes] | None:
    """``_CONTENT_LENGTH.search(buf, start, end)``, from LF to LF: ``^`` matches after a LF, and
    at offset 0 alone (``^`` gives the regex engine no literal to look for: about five times
    slower)."""
    if start:
        return _CONTENT_LENGTH_AFTER_LF.search(buf, start - 1, end)
    return _CONTENT_LENGTH.match(buf, 0, end) or _CONTENT_LENGTH_AFTER_LF.search(buf, 0, end)


def _py_whole_ends(buf: bytes | bytearray, pos: int, max_message: int, max_line: int) -> list[int]:
    """Where each message ends that ``StreamFramer._whole`` would hand back from ``pos`` on the
    shortest way: each one whole in ``buf``, right after the last, with a start line, the end of
    its headers and a Content-Length in its usual spelling, within ``max_message``. Stops at the
    first that is not (``_whole`` takes that one itself)."""
    ends: list[int] = []
    n = len(buf)
    while pos < n and buf[pos] not in {13, 10}:
        eol = buf.find(b"\n", pos, pos + max_line)
        if eol < 0 or not _START_LINE.match(buf, pos, eol + 1):
            break
        hdr, body, length = _py_headers(buf, pos, eol, n)
        if hdr < 0 or body - pos > max_message or length < 0:
            break
        end = body + length
        if end - pos > max_message or end > n:
            break
        ends.append(end)
        pos = end
    return ends


def _in_c() -> Any:
    """The parser's C extension, whose copies of ``_py_headers`` and ``_py_whole_ends`` give the
    same answers; None when it was not built (or built from an older ``_fastsip.c``, without
    them) or ``SIPSNIFF_PURE_PYTHON`` is set."""
    _fastsip = fast_module("sip._fastsip")
    return _fastsip if hasattr(_fastsip, "whole_ends") else None


_C = _in_c()
_headers: Final[Callable[[bytes | bytearray, int, int, int], tuple[int, int, int]]] = (
    _py_headers if _C is None else _C.headers
)
_whole_ends: Final[Callable[[bytes | bytearray, int, int, int], list[int]]] = (
    _py_whole_ends if _C is None else _C.whole_ends
)
_frame_whole: Final[
    Callable[[Payload, int, int, bool, type[Payload]], list[tuple[bytes, Payload]] | None] | None
] = None if _C is None else getattr(_C, "frame_whole", None)
"""``StreamFramer.feed``'s common case in C (a piece of whole messages, nothing under way), or
None (then Python frames every piece)."""


class StreamFramer:
    """Per direction of a stream. Fed Payload pieces (stream=True) in order; hands back complete
    messages.

    Each message comes with an origin ``Payload``: ``frame``/``ts_ns`` of the piece that completed
    it, ``first_frame``/``first_ts_ns`` of the piece holding its first byte (0 when the same),
    ``frames`` the frames of every piece holding a byte of it when more than one (a piece that
    holds the end of one message and the start of the next counts for both), ``data`` the message
    bytes, ``src``/``dst``/``transport``/``file`` from the piece,
    ``stream=False``, and ``gap=True`` for the first message after lost or discarded bytes.
    """

    def __init__(
        self,
        max_message: int = 1024 * 1024,
        *,
        counts: Counts | None = None,
        skipped: list[Skipped] | None = None,
    ) -> None:
        """Args:
        max_message: largest message kept (headers and body), in bytes.
        counts: the run's counters, shared with the pipeline (its own when None).
        skipped: where discarded data is recorded (a private list when None).
        """
        if max_message <= 0:
            raise ValueError("max_message must be positive")
        self.max_message = max_message
        self.counts = Counts() if counts is None else counts
        self.skipped: list[Skipped] = [] if skipped is None else skipped
        self._buf = bytearray()
        """Bytes not handed back yet; ``_buf[0]`` starts the current message (or junk)."""
        self._first_frame = 0
        self._first_ts_ns = 0
        """Frame and time of ``_buf[0]``."""
        self._marks: list[tuple[int, tuple[int, ...]]] = []
        """Where each piece's bytes start in ``_buf``, with that piece's frames, in order."""
        self._last: Payload | None = None
        """The last piece fed."""
        self._need = 0
        """Length of the current message once its headers are complete; 0 while unknown."""
        self._checked = False
        """The current message's start line has been seen whole and looks like SIP."""
        self._scan = 0
        """Offset in the current message from which to look for the end of the headers."""
        self._resync = False
        """Discarding bytes until a line that looks like a SIP start line."""
        self._skip = 0
        """Bytes still to drop of an oversize message."""
        self._gap = False
        """The next message handed back follows lost or discarded bytes."""
        self._crlf = 0
        """Line feeds in the current run of keep-alive bytes."""
        self._dropped = 0
        """Bytes discarded in the current run; recorded when the run ends."""
        self._drop_frame = 0
        self._drop_ts_ns = 0
        self._drop_sample = b""
        self.messages = 0
        """Messages handed back so far."""

    @property
    def buffered(self) -> int:
        """Bytes held, waiting for the rest of a message."""
        return len(self._buf)

    @property
    def last_piece(self) -> Payload | None:
        """The last piece fed, if any."""
        return self._last

    def feed(self, piece: Payload) -> list[tuple[bytes, Payload]]:
        """Take the next in-order piece of the stream; return the messages it completes.

        Args:
            piece: stream bytes in order; ``piece.gap`` says bytes were lost before them.

        Returns:
            ``(message bytes, origin Payload)`` for each complete message, in stream order.
        """
        if _frame_whole is not None and not (
            piece[10] or self._buf or self._need or self._checked or self._skip or self._resync
        ):
            whole = self._feed_whole(piece)
            if whole is not None:
                return whole
        out: list[tuple[bytes, Payload]] = []
        if piece[10]:  # gap (by index, here and below: the hot path of a stream)
            self._lost(out)
        self._last = piece
        data = piece[5]  # data
        buf: bytes | bytearray
        pos = 0
        if self._buf:
            old = len(self._buf)
            self._buf += data
            buf = self._buf
            self._marks.append((old, piece.frames or (piece.frame,)))
        else:
            old = 0
            buf = data
            self._first_frame = piece[7] or piece[0]  # first_frame or frame
            self._first_ts_ns = piece[8] or piece[1]  # first_ts_ns or ts_ns
            if not (self._need or self._checked or self._skip or self._resync):
                # The common case: the piece starts a message, and is whole messages.
                ends = _whole_ends(buf, 0, self.max_message, MAX_START_LINE)
                pos = self._put(buf, 0, ends, piece, out)
                if pos == len(buf):
                    return out
                pos = self._whole(buf, pos, piece, out)
        pos = self._frame(buf, old, piece, out, pos)
        if pos >= old and pos < len(buf):
            if pos > old or not piece.first_frame:
                self._first_frame, self._first_ts_ns = piece.frame, piece.ts_ns
            else:
                self._first_frame, self._first_ts_ns = piece.first_frame, piece.first_ts_ns
        if buf is self._buf:
            if pos:
                del self._buf[:pos]
                self._consumed(pos)
        elif pos < len(buf):
            self._buf = bytearray(memoryview(buf)[pos:])
            self._marks = [(0, piece.frames or (piece.frame,))]
        return out

    def _feed_whole(self, piece: Payload) -> list[tuple[bytes, Payload]] | None:
        """``feed``'s common case, in C (``_frame_whole``): nothing under way (``idle``), no gap
        before the piece, and the piece is whole messages; None, having done nothing, when it is
        not."""
        assert _frame_whole is not None
        whole = _frame_whole(piece, self.max_message, MAX_START_LINE, self._gap, Payload)
        if whole is not None:
            self._last = piece
            self._first_frame = piece[7] or piece[0]  # first_frame or frame
            self._first_ts_ns = piece[8] or piece[1]  # first_ts_ns or ts_ns
            self._gap = False
            self._crlf = 0
            self.messages += len(whole)
        return whole

    def close(self) -> list[tuple[bytes, Payload]]:
        """End of the stream: return a message cut short, if one was under way.

        The framer is ready for a new stream afterwards.
        """
        out: list[tuple[bytes, Payload]] = []
        self._lost(out)
        self._end_discard(found=False)
        self._resync = False
        self._skip = 0
        self._gap = False
        self._crlf = 0
        return out

    def give_up(self) -> list[tuple[bytes, Payload]]:
        """Release what is buffered (a memory cap was reached) and stay on the stream.

        A message under way is handed back cut short, as at a gap; when its length was known,
        the rest of it is skipped as it comes, so that the next message is framed where it
        starts; otherwise the stream is searched for the next start line.
        """
        rest = self._need - len(self._buf) if self._need else 0
        out: list[tuple[bytes, Payload]] = []
        self._lost(out)
        if rest > 0:
            self._resync = False
            self._skip = rest
        return out

    # -- internals ---------------------------------------------------------------------------
    def _frame(
        self,
        buf: bytes | bytearray,
        old: int,
        piece: Payload,
        out: list[tuple[bytes, Payload]],
        pos: int,
    ) -> int:
        """Hand back the messages complete in ``buf`` from ``pos``; return how many bytes were
        consumed (from 0)."""
        n = len(buf)
        while pos < n:
            if self._skip:
                step = min(self._skip, n - pos)
                self._skip -= step
                pos += step
                continue
            if self._resync:
                pos = self._seek(buf, pos, old, piece)
                if self._resync:
                    break
                continue
            if not self._need:
                if not self._checked:
                    c = buf[pos]
                    if c in {13, 10}:  # CR, LF
                        m = _CRLF_RUN.match(buf, pos)
                        assert m is not None
                        self._keepalive(buf.count(b"\n", pos, m.end()))
                        pos = m.end()
                        continue
                    self._crlf = 0
                    eol = buf.find(b"\n", pos, pos + MAX_START_LINE)
                    if eol < 0:
                        if n - pos < MAX_START_LINE and _PARTIAL_START.match(buf, pos):
                            break  # the start line is not all here yet
                        self._start_discard()
                        continue
                    if not _START_LINE.match(buf, pos, eol + 1):
                        self._start_discard()
                        continue
                    self._checked = True
                    self._scan = eol - pos
                hdr, body, plain = _headers(buf, pos, pos + self._scan, n)
                if hdr < 0 or body - pos > self.max_message:
                    if n - pos > self.max_message:
                        self._oversize(buf, pos, None, piece)
                        self._start_discard()
                        self._discard(buf, pos, pos + 1, old, piece)
                        pos += 1  # past the start line, so that the search moves on
                        continue
                    self._scan = max(self._scan, n - pos - 3)
                    break
                length = body - pos + (plain if plain >= 0 else self._content_length(buf, pos, hdr))
                if length > self.max_message:
                    # Drop it by its length, without holding it: the framing rule still holds.
                    self._oversize(buf, pos, length, piece)
                    self._checked = False
                    self._scan = 0
                    self._skip = length
                    continue
                self._need = length
            end = pos + self._need
            if end > n:
                break
            msg = bytes(buf[pos:end])  # a whole bytes piece is not copied
            self._emit(msg, pos, old, piece, out)
            pos = end
        return pos

    def _whole(
        self, buf: bytes | bytearray, pos: int, piece: Payload, out: list[tuple[bytes, Payload]]
    ) -> int:
        """``_frame``'s common case: a piece that starts a message, nothing buffered before it,
        after the run of whole messages it starts with (``_whole_ends``; ``feed`` hands them back),
        which end at ``pos``.

        Hands back the messages that are whole in the rest, each found as ``_frame`` finds it (the
        same tests in the same order) but without its per-byte-run state; returns where ``_frame``
        is to go on: at the end, or at anything else (keep-alive bytes, a line that is no start
        line, headers not all here, an oversize message), with the state ``_frame`` would have
        there.
        """
        n = len(buf)
        max_message = self.max_message
        while pos < n:
            c = buf[pos]
            if c in {13, 10}:  # CR, LF
                return pos
            self._crlf = 0
            eol = buf.find(b"\n", pos, pos + MAX_START_LINE)
            if eol < 0 or not _START_LINE.match(buf, pos, eol + 1):
                return pos
            hdr, body, plain = _headers(buf, pos, eol, n)
            if hdr < 0 or body - pos > max_message:
                return pos
            length = body - pos + (plain if plain >= 0 else self._content_length(buf, pos, hdr))
            if length > max_message:
                self._oversize(buf, pos, length, piece)
                self._skip = length
                return pos
            end = pos + length
            if end > n:
                self._need = length
                self._checked = True
                self._scan = eol - pos
                return pos
            pos = self._put(buf, pos, (end,), piece, out)
        return pos

    def _put(
        self,
        buf: bytes | bytearray,
        pos: int,
        ends: Sequence[int],
        piece: Payload,
        out: list[tuple[bytes, Payload]],
    ) -> int:
        """``_whole``'s messages: from ``pos`` to each of ``ends`` in turn, handed back as
        ``_emit`` would; returns where the last one ended."""
        if not ends:
            return pos
        frame, ts_ns, src, dst, transport, _, file, first, first_ts, _, _, frames = piece
        if pos or not first or first == frame:  # as ``_emit`` has it: 0 when it is ``frame``
            first = first_ts = 0  # (and for a message after the first of the piece)
        gap = self._gap
        for end in ends:
            msg = bytes(buf[pos:end])  # a whole bytes piece is not copied
            fields = (frame, ts_ns, src, dst, transport, msg, file, first, first_ts, False, gap)
            out.append((msg, _new_tuple(Payload, (*fields, frames))))
            gap = False
            first = first_ts = 0
            pos = end
        self._gap = False
        self._crlf = 0
        self.messages += len(ends)
        return pos

    def _emit(
        self, msg: bytes, pos: int, old: int, piece: Payload, out: list[tuple[bytes, Payload]]
    ) -> None:
        if pos < old:
            first, first_ts = self._first_frame, self._first_ts_ns
        elif pos == old and piece.first_frame:
            first, first_ts = piece.first_frame, piece.first_ts_ns
        else:
            first, first_ts = piece.frame, piece.ts_ns
        if first == piece.frame:
            first = first_ts = 0
        frames = piece.frames if pos >= old else self._frames_of(pos, pos + len(msg), piece.frame)
        out.append(
            (
                msg,
                Payload(
                    piece.frame,
                    piece.ts_ns,
                    piece.src,
                    piece.dst,
                    piece.transport,
                    msg,
                    piece.file,
                    first,
                    first_ts,
                    False,
                    self._gap,
                    frames,
                ),
            )
        )
        self._gap = False
        self._need = 0
        self._checked = False
        self._scan = 0
        self.messages += 1

    def _frames_of(self, start: int, end: int, frame: int) -> tuple[int, ...]:
        """Frames of the pieces holding bytes ``start:end`` of ``_buf``; () when only ``frame``."""
        marks = self._marks
        got: set[int] = set()
        last = len(marks) - 1
        for i, (off, frames) in enumerate(marks):
            if off >= end:
                break
            if i == last or marks[i + 1][0] > start:
                got.update(frames)
        if len(got) <= 1 and (not got or frame in got):
            return ()
        return tuple(sorted(got))

    def _consumed(self, n: int) -> None:
        """The first ``n`` bytes of ``_buf`` are gone: move the piece marks to match."""
        marks = self._marks
        if not self._buf:
            marks.clear()
            return
        i = 0
        while i + 1 < len(marks) and marks[i + 1][0] <= n:
            i += 1
        self._marks = [(max(off - n, 0), frames) for off, frames in marks[i:]]

    def _content_length(self, buf: bytes | bytearray, start: int, end: int) -> int:
        """Content-Length of the headers in ``buf[start:end]`` when ``_headers`` found none in its
        usual spelling; 0 (counted) when absent or bad."""
        m = _content_length_header(buf, start, end)
        if m is None:
            self.counts.sip_stream_no_content_length += 1
            return 0
        value = m.group(1).strip()
        if _DIGITS.fullmatch(value) is None:
            if value.isdigit():
                return self.max_message + 1  # more digits than any sane length
            self.counts.sip_stream_bad_content_length += 1
            return 0
        return int(value)

    def _oversize(
        self, buf: bytes | bytearray, pos: int, length: int | None, piece: Payload
    ) -> None:
        self.counts.sip_stream_oversize += 1
        if length is None:
            what = f"no end of the SIP headers within {self.max_message} bytes"
        else:
            what = f"SIP message of {length} bytes is over the {self.max_message}-byte limit"
        self.skipped.append(
            Skipped(
                piece.frame,
                piece.ts_ns,
                f"{what} in {_flow(piece)}: dropped",
                piece.file,
                piece.src,
                piece.dst,
                piece.transport,
                bytes(buf[pos : pos + _SAMPLE]),
            )
        )
        self._gap = True

    def _keepalive(self, lfs: int) -> None:
        """Count keep-alives: every two line feeds of a run are a ping, a last odd one a pong."""
        before = (self._crlf + 1) // 2
        self._crlf += lfs
        after = (self._crlf + 1) // 2
        if after > before:
            self.counts.keepalive += after - before

    def _start_discard(self) -> None:
        """Enter resynchronisation: what follows is not (or no longer) a message."""
        self._resync = True
        self._need = 0
        self._checked = False
        self._scan = 0
        self._crlf = 0

    def _seek(self, buf: bytes | bytearray, pos: int, old: int, piece: Payload) -> int:
        """Discard bytes up to the next line that looks like a start line; return where it is."""
        m = _START_AT_LINE.search(buf, pos)
        if m is not None:
            self._discard(buf, pos, m.start(), old, piece)
            self._end_discard(found=True)
            self._resync = False
            return m.start()
        # Nothing yet: keep only a last line that may still become a start line.
        n = len(buf)
        cut = max(pos, buf.rfind(b"\n", pos) + 1)
        if n - cut >= MAX_START_LINE or not _PARTIAL_START.match(buf, cut):
            cut = n
        self._discard(buf, pos, cut, old, piece)
        return cut

    def _discard(
        self, buf: bytes | bytearray, start: int, end: int, old: int, piece: Payload
    ) -> None:
        if end <= start:
            return
        if not self._dropped:
            self._drop_frame, self._drop_ts_ns = self._origin(start, old, piece)
        room = _SAMPLE - len(self._drop_sample)
        if room > 0:
            self._drop_sample += bytes(buf[start : min(end, start + room)])
        self._dropped += end - start

    def _end_discard(self, *, found: bool) -> None:
        """A run of discarded bytes ended, at a start line (``found``) or at the end of the stream.

        Inside a SIP stream the run is recorded as a ``Skipped``; a stream that never held a SIP
        message is only counted (``not_sip_streams``, ``not_sip_stream_bytes``), so that HTTPS and
        the like beside the SIP traffic do not flood the report.
        """
        dropped = self._dropped
        if not dropped:
            return
        self._dropped = 0
        sample, self._drop_sample = self._drop_sample, b""
        if not found and not self.messages:
            self.counts.not_sip_streams += 1
            self.counts.not_sip_stream_bytes += dropped
            return
        self._gap = True
        self.counts.sip_stream_resyncs += 1
        self.counts.sip_stream_discarded_bytes += dropped
        piece = self._last
        if piece is None:  # pragma: no cover - bytes were discarded, so a piece was fed
            return
        where = "before a SIP start line" if found else "at the end of the stream"
        self.skipped.append(
            Skipped(
                self._drop_frame,
                self._drop_ts_ns,
                f"{dropped} bytes of {_flow(piece)} {where} discarded: not a SIP message",
                piece.file,
                piece.src,
                piece.dst,
                piece.transport,
                sample,
            )
        )

    def _lost(self, out: list[tuple[bytes, Payload]]) -> None:
        """Bytes are missing after what is buffered: hand back a message under way, cut short."""
        buf = self._buf
        last = self._last
        if buf and last is not None:
            if self._resync:
                self._discard(buf, 0, len(buf), len(buf), last)
            else:
                self.counts.sip_stream_truncated += 1
                self._emit(bytes(buf), 0, len(buf), last, out)
        self._buf = bytearray()
        self._marks = []
        self._need = 0
        self._checked = False
        self._scan = 0
        self._crlf = 0
        self._skip = 0
        self._resync = True
        self._gap = True

    def _origin(self, pos: int, old: int, piece: Payload) -> tuple[int, int]:
        """Frame and time of the byte at ``pos`` of the buffer being framed."""
        if pos < old:
            return self._first_frame, self._first_ts_ns
        return piece.frame, piece.ts_ns


class Framers:
    """A ``StreamFramer`` per (src, dst, transport), created on demand, with a total buffer cap.

    Pieces that are not stream pieces (``stream=False``: UDP datagrams, WebSocket messages) pass
    through as one message each.
    """

    def __init__(
        self,
        counts: Counts | None = None,
        skipped: list[Skipped] | None = None,
        *,
        max_message: int = 1024 * 1024,
        max_total: int = 64 * 1024 * 1024,
        max_streams: int = 100_000,
    ) -> None:
        """Args:
        counts: the run's counters, shared with the pipeline (its own when None).
        skipped: where discarded data is recorded (a private list when None).
        max_message: largest message kept, per stream.
        max_total: most bytes buffered over all streams; beyond it the oldest streams are
            closed (their messages under way handed back cut short).
        max_streams: most streams followed at once; beyond it the oldest is closed.
        """
        self.counts = Counts() if counts is None else counts
        self.skipped: list[Skipped] = [] if skipped is None else skipped
        self._max_message = max_message
        self._max_total = max_total
        self._max_streams = max_streams
        self._total = 0
        self._framers: dict[tuple[Endpoint, Endpoint, str], StreamFramer] = {}

    @property
    def buffered(self) -> int:
        """Bytes held over all streams."""
        return self._total

    @property
    def streams(self) -> int:
        """Stream directions followed."""
        return len(self._framers)

    def feed(self, piece: Payload) -> list[tuple[bytes, Payload]]:
        """Frame one piece with the framer of its stream direction."""
        if not piece[9]:  # stream (by index, here: the hot path)
            return [(piece[5], piece)]
        key = (piece[2], piece[3], piece[4])  # src, dst, transport
        framer = self._framers.get(key)
        out: list[tuple[bytes, Payload]]
        if framer is None:
            framer = StreamFramer(self._max_message, counts=self.counts, skipped=self.skipped)
            self._framers[key] = framer
            out = []
            if len(self._framers) > self._max_streams:
                self._evict(out, key, streams=True)
            before = 0
            out += framer.feed(piece)
        else:
            if (
                _frame_whole is not None
                and not (piece[10] or framer._buf or framer._need or framer._checked)
                and not (framer._skip or framer._resync)
                and self._total <= self._max_total
            ):
                # the common case: nothing under way, the piece whole messages (then nothing
                # held after it either, the total as it was)
                whole = framer._feed_whole(piece)
                if whole is not None:
                    return whole
            before = len(framer._buf)
            out = framer.feed(piece)
            if not before and not framer._buf and self._total <= self._max_total:
                return out  # nothing held before or after, the total as it was
        self._total += framer.buffered - before
        if self._total > self._max_total:
            self._evict(out, key, streams=False)
        return out

    def close(self, src: Endpoint, dst: Endpoint, transport: str) -> list[tuple[bytes, Payload]]:
        """One direction of a stream ended: hand back its message under way, if any."""
        framer = self._framers.pop((src, dst, transport), None)
        if framer is None:
            return []
        self._total -= framer.buffered
        return framer.close()

    def flush(self) -> list[tuple[bytes, Payload]]:
        """End of input: close every stream."""
        out: list[tuple[bytes, Payload]] = []
        for framer in self._framers.values():
            out += framer.close()
        self._framers.clear()
        self._total = 0
        return out

    def _evict(
        self,
        out: list[tuple[bytes, Payload]],
        keep: tuple[Endpoint, Endpoint, str],
        *,
        streams: bool,
    ) -> None:
        """Close the oldest streams (not ``keep``) until under the stream count, or empty the
        buffers of the oldest until under the byte cap."""
        for key in list(self._framers):
            if streams:
                if len(self._framers) <= self._max_streams:
                    return
            elif self._total <= self._max_total:
                return
            if key != keep and (streams or self._framers[key].buffered):
                self._drop(key, out, "stream" if streams else "buffer")
        if not streams and self._total > self._max_total:
            self._drop(keep, out, "buffer")

    def _drop(
        self, key: tuple[Endpoint, Endpoint, str], out: list[tuple[bytes, Payload]], cap: str
    ) -> None:
        framer = self._framers.pop(key) if cap == "stream" else self._framers[key]
        last = framer.last_piece
        if framer.buffered and last is not None:
            self.counts.sip_stream_evicted += 1
            if cap == "buffer":
                self.counts.sip_streams_at_cap += 1
            self.skipped.append(
                Skipped(
                    last.frame,
                    last.ts_ns,
                    f"{framer.buffered} bytes buffered for {_flow(last)} given up: "
                    f"over the {cap} cap",
                    last.file,
                    last.src,
                    last.dst,
                    last.transport,
                )
            )
        self._total -= framer.buffered
        # Over the stream count the framer goes; over the byte cap it stays, empty, in step.
        out += framer.close() if cap == "stream" else framer.give_up()


def _flow(piece: Payload) -> str:
    return f"{piece.src} -> {piece.dst} ({piece.transport})"
