"""The ladder of a dialog as data: what every ladder renderer draws (terminal, HTML, Mermaid,
PlantUML), computed once here so that none of them derives it again.

How this works: ``ladder_of`` walks the dialog's messages in capture order. Each endpoint gets a
column the first time it sends or receives (``ip:port``, or the IP alone with ``by_host``), in that
order; each message gets a row, except a retransmission whose original is in the dialog, which is
folded into the row of the original (``Row.copies``). The notes of a row are facts, not words: a
challenge with its parsed header, the media an SDP body offers, the time since the request a
response answers, how long the message was retransmitted, a truncated message, syntax problems.
Times stay integers of nanoseconds; renderers format them and word the notes (``render.notes``).

Packet text (addresses, agents, methods, reason phrases, the challenge's realm) is kept as it came:
cleaning it for a terminal or a page is the renderer's part.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sipsniff.model import Dialog, Endpoint, Entry, Message, Trace
from sipsniff.sip.digest import DigestChallenge, parse_challenge
from sipsniff.sip.headers import first_value, header_value
from sipsniff.sip.sdp import has_sdp, media_summary

AGENT_HEADERS = ("User-Agent", "Server")
"""Headers that name the software of an endpoint, in the order a message may carry them."""
_AGENT_NAMES = tuple(name.lower().encode() for name in AGENT_HEADERS)


class MessageKind(StrEnum):
    """What colours an arrow: a request, or a response by its class."""

    REQUEST = "request"
    PROVISIONAL = "provisional"
    """1xx."""
    SUCCESS = "success"
    """2xx."""
    FAILURE = "failure"
    """3xx to 6xx: redirected, refused or failed."""


def kind_of(msg: Message) -> MessageKind:
    """The ``MessageKind`` of ``msg``."""
    if msg.status is None:
        return MessageKind.REQUEST
    if msg.status < 200:
        return MessageKind.PROVISIONAL
    if msg.status < 300:
        return MessageKind.SUCCESS
    return MessageKind.FAILURE


# -- notes -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChallengeNote:
    """A 401 or 407: the server asks for credentials."""

    status: int
    """401 (WWW-Authenticate) or 407 (Proxy-Authenticate)."""
    challenge: DigestChallenge | None
    """The parsed challenge header; None when the response has none."""


@dataclass(frozen=True, slots=True)
class MediaNote:
    """The media an SDP body offers or answers (only with ``ladder_of(media=True)``)."""

    summary: str
    """``PCMU PCMA telephone-event · 10.0.0.5:4000`` (``sip.sdp.media_summary``; packet text)."""

    @property
    def codecs(self) -> str:
        """The codecs of the first stream: the summary up to its first `` · ``."""
        return self.summary.split(" · ")[0]


@dataclass(frozen=True, slots=True)
class ResponseTimeNote:
    """A response, and how long after its request it came."""

    ns: int
    """Nanoseconds from the request to this response."""
    follows_request: bool
    """The request is the arrow just above, so a delta column shows the same time."""


@dataclass(frozen=True, slots=True)
class RetransmittedNote:
    """The message was sent again (its copies are folded into its row)."""

    copies: int
    """How many copies followed the original (the row shows 1 + ``copies``)."""
    ns: int
    """Nanoseconds from the original to the latest copy."""


@dataclass(frozen=True, slots=True)
class TruncatedNote:
    """The capture holds less of the message than its Content-Length says."""


@dataclass(frozen=True, slots=True)
class ProblemsNote:
    """The message broke the grammar (``Message.problems``)."""

    count: int


Note = (
    ChallengeNote | MediaNote | ResponseTimeNote | RetransmittedNote | TruncatedNote | ProblemsNote
)
"""A remark beside an arrow, as data; ``render.notes`` words it."""


# -- the ladder --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    """One endpoint of a ladder: a lifeline."""

    address: str
    """``ip:port`` (``[v6]:port``), or the IP alone when the ladder is by host."""
    agent: str
    """User-Agent or Server of the first message this endpoint sent with one; "" if none (packet
    text)."""


@dataclass(frozen=True, slots=True)
class Label:
    """One way to name an arrow; a row offers them from richest to barest (``Row.labels``)."""

    name: str
    """The method of a request (packet text), the status code of a response."""
    reason: str
    """The reason phrase of a response (packet text; the part to shorten first); "" for none."""
    tail: str
    """What follows, of our own making: `` ×3``, `` (CSeq 1, SDP)``."""

    @property
    def text(self) -> str:
        """``INVITE ×2 (CSeq 1)``, ``407 Proxy Authentication Required``."""
        return f"{self.name} {self.reason}{self.tail}" if self.reason else self.name + self.tail


@dataclass(frozen=True, slots=True)
class Row:
    """One arrow: a message, with the retransmissions of it folded in."""

    entry: Entry
    src: int
    """Column of the sender."""
    dst: int
    """Column of the receiver (== ``src`` for a message to itself)."""
    copies: tuple[Entry, ...]
    """Retransmissions of the message in this dialog, in capture order."""
    sdp: bool
    """The message carries a session description (``sip.sdp.has_sdp``)."""
    notes: tuple[Note, ...]
    """Remarks beside the arrow, in this order: challenge, media, response time, retransmission,
    truncation, problems."""

    @property
    def msg(self) -> Message:
        return self.entry

    @property
    def ts_ns(self) -> int:
        """When the original was captured."""
        return self.entry.ts_ns

    @property
    def count(self) -> int:
        """How many times the message was seen: 1 plus its retransmissions."""
        return 1 + len(self.copies)

    @property
    def kind(self) -> MessageKind:
        return kind_of(self.entry)

    @property
    def labels(self) -> tuple[Label, ...]:
        """Names for the arrow from richest to barest, none twice: a request's method with its
        count, CSeq and SDP flag, then fewer extras; a response's code and reason with its count
        and SDP flag, then without the reason, then fewer extras. (Made when asked: only the
        terminal ladder, which fits them to its width, needs them.)"""
        msg = self.entry
        times = f" ×{self.count}" if self.copies else ""
        sdp = self.sdp
        if msg.status is None:
            method = msg.method or "?"
            cseq = f"CSeq {msg.cseq_num}" if msg.cseq_num is not None else ""
            extras = ", ".join(x for x in (cseq, "SDP" if sdp else "") if x)
            variants = [
                Label(method, "", times + (f" ({extras})" if extras else "")),
                Label(method, "", times + (" (SDP)" if sdp else "")),
                Label(method, "", times),
                Label(method, "", ""),
            ]
        else:
            code = str(msg.status)
            body = " (SDP)" if sdp else ""
            variants = [
                Label(code, msg.reason or "", times + body),
                Label(code, "", times + body),
                Label(code, "", times),
                Label(code, "", ""),
            ]
        return tuple(dict.fromkeys(variants))


@dataclass(frozen=True, slots=True)
class Ladder:
    """What a ladder diagram of one dialog shows."""

    dialog: Dialog
    columns: tuple[Column, ...]
    """One per endpoint, in order of first appearance."""
    rows: tuple[Row, ...]
    """One per message, retransmissions folded in, in capture order."""
    by_host: bool
    """Columns are IP addresses (ports merged) rather than ``ip:port``."""

    @property
    def hosts(self) -> int:
        """How many IP addresses the dialog's messages (copies too) went between."""
        ips = set()
        for row in self.rows:
            for entry in (row.entry, *row.copies):
                ips.add(entry.src.ip)
                ips.add(entry.dst.ip)
        return len(ips)


