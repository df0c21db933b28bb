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
from sipsniff.render.base import unbounded
from sipsniff.render.safe import ELLIPSIS, one_line
from sipsniff.sip.uri import parse_uri

CELL_LIMIT = 200
"""Most characters of packet text in one label or cell (before fitting to the width)."""
WHOLE_LIMIT = 1000
"""Most characters of an identifier (a Call-ID) or a finding's text, shown whole up to there:
a real one is far shorter, only a hostile packet goes past it (and ends in ``…``)."""

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


def fold(text: Text, width: int, indent: int) -> list[Text]:
    """``text`` as lines of at most ``width`` cells: broken after a space where it can (inside a
    word only when the word alone is wider), every line after the first indented by ``indent``
    cells. One line when it fits, or when ``width`` is unbounded (a file or a pipe): text is
    wrapped, never cut."""
    plain = text.plain
    if unbounded(width) or cell_len(plain) <= width:
        return [text]
    offsets: list[int] = []
    start, room = 0, max(8, width)
    while cell_len(plain[start:]) > room:
        end, cells = start, 0
        while end < len(plain) and cells + cell_len(plain[end]) <= room:
            cells += cell_len(plain[end])
            end += 1
        space = plain.rfind(" ", start, end)
        cut = space + 1 if space > start and plain[start:space].strip() else max(end, start + 1)
        offsets.append(cut)
        start, room = cut, max(8, width - indent)
    lines = []
    for k, piece in enumerate(text.divide(offsets)):
        piece.rstrip()
        if k:
            piece.pad_left(indent)
        piece.no_wrap, piece.overflow, piece.end = True, "crop", "\n"
        lines.append(piece)
    return lines


def distinct(names: Sequence[str], cells: int) -> tuple[list[str], str]:
    """Addresses made to fit ``cells`` by leaving out what they all share, never what tells them
    apart: the leading part up to a ``.`` or ``:`` (``192.168.5.``), then the port when every one
    has the same (``:5060``). Returns the names (``…11``, ``…20``) and what was left out
    (``192.168.5.…:5060``), "" when nothing was; a name still too long stays whole."""
    if not names or max(cell_len(n) for n in names) <= cells:
        return list(names), ""
    first = names[0]
    common = 0
    while common < len(first) and all(
        len(n) > common and n[common] == first[common] for n in names
    ):
        common += 1
    prefix = first[: max(first.rfind(".", 0, common), first.rfind(":", 0, common)) + 1]
    if len(names) < 2 or any(n == prefix for n in names):
        prefix = ""
    ports = {n[n.rfind(":") :] for n in names if ":" in n}
    suffix = ports.pop() if len(ports) == 1 and all(":" in n for n in names) else ""
    if len(names) < 2 or any(len(n) <= len(prefix) + len(suffix) for n in names):
        suffix = ""
    shown = [ELLIPSIS + n[len(prefix) :] if prefix else n for n in names]
    if max(cell_len(n) for n in shown) > cells and suffix:
        shown = [n[: len(n) - len(suffix)] for n in shown]
    else:
        suffix = ""
    if max(cell_len(n) for n in shown) > cells:
        return [letter(k) for k in range(len(names))], ""  # the caller lists them in a legend
    if not prefix and not suffix:
        return list(names), ""
    return shown, f"{prefix}{ELLIPSIS}{suffix}"


def letter(k: int) -> str:
    """The letter that stands for column ``k`` when its address does not fit: A... Z, A1..."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return letters[k] if k < len(letters) else f"{letters[k % 26]}{k // 26}"


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
