"""The terminal's call list (one row per dialog, in the manner of sngrep), the summary line under
it, encrypted connections, and the findings.

Widths are settled column by column before any row is written: a rich Table would measure every
cell again, which takes seconds for a call list of thousands of dialogs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import overload

from rich.cells import cell_len, set_cell_size
from rich.control import STRIP_CONTROL_CODES, strip_control_codes
from rich.text import Text

from sipsniff.analysis.findings import Finding
from sipsniff.analysis.report import TraceReport
from sipsniff.model import Dialog, Endpoint, Trace
from sipsniff.render.base import UNBOUNDED, RenderOptions, TimeFormat, duration
from sipsniff.render.safe import clean, one_line
from sipsniff.render.terminal.cells import (
    ARROW_TO,
    CELL_LIMIT,
    STYLE_REQUEST,
    WHOLE_LIMIT,
    fold,
    outcome_style,
    party,
    truncate,
)


class _Made(Sequence[str]):
    """The cells of a column whose rows all differ (an index, a time), made when they are asked
    for: a call list of 30,000 dialogs held 4 MB of them while it was written."""

    def __init__(self, make: Callable[[Dialog], str], dialogs: Sequence[Dialog]) -> None:
        self._make = make
        self._dialogs = dialogs

    def __len__(self) -> int:
        return len(self._dialogs)

    @overload
    def __getitem__(self, at: int) -> str: ...

    @overload
    def __getitem__(self, at: slice) -> list[str]: ...

    def __getitem__(self, at: int | slice) -> str | list[str]:
        if isinstance(at, slice):
            return list(map(self._make, self._dialogs[at]))
        return self._make(self._dialogs[at])

    def __iter__(self) -> Iterator[str]:
        return map(self._make, self._dialogs)


@dataclass(slots=True)
class _ListColumn:
    title: str
    cells: Sequence[str]
    minimum: int
    """Narrowest it may become; columns whose minimum is their width never shrink (times)."""
    right: bool = False
    styles: list[str] | None = None
    named: list[str] | None = None
    """Cells with display names, shown instead of ``cells`` where the final width allows."""
    width: int = 0
    lengths: list[int] = field(default_factory=list)
    """The width in cells of each of ``cells``, measured once."""

    def __post_init__(self) -> None:
        self.lengths = list(map(_measure(), self.cells))
        self.width = max([cell_len(self.title), *self.lengths])
        self.minimum = min(self.minimum, self.width)

    def texts(self, rows: slice = slice(None)) -> list[str]:
        """The text of each of ``rows`` cut to the column's width and padded to it (the width
        settled). Rows that repeat a cell (a URI, a state) repeat its text, made once."""
        cells, lengths = self.cells[rows], self.lengths[rows]
        if self.named is None:
            # a text as many cells wide as it has characters, and no wider than the column:
            # padded as str pads (numbers, times, most addresses)
            width = self.width
            pad = str.rjust if self.right else str.ljust
            return [
                pad(text, width)
                if length == len(text) and length <= width
                else self._cell(text, length, None)
                for text, length in zip(cells, lengths, strict=True)
            ]
        made: dict[tuple[str, str | None], str] = {}
        out = []
        for text, length, name in zip(cells, lengths, self.named[rows], strict=True):
            key = (text, name)
            found = made.get(key)
            if found is None:
                if len(made) >= _KEPT:
                    made.clear()
                found = made[key] = self._cell(text, length, name)
            out.append(found)
        return out

    def _cell(self, text: str, length: int, named: str | None) -> str:
        if named is not None and named != text and (named_length := cell_len(named)) <= self.width:
            text, length = named, named_length
        if length > self.width:
            text = truncate(text, self.width)
            length = cell_len(text)
        room = self.width - length
        if room <= 0:
            return text
        return " " * room + text if self.right else text + " " * room


_KEPT = 4096
"""Distinct values the call list remembers the cell of, per column (then it starts again)."""
_ROWS = 4096
"""Rows of the call list made at a time."""


def _measure() -> Callable[[str], int]:
    """``cell_len``, remembering the texts measured: the rows of a column repeat most of them."""
    return lru_cache(maxsize=_KEPT)(cell_len)


def _shrink(columns: list[_ListColumn], gap: int, width: int) -> None:
    """Narrow the widest shrinkable columns, one cell at a time, until the row fits ``width``."""
    while sum(c.width for c in columns) + gap * (len(columns) - 1) > width:
        candidates = [c for c in columns if c.width > c.minimum]
        if not candidates:
            return
        max(candidates, key=lambda c: c.width).width -= 1


_SRC_DST = f"Src {ARROW_TO} Dst"
_DROP_ORDER = (_SRC_DST, "Duration", "To", "Msgs")
"""Columns of the call list to leave out, in this order, when the width cannot hold them."""


def call_list(trace: Trace, dialogs: Sequence[Dialog], options: RenderOptions, width: int) -> Text:
    """The call list: one row per dialog, fitted to ``width`` cells.

    Columns: Idx, Start, Method, From, To, Src -> Dst, Msgs, State, Duration. Times are never cut;
    From, To, Src -> Dst, Method and State shrink with an ellipsis; when even that is not enough,
    Src -> Dst goes first (the ladder shows it), then Duration, To and Msgs.
    """
    columns, gap = _layout(trace, dialogs, options, width)
    sep = " " * gap
    last = len(columns) - 1
    head = Text(sep.join(_pad(c.title, c.width, c.right) for c in columns).rstrip(), "bold")
    lines = [head]
    texts = [c.texts() for c in columns]
    for row in range(len(dialogs)):
        line = Text()
        for k, c in enumerate(columns):
            text = texts[k][row]
            style = c.styles[row] if c.styles is not None else ""
            line.append(text.rstrip() if k == last else text + sep, style or None)
        lines.append(line)
    for line in lines:
        line.truncate(width, overflow="ellipsis")
    out = Text("\n", no_wrap=True, overflow="ellipsis", end="").join(lines)
    out.no_wrap = True
    out.overflow = "ellipsis"
    return out


@dataclass(frozen=True, slots=True)
class PlainLines:
    """Lines of text to write as they are, without rich: for a console without colour, where they
    are the very characters rich would write (``call_list_lines``). Made as they are written,
    ``_ROWS`` lines at a time, each block a string of lines that end in a line feed."""

    blocks: Iterator[str]


def call_list_lines(
    trace: Trace, dialogs: Sequence[Dialog], options: RenderOptions, width: int
) -> PlainLines:
    """The lines ``call_list`` gives, as rich prints them on a console without colour that is at
    least ``width`` cells wide: the same characters, made without a ``Text`` per row (which takes
    seconds for tens of thousands of dialogs)."""
    columns, gap = _layout(trace, dialogs, options, width)
    return PlainLines(_plain_blocks(columns, gap, len(dialogs), width))


def _plain_blocks(columns: list[_ListColumn], gap: int, rows: int, width: int) -> Iterator[str]:
    sep = " " * gap
    last = len(columns) - 1
    head = sep.join(_pad(c.title, c.width, c.right) for c in columns).rstrip()
    yield _as_rich_prints(head, width, fits=False) + "\n"  # a title may be wider than its column
    # Every cell is exactly its column's width: a row can only be too wide when the columns are.
    fits = sum(c.width for c in columns) + gap * last <= width
    for start in range(0, rows, _ROWS):
        # a batch of rows at a time: the cells (and lines) of every row are not held at once
        batch = slice(start, start + _ROWS)
        texts = [c.texts(batch) for c in columns]
        texts[last] = [text.rstrip() for text in texts[last]]
        made = map(sep.join, zip(*texts, strict=True))
        yield "".join(f"{_as_rich_prints(line, width, fits)}\n" for line in made)


def _as_rich_prints(line: str, width: int, fits: bool) -> str:
    """``line`` as ``call_list`` and rich's ``Console.print`` leave it: control codes dropped
    (``Text``), cut to ``width`` with an ellipsis (``call_list``), then, where it has more
    characters than cells, trailing blanks beyond ``width`` removed (``Text.rstrip_end``)."""
    if _CONTROL.search(line) is not None:  # never, from ``clean``: looking costs less than a copy
        line = strip_control_codes(line)
    if not fits and cell_len(line) > width:
        line = set_cell_size(line, width - 1) + "…"
    if len(line) > width and (blank := _TRAILING_BLANK.search(line)) is not None:
        line = line[: len(line) - min(len(blank.group()), len(line) - width)]
    return line


_CONTROL = re.compile(f"[{re.escape(''.join(map(chr, STRIP_CONTROL_CODES)))}]")
"""What ``Text`` drops from what it is given (rich's ``strip_control_codes``)."""
_TRAILING_BLANK = re.compile(r"\s+$")
"""What rich's ``Text.rstrip_end`` takes off the end of a line (its ``_re_whitespace``)."""


def _layout(
    trace: Trace, dialogs: Sequence[Dialog], options: RenderOptions, width: int
) -> tuple[list[_ListColumn], int]:
    """The columns of the call list and the gap between them, fitted to ``width``."""
    tf = TimeFormat.of(trace, options)
    resolution = trace.resolution
    abs_time = options.time == "abs"
    by_date = abs_time and len({tf.start(d.start_ns, date=True)[:10] for d in dialogs}) > 1
    zone = tf.title(dialogs[0].start_ns).removeprefix("time") if dialogs and abs_time else ""

    # The dialogs of a capture repeat most of their values (URIs, addresses, methods, states):
    # each is made a cell once.
    line_of = lru_cache(maxsize=_KEPT)(one_line)
    party_of = lru_cache(maxsize=_KEPT)(party)

    @lru_cache(maxsize=_KEPT)
    def ep(endpoint: Endpoint) -> str:
        return one_line(endpoint.ip if options.by_host else str(endpoint), CELL_LIMIT)

    @lru_cache(maxsize=_KEPT)
    def route(src: Endpoint, dst: Endpoint) -> str:
        return f"{ep(src)} {ARROW_TO} {ep(dst)}"

    count_of = lru_cache(maxsize=_KEPT)(str)
    # Equal durations held once (thousands of rows have a few); the other columns' cells come
    # from the caches above, shared already.
    held = dict[str, str]().setdefault

    columns = [
        _ListColumn("Idx", _Made(lambda d: str(d.id), dialogs), 99, right=True),
        _ListColumn(
            "Start" + zone,
            _Made(lambda d: tf.start(d.start_ns, date=by_date), dialogs),
            99,
            right=True,
        ),
        _ListColumn(
            "Method",
            methods := [line_of(d.first_method, 40) for d in dialogs],
            min(max(map(len, methods), default=6), 9),
            styles=[STYLE_REQUEST] * len(dialogs),
        ),
        _ListColumn(
            "From",
            froms := [party_of("", d.from_uri) for d in dialogs],
            10,
            named=[party_of(d.from_name, d.from_uri) for d in dialogs],
        ),
        _ListColumn(
            "To",
            tos := [party_of("", d.to_uri) for d in dialogs],
            10,
            named=[party_of(d.to_name, d.to_uri) for d in dialogs],
        ),
        # Whole or not at all: half an address is worse than none.
        _ListColumn(_SRC_DST, [route(d.src, d.dst) for d in dialogs], 999),
        _ListColumn("Msgs", [count_of(len(d.messages)) for d in dialogs], 99, right=True),
        _ListColumn(
            "State",
            states := [line_of(d.state, 40) for d in dialogs],
            min(max(map(len, states), default=5), 18),
            styles=[outcome_style(d.outcome) for d in dialogs],
        ),
        _ListColumn(
            "Duration",
            [held(text, text) for text in (duration(d.duration_ns, resolution) for d in dialogs)],
            99,
            right=True,
        ),
    ]
    # Src -> Dst gives way before From and To are cut below 16 cells (the ladder shows the addresses).
    preferred = {"From": min(max(map(len, froms), default=4), 16)}
    preferred["To"] = min(max(map(len, tos), default=2), 16)
    if sum(max(c.minimum, preferred.get(c.title, 0)) for c in columns) + len(columns) - 1 > width:
        columns = [c for c in columns if c.title != _SRC_DST]
    for title in _DROP_ORDER:
        if sum(c.minimum for c in columns) + len(columns) - 1 <= width:
            break
        columns = [c for c in columns if c.title != title]
    gap = 2 if sum(c.width for c in columns) + 2 * (len(columns) - 1) <= width else 1
    _shrink(columns, gap, width)

    return columns, gap


def _pad(text: str, width: int, right: bool) -> str:
    room = width - cell_len(text)
    if room <= 0:
        return text
    return " " * room + text if right else text + " " * room


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else plural or word + 's'}"


