"""The compact page of a big capture: tables for the page's script instead of a ladder per dialog.

How it is built
---------------
From ``COMPACT_FROM`` messages on, a page that carried what the full page carries (a ladder and
stamps in every time mode per dialog, a call list of HTML rows) would be slow to write and slower
to open: a browser lays out 30,000 table rows in tens of seconds. The compact page carries facts,
and its script (``compact.js``) makes of them what the full page is given:

* The call list is the dialog table; the script draws the rows in view only. The table is not in
  the data block but in an element of its own (``dialog-table``), written in pieces as it is
  encoded (``base64_pieces``): 4.5 MB for 30,000 dialogs, never held as text.
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

The tables of messages travel ``packed``: base64 of 64-bit integers, which the script reads where
it needs them (no number to write out one by one, none to parse, and every nanosecond time whole),
the dialog table too; a table with a number that does not fit 64 bits is ``listed`` instead (in
the data block, for the dialog table).
Their columns are named in the data (``DIALOG_FIELDS``, ``MESSAGE_FIELDS``): the script finds them
by name. Every string from a packet is made one safe line (``html_text``), or clean text for a
message's text, and is escaped by ``script_json``, as in the full page.
"""

from __future__ import annotations

import base64
import dataclasses
import sys
from array import array
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from functools import partial
from itertools import compress, count, repeat
from operator import attrgetter, floordiv, is_not, itemgetter, ne, sub
from typing import Any, TypeVar

from markupsafe import Markup

from sipsniff.analysis.ladder import AGENT_HEADERS, agent_of, retransmission_root
from sipsniff.analysis.report import TraceReport
from sipsniff.model import Dialog, Endpoint, Message, Trace
from sipsniff.render.base import RenderOptions, TimeFormat, utc_offset
from sipsniff.render.html_text import (
    CELL_LIMIT,
    lowered,
    message_class,
    message_texts,
    script_json,
    state_class,
)
from sipsniff.render.safe import has_unsafe, one_line
from sipsniff.sip.sdp import sdp_flags

COMPACT_FROM = 3_000
"""Messages from which a page is compact. The full page's cost grows faster than the JSON
document's: 1.3x its time at 1,000 messages, 1.6x at 2,000, 1.9x at 4,000, 2.1x at 6,000, 3.3x
at 18,000 (the compact page: 1.1x at each); from here on, a page is written in less than twice the
time of the JSON document at every size."""
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
"""The columns of the dialog table (packed, a column after another): ``start`` (since the capture's
first message) and ``duration`` in nanoseconds, ``messages`` a count, ``tone`` the state's colour
(``html_text.state_class``), the others numbers of ``strings``."""

MESSAGE_FIELDS = ("index", "frame", "t", "route", "look", "spent", "size")
"""A row of a chunk's message table, in the order of its dialogs' messages: ``t`` in nanoseconds
since the dialog's start; ``route`` and ``look`` numbers of the chunk's routes and looks;
``spent`` nanoseconds since the request a response answers (``NONE``: no such note); ``size`` the
message's length in bytes."""

NONE = -(2**63)
"""The packed integer that stands for no value."""
CLASSES = ("req", "s1", "s2", "s3")
"""The colour classes of arrows (``html_text.message_class``), by their number in looks."""

K = TypeVar("K", bound=Hashable)

_HOUR = 3600
_NS = 1_000_000_000
_HOUR_NS = _HOUR * _NS
_AGENT_NAMES = tuple(name.lower().encode() for name in AGENT_HEADERS)


def is_compact(report: TraceReport, options: RenderOptions) -> bool:
    """Whether the page of ``report`` is compact (``COMPACT_FROM`` messages or more)."""
    return sum(len(d.messages) for d in report.dialogs) >= COMPACT_FROM


def listed(values: list[int]) -> list[int | str | None]:
    """``values`` as a JSON list: ``NONE`` null, the others as they are or, when a double would not
    hold them whole, as strings of digits."""
    return [None if v == NONE else v if -(2**53) < v < 2**53 else str(v) for v in values]


def packed_columns(
    columns: Sequence[Callable[[], Iterable[int]]],
) -> array[int] | list[int | str | None]:
    """The columns one after another as 64-bit integers (each made when its turn comes: a table
    of them is a tenth of a list of Python's; ``base64_pieces`` writes it), or ``listed`` when
    one does not fit."""
    table = array("q")
    for column in columns:
        try:
            table.extend(array("q", column()))
        except OverflowError:
            return listed([value for column in columns for value in column()])
    return table


