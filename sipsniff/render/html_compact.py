"""The compact page of a big capture: tables for the page's script instead of a ladder per dialog.

How it is built
---------------
From ``COMPACT_FROM`` messages on, a page that carried what the full page carries (a ladder and
stamps in every time mode per dialog, a call list of HTML rows) would be slow to write and slower
to open: a browser lays out 30,000 table rows in tens of seconds. The compact page carries facts,
and its script (``compact.js``) makes of them what the full page is given:

* The call list is the dialog table of the data block; the script draws the rows in view only.
* A dialog's ladder is built by the script when the dialog is drawn, from the message table of the
  chunk that holds its messages: the rules of ``analysis.ladder.ladder_of`` (a column per endpoint
  in order of first appearance, its agent from the first message it sends that names one,
  retransmissions folded into their original, the notes of each arrow), in the words of
  ``render.notes`` and the time formats of ``render.base``. Times are integers of nanoseconds
  (``BigInt`` in the script): per dialog since the capture's first message, per message since its
  dialog's start. Wall-clock times take their zone's offset from ``zones`` (``zone_table``).
* A chunk is a ``<script type="text/plain">`` element that holds the messages of whole dialogs,
  about ``CHUNK_MESSAGES`` of them: its tables as JSON (``_Chunk``), then the texts of the messages
  (``html_text.message_texts``). The script reads it when one of its dialogs is first drawn. The
  first chunk comes before the page's script and the others after it, so the call list and the
  first ladder show while the browser still reads the rest.

Tables of integers travel ``packed``: base64 of 64-bit integers, which the script reads where it
needs them (no number to write out one by one, none to parse, and every nanosecond time whole).
Their columns are named in the data (``DIALOG_FIELDS``, ``MESSAGE_FIELDS``): the script finds them
by name. Every string from a packet is made one safe line (``html_text``), or clean text for a
message's text, and is escaped by ``script_json``, as in the full page.
"""

from __future__ import annotations

import base64
import dataclasses
import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from markupsafe import Markup

from sipsniff.analysis.ladder import AGENT_HEADERS, agent_of, retransmission_root
from sipsniff.analysis.report import TraceReport
from sipsniff.model import Dialog, Endpoint, Message, Trace
from sipsniff.render.base import RenderOptions, TimeFormat, utc_offset
from sipsniff.render.html_text import (
    CELL_LIMIT,
    message_class,
    message_texts,
    script_json,
    state_class,
)
from sipsniff.render.safe import one_line
from sipsniff.sip.sdp import has_sdp

COMPACT_FROM = 20_000
"""Messages from which a page is compact."""
CHUNK_MESSAGES = 500
"""Messages of one chunk (at least: a chunk holds whole dialogs)."""

DIALOG_FIELDS = (
    "index",
    "start",
    "duration",
    "method",
    "from_name",
    "from",
    "to_name",
    "to",
    "src",
    "dst",
    "messages",
    "state",
    "tone",
    "call_id",
)
"""A row of the dialog table: ``start`` (since the capture's first message) and ``duration`` in
nanoseconds, ``messages`` a count, ``tone`` the state's colour (``html_text.state_class``), the
others numbers of ``strings``."""

MESSAGE_FIELDS = ("index", "frame", "t", "route", "look", "spent", "size")
"""A row of a chunk's message table, in the order of its dialogs' messages: ``t`` in nanoseconds
since the dialog's start; ``route`` and ``look`` numbers of the chunk's routes and looks;
``spent`` nanoseconds since the request a response answers (``NONE``: no such note); ``size`` the
message's length in bytes."""

NONE = -(2**63)
"""The packed integer that stands for no value."""
CLASSES = ("req", "s1", "s2", "s3")
"""The colour classes of arrows (``html_text.message_class``), by their number in looks."""

_HOUR = 3600
_NS = 1_000_000_000
_AGENT_NAMES = tuple(name.lower().encode() for name in AGENT_HEADERS)


def is_compact(report: TraceReport, options: RenderOptions) -> bool:
    """Whether the page of ``report`` is compact (``COMPACT_FROM`` messages or more)."""
    return sum(len(d.messages) for d in report.dialogs) >= COMPACT_FROM


def packed(values: list[int]) -> str | list[int | str | None]:
    """``values`` as base64 of little-endian 64-bit integers; an integer that does not fit (a time
    of a broken capture) makes them a JSON list instead, ``NONE`` null, the others as they are
    or, when a double would not hold them whole, strings of digits."""
    try:
        table = array("q", values)
    except OverflowError:
        return [None if v == NONE else v if -(2**53) < v < 2**53 else str(v) for v in values]
    if sys.byteorder == "big":
        table.byteswap()
    return base64.b64encode(table.tobytes()).decode("ascii")


class _Strings:
    """A table of strings, each made one safe line once, numbered by first use."""

    def __init__(self, cleaned: dict[str, str]) -> None:
        self.index: dict[str, int] = {"": 0}
        self.table: list[str] = [""]
        self._cleaned = cleaned
        """Packet text -> ``one_line`` of it, shared by the tables of a page."""

    def __call__(self, text: str) -> int:
        at = self.index.get(text)
        if at is None:
            at = self.index[text] = len(self.table)
            safe = self._cleaned.get(text)
            if safe is None:
                safe = self._cleaned[text] = one_line(text, CELL_LIMIT)
            self.table.append(safe)
        return at


