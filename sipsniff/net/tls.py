"""SIP over TLS without keys: find the TLS connections among TCP streams and describe them.

How this works. ``TlsConnections`` sees every in-order TCP piece before the SIP framer does. It
looks at the first bytes of each direction only: a direction is TLS when they are a TLS record
header (RFC 8446 section 5.1, RFC 5246 section 6.2.1) of a handshake (``0x16 0x03 0x00-0x04``),
or of application data (``0x17 0x03 0x00-0x04``) for a capture that starts mid-connection. The
other direction of a TLS connection is TLS too, whatever its first bytes. Everything else
(the SIP streams) costs a dict look-up per piece and is handed back to the caller (``feed``
returns False).

The bytes of a TLS direction are walked record by record (5-byte header, then the record's
``length`` bytes) to count records. The payloads of the first handshake records of each
direction are gathered until the first handshake message is whole: the ClientHello gives the
SNI (``server_name``, RFC 6066 section 3) and ALPN (RFC 7301) offers; the ServerHello gives the
cipher suite and the version (the ``supported_versions`` extension for TLS 1.3, RFC 8446
section 4.2.1; else the legacy version field, which TLS 1.3 drafts up to 21 used). After a
TCP gap, record boundaries are lost until a piece starts with a record header again; bytes are
counted all the same. Nothing here raises on bad traffic: a record header that makes no sense
only loses the record boundaries.

Counters (in ``counts``): ``tls_connections``, ``tls_records``, ``tls_bytes``.
"""

from __future__ import annotations

from sipsniff.model import Counts, Endpoint, Payload, TlsConnection

_HANDSHAKE = 0x16
_APPLICATION_DATA = 0x17
_CONTENT_TYPES = frozenset({0x14, 0x15, 0x16, 0x17, 0x18})
"""change_cipher_spec, alert, handshake, application_data, heartbeat."""
_MAX_RECORD = (1 << 14) + 2048
"""Largest TLSCiphertext.length (RFC 5246 section 6.2.3); TLS 1.3 allows less (2^14 + 256)."""
_MAX_HELLO = 64 * 1024
"""Most bytes of handshake gathered to find the first handshake message of a direction."""
_CLIENT_HELLO, _SERVER_HELLO = 1, 2
_EXT_SERVER_NAME, _EXT_ALPN, _EXT_SUPPORTED_VERSIONS = 0, 16, 43
_MAX_CONNECTIONS = 100_000
_MAX_PLAIN = 200_000
"""Directions remembered as not TLS (then forgotten all at once)."""
_SERVER_PORTS = frozenset({5061, 443, 5223})
"""Ports taken for the server's when no hello tells client from server."""

_VERSIONS = {
    0x0300: "SSL 3.0",
    0x0301: "TLS 1.0",
    0x0302: "TLS 1.1",
    0x0303: "TLS 1.2",
    0x0304: "TLS 1.3",
}

_CIPHERS = {
    # TLS 1.3 (RFC 8446 appendix B.4)
    0x1301: "TLS_AES_128_GCM_SHA256",
    0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0x1304: "TLS_AES_128_CCM_SHA256",
    0x1305: "TLS_AES_128_CCM_8_SHA256",
    # The usual TLS 1.2 suites (IANA TLS Cipher Suites registry)
    0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA",
    0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
    0x003C: "TLS_RSA_WITH_AES_128_CBC_SHA256",
    0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256",
    0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384",
    0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
}


def version_name(version: int) -> str:
    """``TLS 1.2`` for 0x0303; ``TLS 1.3 (draft 21)`` for 0x7f15; else the number in hex."""
    name = _VERSIONS.get(version)
    if name is not None:
        return name
    if version >> 8 == 0x7F:
        return f"TLS 1.3 (draft {version & 0xFF})"
    return f"0x{version:04x}"


def cipher_name(suite: int) -> str:
    """IANA name of a cipher suite when it is a usual one, else its number (``0x1302``)."""
    return _CIPHERS.get(suite, f"0x{suite:04x}")


