"""What packet text becomes in the HTML page, for the full page (``render.html``) and the compact one
(``render.html_compact``) alike, and the colour classes of arrows and states.

Three rules: a string in a cell or a label is one safe line of at most ``CELL_LIMIT`` characters
(``safe.one_line``); a message's text is lines of ``safe.clean`` text (``message_text``); and data
for the page's script is JSON that cannot end its ``<script>`` element (``script_json``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Final

from sipsniff import fast_module
from sipsniff.analysis.ladder import MessageKind, kind_of
from sipsniff.correlate.states import TONES
from sipsniff.model import Message
from sipsniff.render.safe import clean, decode, has_unsafe, one_line

CELL_LIMIT = 300
"""Most characters of packet text in one cell or label (the message panel shows all)."""
LINE_LIMIT = 4000
"""Most characters of one line of message text."""

_SCRIPT_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
)
"""What ``script_json`` replaces, and with what. (``str.replace`` per character, not one
``str.translate``: translate looks every character of the page's data up in a dict, which took
a tenth of the time of a page of thousands of dialogs.)"""


def script_json(value: Any) -> str:
    """``value`` as JSON that is safe as the text of a ``<script>`` element.

    ``<``, ``>`` and ``&`` can only occur inside JSON strings, where ``\\u003c`` means the same, so
    the data reads back equal; with them escaped, no ``</script>`` or ``<!--`` can appear.

    Every character beyond ASCII is escaped too (``\\u2192``): U+2028 and U+2029 for old JavaScript
    parsers that end a line there, and all the others so that the text stays ASCII. A Python
    string with one character beyond Latin-1 takes two or four bytes for each of its characters,
    and writing it out encodes it to UTF-8 a character at a time; an ASCII one is copied as it
    is. One arrow in the names of a page's dialogs made the whole block so: 30 MB of a big page
    went through the encoder, 3% of the page's time.
    """
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    for char, escape in _SCRIPT_ESCAPES:
        if char in text:
            text = text.replace(char, escape)
    return text


def visible(value: Any) -> Any:
    """``value`` with every string in it (in lists and dicts too) made one safe line."""
    if isinstance(value, str):
        return one_line(value, CELL_LIMIT)
    if isinstance(value, list):
        return [visible(v) for v in value]
    if isinstance(value, dict):
        return visible_dict(value)
    return value


def visible_dict(value: dict[str, Any]) -> dict[str, Any]:
    """``visible`` for a dict of fields (a ``message_dict`` or a ``dialog_dict``)."""
    return {k: visible(v) for k, v in value.items()}


def message_text(text: str) -> str:
    """A message (``safe.decode`` of its bytes) as the panel shows it: lines of ``safe.clean``
    text (CR LF as line breaks)."""
    if len(text) <= LINE_LIMIT:
        # Most messages have nothing to escape but their CR LFs: then one search says so, and the
        # text is the same as line by line below.
        joined = text.replace("\r\n", "\n")
        if not has_unsafe(joined.replace("\n", "")):
            return joined.removesuffix("\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return "\n".join(clean(line.removesuffix("\r"), LINE_LIMIT) for line in lines)


TEXT_MARK = "\x0c"
"""What the texts of ``message_texts`` use for marks: FORM FEED, which ``clean`` text never holds
(it shows it ``\\x0c``) and HTML takes as it is (it is white space there, not a control)."""
TEXT_SEPARATOR = TEXT_MARK + "|"
"""What ``message_texts`` puts before each text."""
LESS_THAN = TEXT_MARK + "-"
"""What ``message_texts`` writes for ``<``."""

_SEPARATOR = TEXT_SEPARATOR.encode()
_LESS_THAN = LESS_THAN.encode()
_KEEP = bytes(c for c in range(128) if c in (9, 10) or 32 <= c < 127)
"""The ASCII bytes ``safe.clean`` keeps as they are."""


def message_texts(raws: Sequence[bytes]) -> str:
    """``TEXT_SEPARATOR`` and the ``message_text`` of each message (of its ``raw`` bytes), every
    ``<`` written ``LESS_THAN``.

    That is text for a ``<script>`` element that is not run: without a ``<``, nothing in it can
    end the element or open a comment, and ``TEXT_MARK`` comes in it only to start one of the two
    marks. Most messages are ASCII with CR LF line ends and nothing to escape: for a run of those,
    the texts are worked out on the run's bytes joined together, not one by one, and the text
    stays ASCII (a string of one byte a character, written as it is). With the C fast path
    (``render/_fasttext.c``) that takes two passes over the bytes, else a dozen (``_py_texts``).
    """
    if not raws:
        return ""
    if FAST_TEXTS is not None:
        text = FAST_TEXTS(raws, LINE_LIMIT)
        if text is not None:
            return text
    return _py_texts(raws)


def _py_texts(raws: Sequence[bytes]) -> str:
    """``message_texts`` in Python alone: the reference of ``render/_fasttext.c``."""
    if not raws:
        return ""
    blob = b"".join([_SEPARATOR, _SEPARATOR.join(raws)])
    if blob.isascii() and max(map(len, raws)) <= LINE_LIMIT:
        blob = blob.replace(b"\r\n", b"\n")
        # Nothing to escape: what is not kept is the separators' marks, no more.
        if blob.translate(None, _KEEP) == TEXT_MARK.encode() * len(raws):
            # As message_text does to each: no line break at the end.
            blob = blob.replace(b"\n" + _SEPARATOR, _SEPARATOR).removesuffix(b"\n")
            return blob.replace(b"<", _LESS_THAN).decode("ascii")
    text = "".join(TEXT_SEPARATOR + message_text(decode(raw)) for raw in raws)
    return text.replace("<", LESS_THAN)


def _py_lowered(raws: Sequence[bytes]) -> bytes:
    """``lowered`` in Python alone: the reference of ``_fasttext.lowered``."""
    return b"".join([b"\n", b"\n".join(raws)]).lower()


_FAST = fast_module("render._fasttext")
"""The C fast path of ``message_texts``, ``lowered`` and ``json.seconds``
(``render/_fasttext.c``), or None (``sipsniff.fast_module``)."""
FAST_TEXTS: Final[Callable[[Sequence[bytes], int], str | None] | None] = (
    None if _FAST is None else _FAST.texts
)
"""``_fasttext.texts(raws, LINE_LIMIT)``: ``message_texts`` of ASCII messages with nothing to
escape, or None for others; None itself without the C fast path."""
lowered: Final[Callable[[Sequence[bytes]], bytes]] = _py_lowered if _FAST is None else _FAST.lowered
"""``b"\n"`` and the bytes of messages joined by ``b"\n"``, lowered (``bytes.lower``: A to Z
only), for a case-blind look at them all at once; in one pass with the C fast path."""


_CLASSES = {
    MessageKind.REQUEST: "req",
    MessageKind.PROVISIONAL: "s1",
    MessageKind.SUCCESS: "s2",
    MessageKind.FAILURE: "s3",
}


def message_class(msg: Message) -> str:
    """Colour class of an arrow: ``req``, ``s1`` (1xx), ``s2`` (2xx) or ``s3`` (3xx to 6xx)."""
    return _CLASSES[kind_of(msg)]


def state_class(outcome: str) -> str:
    """``good``, ``bad`` or ``mid`` (in between, or unknown): the colour of a dialog's state in the
    list, from its outcome (``correlate.states.TONES``)."""
    return TONES.get(outcome, "mid")
