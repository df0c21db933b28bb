"""Streaming output for live capture: one ladder line per SIP message, as it arrives.

A line reads::

    20:15:01.123456  [12]  127.0.0.1:5061 ──▶ 127.0.0.1:5060  REGISTER (CSeq 1)  REGISTERING

time, the dialog's number as the call list shows it, source and destination, the message (a
request's method and CSeq, a response's status and reason, ``SDP`` when it carries a session
description, ``retransmission`` for a copy), and the dialog's state when this message changed it.

The lines are plain strings with ANSI colours (when asked), not rich renderables: a live capture
can bring thousands of messages a second, and printing each through rich costs too much. Everything
taken from a packet goes through ``safe.one_line`` first, so no control character reaches the
terminal; widths are measured in terminal cells and a line is cut to the terminal's width.
"""

from __future__ import annotations

import datetime
from typing import Final

from rich.cells import cell_len, set_cell_size

from sipsniff.model import Entry
from sipsniff.render.base import clock
from sipsniff.render.safe import ELLIPSIS, one_line
from sipsniff.render.terminal import message_style, outcome_style
from sipsniff.sip.sdp import has_sdp

LABEL_LIMIT: Final = 60
"""Most characters of packet text in a label (a long reason phrase is cut)."""
ADDRESS_LIMIT: Final = 47
"""Most cells of an endpoint column: a bracketed IPv6 address and port."""

_SGR: Final = {
    "bold": "1",
    "dim": "2",
    "italic": "3",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
}
_RESET: Final = "\x1b[0m"


def sgr(style: str) -> str:
    """The ANSI escape for a rich-like style name (``bold cyan``); "" for none or unknown words."""
    codes = [_SGR[word] for word in style.split() if word in _SGR]
    return f"\x1b[{';'.join(codes)}m" if codes else ""


def label(entry: Entry) -> str:
    """``INVITE (CSeq 1, SDP)`` or ``200 OK (SDP)``: the message, its packet text made safe."""
    msg = entry.msg
    sdp = has_sdp(msg)
    if msg.status is None:
        extras = [f"CSeq {msg.cseq_num}"] if msg.cseq_num is not None else []
        if sdp:
            extras.append("SDP")
        text = one_line(msg.method or "?", LABEL_LIMIT)
        return f"{text} ({', '.join(extras)})" if extras else text
    reason = one_line(msg.reason or "", LABEL_LIMIT)
    text = f"{msg.status} {reason}".rstrip()
    return f"{text} (SDP)" if sdp else text


class LineRenderer:
    """Formats entries as ladder lines; the column widths grow as wider values come.

    Args:
        color: add ANSI colours.
        width: cut lines to this many cells (None: never).
        utc: times in UTC (else ``tz``, or the local zone when None).
        resolution: fraction digits of the time.
    """

    def __init__(
        self,
        *,
        color: bool = False,
        width: int | None = None,
        utc: bool = False,
        tz: datetime.tzinfo | None = None,
        resolution: int = 6,
    ) -> None:
        self.color = color
        self.width = width
        self.tz = datetime.UTC if utc else tz
        self.resolution = resolution
        self._marker = 3
        self._src = 0
        self._dst = 0

    def line(self, entry: Entry, state: str | None = None, outcome: str = "") -> str:
        """One line for ``entry`` (no newline), marked with its dialog's id.

        Args:
            state: the dialog's new state, when this message changed it.
            outcome: the outcome of that state (its colour).
        """
        msg = entry.msg
        marker = f"[{entry.dialog}]"
        self._marker = max(self._marker, len(marker))
        src = one_line(str(msg.src), ADDRESS_LIMIT)
        dst = one_line(str(msg.dst), ADDRESS_LIMIT)
        self._src = min(max(self._src, cell_len(src)), ADDRESS_LIMIT)
        self._dst = min(max(self._dst, cell_len(dst)), ADDRESS_LIMIT)
        style = message_style(msg)
        parts: list[tuple[str, str]] = [
            (clock(msg.ts_ns, self.resolution, self.tz), ""),
            ("  ", ""),
            (marker.rjust(self._marker), "bold"),
            ("  ", ""),
            (_pad_left(src, self._src), ""),
            (" ──▶ ", style),
            (_pad_right(dst, self._dst), ""),
            ("  ", ""),
            (label(entry), style),
        ]
        if entry.retransmission_of is not None:
            parts += [("  ", ""), ("retransmission", "magenta")]
        if state:
            style = f"bold {outcome_style(outcome)}".strip()
            parts += [("  ", ""), (one_line(state, LABEL_LIMIT), style)]
        return self._join(parts)

    def _join(self, parts: list[tuple[str, str]]) -> str:
        if self.width is not None:
            parts = _cut(parts, self.width)
        if not self.color:
            return "".join(text for text, _ in parts).rstrip()
        out = []
        for text, style in parts:
            code = sgr(style)
            out.append(f"{code}{text}{_RESET}" if code and text else text)
        return "".join(out).rstrip()


def _pad_left(text: str, cells: int) -> str:
    return " " * (cells - cell_len(text)) + text if cell_len(text) < cells else text


def _pad_right(text: str, cells: int) -> str:
    return text + " " * (cells - cell_len(text)) if cell_len(text) < cells else text


def _cut(parts: list[tuple[str, str]], width: int) -> list[tuple[str, str]]:
    """``parts`` cut to ``width`` cells, the last piece ending in ``…`` when something was cut."""
    out: list[tuple[str, str]] = []
    used = 0
    for n, (text, style) in enumerate(parts):
        cells = cell_len(text)
        if used + cells <= width:
            out.append((text, style))
            used += cells
            continue
        room = width - used
        if cell_len("".join(t for t, _ in parts[n:]).rstrip()) <= room:
            out += parts[n:]  # what is left is only spaces too many
        elif room >= 1:
            out.append((set_cell_size(text, room - 1) + ELLIPSIS, style))
        break
    return out
