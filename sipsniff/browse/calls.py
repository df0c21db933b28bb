"""The call list widget: a virtual table, one line per dialog, drawn a line at a time.

Textual's line API asks for the lines on screen only (``render_line``), so 30,000 dialogs cost
what 40 do; cells come from ``rows.Cells`` (made once per dialog and version). The first line is
the column titles and stays put when the rows scroll.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from sipsniff.browse.rows import BY_KEY, DEFAULT_COLUMNS, Cells, ColumnSpec, sort_key
from sipsniff.model import Dialog
from sipsniff.render.terminal.cells import STYLE_REQUEST, outcome_style, truncate

GUTTER = 2
MIN_GROW = 12
"""Cells a growing column (From, To, addresses, Call-ID) keeps before columns give way."""
DROP_ORDER = ("call_id", "pdd", "duration", "dst", "src", "start", "findings")
"""Default columns that give way, in this order, when the terminal is too narrow for them."""
"""Cells before the first column: the mark of a selected row."""
GAP = 1
SELECTED_MARK = "●"
PLAIN = Style()
"""The style of what has none: Textual's NO_COLOR filter needs a style on every segment."""


def strip_of(line: Text, console: Console, scroll_x: int, width: int) -> Strip:
    """One line of a line-API widget: ``line`` from cell ``scroll_x``, ``width`` cells."""
    segments = Segment.apply_style(line.render(console, end=""), PLAIN)
    strip = Strip(list(segments), line.cell_len)
    return strip.crop_extend(scroll_x, scroll_x + width, PLAIN)


FINDING_STYLES = {"!!": "bold red", "!": "yellow"}