def tls_dict(c: TlsConnection) -> dict[str, object]:
    """A ``TlsConnection`` as JSON-ready values (endpoints as ``ip:port`` text)."""
    return {
        "client": str(c.client),
        "server": str(c.server),
        "sni": c.sni,
        "alpn": list(c.alpn),
        "version": c.version,
        "cipher": c.cipher,
        "client_bytes": c.client_bytes,
        "server_bytes": c.server_bytes,
        "client_records": c.client_records,
        "server_records": c.server_records,
        "start_ns": c.start_ns,
        "end_ns": c.end_ns,
        "first_frame": c.first_frame,
        "last_frame": c.last_frame,
        "file": c.file,
        "handshake": c.handshake,
    }


def looks_like_tls(data: bytes) -> bool:
    """Do ``data`` start with a TLS handshake or application-data record header?

    A piece shorter than the header is judged on the bytes it has: no SIP stream starts with
    0x16 or 0x17, so the first byte alone already says "not SIP".
    """
    return (
        bool(data)
        and (data[0] == _HANDSHAKE or data[0] == _APPLICATION_DATA)
        and (len(data) < 2 or data[1] == 3)
        and (len(data) < 3 or data[2] <= 4)
    )


class _Conn:
    """What is known of one connection, as it is read."""

    __slots__ = (
        "a",
        "alpn",
        "b",
        "cipher",
        "client",
        "end_ns",
        "file",
        "first_frame",
        "handshake",
        "last_frame",
        "sni",
        "start_ns",
        "version",
    )

    def __init__(self, piece: Payload) -> None:
        self.a = piece.src
        """Sender of the first piece seen."""
        self.b = piece.dst
        self.client: Endpoint | None = None
        """Set by a ClientHello or a ServerHello."""
        self.sni: str | None = None
        self.alpn: tuple[str, ...] = ()
        self.version: str | None = None
        self.cipher: str | None = None
        self.handshake = False
        self.start_ns = piece.first_ts_ns or piece.ts_ns
        self.end_ns = piece.ts_ns
        self.first_frame = piece.first_frame or piece.frame
        self.last_frame = piece.frame
        self.file = piece.file


class _Direction:
    """Record walking state of one direction of a TLS connection."""

    __slots__ = ("bytes", "conn", "head", "hello", "lost", "need", "records", "rtype")

    def __init__(self, conn: _Conn, *, lost: bool) -> None:
        self.conn = conn
        self.bytes = 0
        self.records = 0
        self.head = b""
        """The start of a record header split between pieces."""
        self.need = 0
        """Bytes of the current record's body still to come."""
        self.rtype = 0
        """Content type of the current record."""
        self.hello: bytearray | None = bytearray()
        """Handshake bytes gathered for the first handshake message; None once done with it."""
        self.lost = lost
        """Record boundaries unknown (after a gap): waiting for a piece that starts a record."""


