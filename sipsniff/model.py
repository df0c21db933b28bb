"""Value types shared by every stage of the pipeline.

Data flows one way: ``Frame`` (capture) -> ``Payload`` (net) -> ``Message`` or ``Skipped`` (sip)
-> ``Entry``, ``Transaction``, ``Dialog`` (correlate) -> renderers.

Messages, transactions and dialogs carry ids: numbers for the whole run, from 1 in the order they
appear, never renumbered (what is dropped from memory takes its ids with it; ``Trace`` files them
by id). Frames are numbered from 1 in their file, as Wireshark counts them.

The per-packet types are ``NamedTuple``s: immutable, comparable values that are cheap to create on the
hot path (a frozen dataclass costs several times more per instance). This module imports nothing of
the package.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, ClassVar, Final, NamedTuple, Protocol, cast


class Endpoint(NamedTuple):
    """A transport address."""

    ip: str
    """Printable address: dotted quad or compressed IPv6 (no brackets)."""
    port: int
    """Transport port; 0 where the transport has none."""

    def __str__(self) -> str:
        if ":" in self.ip:
            return f"[{self.ip}]:{self.port}"
        return f"{self.ip}:{self.port}"


class Frame(NamedTuple):
    """One captured record, not decoded yet."""

    number: int
    """1-based frame number in its file, as Wireshark counts them."""
    ts_ns: int
    """Capture time, nanoseconds since the Unix epoch."""
    linktype: int
    """LINKTYPE_* value of the interface the frame was captured on."""
    data: bytes
    """The captured bytes (may be shorter than ``orig_len`` when the snaplen cut it)."""
    orig_len: int
    """Length of the packet on the wire."""
    file: int = 0
    """Index of the input file among several (0 for the first or only one)."""
    offset: int = -1
    """Where ``data`` starts in that file, when the file holds it as it is (a plain pcap or
    pcapng file); -1 otherwise (standard input, gzip, a live capture). Messages found whole in
    ``data`` are then kept as places in the file (``FiledMessage``), not as bytes."""


class Payload(NamedTuple):
    """Transport-layer payload: a whole UDP datagram or SCTP chunk, or an in-order piece of a stream.

    For a message reassembled from several frames (IP fragments, TCP segments), ``frame`` and
    ``ts_ns`` are those of the frame that completed it and ``first_frame`` / ``first_ts_ns`` those of
    the first one.
    """

    frame: int
    ts_ns: int
    src: Endpoint
    dst: Endpoint
    transport: str
    """``udp``, ``tcp``, ``sctp``, ``ws``, ``wss`` or ``tls``."""
    data: bytes
    file: int = 0
    first_frame: int = 0
    """Frame that carried the first byte; 0 means the same as ``frame``."""
    first_ts_ns: int = 0
    """Time of ``first_frame``; 0 means the same as ``ts_ns``."""
    stream: bool = False
    """True when ``data`` is a piece of a byte stream (TCP, WebSocket text) and needs framing."""
    gap: bool = False
    """True when bytes of this stream were lost just before ``data``."""
    frames: tuple[int, ...] = ()
    """Every frame that carried a byte of this payload (IP fragments, TCP segments), ascending,
    when more than one; () means just ``frame``. Numbers count in input ``file``."""

    @property
    def ts(self) -> float:
        return self.ts_ns / 1e9


class Message(NamedTuple):
    """One SIP message, with the fields correlation needs parsed eagerly and the raw bytes kept.

    Everything else (all headers, the body, SDP) is parsed on demand from ``raw`` by ``sipsniff.sip``.
    """

    pkt: Payload
    """Where and when it was seen. ``pkt.data`` may hold more than ``raw`` (bytes after the message)."""
    raw: bytes
    """Exactly the message: start line to the end of the body (or of the data, when truncated)."""
    method: str | None
    """Request method as written (case kept); None for a response."""
    ruri: str | None
    """Request-URI; None for a response."""
    status: int | None
    """Status code; None for a request."""
    reason: str | None
    """Reason phrase (may be empty); None for a request."""
    call_id: str
    """Call-ID value; "" when the header is missing."""
    cseq_num: int | None
    """CSeq sequence number; None when missing or not a number."""
    cseq_method: str
    """CSeq method; "" when missing."""
    branch: str | None
    """``branch`` parameter of the topmost Via; None when absent."""
    sent_by: str
    """sent-by (host[:port], lower case) of the topmost Via; "" when there is no Via."""
    from_uri: str
    from_name: str
    """Display name of From, unquoted and unescaped; "" when none."""
    from_tag: str | None
    to_uri: str
    to_name: str
    to_tag: str | None
    content_length: int | None
    """Content-Length header value; None when absent."""
    body_start: int
    """Offset of the body in ``raw`` (== len(raw) when there is no body)."""
    truncated: bool = False
    """True when Content-Length promised more bytes than the data held."""
    problems: tuple[str, ...] = ()
    """Syntax problems the parser tolerated, each a short sentence (e.g. an RFC 4475 oddity)."""

    # -- conveniences ------------------------------------------------------------------------
    # The payload's fields (frame ... file) are declared here, and read by C code alone at run
    # time (``_read_in_c`` below makes them ``attrgetter`` properties of the same meaning).
    @property
    def frame(self) -> int:
        return self.pkt.frame

    @property
    def ts_ns(self) -> int:
        return self.pkt.ts_ns

    @property
    def ts(self) -> float:
        return self.ts_ns / 1e9

    @property
    def src(self) -> Endpoint:
        return self.pkt.src

    @property
    def dst(self) -> Endpoint:
        return self.pkt.dst

    @property
    def transport(self) -> str:
        return self.pkt.transport

    @property
    def first_frame(self) -> int:
        return self.pkt.first_frame

    @property
    def first_ts_ns(self) -> int:
        return self.pkt.first_ts_ns

    @property
    def file(self) -> int:
        return self.pkt.file

    @property
    def is_request(self) -> bool:
        return self.status is None

    @property
    def cseq(self) -> str:
        """CSeq as in the header, normalised: ``"1 REGISTER"``."""
        num = "" if self.cseq_num is None else str(self.cseq_num)
        return f"{num} {self.cseq_method}".strip()

    @property
    def label(self) -> str:
        """``INVITE`` for a request, ``200 OK`` for a response."""
        if self.method is not None:
            return self.method
        return f"{self.status} {self.reason}".rstrip()

    @property
    def body(self) -> bytes:
        return self.raw[self.body_start :]

    @property
    def size(self) -> int:
        """``len(raw)``, without reading the bytes of a ``FiledMessage``."""
        return len(self.raw)

    # -- values ------------------------------------------------------------------------------
    # Two messages are equal when they say the same, seen at the same place: their fields, their
    # bytes (``raw``, wherever they are kept: a ``FiledMessage`` holds them in its file) and the
    # fields of ``pkt`` but its data (which may hold more than the message, or be empty).
    def fields(self) -> tuple[Any, ...]:
        """Its fields, in order, as ``tuple(message)`` gives them (whatever a subclass holds)."""
        return self[:_FIELDS]

    def _value(self) -> tuple[object, ...]:
        pkt, raw, *rest = self.fields()
        return (*pkt[:5], *pkt[6:], raw, *rest)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return self._value() == other._value()

    def __ne__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return self._value() != other._value()

    def __hash__(self) -> int:
        return hash(self._value())


class ByteStore(Protocol):
    """Where the bytes of ``FiledMessage``s are: ``capture.filed.FiledBytes``."""

    def raw_of(self, msg: tuple[Any, ...]) -> bytes:
        """The bytes of ``msg``, a ``FiledMessage`` of this store: at its place (``msg[1]``,
        ``start << PLACE_BITS | length``)."""
        ...


PLACE_BITS = 32
"""A ``FiledMessage``'s place: ``start << PLACE_BITS | length`` in its file."""
PLACE_MASK = (1 << PLACE_BITS) - 1


