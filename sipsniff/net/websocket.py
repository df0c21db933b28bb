"""SIP over WebSocket (RFC 7118): find the WebSocket connections among TCP streams, unframe them.

How this works. ``WebSocketStreams`` sees every in-order TCP piece before the SIP framer does. A
connection becomes WebSocket when its client sends the opening handshake (RFC 6455 section 4.1:
an HTTP GET with ``Upgrade: websocket``) asking for the ``sip`` subprotocol (RFC 7118 section 4);
the server's ``101`` answer switches the other direction. A capture that starts after the handshake
is recognised too: a direction whose first bytes are a WebSocket text or binary frame holding a SIP
start line. From then on the direction is a sequence of frames (RFC 6455 section 5.2): the
payloads of a message's frames (fragmented messages: a text or binary frame, then continuation
frames up to the one with FIN) are unmasked, joined, inflated when permessage-deflate (RFC 7692)
compressed them, and handed on as one ``Payload`` with transport ``ws`` and ``stream=False``: over
WebSocket each message carries exactly one SIP message (RFC 7118 section 5.1). Control frames
(close, ping, pong) are skipped and counted.

``feed`` returns None for a piece of a connection that is not WebSocket, so that the caller hands
it to the SIP stream framer instead. Bad traffic is data: frames over the size cap, a stream that
loses its framing after a TCP gap, a message that does not inflate become ``Skipped`` records.

Counters (in ``counts``): ``ws_connections``, ``ws_messages``, ``ws_control_frames``,
``ws_dropped``, and ``ws_oversize`` for those of the drops that were over ``max_message``.
"""

from __future__ import annotations

import re
import zlib

from sipsniff.model import Counts, Endpoint, Payload, Skipped

_OP_CONTINUATION, _OP_TEXT, _OP_BINARY = 0, 1, 2
_OP_CLOSE = 8
_FIN, _RSV1, _RSV23, _MASKED = 0x80, 0x40, 0x30, 0x80
_MAX_HANDSHAKE = 64 * 1024
_MAX_DIRECTIONS = 10_000
_MAX_TRACKED = 200_000
"""Directions remembered as already started (then forgotten all at once)."""

# An HTTP header field in a handshake: field-name ":" OWS field-value (RFC 9112 section 5)
_FIELD = re.compile(rb"(?m)^([!#$%&'*+\-.^_`|~0-9A-Za-z]+)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?$")
_STATUS = re.compile(rb"HTTP/[0-9.]+ +([0-9]{3})")
# The first bytes of a SIP message: a Request-Line or a Status-Line (RFC 3261 section 7.1, 7.2)
_SIP_START = re.compile(
    rb"[!%'*+\-.0-9A-Za-z_`~]+ [^ \r\n]+ SIP/2\.0\r?\n|SIP/2\.0 [0-9]{3}[ \r\n]"
)


class _Direction:
    """WebSocket state of one direction of one connection."""

    __slots__ = (
        "buf",
        "buf_frame",
        "buf_ts_ns",
        "compressed",
        "file",
        "handshake",
        "inflater",
        "lost",
        "msg_frame",
        "msg_ts_ns",
        "parts",
        "size",
        "skip",
    )

    def __init__(self, *, handshake: bool) -> None:
        self.handshake = handshake
        """Waiting for the server's answer to the opening handshake (an HTTP response)."""
        self.file = 0
        self.buf = bytearray()
        """Bytes not used yet: the start of a frame (or of the HTTP response)."""
        self.buf_frame = 0
        self.buf_ts_ns = 0
        """Frame and time of ``buf[0]``."""
        self.parts: list[bytes] = []
        """Unmasked payloads of the message under way."""
        self.size = 0
        self.msg_frame = 0
        self.msg_ts_ns = 0
        """Frame and time of the first byte of the message under way."""
        self.compressed = False
        self.inflater: zlib._Decompress | None = None
        self.skip = 0
        """Bytes still to drop of an oversize frame."""
        self.lost = False
        """Framing lost after a TCP gap: waiting for a piece that starts with a frame."""


