"""The call list of the browser as data: its columns, the text of each cell, sorting, and the
flows that open from it. No Textual here: the widgets (``calls``, ``flow``) draw what this says.

A row is a ``Dialog`` of the trace. Cells are made when a row is drawn and kept until the
dialog changes (its message count or state: live capture keeps adding to dialogs), so a call
list of 30,000 dialogs costs only the rows on screen.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from sipsniff.analysis.stats import call_timing
from sipsniff.model import Dialog, Trace
from sipsniff.render.base import TimeFormat, duration
from sipsniff.render.safe import one_line
from sipsniff.render.terminal.cells import CELL_LIMIT, party

SEVERITY_MARK: Final = {"error": "!!", "warning": "!"}
"""The findings column: the most severe finding about the dialog (notes of severity info, such as
a NAT seen, are not marked: ``f`` in the flow lists them)."""


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One column the call list can show."""

    key: str
    """Its name in the column chooser and in ``--columns``-like settings."""
    title: str
    width: int
    """Cells it takes (text longer than this is cut with an ellipsis)."""
    right: bool = False
    """Right-aligned (numbers, times)."""
    grow: bool = False
    """Takes a share of the room left over (From, To, addresses)."""


COLUMNS: Final = (
    ColumnSpec("idx", "Idx", 5, right=True),
    ColumnSpec("method", "Method", 9),
    ColumnSpec("from", "From", 16, grow=True),
    ColumnSpec("to", "To", 16, grow=True),
    ColumnSpec("src", "Source", 21, grow=True),
    ColumnSpec("dst", "Destination", 21, grow=True),
    ColumnSpec("msgs", "Msgs", 4, right=True),
    ColumnSpec("state", "State", 14),
    ColumnSpec("start", "Start", 15, right=True),
    ColumnSpec("duration", "Duration", 9, right=True),
    ColumnSpec("pdd", "PDD", 9, right=True),
    ColumnSpec("findings", "!", 2),
    ColumnSpec("call_id", "Call-ID", 24, grow=True),
)
"""Every column, in sngrep's order (Idx, Method, From, To, Source, Destination, Msgs, State)
plus start, duration, post-dial delay, findings and Call-ID."""

BY_KEY: Final = {c.key: c for c in COLUMNS}
DEFAULT_COLUMNS: Final = (
    "idx",
    "method",
    "from",
    "to",
    "src",
    "dst",
    "msgs",
    "state",
    "start",
    "duration",
    "pdd",
    "findings",
)


class Cells:
    """The text of every cell of the call list, made on demand and kept per dialog."""

    def __init__(self, trace: Trace, tf: TimeFormat) -> None:
        self.trace = trace
        self.tf = tf
        self.marks: dict[int, str] = {}
        """``Dialog.id`` -> the severity of its most severe finding, once findings are known."""
        self._cache: dict[int, tuple[tuple[int, str], dict[str, str]]] = {}
        self._pdd: dict[int, tuple[int, int | None]] = {}

    def retime(self, tf: TimeFormat) -> None:
        """Show times in another mode: every cell is made again."""
        self.tf = tf
        self._cache.clear()

    def row(self, d: Dialog) -> dict[str, str]:
        """The cells of ``d``, by column key."""
        version = (len(d.messages), d.state)
        got = self._cache.get(d.id)
        if got is not None and got[0] == version:
            return got[1]
        res = self.trace.resolution
        pdd = self.pdd_ns(d)
        cells = {
            "idx": str(d.id),
            "method": one_line(d.first_method, 40),
            "from": party(d.from_name, d.from_uri),
            "to": party(d.to_name, d.to_uri),
            "src": one_line(str(d.src), CELL_LIMIT),
            "dst": one_line(str(d.dst), CELL_LIMIT),
            "msgs": str(len(d.messages)),
            "state": one_line(d.state, 40),
            "start": self.tf.start(d.start_ns),
            "duration": duration(d.end_ns - d.start_ns, res),
            "pdd": "" if pdd is None else duration(pdd, res),
            "findings": SEVERITY_MARK.get(self.marks.get(d.id, ""), ""),
            "call_id": one_line(d.call_id, CELL_LIMIT),
        }
        self._cache[d.id] = (version, cells)
        return cells

    def pdd_ns(self, d: Dialog) -> int | None:
        """Post-dial delay of a call: its INVITE that went through to the first 18x."""
        if not d.call:
            return None
        got = self._pdd.get(d.id)
        if got is not None and got[0] == len(d.messages):
            return got[1]
        if d.id not in self.trace.dialogs:  # live: let go by the session, the list not told yet
            return None if got is None else got[1]
        rang = call_timing(self.trace, d).rang
        value = None if rang is None else rang[1].ts_ns - rang[0].ts_ns
        self._pdd[d.id] = (len(d.messages), value)
        return value

    def forget(self, ids: Iterable[int]) -> None:
        for i in ids:
            self._cache.pop(i, None)
            self._pdd.pop(i, None)
            self.marks.pop(i, None)


def sort_key(cells: Cells, key: str) -> Callable[[Dialog], tuple[int, object]]:
    """How to order dialogs by column ``key``: by value, not by the text shown (numbers and
    times as numbers); rows without a value go last."""
    numeric: dict[str, Callable[[Dialog], int | None]] = {
        "idx": lambda d: d.id,
        "msgs": lambda d: len(d.messages),
        "start": lambda d: d.start_ns,
        "duration": lambda d: d.end_ns - d.start_ns,
        "pdd": cells.pdd_ns,
    }
    get = numeric.get(key)
    if get is not None:

        def by_number(d: Dialog) -> tuple[int, object]:
            value = get(d)
            return (1, 0) if value is None else (0, value)

        return by_number

    def by_text(d: Dialog) -> tuple[int, object]:
        value = cells.row(d)[key].lower()
        return (1, "") if not value else (0, value)

    return by_text


def combined(trace: Trace, dialogs: Sequence[Dialog]) -> Dialog:
    """Several dialogs as one, for one flow: their messages in capture order (sngrep's extended
    flow, Wireshark's Flow Sequence of several calls). The first dialog names it."""
    if len(dialogs) == 1:
        return dialogs[0]
    ids = sorted({i for d in dialogs for i in d.messages})
    ids.sort(key=lambda i: (trace.entries[i].ts_ns, i))
    first = min(dialogs, key=lambda d: (d.start_ns, d.id))
    return dataclasses.replace(
        first,
        messages=ids,
        start_ns=min(d.start_ns for d in dialogs),
        end_ns=max(d.end_ns for d in dialogs),
    )


def related(trace: Trace, dialogs: Sequence[Dialog]) -> list[Dialog]:
    """``dialogs`` and those of the same call: legs linked by X-Call-ID (a B2BUA), dialogs of the
    same Call-ID (a call proxied across hops, forks), in order of their ids."""
    call_ids = {d.call_id for d in dialogs}
    wanted = {d.id for d in dialogs}
    for d in dialogs:
        wanted.update(d.linked)
    for d in list(trace.dialogs.values()):
        if d.call_id in call_ids or not wanted.isdisjoint(d.linked):
            wanted.add(d.id)
    return [trace.dialogs[i] for i in sorted(wanted) if i in trace.dialogs]