_item: Any = type(Payload.frame)
"""What a ``NamedTuple`` field is made of: a fast descriptor of the tuple's item at an index."""

Flows = dict[tuple[str, int, bool, bool], Payload]
"""Shared flows of filed messages by transport, file, stream and gap (``FiledMessage.flows``)."""

_FIELDS: Final = len(Message._fields)
"""Where a ``FiledMessage``'s own items (frame, time, endpoints) begin."""

NOWHERE: Final = Endpoint("", 0)
"""The endpoints of a shared flow (``FiledMessage``): its messages hold their own."""


class FiledMessage(Message):
    """A ``Message`` read from a capture file that holds its bytes as they are: the tuple holds
    their place in the file (``start << PLACE_BITS | length``, one small int) instead of the
    bytes, and ``raw`` reads them from there (``store``).

    Nor does it hold a ``Payload`` of its own: where ``pkt`` was, it holds one that the file's
    messages of one kind share (``flow``: transport, file, stream and gap alike; frame, time and
    endpoints blank), and its frame, time and endpoints follow the ``Message``'s fields, read as
    fast as they (``frame``, ``ts_ns``, ``src``, ``dst``). ``pkt`` makes the payload when
    asked, without its data (which was the bytes of the message and more). A message whose
    payload names other frames (``first_frame``, ``frames``) holds it whole in that place
    instead.

    Why: the bytes are most of what a trace holds (~430 of ~1,400 bytes per message), and the
    file already has them; a payload of its own was another ~140. Each file's store makes its
    own subclass (``store`` and ``flows`` are class attributes: no per-message pointer to them).
    It equals the same message held as bytes, and its copies (``copy``, ``pickle``) are that.
    """

    __slots__ = ()
    store: ClassVar[ByteStore]
    flows: ClassVar[Flows]
    """The shared flows of this file's messages, by transport, file, stream and gap."""
    entry_type: ClassVar[type[Entry]]
    """The class of their entries (``Entry``): a ``FiledEntry`` of the same file."""

    frame = _item(_FIELDS, "Frame number, as ``pkt.frame``.")
    ts_ns = _item(_FIELDS + 1, "Capture time, as ``pkt.ts_ns``.")
    src = _item(_FIELDS + 2, "Source, as ``pkt.src``.")
    dst = _item(_FIELDS + 3, "Destination, as ``pkt.dst``.")

    @classmethod
    def flow(cls, pkt: Payload) -> Payload:
        """What a message of ``pkt`` holds in the place of its payload: the flow that messages
        like it share, or ``pkt`` without its data when it names other frames."""
        if pkt[7] or pkt[8] or pkt[11]:  # first_frame, first_ts_ns, frames
            return tuple.__new__(Payload, (*pkt[:5], b"", *pkt[6:]))
        key = (pkt[4], pkt[6], pkt[9], pkt[10])  # transport, file, stream, gap
        shared = cls.flows.get(key)
        if shared is None:
            shared = cls.flows[key] = Payload(
                0, 0, NOWHERE, NOWHERE, pkt[4], b"", pkt[6], stream=pkt[9], gap=pkt[10]
            )
        return shared

    @classmethod
    def of(cls, msg: Message, place: int) -> FiledMessage:
        """``msg`` (a ``Message`` that holds its bytes and payload) held as this file's."""
        pkt = msg[0]
        return tuple.__new__(cls, (cls.flow(pkt), place, *msg[2:], pkt[0], pkt[1], pkt[2], pkt[3]))

    @property
    def pkt(self) -> Payload:
        p: Payload = self[0]
        if p[0]:  # its own
            return p
        return tuple.__new__(Payload, (self.frame, self.ts_ns, self.src, self.dst, *p[4:]))

    _flow = _item(0, "The flow: its transport, file and first frame are the message's.")

    @property
    def raw(self) -> bytes:
        # (Each file's class reads them with one call: ``filed_types``.)
        return self.store.raw_of(self)

    @property
    def size(self) -> int:
        place: Any = self[1]
        size: int = place & PLACE_MASK
        return size

    def fields(self) -> tuple[Any, ...]:
        return (self.pkt, self.raw, *self[2:_FIELDS])

    def _asdict(self) -> dict[str, Any]:
        return dict(zip(self._fields, self.fields(), strict=True))

    def _replace(self, **changes: Any) -> Message:  # type: ignore[override]  # not a FiledMessage
        """The message with ``changes``, as a ``Message`` that holds its bytes."""
        return Message._make(self.fields())._replace(**changes)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Message._make, (self.fields(),))

    def __repr__(self) -> str:
        return repr(Message._make(self.fields())).replace("Message(", "FiledMessage(", 1)


