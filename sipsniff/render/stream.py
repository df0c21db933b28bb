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
import json
from collections.abc import Callable, Sequence
from typing import Final, TextIO

from rich.cells import cell_len, set_cell_size
from rich.console import Group
from rich.text import Text

from sipsniff.analysis.select import Shown
from sipsniff.model import CaptureInfo, Dialog, Entry, Trace
from sipsniff.render.base import RenderOptions, clock
from sipsniff.render.json import message_dict
from sipsniff.render.safe import ELLIPSIS, one_line
from sipsniff.render.terminal import call_list, message_style, outcome_style
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
    msg = entry
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

    def line(
        self, entry: Entry, state: str | None = None, outcome: str = "", tail: str = ""
    ) -> str:
        """One line for ``entry`` (no newline), marked with its dialog's id.

        Args:
            state: the dialog's new state, when this message changed it.
            outcome: the outcome of that state (its colour).
            tail: words that end the line (``agent 7``), within its width.
        """
        msg = entry
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
        if tail:
            parts += [("  ", ""), (tail, "")]
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


STREAMS: Final = ("text", "ndjson")
"""The formats written as messages come (the others are documents written at the end)."""


class StreamWriter:
    """Writes the messages a capture shows as they come: a ladder line each (``text``) or a JSON
    object each (``ndjson``, ``message_dict`` of docs/json.md), flushed after each batch.

    A reader that goes away (a closed pipe) is no error: ``broken`` turns true and nothing more is
    written; the caller stops when it likes.

    Args:
        agent_of: the HEP agent of a message (``sipsniff hep``): added to each line and object.
        full: ndjson objects carry the message text.
    """

    def __init__(
        self,
        fmt: str,
        out: TextIO,
        lines: LineRenderer,
        *,
        full: bool = False,
        agent_of: Callable[[Entry], int] | None = None,
    ) -> None:
        if fmt not in STREAMS:
            raise ValueError(f"not a stream format: {fmt}")
        self.fmt = fmt
        self.out = out
        self.lines = lines
        self.full = full
        self.agent_of = agent_of
        self.broken = False
        self._dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def write(self, shown: Sequence[Shown]) -> None:
        if self.broken or not shown:
            return
        try:
            w = self.out.write
            agent_of = self.agent_of
            for one in shown:
                if self.fmt == "ndjson":
                    d = message_dict(one.entry, full=self.full)
                    if agent_of is not None:
                        d["agent"] = agent_of(one.entry)
                    w(self._dumps(d) + "\n")
                else:
                    tail = "" if agent_of is None else f"agent {agent_of(one.entry)}"
                    w(self.lines.line(one.entry, one.state, one.outcome, tail) + "\n")
            self.out.flush()
        except BrokenPipeError:
            self.broken = True


def board(head: str, dialogs: Sequence[Dialog], options: RenderOptions, width: int) -> Group:
    """The screen of ``live --table``: a dim line of counters, then the call list of ``dialogs``
    (those that fit, the latest) fitted to ``width``."""
    trace = Trace.of(dialogs=dialogs, inputs=[CaptureInfo("live", "live", (), 6, 0)])
    return Group(Text(head, style="dim"), call_list(trace, dialogs, options, width))


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
