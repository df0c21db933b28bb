"""The browser's pop-up screens: help, a page of text (stats, findings, digest steps), two
messages side by side, the column chooser, export, and the password for digest verification."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, Select, SelectionList, Static

from sipsniff.browse.export import FORMATS
from sipsniff.browse.rows import COLUMNS

KEYS: tuple[tuple[str, str, str], ...] = (
    ("Call list", "↑ ↓ j k, PgUp PgDn, Home End", "move"),
    ("Call list", "Enter, double click", "open the flow of the dialog (of the selected ones)"),
    ("Call list", "Space", "select / unselect a dialog"),
    ("Call list", "F4, x", "extended flow: the dialogs and their other legs (X-Call-ID, Call-ID)"),
    ("Call list", "/ F3 F7", "filter: free text and method: user: host: state: status: ..."),
    ("Call list", "< > z, click a title", "sort by the previous / next column, reverse"),
    ("Call list", "F10, c", "choose and order the columns"),
    ("Call list", "p", "pause / resume the display (live: nothing is lost)"),
    ("Flow", "↑ ↓ j k", "move from message to message"),
    ("Flow", "t", "time column: abs, rel, dialog (with delta), delta"),
    ("Flow", "r", "the message as bytes (hex) / as text"),
    ("Flow", "m, d", "mark a message; diff the marked one with the one under the cursor"),
    ("Flow", "f", "findings of these dialogs"),
    ("Flow", "l", "learn mode: what the message is and why it is there, with the RFC"),
    ("Flow", "Tab", "move between the ladder and the message"),
    ("Anywhere", "a", "digest authentication, step by step (asks for a password)"),
    ("Anywhere", "s", "statistics of the capture"),
    ("Anywhere", "F2, e", "save: pcap (with RTP), HTML, JSON, Mermaid, PlantUML..."),
    ("Anywhere", "F1, ?", "this help"),
    ("Anywhere", "Esc, q", "back; q on the call list quits"),
)
"""Every key of the browser (docs/browse.md shows the same table)."""


class TextScreen(ModalScreen[None]):
    """A page of text over the current screen; Esc or q closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "dismiss", "Close")]
    DEFAULT_CSS = """
    TextScreen { align: center middle; }
    TextScreen > Vertical { width: 96%; height: 92%; border: round $accent; background: $surface; }
    TextScreen .title { text-style: bold; padding: 0 1; }
    TextScreen VerticalScroll { padding: 0 1; }
    """

    def __init__(self, title: str, body: RenderableType) -> None:
        super().__init__()
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self.title_text), classes="title")
            with VerticalScroll():
                yield Static(self.body, id="body")

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(None)


def help_screen() -> TextScreen:
    lines: list[Text] = []
    where = ""
    for place, keys, what in KEYS:
        if place != where:
            if lines:
                lines.append(Text(""))
            lines.append(Text(place, style="bold underline"))
            where = place
        line = Text("  ")
        line.append(f"{keys:<30}", "bold cyan")
        line.append(what)
        lines.append(line)
    return TextScreen("Keys  (Esc closes)", Group(*lines))