def _read_in_c(cls: type, payload: str, names: Iterable[str]) -> None:
    """``cls``'s properties ``names`` read from its ``payload`` attribute by C code alone (by
    ``attrgetter``, twice as fast as a property of Python code: these are read for every message
    of a capture, several times)."""
    for name in names:
        doc = getattr(cls, name).__doc__ or f"As ``pkt.{name}``."
        setattr(cls, name, property(attrgetter(f"{payload}.{name}"), doc=doc))


_read_in_c(
    Message,
    "pkt",
    ("frame", "ts_ns", "src", "dst", "transport", "file", "first_frame", "first_ts_ns"),
)
_read_in_c(FiledMessage, "_flow", ("transport", "file", "first_frame", "first_ts_ns"))


class Skipped(NamedTuple):
    """A frame or message that could not be used, and why. Bad traffic is data, not an exception."""

    frame: int
    ts_ns: int
    reason: str
    """One sentence a person can act on, e.g. ``"SIP start line without a Call-ID"``."""
    file: int = 0
    src: Endpoint | None = None
    dst: Endpoint | None = None
    transport: str | None = None
    data: bytes = b""
    """The bytes in question (the SIP text, or the undecodable part of the frame)."""


class Entry(Message):
    """A message as placed by the correlator: the message itself, with four items more (``id``,
    ``dialog``, ``transaction``, ``retransmission_of``) after its own.

    ``Entry(id, msg, dialog, transaction, retransmission_of)`` makes one of ``msg`` (of its kind:
    the entry of a ``FiledMessage`` is a ``FiledEntry`` of its file); ``msg`` is the entry itself.
    Why not a tuple that holds the message: that was 80 bytes more per message, 11 MB of a
    30,000-call capture's 200. It equals an entry of the same place and the same message, and no
    message that is not one; a copy or a pickle is such an entry, holding its bytes.
    """

    __slots__ = ()
    entry_fields: ClassVar[tuple[str, ...]] = ("id", "dialog", "transaction", "retransmission_of")
    message_type: ClassVar[type[Message]] = Message
    """The kind of its message (``message``)."""

    # The items, as they are found; at run time read by C code alone (``_entry_items`` below).
    @property
    def id(self) -> int:
        """Its number for the whole run: 1 for the first message, then in capture order; never
        changes (a dialog dropped from memory takes its messages' numbers with it)."""
        return cast(int, self[len(self) - 4])

    @property
    def dialog(self) -> int:
        """The ``Dialog.id`` of its dialog."""
        return cast(int, self[len(self) - 3])

    @property
    def transaction(self) -> int:
        """The ``Transaction.id`` of its transaction."""
        return cast(int, self[len(self) - 2])

    @property
    def retransmission_of(self) -> int | None:
        """The ``id`` of the original message when this one is a retransmission of it, else
        None."""
        return cast(int | None, self[len(self) - 1])

    def __new__(
        cls,
        id: int,
        msg: Message,
        dialog: int,
        transaction: int,
        retransmission_of: int | None = None,
    ) -> Entry:
        if not isinstance(msg, Message):
            raise TypeError(f"Entry: {type(msg).__name__} is no Message")
        if isinstance(msg, Entry):
            msg = msg.message()
        kind = msg.entry_type if isinstance(msg, FiledMessage) else Entry
        # msg + (...): a copy less than (*msg, ...), which iterates msg (a subclass of tuple)
        placed = (id, dialog, transaction, retransmission_of)
        made: Entry = tuple.__new__(kind, msg + placed)
        return made

    @property
    def msg(self) -> Message:
        """The message: the entry itself."""
        return self

    @property
    def retransmission(self) -> bool:
        return self.retransmission_of is not None

    def message(self) -> Message:
        """The message alone, without the entry's items."""
        return tuple.__new__(self.message_type, self[: len(self) - 4])

    def placed(self) -> tuple[int, int, int, int | None]:
        """``(id, dialog, transaction, retransmission_of)``."""
        return (self.id, self.dialog, self.transaction, self.retransmission_of)

    def _value(self) -> tuple[object, ...]:
        return (*super()._value(), *self.placed())

    def _replace(self, **changes: Any) -> Entry:
        """The entry with ``changes`` to its items (``id``... and ``msg``) and its message's
        fields, holding its bytes."""
        placed = [
            changes.pop(name, value)
            for name, value in zip(Entry.entry_fields, self.placed(), strict=True)
        ]
        msg: Message = changes.pop("msg", None) or Message._make(self.fields())
        if changes:
            msg = msg._replace(**changes)
        return Entry(placed[0], msg, *placed[1:])

    def __reduce__(self) -> tuple[Any, ...]:
        return (Entry, (self.id, Message._make(self.fields()), *self.placed()[1:]))

    def __repr__(self) -> str:
        return (
            f"Entry(id={self.id!r}, msg={self.message()!r}, dialog={self.dialog!r}, "
            f"transaction={self.transaction!r}, retransmission_of={self.retransmission_of!r})"
        )