class TlsConnections:
    """Per TCP connection: TLS or not; for TLS ones, endpoints, hello details and counts."""

    def __init__(self, counts: Counts | None = None) -> None:
        """Args:
        counts: the run's counters, shared with the pipeline (its own when None).
        """
        self.counts = Counts() if counts is None else counts
        self._dirs: dict[tuple[Endpoint, Endpoint], _Direction] = {}
        self._plain: set[tuple[Endpoint, Endpoint]] = set()
        """Directions whose first bytes were not TLS."""
        self._conns: list[_Conn] = []

    def feed(self, piece: Payload) -> bool:
        """Take an in-order TCP stream piece.

        Returns:
            True when the piece belongs to a TLS connection (do not give it to the SIP framer).
            Pieces that are not TCP stream pieces (datagrams, decrypted ``tls`` pieces) are not
            looked at: False.
        """
        if not piece[9] or piece[4] != "tcp":  # stream, transport (by index: the hot path)
            return False
        key = (piece[2], piece[3])  # src, dst
        dirs = self._dirs
        if not dirs and key in self._plain:
            return False  # the common case: no TLS at all, and this direction's start was not
        d = dirs.get(key)
        if d is None:
            if key in self._plain:
                other = self._dirs.get((piece.dst, piece.src))
                if other is None:
                    return False
                self._plain.discard(key)  # the peer speaks TLS: so does this side
                d = self._add(key, other.conn, lost=True)
            else:
                d = self._first(key, piece)
                if d is None:
                    return False
        self._walk(d, piece)
        return True

    def connections(self) -> list[TlsConnection]:
        """Every TLS connection seen so far, in order of their first piece."""
        out: list[TlsConnection] = []
        for c in self._conns:
            client, server = _sides(c)
            up = self._dirs.get((client, server))
            down = self._dirs.get((server, client))
            out.append(
                TlsConnection(
                    client=client,
                    server=server,
                    sni=c.sni,
                    alpn=c.alpn,
                    version=c.version,
                    cipher=c.cipher,
                    client_bytes=0 if up is None else up.bytes,
                    server_bytes=0 if down is None else down.bytes,
                    client_records=0 if up is None else up.records,
                    server_records=0 if down is None else down.records,
                    start_ns=c.start_ns,
                    end_ns=c.end_ns,
                    first_frame=c.first_frame,
                    last_frame=c.last_frame,
                    file=c.file,
                    handshake=c.handshake,
                )
            )
        return out

    # -- internals -------------------------------------------------------------------------
    def _first(self, key: tuple[Endpoint, Endpoint], piece: Payload) -> _Direction | None:
        """The first piece of a direction: does it open (or join) a TLS connection?"""
        other = self._dirs.get((key[1], key[0]))
        if other is not None:
            return self._add(key, other.conn, lost=not looks_like_tls(piece.data))
        if not looks_like_tls(piece.data):
            if len(self._plain) >= _MAX_PLAIN:
                self._plain.clear()
            self._plain.add(key)
            return None
        if len(self._conns) >= _MAX_CONNECTIONS:
            return None  # listed enough; the rest still stays away from the SIP framer
        conn = _Conn(piece)
        self._conns.append(conn)
        self.counts.tls_connections += 1
        return self._add(key, conn, lost=False)

    def _add(self, key: tuple[Endpoint, Endpoint], conn: _Conn, *, lost: bool) -> _Direction:
        d = self._dirs[key] = _Direction(conn, lost=lost)
        return d

    def _walk(self, d: _Direction, piece: Payload) -> None:
        """Count the piece's bytes and walk its records."""
        data = piece.data
        n = len(data)
        d.bytes += n
        self.counts.tls_bytes += n
        c = d.conn
        c.end_ns = max(c.end_ns, piece.ts_ns)
        c.start_ns = min(c.start_ns, piece.ts_ns)
        c.last_frame = max(c.last_frame, piece.frame)
        if piece.gap:
            d.lost = True
        if d.lost:
            if not _record_start(data):
                return
            d.lost = False
            d.head = b""
            d.need = 0
        pos = 0
        while pos < n:
            if d.need:
                take = min(d.need, n - pos)
                if d.hello is not None and d.rtype == _HANDSHAKE:
                    d.hello += data[pos : pos + take]
                pos += take
                d.need -= take
                if not d.need and d.hello is not None and d.rtype == _HANDSHAKE:
                    self._hello(d, piece)
                continue
            want = 5 - len(d.head)
            d.head += data[pos : pos + want]
            pos += want
            if len(d.head) < 5:
                break
            head, d.head = d.head, b""
            length = int.from_bytes(head[3:5], "big")
            if not _record_start(head) or length > _MAX_RECORD:
                d.lost = True  # not a record after all: boundaries lost
                return
            d.records += 1
            self.counts.tls_records += 1
            d.rtype = head[0]
            d.need = length
            if d.hello is not None and d.rtype != _HANDSHAKE:
                d.hello = None  # encrypted from here on: no hello in this direction

    def _hello(self, d: _Direction, piece: Payload) -> None:
        """A handshake record ended: parse the first handshake message once it is whole."""
        hs = d.hello
        if hs is None:  # pragma: no cover - the caller checked
            return
        if len(hs) < 4:
            return
        length = int.from_bytes(hs[1:4], "big")
        if len(hs) < 4 + length:
            if len(hs) > _MAX_HELLO:
                d.hello = None
            return
        d.hello = None
        body = bytes(hs[4 : 4 + length])
        c = d.conn
        if hs[0] == _CLIENT_HELLO:
            c.handshake = True
            c.client = piece.src
            _client_hello(c, body)
        elif hs[0] == _SERVER_HELLO:
            c.handshake = True
            c.client = piece.dst
            _server_hello(c, body)