def summary(report: TraceReport, width: int = UNBOUNDED) -> Text:
    """One line of counts: messages, dialogs, retransmissions, skipped records, keep-alives;
    lines of them narrower than ``width``, broken after a comma (never between a count and its
    word)."""
    trace = report.trace
    total = len(trace.dialogs)
    shown = f" ({len(report.dialogs)} shown)" if len(report.dialogs) != total else ""
    retransmissions = report.retransmissions
    parts = [
        _plural(len(trace.entries), "message"),
        _plural(total, "dialog") + shown,
        _plural(retransmissions, "retransmission"),
        f"{trace.skipped_total} skipped",
        _plural(trace.counts.keepalive, "keep-alive"),
    ]
    lines = [parts[0]]
    for part in parts[1:]:
        if len(lines[-1]) + 2 + len(part) < width:
            lines[-1] += ", " + part
        else:
            lines[-1] += ","
            lines.append(part)
    text = Text("\n".join(lines), style="dim")
    for line in tls_lines(trace):
        text.append("\n")
        text.append(line)
    text.no_wrap = False  # wrapped on a terminal, never cut; one line in a file
    text.overflow = "fold"
    return text


def tls_lines(trace: Trace) -> list[Text]:
    """One line per encrypted connection, and how to decrypt them: SIP we cannot read is still SIP
    a person is looking for."""
    out = []
    for c in trace.tls:
        what = " ".join(x for x in (c.version, c.sni and f"SNI {c.sni}") if x) or "TLS"
        line = clean(
            f"encrypted: {c.client} → {c.server}  {what}  "
            f"{c.client_bytes}/{c.server_bytes} bytes  frames {c.first_frame}-{c.last_frame}",
            400,
        )
        out.append(Text(line, overflow="fold"))
    if trace.tls:
        out.append(Text("(--tls-keylog FILE decrypts TLS whose handshake was captured)"))
    return out