def zone_table(seconds: Iterable[int], tz: Any) -> list[list[int]]:
    """``[[from, offset], ...]``: the UTC offset (``base.utc_offset``) from each ``from`` second on,
    in order, right for every second of ``seconds`` (and the rest of their hours). An hour whose
    ends have the same offset has it throughout; in one whose ends differ, the change is found to
    the second."""
    table: list[list[int]] = []
    for hour in sorted({s // _HOUR for s in seconds}):
        start = hour * _HOUR
        first, last = utc_offset(start, tz), utc_offset(start + _HOUR - 1, tz)
        if not table or table[-1][1] != first:
            table.append([start, first])
        if first != last:
            low, high = start, start + _HOUR - 1
            while high - low > 1:
                middle = (low + high) // 2
                if utc_offset(middle, tz) == first:
                    low = middle
                else:
                    high = middle
            table.append([high, last])
    return table


@dataclasses.dataclass(frozen=True)
class CompactPage:
    """What the template writes of a compact page."""

    data: dict[str, Any]
    """The ``compact`` member of the page's data block."""
    first: Markup | None
    """The first chunk (before the page's script); None without ladders."""
    rest: Iterator[Markup]
    """The other chunks, made as they are written."""


def compact_page(report: TraceReport, options: RenderOptions, by_date: bool) -> CompactPage:
    """The tables of the compact page of ``report`` (see the module's docstring); ``by_date``:
    the call list's wall-clock starts carry their date (``html.by_date``)."""
    trace, dialogs = report.trace, report.dialogs
    clock = TimeFormat.of(trace, options)
    origin = clock.origin_ns
    cleaned: dict[str, str] = {}
    strings = _Strings(cleaned)
    table: list[int] = []
    for d in dialogs:
        table += (
            d.id,
            d.start_ns - origin,
            d.duration_ns,
            strings(d.first_method),
            strings(d.from_name),
            strings(d.from_uri),
            strings(d.to_name),
            strings(d.to_uri),
            strings(str(d.src)),
            strings(str(d.dst)),
            len(d.messages),
            strings(d.state),
            strings(state_class(d.outcome)),
            strings(d.call_id),
        )
    ladders = options.view != "list"
    seconds = [d.start_ns // _NS for d in dialogs]
    entries = trace.entries
    if ladders:
        seconds += [entries[i].msg.pkt.ts_ns // _NS for d in dialogs for i in d.messages]
    bounds: list[int] = []
    held = CHUNK_MESSAGES
    for at, d in enumerate(dialogs):
        if held >= CHUNK_MESSAGES:
            bounds.append(at)
            held = 0
        held += len(d.messages)
    data = {
        "dialogFields": DIALOG_FIELDS,
        "messageFields": MESSAGE_FIELDS,
        "none": str(NONE),
        "classes": CLASSES,
        "resolution": trace.resolution,
        "origin": str(origin),
        "zones": zone_table(seconds, clock.tz),
        "byDate": by_date,
        "byHost": report.by_host,
        "several": len(trace.inputs) > 1,
        "strings": strings.table,
        "dialogs": packed(table),
        "chunks": bounds if ladders else [],
    }
    if not ladders or not dialogs:
        return CompactPage(data, None, iter(()))
    looks = _Looks()
    parts = [dialogs[a:b] for a, b in zip(bounds, [*bounds[1:], len(dialogs)], strict=True)]
    chunks = (_Chunk(trace, part, report.by_host, cleaned, looks).markup() for part in parts)
    return CompactPage(data, next(chunks), chunks)


class _Looks:
    """What an arrow looks like, by the fields of its message that make it; shared by the chunks
    of a page (most messages of a capture look like others)."""

    def __init__(self) -> None:
        self.kinds: dict[tuple[str | None, int | None, str | None], tuple[str, int, int]] = {}
        """(method, status, reason) -> label, class, 1 for a challenge (401, 407)."""
        self.infos: dict[tuple[int | None, str, bool], str] = {}
        """(CSeq number, CSeq method, SDP) -> the arrow's info line."""

    def kind(self, msg: Message) -> tuple[str, int, int]:
        key = (msg.method, msg.status, msg.reason)
        kind = self.kinds.get(key)
        if kind is None:
            challenge = 1 if msg.status in (401, 407) else 0
            kind = self.kinds[key] = (msg.label, CLASSES.index(message_class(msg)), challenge)
        return kind

    def info(self, msg: Message, sdp: bool) -> str:
        key = (msg.cseq_num, msg.cseq_method, sdp)
        info = self.infos.get(key)
        if info is None:
            words = [f"CSeq {msg.cseq}"] if msg.cseq else []
            if sdp:
                words.append("SDP")
            info = self.infos[key] = " · ".join(words)
        return info


class _Chunk:
    """The messages of some dialogs, as one chunk of the page.

    Its JSON: ``table`` (packed, ``MESSAGE_FIELDS``), ``strings``; ``routes`` ``[src, dst,
    transport, file]`` and ``looks`` ``[label, class, challenge, info]`` (strings by number); and by
    position in the table, for the few messages that have them: ``agents`` (the software a message
    names, looked up only where the ladder takes it: the first message of each column that names
    one), ``roots`` (the first message of the retransmissions a message belongs to), ``dialogs``
    (a message's own dialog, when not the one it is shown in), ``problems``, ``truncated``, and
    with columns by host, ``hosts`` (a route's address string -> its IP's).
    """

    def __init__(
        self,
        trace: Trace,
        dialogs: Sequence[Dialog],
        by_host: bool,
        cleaned: dict[str, str],
        looks: _Looks,
    ) -> None:
        self.strings = _Strings(cleaned)
        self.by_host = by_host
        self.routes: dict[tuple[Endpoint, Endpoint, str, int], int] = {}
        self.route_table: list[list[int]] = []
        self.hosts: dict[int, int] = {}
        self.looks = looks
        self.look_index: dict[tuple[Any, ...], int] = {}
        self.look_table: list[list[int]] = []
        self.agents: dict[int, int] = {}
        self.roots: dict[int, int] = {}
        self.own: dict[int, int] = {}
        self.problems: dict[int, list[str]] = {}
        self.truncated: list[int] = []
        self.table: list[int] = []
        self.messages: list[Message] = []
        self._fill(trace, dialogs)

    def _route(self, src: Endpoint, dst: Endpoint, transport: str, file: int) -> int:
        strings = self.strings
        route = self.routes[(src, dst, transport, file)] = len(self.route_table)
        ends = [strings(str(src)), strings(str(dst))]
        if self.by_host:
            self.hosts[ends[0]] = strings(src.ip)
            self.hosts[ends[1]] = strings(dst.ip)
        self.route_table.append([*ends, strings(transport), file])
        return route

    def _look(self, msg: Message, sdp: bool) -> int:
        key = (msg.method, msg.status, msg.reason, msg.cseq_num, msg.cseq_method, sdp)
        label, cls, challenge = self.looks.kind(msg)
        info = self.looks.info(msg, sdp)
        look = self.look_index[key] = len(self.look_table)
        self.look_table.append([self.strings(label), cls, challenge, self.strings(info)])
        return look

    def _fill(self, trace: Trace, dialogs: Sequence[Dialog]) -> None:
        entries, transactions = trace.entries, trace.transactions
        messages = self.messages
        for d in dialogs:
            messages += (entries[i].msg for i in d.messages)
        # Looks at the chunk's bytes that spare most messages a look at their own: none names an
        # agent, or none has SDP, when the words are nowhere.
        low = b"".join([m.raw for m in messages]).lower()
        agents = any(name in low for name in _AGENT_NAMES)
        sdps = b"application/sdp" in low
        by_host, routes, look_index = self.by_host, self.routes, self.look_index
        table: list[int] = []
        at = 0
        for d in dialogs:
            start, own = d.start_ns, d.id
            named: set[object] = set()
            for i in d.messages:
                entry = entries[i]
                msg = entry.msg
                pkt = msg.pkt
                ts = pkt.ts_ns
                src = pkt.src
                route = routes.get((src, pkt.dst, pkt.transport, pkt.file))
                if route is None:
                    route = self._route(src, pkt.dst, pkt.transport, pkt.file)
                sdp = sdps and has_sdp(msg)
                look = look_index.get(
                    (msg.method, msg.status, msg.reason, msg.cseq_num, msg.cseq_method, sdp)
                )
                if look is None:
                    look = self._look(msg, sdp)
                if agents:
                    lane = src.ip if by_host else src
                    if lane not in named:
                        name = agent_of(msg)
                        if name:
                            named.add(lane)
                            self.agents[at] = self.strings(name)
                if entry.retransmission_of is not None:
                    root = retransmission_root(trace, i)
                    if root != i:
                        self.roots[at] = root
                spent = NONE
                if msg.status is not None:
                    transaction = transactions.get(entry.transaction)
                    if transaction is not None:
                        request = transaction.request
                        if request is not None and request != i:
                            spent = ts - entries[request].msg.pkt.ts_ns
                if entry.dialog != own:
                    self.own[at] = entry.dialog
                if msg.truncated:
                    self.truncated.append(at)
                if msg.problems:
                    self.problems[at] = [one_line(p, CELL_LIMIT) for p in msg.problems]
                table += (i, pkt.frame, ts - start, route, look, spent, len(msg.raw))
                at += 1
        self.table = table

    def markup(self) -> Markup:
        """The chunk's text: its JSON, then the texts of its messages."""
        head = {
            "table": packed(self.table),
            "strings": self.strings.table,
            "routes": self.route_table,
            "looks": self.look_table,
            "agents": self.agents,
            "roots": self.roots,
            "dialogs": self.own,
            "problems": self.problems,
            "truncated": self.truncated,
            "hosts": self.hosts if self.by_host else None,
        }
        return Markup(script_json(head) + message_texts(self.messages))