def _record_start(data: bytes) -> bool:
    """Do ``data`` start with a plausible TLS record header (any content type)?"""
    return len(data) >= 3 and data[0] in _CONTENT_TYPES and data[1] == 3 and data[2] <= 4


def _sides(c: _Conn) -> tuple[Endpoint, Endpoint]:
    """(client, server) of a connection."""
    if c.client is not None:
        return (c.client, c.b if c.client == c.a else c.a)
    a, b = c.a, c.b
    if b.port in _SERVER_PORTS and a.port not in _SERVER_PORTS:
        return a, b
    if a.port in _SERVER_PORTS and b.port not in _SERVER_PORTS:
        return b, a
    return (a, b) if a.port >= b.port else (b, a)


def _extensions(body: bytes, pos: int) -> dict[int, bytes]:
    """Extensions of a hello from ``pos`` (a 2-byte total length, then type, length, data)."""
    out: dict[int, bytes] = {}
    if pos + 2 > len(body):
        return out
    end = min(len(body), pos + 2 + int.from_bytes(body[pos : pos + 2], "big"))
    pos += 2
    while pos + 4 <= end:
        kind = int.from_bytes(body[pos : pos + 2], "big")
        size = int.from_bytes(body[pos + 2 : pos + 4], "big")
        out.setdefault(kind, body[pos + 4 : pos + 4 + size])
        pos += 4 + size
    return out


def _client_hello(c: _Conn, body: bytes) -> None:
    """ClientHello (RFC 8446 section 4.1.2): version 2, random 32, session_id <0..32>,
    cipher_suites <2..2^16-2>, compression_methods <1..2^8-1>, extensions <8..2^16-1>."""
    pos = 34
    if pos >= len(body):
        return
    pos += 1 + body[pos]
    if pos + 2 > len(body):
        return
    pos += 2 + int.from_bytes(body[pos : pos + 2], "big")
    if pos >= len(body):
        return
    pos += 1 + body[pos]
    ext = _extensions(body, pos)
    sni = ext.get(_EXT_SERVER_NAME)
    if sni is not None:
        # ServerNameList <1..2^16-1> of (name_type 1, HostName <1..2^16-1>); host_name is type 0
        at, end = 2, min(len(sni), 2 + int.from_bytes(sni[:2], "big"))
        while at + 3 <= end:
            size = int.from_bytes(sni[at + 1 : at + 3], "big")
            if sni[at] == 0:
                c.sni = sni[at + 3 : at + 3 + size].decode("ascii", "replace")
                break
            at += 3 + size
    alpn = ext.get(_EXT_ALPN)
    if alpn is not None:
        # ProtocolNameList <2..2^16-1> of ProtocolName <1..2^8-1>
        names: list[str] = []
        at, end = 2, min(len(alpn), 2 + int.from_bytes(alpn[:2], "big"))
        while at < end:
            size = alpn[at]
            names.append(alpn[at + 1 : at + 1 + size].decode("ascii", "replace"))
            at += 1 + size
        c.alpn = tuple(names)


def _server_hello(c: _Conn, body: bytes) -> None:
    """ServerHello (RFC 8446 section 4.1.3): version 2, random 32, session_id <0..32>,
    cipher_suite 2, compression_method 1, extensions; supported_versions holds the real one."""
    if len(body) < 35:
        return
    legacy = int.from_bytes(body[:2], "big")
    # TLS 1.3 drafts before 22 had no legacy_session_id_echo nor compression_method
    draft = legacy >> 8 == 0x7F
    pos = 34 if draft else 35 + body[34]
    if pos + 2 > len(body):
        c.version = version_name(legacy)
        return
    c.cipher = cipher_name(int.from_bytes(body[pos : pos + 2], "big"))
    chosen = _extensions(body, pos + (2 if draft else 3)).get(_EXT_SUPPORTED_VERSIONS)
    if chosen is not None and len(chosen) == 2:
        c.version = version_name(int.from_bytes(chosen, "big"))
    else:
        c.version = version_name(legacy)