class FiledEntry(Entry, FiledMessage):  # type: ignore[misc]  # both are Message's tuple
    """The ``Entry`` of a ``FiledMessage``: its items, then the entry's (``filed_types``)."""

    __slots__ = ()
    message_type: ClassVar[type[Message]] = FiledMessage

    def fields(self) -> tuple[Any, ...]:
        return FiledMessage.fields(self)


def _entry_items(cls: type[Entry], at: int) -> None:
    """``cls``'s entry items, from ``at`` on, read as fast as the message's (``_item``)."""
    for i, name in enumerate(Entry.entry_fields):
        setattr(cls, name, _item(at + i, getattr(Entry, name).__doc__))


_entry_items(Entry, _FIELDS)
_entry_items(FiledEntry, _FIELDS + 4)
setattr(Message, "entry_type", Entry)  # noqa: B010  # not a field (what a NamedTuple declares)
FiledMessage.entry_type = FiledEntry


def filed_types(store: ByteStore) -> type[FiledMessage]:
    """The ``FiledMessage`` class of the messages of ``store``'s file (``store`` and a new
    ``flows`` of its own), whose ``entry_type`` is its ``FiledEntry`` class."""
    flows: Flows = {}
    raw = property(store.raw_of, doc="Its bytes, read from the file (``ByteStore.raw_of``).")
    message: type[FiledMessage] = type(
        "FiledMessage",
        (FiledMessage,),
        {"__slots__": (), "store": store, "flows": flows, "raw": raw},
    )
    message.entry_type = type(
        "FiledEntry",
        (FiledEntry, message),
        {"__slots__": (), "store": store, "flows": flows, "message_type": message, "raw": raw},
    )
    return message