class DiffScreen(ModalScreen[None]):
    """Two messages side by side, what differs in colour."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "dismiss", "Close")]
    DEFAULT_CSS = """
    DiffScreen { align: center middle; }
    DiffScreen > Vertical { width: 98%; height: 94%; border: round $accent; background: $surface; }
    DiffScreen Horizontal { height: 1fr; }
    DiffScreen VerticalScroll { width: 1fr; padding: 0 1; }
    """

    def __init__(self, title: str, left: Text, right: Text) -> None:
        super().__init__()
        self.title_text, self.left, self.right = title, left, right

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self.title_text, style="bold"))
            with Horizontal():
                with VerticalScroll():
                    yield Static(self.left, id="left")
                with VerticalScroll():
                    yield Static(self.right, id="right")

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(None)


class ColumnsScreen(ModalScreen[list[str] | None]):
    """Which columns the call list shows, and in which order (+ and - move the one under the
    cursor up and down); Enter applies, Esc cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("enter", "apply", "Apply", priority=True),
        Binding("plus,K", "shift(-1)", "Move up"),
        Binding("minus,J", "shift(1)", "Move down"),
    ]
    DEFAULT_CSS = """
    ColumnsScreen { align: center middle; }
    ColumnsScreen > Vertical { width: 50; height: 24; border: round $accent; background: $surface; }
    """

    def __init__(self, shown: Sequence[str]) -> None:
        super().__init__()
        rest = [c.key for c in COLUMNS if c.key not in shown]
        self.order = [*shown, *rest]
        self.shown = set(shown)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Columns: Space shows/hides, + - move, Enter applies")
            yield SelectionList[str](*self._items(), id="columns")

    def on_mount(self) -> None:
        lst = self.query_one(SelectionList)
        lst.focus()
        lst.highlighted = 0

    def _items(self) -> list[tuple[str, str, bool]]:
        titles = {c.key: c.title for c in COLUMNS}
        return [(f"{titles[k]} ({k})", k, k in self.shown) for k in self.order]

    def action_shift(self, step: int) -> None:
        lst = self.query_one(SelectionList)
        at = lst.highlighted
        if at is None:
            return
        to = at + step
        if not 0 <= to < len(self.order):
            return
        self.shown = set(lst.selected)
        self.order[at], self.order[to] = self.order[to], self.order[at]
        lst.clear_options()
        lst.add_options(self._items())
        lst.highlighted = to

    def action_apply(self) -> None:
        chosen = set(self.query_one(SelectionList).selected)
        self.dismiss([k for k in self.order if k in chosen])

    def action_cancel(self) -> None:
        self.dismiss(None)


class ExportScreen(ModalScreen[tuple[str, str, bool] | None]):
    """Format, file name (a default from the capture and the dialogs), RTP or not."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen > Vertical { width: 76; height: auto; border: round $accent;
                              background: $surface; padding: 0 1; }
    ExportScreen Input { width: 100%; }
    ExportScreen #error { color: $error; }
    """

    def __init__(self, what: str, name_for: Callable[[str], str], *, rtp: bool) -> None:
        super().__init__()
        self.what = what
        self.name_for = name_for
        self.rtp = rtp
        self.fmt = "pcap"

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(f"Save {self.what}", style="bold"))
            yield Select([(f, f) for f in FORMATS], value="pcap", allow_blank=False, id="format")
            yield Input(self.name_for("pcap"), id="path")
            yield Checkbox("with RTP (pcap)", value=False, id="rtp", disabled=not self.rtp)
            yield Label("Enter saves, Esc cancels", id="hint")
            yield Label("", id="error")

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        self.fmt = str(event.value)
        path = self.query_one("#path", Input)
        path.value = self.name_for(self.fmt)
        self.query_one("#rtp", Checkbox).disabled = not self.rtp or self.fmt != "pcap"

    def on_input_submitted(self, event: Input.Submitted) -> None:
        rtp = self.query_one("#rtp", Checkbox)
        self.dismiss((self.fmt, event.value.strip(), rtp.value and not rtp.disabled))

    def show_error(self, text: str) -> None:
        self.query_one("#error", Label).update(Text(text))

    def action_cancel(self) -> None:
        self.dismiss(None)


class PasswordScreen(ModalScreen[str | None]):
    """A masked input for the password digest verification tries."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    PasswordScreen { align: center middle; }
    PasswordScreen > Vertical { width: 60; height: auto; border: round $accent;
                                background: $surface; padding: 0 1; }
    """

    def __init__(self, users: str) -> None:
        super().__init__()
        self.users = users

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(f"Password to verify the digest of {self.users}", style="bold"))
            yield Input(password=True, placeholder="password (empty: show the steps only)")
            yield Label("Enter verifies, Esc cancels")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