class WebSocketStreams:
    """Per TCP connection: WebSocket or not; for WebSocket ones, each message as a Payload."""

    def __init__(
        self,
        counts: Counts | None = None,
        skipped: list[Skipped] | None = None,
        *,
        max_message: int = 1024 * 1024,
    ) -> None:
        """Args:
        counts: the run's counters, shared with the pipeline (its own when None).
        skipped: where dropped frames are recorded (a private list when None).
        max_message: largest WebSocket message kept, in bytes (after inflating).
        """
        self.counts = Counts() if counts is None else counts
        self.skipped: list[Skipped] = [] if skipped is None else skipped
        self.max_message = max_message
        self._dirs: dict[tuple[Endpoint, Endpoint], _Direction] = {}
        self._requests: dict[tuple[Endpoint, Endpoint], bytearray] = {}
        """Opening handshakes under way (a GET not complete yet)."""
        self._started: set[tuple[Endpoint, Endpoint]] = set()
        """Directions whose first piece was seen: only a first piece can open a handshake."""
        self._text: set[tuple[Endpoint, Endpoint]] = set()
        """Directions whose bytes already framed SIP messages as text (``text``)."""

    @property
    def connections(self) -> int:
        """Directions followed as WebSocket."""
        return len(self._dirs)

    def feed(self, piece: Payload) -> list[Payload] | None:
        """Take an in-order TCP piece.

        Returns:
            None when the piece's connection is not WebSocket (give it to the SIP framer);
            else the WebSocket messages it completes (often none).
        """
        if not piece[9]:  # stream (by index: the hot path)
            return None
        key = (piece[2], piece[3])  # src, dst
        if key in self._text and key in self._started and not self._dirs and not self._requests:
            return None  # the common case: a direction of SIP as text, no WebSocket at all
        d = self._dirs.get(key)
        if d is not None:
            return self._feed(d, key, piece)
        request = self._requests.get(key)
        data = piece.data
        if request is None:
            # A handshake can only open a direction: "GET " later on is a SIP stream's own bytes
            # (one-byte segments of "z9hG4bK" once lost their "G" to this guess).
            first = key not in self._started
            if first:
                if len(self._started) >= _MAX_TRACKED:
                    self._started.clear()
                self._started.add(key)
                if data[:4] == b"GET " or (len(data) < 4 and b"GET ".startswith(data)):
                    return self._request(key, bytearray(), piece)
            # A capture that starts after the handshake: a text or binary frame holding SIP. (The
            # RSV bits rule out ASCII text at once: every letter has 0x40 set.) Not on a direction
            # that already carried SIP as text: there, a piece starting with the NUL bytes of a
            # body is the rest of a message.
            if data and not data[0] & 0x70 and key not in self._text and self._looks_like_sip(data):
                self.counts.ws_connections += 1
                return self._feed(self._add(key, handshake=False), key, piece)
            if first and data[:1].isalpha():
                # A direction that starts with text (a SIP start line, perhaps not whole yet)
                # carries SIP as text: its later pieces may start with a CR LF or a body's NULs.
                self.text(*key)
            return None
        return self._request(key, request, piece)

    def text(self, src: Endpoint, dst: Endpoint) -> None:
        """The direction ``src`` -> ``dst`` carries SIP as plain text (the framer found messages
        in it): never take it for WebSocket frames afterwards."""
        key = (src, dst)
        if key not in self._text:
            if len(self._text) >= _MAX_TRACKED:
                self._text.clear()
            self._text.add(key)

    def flush(self) -> list[Payload]:
        """End of input: messages under way are incomplete and dropped (with a record)."""
        for key, d in self._dirs.items():
            if d.parts:
                self._drop(d, key, "WebSocket message cut short at the end of the capture")
        self._dirs.clear()
        self._requests.clear()
        return []

    # -- the handshake -----------------------------------------------------------------------
    def _request(
        self, key: tuple[Endpoint, Endpoint], request: bytearray, piece: Payload
    ) -> list[Payload] | None:
        """A client's GET, maybe over several pieces: is it a WebSocket upgrade for SIP?"""
        request += piece.data
        if request[:4] != b"GET "[: len(request)]:
            self._requests.pop(key, None)
            return None
        end = request.find(b"\r\n\r\n")
        if end < 0:
            if len(request) > _MAX_HANDSHAKE:
                del self._requests[key]
                return None
            self._requests[key] = request
            return []
        self._requests.pop(key, None)
        fields = _fields(request[:end])
        if len(self._requests) > _MAX_DIRECTIONS:
            del self._requests[next(iter(self._requests))]
        upgrade = fields.get(b"upgrade", b"").lower()
        protocols = [
            p.strip().lower() for p in fields.get(b"sec-websocket-protocol", b"").split(b",")
        ]
        if upgrade != b"websocket" or b"sip" not in protocols:
            return None
        self.counts.ws_connections += 1
        d = self._add(key, handshake=False)
        self._add((key[1], key[0]), handshake=True)
        rest = request[end + 4 :]
        if not rest:
            return []
        return self._feed(d, key, piece._replace(data=bytes(rest)))

    def _response(self, d: _Direction, key: tuple[Endpoint, Endpoint]) -> int:
        """The server's answer, once whole in ``d.buf``: how many bytes it took when it switched
        to WebSocket, else -1."""
        end = d.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(d.buf) > _MAX_HANDSHAKE:
                self._forget(key)
            return -1
        status = _STATUS.match(d.buf)
        if status is None or status.group(1) != b"101":
            self._forget(key)  # not upgraded: plain HTTP, none of our business
            return -1
        d.handshake = False
        del d.buf[: end + 4]
        return end + 4

    # -- frames ------------------------------------------------------------------------------
    def _feed(self, d: _Direction, key: tuple[Endpoint, Endpoint], piece: Payload) -> list[Payload]:
        out: list[Payload] = []
        if piece.gap:
            if d.parts:
                self._drop(d, key, "WebSocket message lost in a TCP gap")
            d.buf.clear()
            d.skip = 0
            d.lost = not d.handshake
        if d.lost:
            if not (piece.data and self._looks_like_sip(piece.data)):
                return out
            d.lost = False
        d.file = piece.file
        if not d.buf:
            d.buf_frame, d.buf_ts_ns = piece.frame, piece.ts_ns
        old = len(d.buf)
        d.buf += piece.data
        if d.handshake:
            used = self._response(d, key)
            if used < 0:
                return out
            old = max(0, old - used)
        buf = d.buf
        pos = 0
        n = len(buf)
        while pos < n:
            if d.skip:
                step = min(d.skip, n - pos)
                d.skip -= step
                pos += step
                continue
            header = _frame_header(buf, pos)
            if header is None:
                break
            b0, length, start, mask = header
            if length > self.max_message:
                if not d.parts:  # reported at this frame, not at the previous message's
                    at = (d.buf_frame, d.buf_ts_ns) if pos < old else (piece.frame, piece.ts_ns)
                    d.msg_frame, d.msg_ts_ns = at
                self.counts.ws_oversize += 1
                self._drop(d, key, f"WebSocket frame of {length} bytes over the limit")
                d.skip = start - pos + length
                continue
            end = start + length
            if end > n:
                break
            frame_at = (d.buf_frame, d.buf_ts_ns) if pos < old else (piece.frame, piece.ts_ns)
            payload = bytes(buf[start:end])
            if mask is not None:
                payload = _unmask(payload, mask)
            pos = end
            opcode = b0 & 0x0F
            if opcode >= _OP_CLOSE:
                self.counts.ws_control_frames += 1
                continue
            if opcode in (_OP_TEXT, _OP_BINARY):
                if d.parts:
                    self._drop(d, key, "WebSocket message left unfinished by a new one")
                d.msg_frame, d.msg_ts_ns = frame_at
                d.compressed = bool(b0 & _RSV1)
            elif opcode != _OP_CONTINUATION or not d.parts:
                d.msg_frame, d.msg_ts_ns = frame_at
                self._drop(d, key, f"WebSocket frame with opcode {opcode} out of place")
                continue
            d.parts.append(payload)
            d.size += len(payload)
            if d.size > self.max_message:
                self.counts.ws_oversize += 1
                self._drop(d, key, f"WebSocket message over {self.max_message} bytes")
                continue
            if b0 & _FIN:
                self._message(d, key, piece, out)
        del buf[:pos]
        if pos >= old and buf:
            d.buf_frame, d.buf_ts_ns = piece.frame, piece.ts_ns
        return out

    def _message(
        self, d: _Direction, key: tuple[Endpoint, Endpoint], piece: Payload, out: list[Payload]
    ) -> None:
        data = d.parts[0] if len(d.parts) == 1 else b"".join(d.parts)
        if d.compressed:
            if d.inflater is None:
                d.inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            try:
                data = d.inflater.decompress(data + b"\x00\x00\xff\xff", self.max_message + 1)
            except zlib.error:
                d.inflater = None
                self._drop(d, key, "WebSocket message that does not inflate (permessage-deflate)")
                return
            if len(data) > self.max_message:
                self.counts.ws_oversize += 1
                self._drop(d, key, f"WebSocket message over {self.max_message} bytes")
                return
        first = d.msg_frame if d.msg_frame != piece.frame else 0
        first_ts = d.msg_ts_ns if first else 0
        out.append(
            Payload(
                piece.frame,
                piece.ts_ns,
                piece.src,
                piece.dst,
                "ws",
                data,
                piece.file,
                first,
                first_ts,
                False,
                False,
            )
        )
        self.counts.ws_messages += 1
        d.parts = []
        d.size = 0

    def _looks_like_sip(self, data: bytes) -> bool:
        """Does ``data`` start with a text or binary frame holding the start of a SIP message?"""
        header = _frame_header(data, 0)
        if header is None:
            return False
        b0, _, start, mask = header
        if b0 & (_RSV1 | _RSV23):
            return False
        head = data[start : start + 256]
        if mask is not None:
            head = _unmask(head, mask)
        return _SIP_START.match(head) is not None

    # -- bookkeeping -------------------------------------------------------------------------
    def _add(self, key: tuple[Endpoint, Endpoint], *, handshake: bool) -> _Direction:
        if len(self._dirs) >= _MAX_DIRECTIONS:
            del self._dirs[next(iter(self._dirs))]
        d = self._dirs[key] = _Direction(handshake=handshake)
        return d

    def _forget(self, key: tuple[Endpoint, Endpoint]) -> None:
        self._dirs.pop(key, None)
        self._dirs.pop((key[1], key[0]), None)

    def _drop(self, d: _Direction, key: tuple[Endpoint, Endpoint], reason: str) -> None:
        self.counts.ws_dropped += 1
        self.skipped.append(
            Skipped(
                d.msg_frame or d.buf_frame,
                d.msg_ts_ns or d.buf_ts_ns,
                f"{reason} ({key[0]} -> {key[1]}): dropped",
                d.file,
                key[0],
                key[1],
                "ws",
                b"".join(d.parts)[:256],
            )
        )
        d.parts = []
        d.size = 0


