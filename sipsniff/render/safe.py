"""Make packet text safe to show on a terminal.

Everything a renderer takes from a packet (names, reason phrases, header values, whole messages) is
attacker-controlled. Two rules keep it from acting on the terminal:

1. It never reaches rich as a markup string: renderers build ``rich.text.Text`` objects from it, or
   escape it with ``rich.markup.escape`` (``[bold]x[/]`` stays those nine characters).
2. Characters a terminal would act on are replaced by visible escapes (``clean``): the C0
   controls but TAB (ESC starts escape sequences, CR/BS overwrite what was printed, BEL rings), DEL,
   the C1 controls (0x9B is a one-byte CSI), the Unicode bidirectional controls that reorder what
   is displayed (U+061C, U+200E/F, U+202A-E, U+2066-9), the line and paragraph separators
   U+2028/9, and lone surrogates (which cannot be encoded for output at all).

A backslash in the packet is left alone, so ``\\x1b`` in the output may also be four characters that
were in the packet; the point is that nothing is hidden, not that the escaping is reversible.
"""

from __future__ import annotations

import re

ELLIPSIS = "…"

_UNSAFE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: str, limit: int | None = None) -> str:
    """``text`` with every control character replaced by a visible escape, capped at ``limit``.

    TAB is kept (rich expands it); use ``one_line`` where a tab would break alignment.

    Args:
        text: text from a packet.
        limit: most characters to return, the final ``…`` included; None for no cap. An escape is
            never cut in half.

    Returns:
        Text without C0 (but TAB), DEL, C1, bidi controls, line separators or lone surrogates.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be positive, not {limit}")
    if (limit is None or len(text) <= limit) and _UNSAFE.search(text) is None:
        return text  # the common case, found by one search
    # Escapes only lengthen the text: one character past the limit is enough to know it is too long.
    source = text if limit is None else text[: limit + 1]
    cleaned = _UNSAFE.sub(lambda m: _escape(m.group()), source)
    if limit is None or len(cleaned) <= limit:
        return cleaned
    budget = limit - 1
    parts: list[str] = []
    used = 0
    for char in source:
        piece = _escape(char) if _UNSAFE.match(char) else char
        if used + len(piece) > budget:
            break
        parts.append(piece)
        used += len(piece)
    return "".join(parts) + ELLIPSIS


def has_unsafe(text: str) -> bool:
    """Whether ``clean`` would change ``text`` (without a limit)."""
    return _UNSAFE.search(text) is not None


def one_line(text: str, limit: int | None = None) -> str:
    """``clean`` for a cell or a label: tabs become spaces too, so the text is one aligned line."""
    return clean(text.replace("\t", " ") if "\t" in text else text, limit)


def decode(raw: bytes) -> str:
    """Packet bytes as text: UTF-8, with U+FFFD for what is not (then ``clean`` it)."""
    return raw.decode("utf-8", "replace")