def base64_pieces(table: array[int]) -> Iterator[str]:
    """``packed`` of ``table``, in pieces of about a megabyte (base64 of whole groups of three
    bytes, so that the pieces join into the base64 of the whole): a table of 30,000 dialogs is
    4.5 MB of it, written as it is made rather than held (twice, in the page's data)."""
    if sys.byteorder == "big":
        table = array("q", table)
        table.byteswap()
    whole = memoryview(table).cast("B")
    for at in range(0, len(whole), _PIECE):
        yield base64.b64encode(whole[at : at + _PIECE]).decode("ascii")


_PIECE = 3 << 18
"""Bytes of a table encoded at a time (a multiple of 3: the base64 of a piece has no padding)."""


def packed(values: list[int]) -> str | list[int | str | None]:
    """``values`` as base64 of little-endian 64-bit integers; an integer that does not fit (a time
    of a broken capture) makes them ``listed`` instead."""
    try:
        table = array("q", values)
    except OverflowError:
        return listed(values)
    return "".join(base64_pieces(table))


class _Strings:
    """A table of strings, each made one safe line once, numbered by first use."""

    def __init__(self, cleaned: dict[str, str]) -> None:
        self.index: dict[str, int] = {"": 0}
        self.table: list[str] = [""]
        self._cleaned = cleaned
        """Packet text -> ``one_line`` of it, shared by the tables of a page."""

    def many(self, texts: Sequence[str]) -> list[int]:
        """The numbers of ``texts``; those new to the table made one safe line together when
        none needs a change (one search of them all), else one at a time."""
        new = [t for t in dict.fromkeys(texts) if t not in self.index]
        joined = "".join(new)
        if (
            new
            and "\t" not in joined
            and not has_unsafe(joined)
            and max(map(len, new)) <= CELL_LIMIT
        ):
            for text in new:
                self.index[text] = len(self.table)
                self.table.append(text)
        return list(map(self, texts))

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
    table: array[int] | None
    """The dialog table, packed, when it is not in ``data`` (``dialogs`` is then null): the page
    carries it in an element of its own (``dialog-table``), written by ``table_text``."""
    first: Markup | None
    """The first chunk (before the page's script); None without ladders."""
    rest: Iterator[Markup]
    """The other chunks, made as they are written."""

    def table_text(self) -> Iterator[Markup]:
        """The text of the ``dialog-table`` element: ``table`` in base64 (safe: none of its
        characters is markup)."""
        return map(Markup, base64_pieces(self.table if self.table is not None else array("q")))


