"""Learn mode (``read --explain``): the explanations of ``analysis.explain`` under the arrows of a
terminal ladder, and the paragraph of what happened under its heading, folded to the width.

Sentences are words of ours with packet text in them: every one goes through ``safe.clean`` and
into ``Text`` objects, as the rest of the ladder does.
"""

from __future__ import annotations

import re

from rich.cells import cell_len, chop_cells
from rich.text import Text

from sipsniff.analysis.explain import DialogExplanation, HeaderNote, RowExplanation, Sentence
from sipsniff.analysis.explain.model import citation
from sipsniff.render.safe import clean

TEXT_LIMIT = 2000
"""Most characters of one sentence or header value shown."""
STYLE_TEXT = "italic"
STYLE_REFS = "dim"
STYLE_HEADER = "bold"


def fold(parts: list[tuple[str, str]], indent: int, width: int, hang: int = 0) -> list[Text]:
    """Styled pieces of text as lines of at most ``width`` cells, broken between words, starting at
    cell ``indent`` (continuation lines ``hang`` cells further in); a word longer than a line is
    cut."""
    whole = Text()
    for text, style in parts:
        whole.append(text, style)
    plain = whole.plain
    spans: list[tuple[int, int]] = []
    """(start, end) of each line in ``plain``."""
    start = end = used = 0
    for m in re.finditer(r"\S+", plain):
        room = max(8, width - indent - (hang if spans else 0))
        gap = cell_len(plain[end : m.start()]) if used else 0
        size = cell_len(m.group())
        if used and used + gap + size > room:
            spans.append((start, end))
            used = 0
            room = max(8, width - indent - hang)
        if not used:
            start = m.start()
            gap = 0
        at = m.start()
        while size > room - used:  # a word longer than a line: cut it
            head = chop_cells(plain[at : m.end()], room - used)[0]
            spans.append((start, at + len(head)))
            at = start = at + len(head)
            size = cell_len(plain[at : m.end()])
            used = 0
            room = max(8, width - indent - hang)
        used += gap + size
        end = m.end()
    if used:
        spans.append((start, end))
    lines = []
    for k, (a, b) in enumerate(spans):
        line = whole[a:b]
        line.pad_left(indent + (hang if k else 0))
        line.no_wrap, line.overflow, line.end = True, "crop", "\n"
        lines.append(line)
    return lines


def sentence_parts(sentence: Sentence) -> list[tuple[str, str]]:
    parts = [(clean(sentence.text, TEXT_LIMIT), STYLE_TEXT)]
    if sentence.refs:
        parts.append((f" ({citation(sentence.refs)})", STYLE_REFS))
    parts.append((".", STYLE_TEXT))
    return parts


def header_parts(note: HeaderNote) -> list[tuple[str, str]]:
    parts = [
        (f"{clean(note.name, 100)}:", STYLE_HEADER),
        (" " + clean(note.text, TEXT_LIMIT), ""),
    ]
    if note.refs:
        parts.append((f" ({citation(note.refs)})", STYLE_REFS))
    return parts


def summary_lines(explained: DialogExplanation, width: int) -> list[Text]:
    """The paragraph of what happened, then a blank line."""
    return [*fold(sentence_parts(explained.summary), 0, width), Text(end="\n")]


def row_lines(row: RowExplanation, indent: int, width: int) -> list[Text]:
    """What an arrow is, under it: its sentences, then its headers (``· Via: ...``), then a blank
    line."""
    out: list[Text] = []
    for sentence in row.sentences:
        out += fold(sentence_parts(sentence), indent, width, 2)
    for note in row.headers:
        out += fold([("· ", STYLE_REFS), *header_parts(note)], indent, width, 2)
    if out:
        out.append(Text(end="\n"))
    return out
