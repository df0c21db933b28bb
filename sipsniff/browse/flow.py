"""The flow of one or several dialogs: the ladder with a cursor on a message, the message under
the cursor in a pane, RTP streams as rows among the messages.

The ladder is the one ``read`` prints (``render.terminal.ladder.ladder_lines``), laid out for
the width of the widget and grouped by row, so that the cursor moves from message to message.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.console import RenderableType
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message as TextualMessage
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from sipsniff.analysis.ladder import Ladder, Row
from sipsniff.analysis.rtp import RtpStream
from sipsniff.browse.calls import PLAIN, strip_of
from sipsniff.model import Message, Trace
from sipsniff.render.base import RenderOptions, TimeFormat, duration
from sipsniff.render.safe import clean, decode, one_line
from sipsniff.render.terminal.cells import message_style
from sipsniff.render.terminal.ladder import ladder_lines

SDP_TYPES = ("application/sdp",)


@dataclass(frozen=True, slots=True)
class FlowLine:
    """One line of the flow: part of a message's row (``row``) or of an RTP stream's."""

    text: Text
    row: int | None
    """Index into ``FlowView.rows`` of the message this line belongs to; None for the lines
    above the first arrow and for RTP streams."""


def rtp_line(stream: RtpStream, tf: TimeFormat, dialog_start_ns: int, resolution: int) -> Text:
    """An RTP stream as a line of the flow: where it went, its codec, packets, loss, jitter."""
    loss = 100.0 * stream.lost / max(1, stream.packets + stream.lost)
    jitter = "" if stream.min_jitter is None else f", jitter {stream.mean_jitter:.2f} ms"
    when = tf.stamp(stream.start_ns, dialog_start_ns, None)
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{when}  ", "dim")
    text.append("┈┈ RTP ", "bold magenta")
    text.append(one_line(f"{stream.src} → {stream.dst}", 80), "magenta")
    codec = stream.codec or f"PT {stream.pt}"
    text.append(
        f"  {codec}  {stream.packets} packets, lost {stream.lost} ({loss:.1f} %){jitter},"
        f" {duration(stream.end_ns - stream.start_ns, resolution)}",
        "magenta",
    )
    return text


def flow_lines(
    trace: Trace,
    lad: Ladder,
    options: RenderOptions,
    width: int,
    streams: Sequence[RtpStream] = (),
) -> list[FlowLine]:
    """The lines of the flow at ``width``: the ladder's, with each RTP stream's line placed
    before the first message that came after the stream began."""
    tf = TimeFormat.of(trace, options)
    lines = ladder_lines(lad, options, width, tf)
    out = [FlowLine(_text(r), None) for r in lines.head]
    pending = sorted(streams, key=lambda s: s.start_ns)
    start = lad.dialog.start_ns
    for k, (row, row_lines) in enumerate(zip(lad.rows, lines.rows, strict=True)):
        while pending and pending[0].start_ns < row.ts_ns:
            out.append(FlowLine(rtp_line(pending.pop(0), tf, start, trace.resolution), None))
        out += [FlowLine(_text(r), k) for r in row_lines]
    out += [FlowLine(rtp_line(s, tf, start, trace.resolution), None) for s in pending]
    return out


def _text(renderable: RenderableType) -> Text:
    return renderable if isinstance(renderable, Text) else Text(str(renderable))


class FlowView(ScrollView, can_focus=True):
    """The ladder, a line at a time, with the cursor on a message's row."""

    DEFAULT_CSS = """
    FlowView { height: 1fr; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "Previous", show=False),
        Binding("down,j", "move(1)", "Next", show=False),
        Binding("pageup,ctrl+b", "page(-1)", show=False),
        Binding("pagedown,ctrl+f", "page(1)", show=False),
        Binding("home,g", "edge(0)", show=False),
        Binding("end,G", "edge(1)", show=False),
    ]

    cursor: reactive[int] = reactive(0, always_update=True)

    class Moved(TextualMessage):
        def __init__(self, row: Row | None) -> None:
            super().__init__()
            self.row = row

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: list[FlowLine] = []
        self.rows: Sequence[Row] = ()
        self._first: list[int] = []
        """Index of the first line of each row."""

    def show(self, lines: list[FlowLine], rows: Sequence[Row]) -> None:
        self.lines, self.rows = lines, rows
        self._first = [0] * len(rows)
        seen: set[int] = set()
        for k, line in enumerate(lines):
            if line.row is not None and line.row not in seen:
                seen.add(line.row)
                self._first[line.row] = k
        width = max((line.text.cell_len for line in lines), default=0)
        self.virtual_size = Size(width, len(lines))
        self.cursor = min(self.cursor, max(0, len(rows) - 1))
        self.refresh()

    @property
    def current(self) -> Row | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        if index >= len(self.lines):
            return Strip.blank(width, PLAIN)
        line = self.lines[index]
        text = line.text
        if line.row is not None and line.row == self.cursor:
            text = text.copy()
            text.stylize(Style(reverse=True) if self.has_focus else Style(underline=True))
        return strip_of(text, self.app.console, scroll_x, width)

    def watch_cursor(self, old: int, new: int) -> None:
        if self._first:
            first = self._first[new]
            last = first
            while last + 1 < len(self.lines) and self.lines[last + 1].row == new:
                last += 1
            top, room = self.scroll_offset.y, max(1, self.size.height)
            if first < top:
                self.scroll_to(y=max(0, first - 1), animate=False)
            elif last >= top + room:
                self.scroll_to(y=last - room + 1, animate=False)
        self.refresh()
        self.post_message(self.Moved(self.current))

    def action_move(self, step: int) -> None:
        if self.rows:
            self.cursor = max(0, min(len(self.rows) - 1, self.cursor + step))

    def action_page(self, step: int) -> None:
        self.action_move(step * max(1, self.size.height // 2))

    def action_edge(self, end: int) -> None:
        if self.rows:
            self.cursor = len(self.rows) - 1 if end else 0

    def on_click(self, event: events.Click) -> None:
        index = self.scroll_offset.y + event.y
        if 0 <= index < len(self.lines):
            row = self.lines[index].row
            if row is not None:
                self.cursor = row


def message_text(msg: Message, *, raw: bool = False) -> Text:
    """A SIP message for the side pane: start line, header names, SDP lines set apart; or its
    bytes as a hex dump. Packet text goes through ``clean``: it cannot steer the terminal."""
    if raw:
        return hex_dump(msg.raw)
    out = Text(no_wrap=False)
    lines = decode(msg.raw).split("\n")
    in_headers = True
    sdp = False
    for number, raw_line in enumerate(lines):
        line = clean(raw_line.removesuffix("\r"))
        if number:
            out.append("\n")
        if number == 0:
            out.append(line, f"bold {message_style(msg)}")
        elif in_headers and not line:
            in_headers = False
        elif in_headers and line[:1] not in (" ", "\t") and ":" in line:
            name, _, value = line.partition(":")
            out.append(name, "bold cyan")
            out.append(":" + value)
            if name.strip().lower() in ("content-type", "c") and "sdp" in value.lower():
                sdp = True
        elif in_headers:
            out.append(line)
        elif sdp and len(line) > 1 and line[1] == "=":
            out.append(line[:2], "bold green")
            out.append(line[2:], "green")
        else:
            out.append(line)
    return out


def hex_dump(data: bytes) -> Text:
    """``0000  53 49 50 2f ...  SIP/...``, 16 bytes a line."""
    out = Text(no_wrap=True)
    for off in range(0, len(data), 16):
        chunk = data[off : off + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        ascii_ = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        if off:
            out.append("\n")
        out.append(f"{off:04x}  ", "dim")
        out.append(f"{hexes:<47}  ")
        out.append(ascii_, "dim")
    return out


def diff_lines(a: Message, b: Message) -> tuple[Text, Text]:
    """Two messages side by side: lines only in the first in red, only in the second in green."""
    left_lines = [clean(x.removesuffix("\r")) for x in decode(a.raw).split("\n")]
    right_lines = [clean(x.removesuffix("\r")) for x in decode(b.raw).split("\n")]
    left, right = Text(no_wrap=True), Text(no_wrap=True)
    matcher = difflib.SequenceMatcher(a=left_lines, b=right_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        span = max(i2 - i1, j2 - j1)
        for k in range(span):
            lt = left_lines[i1 + k] if i1 + k < i2 else ""
            rt = right_lines[j1 + k] if j1 + k < j2 else ""
            style_l = "" if tag == "equal" else "bold red"
            style_r = "" if tag == "equal" else "bold green"
            left.append(("- " if tag != "equal" and lt else "  ") + lt + "\n", style_l)
            right.append(("+ " if tag != "equal" and rt else "  ") + rt + "\n", style_r)
    left.rstrip()
    right.rstrip()
    return left, right