def compact_page(
    report: TraceReport, options: RenderOptions, clock: TimeFormat, by_date: bool
) -> CompactPage:
    """The tables of the compact page of ``report`` (see the module's docstring), its times as
    ``clock`` tells them (its origin, its zone); ``by_date``: the call list's wall-clock starts
    carry their date (``html.by_date``)."""
    trace, dialogs = report.trace, report.dialogs
    origin = clock.origin_ns
    cleaned: dict[str, str] = {}
    strings = _Strings(cleaned)
    # The parties, addresses and states of dialogs repeat: each made strings once.
    alike, keys = numbered(map(_PARTIES, dialogs))
    words = [
        (
            *map(strings, key[:5]),
            *map(strings, map(str, key[5:7])),
            strings(key[7]),
            strings(state_class(key[8])),
        )
        for key in keys
    ]

    def said(column: int) -> Iterator[int]:
        return map(itemgetter(column), map(words.__getitem__, alike))

    # DIALOG_FIELDS, each made when it is packed.
    table = packed_columns(
        [
            lambda: map(_ID, dialogs),
            lambda: map(sub, map(_START, dialogs), repeat(origin)),
            lambda: map(sub, map(_END, dialogs), map(_START, dialogs)),
            *(partial(said, column) for column in range(7)),
            lambda: map(len, map(_MESSAGES, dialogs)),
            partial(said, 7),
            partial(said, 8),
            lambda: strings.many(list(map(_CALL_ID, dialogs))),
        ]
    )
    ladders = options.view != "list"
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
        "zones": zone_table((d.start_ns // _NS for d in dialogs), clock.tz),
        "byDate": by_date,
        "byHost": report.by_host,
        "several": len(trace.inputs) > 1,
        "strings": strings.table,
        "dialogs": table if isinstance(table, list) else None,
        "chunks": bounds if ladders else [],
    }
    packed = table if isinstance(table, array) else None
    if not ladders or not dialogs:
        return CompactPage(data, packed, None, iter(()))
    looks = _Looks()
    parts = [dialogs[a:b] for a, b in zip(bounds, [*bounds[1:], len(dialogs)], strict=True)]
    chunks = (
        _Chunk(trace, part, report.by_host, clock.tz, cleaned, looks).markup() for part in parts
    )
    return CompactPage(data, packed, next(chunks), chunks)


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

    Its JSON: ``table`` (packed, ``MESSAGE_FIELDS`` a column after another: the column of a field
    first for every message, then the next), ``strings``; ``routes`` ``[src, dst, transport,
    file]`` and ``looks`` ``[label, class, challenge, info]`` (strings by number); ``zones``, the
    ``zone_table`` of its messages' times; and by position in the table, for the few messages
    that have them: ``agents`` (the software a message names, looked up only where the ladder
    takes it: the first message of each column that names one), ``roots`` (the first message of
    the retransmissions a message belongs to), ``dialogs`` (a message's own dialog, when not the
    one it is shown in), ``problems``, ``truncated``; and with columns by host, ``hosts`` (an
    address string -> its IP's).

    The columns are made a field at a time over all the chunk's messages (``map`` and
    ``attrgetter`` rather than a loop of Python over the messages), and numbered in order of first
    use with ``numbered``.
    """

    def __init__(
        self,
        trace: Trace,
        dialogs: Sequence[Dialog],
        by_host: bool,
        tz: Any,
        cleaned: dict[str, str],
        looks: _Looks,
    ) -> None:
        self.strings = _Strings(cleaned)
        self.by_host = by_host
        self.hosts: dict[int, int] = {}
        self.raws: Sequence[bytes] = ()
        self.table: list[int] = []
        self.route_table: list[list[int]] = []
        self.look_table: list[list[int]] = []
        self.zones: list[list[int]] = []
        self.agents: dict[int, int] = {}
        self.roots: dict[int, int] = {}
        self.own: dict[int, int] = {}
        self.truncated: list[int] = []
        self.problems: dict[int, list[str]] = {}
        ids = [i for d in dialogs for i in d.messages]
        if ids:
            self._fill(trace, dialogs, ids, tz, looks)

    def _fill(
        self, trace: Trace, dialogs: Sequence[Dialog], ids: list[int], tz: Any, looks: _Looks
    ) -> None:
        entries = trace.entries
        chunk = list(map(entries.__getitem__, ids))
        msgs: list[Message] = list(chunk)  # an entry is its message
        frames, times, srcs, dsts, transports, files = zip(*map(_PACKET, msgs), strict=True)
        raws, methods, statuses, reasons, numbers, cseqs = zip(*map(_MESSAGE, msgs), strict=True)
        self.raws = raws
        self.zones = zone_table(
            (h * _HOUR for h in set(map(floordiv, times, repeat(_HOUR_NS)))), tz
        )
        # A look at the chunk's bytes spares most messages a look at their own: none names an
        # agent where the words are nowhere; the SDP flags are found in them.
        low = lowered(raws)
        sdp = sdp_flags(msgs, low)

        routes, ways = numbered(zip(srcs, dsts, transports, files, strict=True))
        self.route_table = [self._route(*way) for way in ways]
        marks, _ = numbered(zip(methods, statuses, reasons, numbers, cseqs, sdp, strict=True))
        self.look_table = [self._look(looks, msgs[at], sdp[at]) for at in firsts(marks)]

        starts = [d.start_ns for d in dialogs for _ in d.messages]
        spent = [NONE] * len(msgs)
        transactions = trace.transactions
        asked: dict[int, tuple[int, int] | None] = {}
        """Transaction -> its request's index and time (None without one): the responses of a
        transaction (100, 180, 200...) look it up once."""
        for at in compress(count(), map(is_not, statuses, repeat(None))):
            ti = chunk[at].transaction
            if ti not in asked:
                transaction = transactions.get(ti)
                first = None if transaction is None else transaction.request
                asked[ti] = None if first is None else (first, entries[first].ts_ns)
            request = asked[ti]
            if request is not None and request[0] != ids[at]:
                spent[at] = times[at] - request[1]
        self.table = [*ids, *frames, *map(sub, times, starts), *routes, *marks, *spent]
        self.table += map(len, raws)

        if any(name in low for name in _AGENT_NAMES):
            self._agents(dialogs, msgs)
        for at in compress(count(), map(is_not, map(_RETRANSMISSION, chunk), repeat(None))):
            root = retransmission_root(trace, ids[at])
            if root != ids[at]:
                self.roots[at] = root
        own = [d.id for d in dialogs for _ in d.messages]
        self.own = {
            at: chunk[at].dialog for at in compress(count(), map(ne, own, map(_DIALOG, chunk)))
        }
        self.truncated = list(compress(count(), map(_TRUNCATED, msgs)))
        self.problems = {
            at: [one_line(p, CELL_LIMIT) for p in msgs[at].problems]
            for at in compress(count(), map(_PROBLEMS, msgs))
        }

    def _route(self, src: Endpoint, dst: Endpoint, transport: str, file: int) -> list[int]:
        strings = self.strings
        ends = [strings(str(src)), strings(str(dst))]
        if self.by_host:
            self.hosts[ends[0]] = strings(src.ip)
            self.hosts[ends[1]] = strings(dst.ip)
        return [*ends, strings(transport), file]

    def _look(self, looks: _Looks, msg: Message, sdp: bool) -> list[int]:
        label, cls, challenge = looks.kind(msg)
        return [self.strings(label), cls, challenge, self.strings(looks.info(msg, sdp))]

    def _agents(self, dialogs: Sequence[Dialog], msgs: list[Message]) -> None:
        """The messages whose agent a ladder takes: per dialog, the first of each column (each
        address, or each IP address by host) to name one (``analysis.ladder.ladder_of``)."""
        at = 0
        for d in dialogs:
            named: set[object] = set()
            for msg in msgs[at : at + len(d.messages)]:
                src = msg.src
                lane = src.ip if self.by_host else src
                if lane not in named:
                    name = agent_of(msg)
                    if name:
                        named.add(lane)
                        self.agents[at] = self.strings(name)
                at += 1

    def markup(self) -> Markup:
        """The chunk's text: its JSON, then the texts of its messages."""
        table = packed(self.table)
        head = {
            "table": "" if isinstance(table, str) else table,
            "strings": self.strings.table,
            "routes": self.route_table,
            "looks": self.look_table,
            "zones": self.zones,
            "agents": self.agents,
            "roots": self.roots,
            "dialogs": self.own,
            "problems": self.problems,
            "truncated": self.truncated,
            "hosts": self.hosts if self.by_host else None,
        }
        text = script_json(head)
        if isinstance(table, str):
            # Base64 is JSON and safe in a script as it is: put in after, not looked through by
            # the encoder and the escapes (megabytes of a page), between the quotes of the
            # first member, ``"table":""``.
            text = text[:_TABLE_AT] + table + text[_TABLE_AT:]
        return Markup(text + message_texts(self.raws))


_TABLE_AT = len('{"table":"')
"""Where the table goes in a chunk's JSON: ``table`` is the first member of ``head``."""


def numbered(keys: Iterable[K]) -> tuple[list[int], list[K]]:
    """The number of each key, counting distinct keys from 0 in order of first use, and the
    distinct keys in that order."""
    numbers: defaultdict[K, int] = defaultdict(count().__next__)
    each = list(map(numbers.__getitem__, keys))
    return each, list(numbers)


def firsts(numbers: list[int]) -> list[int]:
    """Where each number of ``numbered`` is first used."""
    first = dict(zip(reversed(numbers), range(len(numbers) - 1, -1, -1), strict=True))
    return [first[n] for n in range(len(first))]


_PARTIES = attrgetter(
    "first_method", "from_name", "from_uri", "to_name", "to_uri", "src", "dst", "state", "outcome"
)
_ID = attrgetter("id")
_START = attrgetter("start_ns")
_END = attrgetter("end_ns")
_MESSAGES = attrgetter("messages")
_CALL_ID = attrgetter("call_id")
_PACKET = attrgetter("frame", "ts_ns", "src", "dst", "transport", "file")
_MESSAGE = attrgetter("raw", "method", "status", "reason", "cseq_num", "cseq_method")
_TRUNCATED = attrgetter("truncated")
_PROBLEMS = attrgetter("problems")
_RETRANSMISSION = attrgetter("retransmission_of")
_DIALOG = attrgetter("dialog")