@dataclass(slots=True)
class Transaction:
    """A SIP transaction (RFC 3261 section 17): a request, its retransmissions and its responses."""

    id: int
    """Its number for the whole run, from 1 in order of creation; never changes. (The key it is
    matched by, its branch, sent-by and method or the RFC 2543 fields, is the correlator's
    alone: held here, it was a tuple per transaction after the read, 6 MB for 30,000 calls.)"""
    method: str
    """Method of the request that opened it (ACK of a non-2xx and CANCEL join the INVITE's)."""
    dialog: int
    """The ``Dialog.id`` of its dialog."""
    messages: list[int] = field(default_factory=list)
    """``Entry.id`` of every message in it (requests, responses, retransmissions), in capture
    order."""
    request: int | None = None
    """``Entry.id`` of the first request seen; None when only responses were captured."""
    final: int | None = None
    """``Entry.id`` of the first final response (>= 200); None when none was seen."""


@dataclass(slots=True)
class Dialog:
    """What the call list shows as one line: every message with one Call-ID (sngrep's "call").

    Forked responses with different To tags form early dialogs inside it (``to_tags``).
    """

    id: int
    """Its number for the whole run (the call list's Idx): 1 for the first dialog, then in order
    of first messages; never changes, whatever is dropped from memory."""
    call_id: str
    first_method: str
    from_uri: str
    from_name: str
    to_uri: str
    to_name: str
    src: Endpoint
    """Source of the first message."""
    dst: Endpoint
    start_ns: int
    end_ns: int
    messages: list[int] = field(default_factory=list)
    """``Entry.id`` of its messages, capture order (retransmissions included)."""
    transactions: list[int] = field(default_factory=list)
    """``Transaction.id`` of its transactions, in order of creation."""
    to_tags: list[str] = field(default_factory=list)
    """Distinct To tags seen in responses, in order: more than one means forking."""
    state: str = ""
    """A state a person understands: REGISTERED, AUTH FAILED, IN CALL, COMPLETED, REJECTED 486...
    (``correlate.states.verdict``; docs/states.md)."""
    outcome: str = ""
    """What the state means for the caller, a ``correlate.states.Outcome``: ``answered``, ``busy``,
    ``cancelled``, ``registered``, ``auth-failed``..."""
    phase: str = ""
    """The ``correlate.states.Phase`` the dialog is in (``setup``, ``in-call``, ``done``...): the
    state and the outcome are derived from it there, and nowhere else."""
    call: bool = False
    """Whether it is a call: it carried an INVITE, or its capture began in the middle of a call.
    The one definition ``read --calls``, ``stats`` and the HTML page use."""
    linked: tuple[int, ...] = ()
    """``Dialog.id`` of other dialogs that are legs of the same call (B2BUA), by X-Call-ID and the
    like, in order. (A tuple: most dialogs have none, and an empty list was 56 bytes each.)"""
    retransmissions: int = 0

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


