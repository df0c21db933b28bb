"""Full mode (``read -v``): the text of each message under its arrow, folded to the width."""

from __future__ import annotations

from rich.cells import chop_cells
from rich.text import Text

from sipsniff.model import Message
from sipsniff.render.safe import ELLIPSIS, clean, decode, one_line
from sipsniff.render.terminal.cells import CELL_LIMIT, message_style

LINE_LIMIT = 1000
"""Most characters of one line of message text in full mode."""
MAX_LINES = 200
"""Most lines of one message in full mode."""


def message_block(msg: Message, indent: int, width: int) -> list[Text]:
    """Full mode: the message text under its arrow, header names in bold, then a blank line.

    At most ``MAX_LINES`` lines of the message, each cut at ``LINE_LIMIT`` characters, folded to
    the width with continuation lines indented two more cells.
    """
    lines = decode(msg.raw).split("\n")
    while lines and lines[-1] in ("", "\r"):
        lines.pop()
    texts: list[Text] = []
    in_headers = True
    for number, raw_line in enumerate(lines[:MAX_LINES]):
        line = raw_line.removesuffix("\r")
        shown = clean(line, LINE_LIMIT)
        text = Text(no_wrap=True, overflow="crop", end="\n")
        if number == 0:
            text.append(shown, f"bold {message_style(msg)}")
        elif in_headers and not line:
            in_headers = False
        elif in_headers and line[:1] not in (" ", "\t") and ":" in shown:
            name, _, value = shown.partition(":")
            text.append(name, "bold")
            text.append(":" + value)
        else:
            text.append(shown)
        texts.append(text)
    tail = []
    if len(lines) > MAX_LINES:
        tail.append((f"{ELLIPSIS} {len(lines) - MAX_LINES} more lines", "dim italic"))
    if msg.truncated:
        note = f"truncated: Content-Length {msg.content_length}, {len(msg.body)} bytes captured"
        tail.append((f"{ELLIPSIS} {note}", "dim italic"))
    tail += [(f"! {one_line(problem, CELL_LIMIT)}", "yellow") for problem in msg.problems]
    texts += [Text(t, style, end="\n") for t, style in tail]

    room = max(8, width - indent)
    out: list[Text] = []
    for text in texts:
        text.expand_tabs(8)
        first, *rest = chop_cells(text.plain, room) or [""]
        pieces = [first]
        if rest:
            pieces += chop_cells(text.plain[len(first) :], room - 2)
        offsets = []
        at = 0
        for piece in pieces[:-1]:
            at += len(piece)
            offsets.append(at)
        for k, part in enumerate(text.divide(offsets)):
            part.pad_left(indent + (2 if k else 0))
            part.no_wrap, part.overflow, part.end = True, "crop", "\n"
            out.append(part)
    out.append(Text(end="\n"))
    return out