def agent_of(msg: Message) -> str:
    """The software ``msg`` names (its first ``AGENT_HEADERS`` header); "" for none.

    Most messages name none: a look at the lower-cased header block for the two names (what
    ``first_value`` itself looks for first, without working out which names to look for per
    call) spares the call.
    """
    raw = msg.raw
    head = raw[: raw.find(b"\r\n\r\n") % (len(raw) + 1)].lower()
    for name in _AGENT_NAMES:
        if name in head:
            return first_value(raw, AGENT_HEADERS) or ""
    return ""


def retransmission_root(trace: Trace, index: int) -> int:
    """The first message of a chain of retransmissions that ``index`` belongs to."""
    for _ in range(1000):
        original = trace.entries[index].retransmission_of
        if original is None or original not in trace.entries:
            break
        index = original
    return index


def ladder_of(
    trace: Trace, dialog: Dialog, *, by_host: bool = False, media: bool = False
) -> Ladder:
    """The ladder of ``dialog``.

    Args:
        by_host: one column per IP address instead of one per ip:port.
        media: describe the media of each SDP body in a ``MediaNote`` (that parses the SDP: about
            70 µs a message, which a page of thousands of ladders that does not show it skips).
    """

    def key(endpoint: Endpoint) -> str:
        return endpoint.ip if by_host else str(endpoint)

    columns: dict[str, int] = {}
    agents: dict[int, str] = {}
    grouped: list[tuple[Entry, int, int, list[Entry]]] = []
    by_root: dict[int, list[Entry]] = {}
    for index in dialog.messages:
        entry = trace.entries[index]
        msg = entry
        src = columns.setdefault(key(msg.src), len(columns))
        dst = columns.setdefault(key(msg.dst), len(columns))
        if src not in agents:
            agent = agent_of(msg)
            if agent:
                agents[src] = agent
        root = retransmission_root(trace, index)
        copies = by_root.get(root)
        if copies is not None and root != index:
            copies.append(entry)
            continue
        copies = []
        grouped.append((entry, src, dst, copies))
        by_root[root] = copies

    rows: list[Row] = []
    above: int | None = None
    for entry, src, dst, copies in grouped:
        sdp = has_sdp(entry)
        rows.append(
            Row(
                entry, src, dst, tuple(copies), sdp, _notes(trace, entry, copies, sdp, above, media)
            )
        )
        above = entry.id
    return Ladder(
        dialog,
        tuple(Column(address, agents.get(k, "")) for k, address in enumerate(columns)),
        tuple(rows),
        by_host,
    )


def _notes(
    trace: Trace, entry: Entry, copies: list[Entry], sdp: bool, above: int | None, media: bool
) -> tuple[Note, ...]:
    msg = entry
    notes: list[Note] = []
    if msg.status in (401, 407):
        value = header_value(
            msg.raw, "WWW-Authenticate" if msg.status == 401 else "Proxy-Authenticate"
        )
        notes.append(ChallengeNote(msg.status, None if value is None else parse_challenge(value)))
    if media and sdp:
        summary = media_summary(msg)
        if summary:
            notes.append(MediaNote(summary))
    if msg.status is not None and entry.transaction in trace.transactions:
        request = trace.transactions[entry.transaction].request
        if request is not None and request != entry.id:
            spent = msg.ts_ns - trace.entries[request].ts_ns
            notes.append(ResponseTimeNote(spent, request == above))
    if copies:
        last = max(msg.ts_ns, *(c.ts_ns for c in copies))
        notes.append(RetransmittedNote(len(copies), last - msg.ts_ns))
    if msg.truncated:
        notes.append(TruncatedNote())
    if msg.problems:
        notes.append(ProblemsNote(len(msg.problems)))
    return tuple(notes)