@dataclass(slots=True)
class CaptureInfo:
    """What was read from one input."""

    path: str
    format: str
    """``pcap``, ``pcap-ns``, ``pcapng``, optionally with ``+gzip``."""
    linktypes: tuple[int, ...] = ()
    resolution: int = 6
    """Decimal digits of the timestamps (6 for micro-, 9 for nanoseconds)."""
    frames: int = 0
    warnings: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    """What was done to read it (another format converted by editcap), said once; no damage."""


@dataclass(frozen=True, slots=True)
class TlsConnection:
    """An encrypted (TLS) connection as the capture showed it: listed, never taken for noise."""

    client: Endpoint
    """The side that sent the ClientHello; without a handshake, the side whose port is not 5061
    (or the higher port)."""
    server: Endpoint
    sni: str | None
    """Host name of the ClientHello's server_name extension; None when absent or not seen."""
    alpn: tuple[str, ...]
    """Protocols the ClientHello offered by ALPN, in its order; () when none or not seen."""
    version: str | None
    """Negotiated version (``TLS 1.3``, ``TLS 1.2``...); None when no ServerHello was seen."""
    cipher: str | None
    """Cipher suite the ServerHello chose (IANA name or ``0x....``); None when not seen."""
    client_bytes: int
    """TCP payload bytes sent by the client (in-order stream bytes, retransmissions not counted)."""
    server_bytes: int
    client_records: int
    """TLS records whose header was seen in the client's direction."""
    server_records: int
    start_ns: int
    """Time of the first piece of the connection seen."""
    end_ns: int
    """Time of the last piece."""
    first_frame: int
    """Frame of the first piece."""
    last_frame: int
    file: int = 0
    """Index of the input file of ``first_frame``."""
    handshake: bool = False
    """True when a ClientHello or ServerHello was seen (the capture holds the start)."""

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