def _frame_header(buf: bytes | bytearray, pos: int) -> tuple[int, int, int, bytes | None] | None:
    """(first byte, payload length, payload offset, masking key) of the frame at ``pos``.

    None while the header is not all there. RFC 6455 section 5.2: FIN, RSV1-3, opcode; MASK and a
    7-bit length, 126 for a 16-bit length that follows, 127 for a 64-bit one; then the key.
    """
    n = len(buf)
    if n - pos < 2:
        return None
    b0, b1 = buf[pos], buf[pos + 1]
    length = b1 & 0x7F
    at = pos + 2
    if length == 126:
        if n - at < 2:
            return None
        length = int.from_bytes(buf[at : at + 2], "big")
        at += 2
    elif length == 127:
        if n - at < 8:
            return None
        length = int.from_bytes(buf[at : at + 8], "big")
        at += 8
    mask = None
    if b1 & _MASKED:
        if n - at < 4:
            return None
        mask = bytes(buf[at : at + 4])
        at += 4
    return b0, length, at, mask


def _unmask(data: bytes, key: bytes) -> bytes:
    """XOR with the 4-byte masking key, repeated (RFC 6455 section 5.3)."""
    n = len(data)
    if not n:
        return data
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def _fields(head: bytes | bytearray) -> dict[bytes, bytes]:
    """Header fields of an HTTP message head, names lower-cased; the first of each kept."""
    out: dict[bytes, bytes] = {}
    for m in _FIELD.finditer(head):
        out.setdefault(m.group(1).lower(), m.group(2))
    return out