FRAMES_SHOWN = 100
"""Frames of a finding listed by number; more are counted (--format json lists them all)."""

_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}


def findings_lines(items: Sequence[Finding], width: int = UNBOUNDED) -> list[Text]:
    """What went wrong and what to do, most severe first: evidence, then the advice; each whole,
    folded to ``width`` under its start (one line each in a file or a pipe)."""
    if not items:
        return [Text("Findings", style="bold"), Text("  nothing wrong found")]
    lines = [Text(f"Findings ({len(items)})", style="bold")]
    for f in items:
        where = "capture" if f.dialog is None else f"dialog {f.dialog}"
        frames = ",".join(str(n) for n in f.frames[:FRAMES_SHOWN])
        if len(f.frames) > FRAMES_SHOWN:
            frames += f" and {len(f.frames) - FRAMES_SHOWN} more"
        line = Text("  ")
        line.append(f"{f.severity:<7}", _SEVERITY_STYLE.get(f.severity, ""))
        line.append(f" {where}, frames {frames}: ")
        line.append(clean(f.summary, WHOLE_LIMIT))
        lines += fold(line, width, 10)
        lines += fold(Text("          → " + clean(f.advice, WHOLE_LIMIT), style="dim"), width, 12)
    for line in lines:
        line.no_wrap = True
    return lines