@dataclass(slots=True)
class Counts:
    """What a run counted besides the SIP messages: what it read, and what it set aside and why.

    Every stage adds to the same ``Counts`` (``counts.tcp_gaps += 1``). ``as_dict`` gives the
    counters that are not zero, by name, as the JSON document lists them (``frames`` always).
    """

    # -- frames and their layers (net/decode.py, link.py, ip.py, tunnel.py, transport.py) --
    frames: int = 0
    """Frames read."""
    non_ip: int = 0
    """Frames with no IPv4 or IPv6 inside (ARP, LLDP, ...)."""
    unsupported_link: int = 0
    """Frames of a link type sipsniff does not decode."""
    bad_length: int = 0
    """Packets whose length fields do not fit the captured bytes."""
    truncated: int = 0
    """Packets cut short by the capture's snap length."""
    not_udp_tcp_sctp: int = 0
    """IP packets of another protocol (ICMP aside)."""
    icmp_errors: int = 0
    """ICMP errors quoting a packet (listed as skipped records)."""
    empty_udp: int = 0
    """UDP datagrams without payload."""
    esp: int = 0
    """IPsec ESP packets (encrypted: not decoded)."""
    tunnel_control: int = 0
    """Control messages of tunnels (GTP-C, ...) rather than user data."""
    sctp_orphan_pieces: int = 0
    """SCTP DATA pieces whose message never completed."""
    # -- IP fragments (net/ipfrag.py) ------------------------------------------------------
    fragments: int = 0
    """IP fragments read."""
    reassembled: int = 0
    """Datagrams made whole from fragments."""
    fragment_duplicates: int = 0
    """Fragments that brought nothing new."""
    fragment_overlaps: int = 0
    """Fragments overlapping others with new bytes (the first bytes win)."""
    fragment_sets_at_cap: int = 0
    """Incomplete datagrams dropped at ``--max-buffer``."""
    # -- TCP (net/tcp.py) --------------------------------------------------------------------
    tcp_gaps: int = 0
    """Places where a stream's bytes were lost (not captured)."""
    tcp_gaps_at_cap: int = 0
    """Gaps given up at ``--max-buffer`` without waiting for the missing bytes."""
    tcp_retransmissions: int = 0
    """Segments that brought no new byte."""
    tcp_overlaps: int = 0
    """Segments overlapping what was already in order, with new bytes after."""
    tcp_out_of_order: int = 0
    """Segments that came before the bytes they follow."""
    tcp_out_of_window: int = 0
    """Segments too far ahead to be held."""
    tcp_dropped_bytes: int = 0
    """Stream bytes dropped (out of window, or at the buffer cap)."""
    tcp_restarts: int = 0
    """Streams restarted (a new connection on the same addresses)."""
    # -- TLS and WebSocket (net/tls.py, net/websocket.py) -------------------------------------
    tls_connections: int = 0
    """Encrypted connections seen."""
    tls_records: int = 0
    """TLS records seen in them."""
    tls_bytes: int = 0
    """Stream bytes of those connections."""
    ws_connections: int = 0
    """WebSocket connections (RFC 7118) seen."""
    ws_messages: int = 0
    """WebSocket messages that carried SIP."""
    ws_control_frames: int = 0
    """WebSocket ping, pong and close frames."""
    ws_oversize: int = 0
    """WebSocket messages over ``--max-message``, dropped."""
    ws_dropped: int = 0
    """WebSocket data dropped (a broken frame, a gap)."""
    # -- SIP over streams (sip/framing.py) --------------------------------------------------
    keepalive: int = 0
    """Keep-alives (CRLF, STUN) between messages, not SIP."""
    not_sip: int = 0
    """UDP, SCTP or stream payloads that are not SIP."""
    not_sip_streams: int = 0
    """Streams given up as not SIP."""
    not_sip_stream_bytes: int = 0
    """Their bytes."""
    sip_stream_resyncs: int = 0
    """Places where a SIP stream was found again after bytes that were not SIP."""
    sip_stream_discarded_bytes: int = 0
    """Bytes skipped to find it again."""
    sip_stream_no_content_length: int = 0
    """Messages on a stream without a Content-Length (taken to end at the next message)."""
    sip_stream_bad_content_length: int = 0
    """Messages on a stream with a Content-Length that is no number."""
    sip_stream_oversize: int = 0
    """Messages on a stream over ``--max-message``, dropped."""
    sip_stream_truncated: int = 0
    """Messages cut short when their stream ended."""
    sip_stream_evicted: int = 0
    """Stream framers dropped to hold ``--max-buffer``."""
    sip_streams_at_cap: int = 0
    """Streams cut off mid-message at ``--max-buffer``."""
    # -- HEP (net/hep.py, the collector) -----------------------------------------------------
    hep: int = 0
    """HEP packets found in a capture (SIP taken from inside)."""
    hep_bad: int = 0
    """HEP packets that could not be read (listed as skipped records)."""
    hep_other_agent: int = 0
    """HEP packets from agents not asked for (``--agent``)."""
    hep_oversize: int = 0
    """SIP messages in HEP over ``--max-message``, dropped."""
    hep_streams_at_cap: int = 0
    """HEP TCP connections closed mid-packet at ``--max-buffer``."""
    hep_types: dict[int, int] = field(default_factory=dict)
    """HEP packets of other payload types than SIP, by type (``hep_type_N`` in JSON)."""
    # -- limits and memory (pipeline, live) -------------------------------------------------
    messages_not_kept: int = 0
    """Messages of dialogs beyond ``read --max-dialogs``, not kept."""
    first_not_kept_frame: int | None = None
    """Frame of the first of them; None when none."""
    first_not_kept_file: int | None = None
    """Input file of that frame."""
    dialogs_cut_short: int = 0
    """Dialogs summed up before they were over, to hold ``stats --max-dialogs``."""
    skipped_not_kept: int = 0
    """Skipped records counted but not kept (the first ones are)."""
    dropped_by_kernel: int | None = None
    """Packets the kernel dropped during a live capture; None when not live."""
    dialogs_dropped_from_memory: int = 0
    """Dialogs a live capture let go of (``--keep``, ``--max-dialogs``)."""

    def add(self, other: Counts) -> None:
        """Add every counter of ``other`` (another process's, another part's) to these."""
        self.frames += other.frames
        for name in _COUNT_FIELDS:
            mine, theirs = getattr(self, name), getattr(other, name)
            if theirs is not None:
                setattr(self, name, theirs if mine is None else mine + theirs)
        for kind, n in other.hep_types.items():
            self.hep_types[kind] = self.hep_types.get(kind, 0) + n

    def as_dict(self) -> dict[str, int]:
        """The counters by name, sorted, as the JSON document has them: those that are not zero
        (and not None), ``frames`` always."""
        out: dict[str, int] = {"frames": self.frames}
        for name in _COUNT_FIELDS:
            value = getattr(self, name)
            # a counter that may be None is a figure when it is set, zero included
            if value or (value is not None and name in _OPTIONAL_COUNTS):
                out[name] = value
        for kind, n in self.hep_types.items():
            out[f"hep_type_{kind}"] = n
        return dict(sorted(out.items()))