class CallTable(ScrollView, can_focus=True):
    """Dialogs as rows; a cursor; rows selected with space; sorted by any column."""

    DEFAULT_CSS = """
    CallTable { height: 1fr; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("pageup,ctrl+b", "page(-1)", "Page up", show=False),
        Binding("pagedown,ctrl+f", "page(1)", "Page down", show=False),
        Binding("home,g", "edge(0)", "First", show=False),
        Binding("end,G", "edge(1)", "Last", show=False),
        Binding("space", "select_row", "Select"),
        Binding("enter", "open", "Flow"),
        Binding("less_than_sign", "sort_column(-1)", "Sort ←", show=False),
        Binding("greater_than_sign", "sort_column(1)", "Sort →", show=False),
        Binding("z", "reverse", "Reverse order", show=False),
    ]

    cursor: reactive[int] = reactive(0, always_update=True)

    class Open(Message):
        """Enter (or a double click): open the flow of these dialogs."""

        def __init__(self, dialogs: list[Dialog]) -> None:
            super().__init__()
            self.dialogs = dialogs

    class Moved(Message):
        """The cursor is on another dialog (None: the list is empty)."""

        def __init__(self, dialog: Dialog | None) -> None:
            super().__init__()
            self.dialog = dialog

    def __init__(self, cells: Cells, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.cells = cells
        self.rows: list[Dialog] = []
        """The dialogs shown (the filter's matches), in the order shown."""
        self.selected: set[int] = set()
        """``Dialog.id`` of the rows chosen with space."""
        self.columns: list[ColumnSpec] = [BY_KEY[k] for k in DEFAULT_COLUMNS]
        """The columns chosen (``set_columns``), in order."""
        self.custom = False
        """The person chose the columns: they stay even when the terminal is narrow (then the
        list scrolls sideways)."""
        self._visible: list[ColumnSpec] = []
        self.sort: str | None = None
        """Column key the rows are sorted by; None: capture order (Idx)."""
        self.descending = False
        self._widths: list[int] = []

    # -- data --------------------------------------------------------------------------------
    def set_rows(self, dialogs: Sequence[Dialog]) -> None:
        """Show these dialogs (sorted as chosen); the cursor stays on its dialog if it can."""
        current = self.current
        self.rows = self._sorted(list(dialogs))
        if current is not None:
            for k, d in enumerate(self.rows):
                if d.id == current.id:
                    self.cursor = k
                    break
            else:
                self.cursor = min(self.cursor, max(0, len(self.rows) - 1))
        else:
            self.cursor = 0
        self._resize()

    def _sorted(self, dialogs: list[Dialog]) -> list[Dialog]:
        if self.sort is None:
            if self.descending:
                dialogs.reverse()
            return dialogs
        dialogs.sort(key=sort_key(self.cells, self.sort), reverse=self.descending)
        return dialogs

    def sort_by(self, key: str | None) -> None:
        """Sort by column ``key``; the same column again reverses the order."""
        if key == self.sort or (key == "idx" and self.sort is None):
            self.descending = not self.descending
        else:
            self.sort, self.descending = (None if key == "idx" else key), False
        self.set_rows(self.rows if self.sort is not None else sorted(self.rows, key=lambda d: d.id))

    def set_columns(self, keys: Sequence[str]) -> None:
        self.columns = [BY_KEY[k] for k in keys if k in BY_KEY] or [BY_KEY["idx"]]
        self.custom = True
        self._resize()

    @property
    def current(self) -> Dialog | None:
        if 0 <= self.cursor < len(self.rows):
            return self.rows[self.cursor]
        return None

    def chosen(self) -> list[Dialog]:
        """The selected dialogs, or the one under the cursor when none is selected."""
        if self.selected:
            picked = [d for d in self.rows if d.id in self.selected]
            if picked:
                return picked
        return [] if self.current is None else [self.current]

    # -- layout ------------------------------------------------------------------------------
    def _resize(self) -> None:
        width = max(self.size.width, 20)
        visible = list(self.columns)

        def need(cols: list[ColumnSpec]) -> int:
            least = sum(min(c.width, MIN_GROW) if c.grow else c.width for c in cols)
            return GUTTER + least + GAP * (len(cols) - 1)

        if not self.custom:  # the default columns give way in sngrep's spirit: identity first
            for key in DROP_ORDER:
                if need(visible) <= width:
                    break
                visible = [c for c in visible if c.key != key]
        widths = [min(c.width, MIN_GROW) if c.grow else c.width for c in visible]
        growers = [k for k, c in enumerate(visible) if c.grow]
        spare = width - (GUTTER + sum(widths) + GAP * (len(widths) - 1))
        while spare > 0 and growers:  # the room left goes to From, To and the addresses
            for k in growers:
                if spare > 0:
                    widths[k] += 1
                    spare -= 1
        self._visible, self._widths = visible, widths
        total = GUTTER + sum(widths) + GAP * (len(widths) - 1)
        self.virtual_size = Size(total, len(self.rows) + 1)
        self.refresh()

    def on_resize(self, event: events.Resize) -> None:
        self._resize()

    # -- drawing -----------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        if not self._visible:
            self._resize()
        if y == 0:
            line = self._header()
        else:
            index = scroll_y + y - 1
            if index >= len(self.rows):
                return Strip.blank(width, PLAIN)
            line = self._row(index)
        return strip_of(line, self.app.console, scroll_x, width)

    def _header(self) -> Text:
        line = Text(" " * GUTTER, style="bold")
        for k, (col, w) in enumerate(zip(self._visible, self._widths, strict=True)):
            title = col.title
            if col.key == self.sort or (col.key == "idx" and self.sort is None):
                title += " ▼" if self.descending else " ▲"
            line.append(_pad(truncate(title, w), w, col.right), "bold reverse")
            if k < len(self._visible) - 1:
                line.append(" " * GAP, "bold reverse")
        return line

    def _row(self, index: int) -> Text:
        d = self.rows[index]
        cells = self.cells.row(d)
        line = Text(SELECTED_MARK + " " if d.id in self.selected else " " * GUTTER, "bold")
        for k, (col, w) in enumerate(zip(self._visible, self._widths, strict=True)):
            text = _pad(truncate(cells[col.key], w), w, col.right)
            line.append(text, _style(col.key, d, cells[col.key]))
            if k < len(self._visible) - 1:
                line.append(" " * GAP)
        if index == self.cursor:
            line.stylize(Style(reverse=True) if self.has_focus else Style(underline=True))
        return line

    # -- moving ------------------------------------------------------------------------------
    def watch_cursor(self, old: int, new: int) -> None:
        self._show(new)
        self.refresh()
        self.post_message(self.Moved(self.current))

    def _show(self, index: int) -> None:
        top = self.scroll_offset.y
        room = max(1, self.size.height - 1)
        if index < top:
            self.scroll_to(y=index, animate=False)
        elif index >= top + room:
            self.scroll_to(y=index - room + 1, animate=False)

    def action_move(self, step: int) -> None:
        if self.rows:
            self.cursor = max(0, min(len(self.rows) - 1, self.cursor + step))

    def action_page(self, step: int) -> None:
        self.action_move(step * max(1, self.size.height - 2))

    def action_edge(self, end: int) -> None:
        if self.rows:
            self.cursor = len(self.rows) - 1 if end else 0

    def action_select_row(self) -> None:
        d = self.current
        if d is None:
            return
        self.selected.symmetric_difference_update({d.id})
        self.action_move(1)
        self.refresh()

    def action_open(self) -> None:
        chosen = self.chosen()
        if chosen:
            self.post_message(self.Open(chosen))

    def action_sort_column(self, step: int) -> None:
        keys = [c.key for c in self._visible]
        at = keys.index(self.sort) if self.sort in keys else 0
        self.sort_by(keys[(at + step) % len(keys)])

    def action_reverse(self) -> None:
        self.descending = not self.descending
        self.set_rows(list(reversed(self.rows)) if self.sort is None else self.rows)

    def on_click(self, event: events.Click) -> None:
        y = event.y
        if y == 0:
            x = event.x + self.scroll_offset.x - GUTTER
            for col, w in zip(self._visible, self._widths, strict=True):
                if 0 <= x < w + GAP:
                    self.sort_by(col.key)
                    return
                x -= w + GAP
            return
        index = self.scroll_offset.y + y - 1
        if 0 <= index < len(self.rows):
            self.cursor = index
            if event.chain >= 2:  # a double click opens, as Enter does
                self.action_open()


def _pad(text: str, width: int, right: bool) -> str:
    room = width - cell_len(text)
    return (" " * room + text) if right else (text + " " * room)


def _style(key: str, d: Dialog, cell: str) -> str | None:
    if key == "state":
        return outcome_style(d.outcome) or None
    if key == "method":
        return STYLE_REQUEST
    if key == "findings":
        return FINDING_STYLES.get(cell)
    return None
