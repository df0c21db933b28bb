"""What the terminal's call list and ladders share: glyphs, styles, and text measured in cells.

Widths are terminal cells (``rich.cells``), not characters: a CJK character takes two, a combining
mark none. Text from packets reaches these helpers already cleaned (``safe.clean``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.text import Text

from sipsniff.analysis.ladder import MessageKind, kind_of
from sipsniff.correlate.states import TONES
from sipsniff.model import Message
from sipsniff.render.safe import ELLIPSIS, one_line
from sipsniff.sip.uri import parse_uri

CELL_LIMIT = 200
"""Most characters of packet text in one label or cell (before fitting to the width)."""

LIFELINE = "│"
CROSS = "┼"
DASH = "─"
RIGHT = "▶"
LEFT = "◀"
SELF = "⟲"
ARROW_TO = "→"

STYLE_LIFELINE = "dim"
STYLE_NOTE = "dim"
STYLE_REQUEST = "bold cyan"

_KIND_STYLES = {
    MessageKind.REQUEST: STYLE_REQUEST,
    MessageKind.PROVISIONAL: "yellow",
    MessageKind.SUCCESS: "green",
    MessageKind.FAILURE: "red",
}


def outcome_style(outcome: str) -> str:
    """Colour of a dialog's outcome (``correlate.states.TONES``): green when it went well, red when
    something was refused or failed, yellow while under way or for the callee's own choice."""
    return {"good": "green", "bad": "red", "mid": "yellow"}.get(TONES.get(outcome, ""), "")


def message_style(msg: Message) -> str:
    """Colour of an arrow: requests cyan, 1xx yellow, 2xx green, 3xx-6xx red."""
    return _KIND_STYLES[kind_of(msg)]


def truncate(text: str, cells: int) -> str:
    """``text`` cut to at most ``cells`` terminal cells, ending in ``…`` when cut."""
    if cell_len(text) <= cells:
        return text
    if cells <= 0:
        return ""
    return set_cell_size(text, cells - 1).rstrip() + ELLIPSIS


def middle(text: str, cells: int) -> str:
    """``text`` cut to ``cells`` by an ellipsis in the middle, keeping both ends (Call-ID, port)."""
    if cell_len(text) <= cells:
        return text
    if cells <= 2:
        return truncate(text, cells)
    tail = (cells - 1) // 2
    head = cells - 1 - tail
    end = text
    while cell_len(end) > tail:
        end = end[1:]
    return set_cell_size(text, head) + ELLIPSIS + end


def join(parts: Iterable[tuple[str, str]]) -> Text:
    """One line of styled pieces, never wrapped."""
    text = Text(no_wrap=True, overflow="crop", end="\n")
    for piece, style in parts:
        text.append(piece, style)
    return text


@dataclass(slots=True)
class Stamp:
    """A piece of text to put at a cell of a line."""

    start: int
    text: str
    style: str


def compose(stamps: list[Stamp]) -> list[tuple[str, str]]:
    """Pieces of one line with spaces between the stamps (sorted by cell, never overlapping)."""
    parts: list[tuple[str, str]] = []
    cursor = 0
    for stamp in sorted(stamps, key=lambda s: s.start):
        if stamp.start < cursor or not stamp.text:
            continue
        if stamp.start > cursor:
            parts.append((" " * (stamp.start - cursor), ""))
        parts.append((stamp.text, stamp.style))
        cursor = stamp.start + cell_len(stamp.text)
    return parts


def place(labels: Sequence[str], xs: Sequence[int], width: int) -> list[tuple[int, str]]:
    """Labels centred over the cells ``xs``, each kept between the midpoints to its neighbours.

    A label may spread left of the first cell and right of the last one, up to the line's edges.
    Returns (start cell, label) pairs; a label wider than its room is cut with an ellipsis.
    """
    placed: list[tuple[int, str]] = []
    for k, (label, x) in enumerate(zip(labels, xs, strict=True)):
        lo = 0 if k == 0 else (xs[k - 1] + x) // 2 + 1
        hi = width if k == len(xs) - 1 else (x + xs[k + 1]) // 2 - 1  # exclusive
        text = truncate(label, hi - lo)
        w = cell_len(text)
        start = min(max(x - (w - 1) // 2, lo), hi - w)
        placed.append((start, text))
    return placed


def user_host(uri: str) -> str:
    """``user@host`` of a SIP URI (scheme, port, parameters and headers dropped); the number of
    a ``tel:`` URI; another URI as it is, up to its parameters."""
    u = parse_uri(uri)
    if u.scheme == "tel":
        return u.user
    if u.scheme not in ("sip", "sips", ""):
        return re.split("[;?]", uri.strip().strip("<>"), maxsplit=1)[0]
    user = u.user.partition(";")[0]
    return f"{user}@{u.host}" if user else u.host


def party(name: str, uri: str, cells: int | None = None) -> str:
    """``Alice <alice@example.com>`` when ``cells`` allow (None: always), else the address alone."""
    address = one_line(user_host(uri), CELL_LIMIT)
    if not name:
        return address
    named = f"{one_line(name, CELL_LIMIT)} <{address}>"
    if cells is None or cell_len(named) <= cells:
        return named
    return address