_COUNT_FIELDS: tuple[str, ...] = tuple(
    n for n in Counts.__dataclass_fields__ if n not in ("frames", "hep_types")
)
_OPTIONAL_COUNTS = frozenset({"first_not_kept_frame", "first_not_kept_file", "dropped_by_kernel"})


@dataclass(slots=True)
class Trace:
    """Everything the pipeline found in its inputs: what renderers and analyses work on."""

    entries: MutableMapping[int, Entry] = field(default_factory=dict)
    """Every SIP message by ``Entry.id``, in capture order. A dict, or what behaves as one: the
    correlator's own table (``correlate.tables``)."""
    dialogs: MutableMapping[int, Dialog] = field(default_factory=dict)
    """Every dialog by ``Dialog.id``, in order of first messages (a dict, or what behaves as
    one)."""
    transactions: MutableMapping[int, Transaction] = field(default_factory=dict)
    """Every transaction by ``Transaction.id`` (a dict, or what behaves as one)."""
    skipped: list[Skipped] = field(default_factory=list)
    """The records of input that could not be used, the first ones of a run (``Retention``)."""
    counts: Counts = field(default_factory=Counts)
    """What was read and set aside, by kind."""
    inputs: list[CaptureInfo] = field(default_factory=list)
    tls: list[TlsConnection] = field(default_factory=list)
    """Encrypted connections seen (SIP over TLS whose keys were not given)."""
    origin_ns: int | None = None
    """When the trace is what a correlator held or let go of: the start of its whole run, the time
    of its earliest message, those let go included (``start_ns`` finds it without)."""

    @property
    def skipped_total(self) -> int:
        """How many records of input could not be used: those kept and those only counted."""
        return len(self.skipped) + self.counts.skipped_not_kept

    @property
    def start_ns(self) -> int:
        """When the capture started: the time of its first SIP message (of the whole run, when the
        trace is a part of it: ``origin_ns``); 0 for a trace without any. ``read --time rel``
        counts from it, and ``--since +30s``."""
        if self.origin_ns is not None:
            return self.origin_ns
        first = min((e.ts_ns for e in self.entries.values()), default=None)
        if first is None:
            first = min((d.start_ns for d in self.dialogs.values()), default=0)
        return first

    @property
    def resolution(self) -> int:
        """Timestamp digits to show: the finest of the inputs."""
        return max((i.resolution for i in self.inputs), default=6)

    @classmethod
    def of(
        cls,
        entries: Iterable[Entry] = (),
        dialogs: Iterable[Dialog] = (),
        transactions: Iterable[Transaction] = (),
        **rest: Any,
    ) -> Trace:
        """A trace of these entries, dialogs and transactions, each filed by its id."""
        return cls(
            entries={e.id: e for e in entries},
            dialogs={d.id: d for d in dialogs},
            transactions={t.id: t for t in transactions},
            **rest,
        )
