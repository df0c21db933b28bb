"""The rows of a terminal ladder and how they are fitted to a width.

A ``LadderRow`` is one row of ``analysis.ladder`` made ready for the terminal: its time columns as
text, its labels cleaned, its notes in words with a style. ``layout`` chooses the gap between
lifelines (see the docstring of ``render.terminal``), ``arrow`` draws one arrow between two of them,
``fit_label`` and ``fit_notes`` shorten labels and notes to the room they get.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len

from sipsniff.analysis.ladder import (
    ChallengeNote,
    Label,
    MediaNote,
    Note,
    ResponseTimeNote,
    RetransmittedNote,
    Row,
)
from sipsniff.model import Message
from sipsniff.render.notes import words
from sipsniff.render.safe import one_line
from sipsniff.render.terminal.cells import (
    CELL_LIMIT,
    CROSS,
    DASH,
    LEFT,
    LIFELINE,
    RIGHT,
    STYLE_LIFELINE,
    STYLE_NOTE,
    Stamp,
    truncate,
)

MIN_GAP = 18
"""Fewest cells between two lifelines: an adjacent arrow still shows a 9-cell label."""
MAX_GAP = 64
"""Most cells between two lifelines, however long a label."""

_NOTE_STYLES: dict[type, tuple[str, bool]] = {
    ChallengeNote: ("yellow", True),
    MediaNote: ("cyan", False),
    ResponseTimeNote: (STYLE_NOTE, False),
    RetransmittedNote: ("magenta", True),
}
"""Style of each kind of note the ladder shows, and whether it is important (shown under its
arrow when there is no note column). Truncation and syntax problems show in full mode instead."""


@dataclass(frozen=True, slots=True)
class LadderNote:
    """A remark beside an arrow."""

    long: str
    short: str
    style: str
    important: bool
    """Shown under the arrow when there is no note column (retransmissions, challenges)."""


def ladder_note(note: Note, resolution: int) -> LadderNote | None:
    """``note`` in words and style, or None for a kind the terminal ladder does not show."""
    look = _NOTE_STYLES.get(type(note))
    if look is None:
        return None
    long, short = words(note, resolution)
    return LadderNote(long, short, *look)


@dataclass(slots=True)
class LadderRow:
    """One arrow of a ladder, ready to draw."""

    row: Row
    time: str
    delta: str
    variants: list[Label]
    """Labels from richest to barest, cleaned; the reason may be cut."""
    notes: list[LadderNote]

    @property
    def msg(self) -> Message:
        return self.row.entry

    @property
    def src(self) -> int:
        return self.row.src

    @property
    def dst(self) -> int:
        return self.row.dst

    @property
    def label_cells(self) -> int:
        """Cells of the richest label."""
        return cell_len(self.variants[0].text)

    def note_cells(self, short: bool) -> int:
        """Cells of all notes in their long or short forms."""
        if not self.notes:
            return 0
        return sum(cell_len(n.short if short else n.long) for n in self.notes) + 2 * (
            len(self.notes) - 1
        )


def clean_label(label: Label) -> Label:
    """``label`` with its packet text made one safe line."""
    return Label(one_line(label.name, 40), one_line(label.reason, CELL_LIMIT), label.tail)


def fit_label(variants: Sequence[Label], cells: int) -> str:
    """The richest label that fits ``cells``: the reason is cut first, extras are dropped next."""
    for variant in variants:
        text = variant.text
        if cell_len(text) <= cells:
            return text
        room = cells - cell_len(variant.name) - 1 - cell_len(variant.tail)
        if variant.reason and room >= 4:
            return f"{variant.name} {truncate(variant.reason, room)}{variant.tail}"
    return truncate(variants[-1].text, cells)


def fit_notes(notes: Sequence[LadderNote], cells: int, short: bool) -> list[tuple[str, str]]:
    """Notes joined by ``, ``, in their long forms unless ``short``; what still does not fit is
    shortened from the last note back, then cut."""
    if not notes or cells <= 0:
        return []
    forms = [n.short if short else n.long for n in notes]

    def total() -> int:
        return sum(cell_len(f) for f in forms) + 2 * (len(forms) - 1)

    for i in reversed(range(len(notes))):
        if total() <= cells:
            break
        forms[i] = notes[i].short
    parts: list[tuple[str, str]] = []
    used = 0
    for i, (form, note) in enumerate(zip(forms, notes, strict=True)):
        sep = ", " if i else ""
        room = cells - used - len(sep)
        if room < 2:
            break
        piece = truncate(form, room)
        if sep:
            parts.append((sep, STYLE_NOTE))
        parts.append((piece, note.style))
        used += len(sep) + cell_len(piece)
        if piece != form:
            break
    return parts


@dataclass(slots=True)
class Layout:
    """The shape of a ladder's lanes and note column, in cells."""

    gap: int
    """Cells from one lifeline to the next."""
    right: int
    """Cells after the last lifeline that belong to the lanes (room for its self-arrows)."""
    lead: int
    """Dashes before each label: 4, or 2 when some label does not fit whole after 4."""
    note_width: int
    """Cells of the note column; 0 when there is none."""
    short_notes: bool
    """Notes in their short forms, because the long form of some row does not fit."""


def layout(rows: list[LadderRow], n: int, avail: int, headers: list[str]) -> Layout | None:
    """Choose the gap between lifelines for ``avail`` cells right of the time columns.

    In order of preference: every label whole and the notes long; notes short; labels shortened to
    a comfortable size to keep a note column; no note column (important notes then go under their
    arrow); labels shortened down to ``MIN_GAP``. None when even that does not fit.
    """
    ideal = comfort = MIN_GAP
    need_right = 1
    for row in rows:
        label = row.label_cells
        span = abs(row.src - row.dst)
        if span:
            ideal = max(ideal, -(-(label + 12) // span))
            comfort = max(comfort, -(-(min(label, 16) + 9) // span))
        elif row.src < n - 1:
            ideal = max(ideal, label + 6)
            comfort = max(comfort, min(label, 16) + 5)
        else:
            need_right = max(need_right, label + 5)
    ideal = min(max([ideal, *(cell_len(h) + 2 for h in headers)]), MAX_GAP)
    comfort = min(comfort, ideal)
    long_need = max(r.note_cells(False) for r in rows)
    short_need = max(r.note_cells(True) for r in rows)

    # (gap, right, cells the notes need, short notes), best first.
    candidates: list[tuple[int, int, int, bool]]
    if n == 1:
        squeezed = min(need_right, avail - 2 - short_need)
        candidates = [(0, need_right, long_need, False), (0, need_right, short_need, True)]
        if squeezed >= min(need_right, 21):
            candidates.append((0, squeezed, short_need, True))
        fallback = (0, min(need_right, avail))
    else:
        right = min(need_right, 24)
        squeezed = max(comfort, min(ideal, (avail - right - 2 - short_need) // (n - 1)))
        candidates = [
            (ideal, right, long_need, False),
            (ideal, right, short_need, True),
            (squeezed, right, short_need, True),
        ]
        fallback = (min(ideal, (avail - right) // (n - 1)), right)
        if fallback[0] < MIN_GAP:
            return None
    chosen = Layout(fallback[0], fallback[1], 4, 0, False)
    if long_need:
        for gap, right, need, short in candidates:
            lanes = (n - 1) * gap + right
            if lanes + 2 + need <= avail:
                chosen = Layout(gap, right, 4, avail - lanes - 2, short)
                break
    for row in rows:
        span = abs(row.src - row.dst)
        if span and row.label_cells > span * chosen.gap - 3 - 9:
            chosen.lead = 2
    return chosen


def arrow(row: LadderRow, xs: Sequence[int], style: str, lead: int) -> list[Stamp]:
    """Stamps of one arrow between two different lifelines (cells absolute)."""
    lo, hi = sorted((row.src, row.dst))
    rightward = row.dst > row.src
    start = xs[lo] + 2
    inner = xs[hi] - xs[lo] - 3
    room = inner - lead - 4 - (1 if lead > 2 else 0)
    label = fit_label(row.variants, room) if room >= 1 else ""
    if not label:
        dashes = DASH * (inner - 1)
        head, tail = ("", dashes + RIGHT) if rightward else (LEFT + dashes, "")
    elif rightward:
        head = DASH * lead + " "
        tail = " " + DASH * (inner - lead - cell_len(label) - 3) + RIGHT
    else:
        head = LEFT + DASH * (lead - 1) + " "
        tail = " " + DASH * (inner - lead - cell_len(label) - 2)
    label_at = start + len(head)
    tail_at = label_at + cell_len(label)
    head_chars, tail_chars = list(head), list(tail)
    for k in range(lo + 1, hi):
        x = xs[k]
        if start <= x < label_at and head_chars[x - start] == DASH:
            head_chars[x - start] = CROSS
        elif tail_at <= x < tail_at + len(tail_chars) and tail_chars[x - tail_at] == DASH:
            tail_chars[x - tail_at] = CROSS
    return [
        Stamp(xs[lo], LIFELINE, STYLE_LIFELINE),
        Stamp(start, "".join(head_chars), style),
        Stamp(label_at, label, style),
        Stamp(tail_at, "".join(tail_chars), style),
        Stamp(xs[hi], LIFELINE, STYLE_LIFELINE),
    ]


def span(row: LadderRow, xs: Sequence[int], chosen: Layout) -> tuple[int, int]:
    """First cell and width of the room an arrow's label (or its note below) may use."""
    lo, hi = sorted((row.src, row.dst))
    if lo != hi:
        return xs[lo] + 2, xs[hi] - xs[lo] - 3
    room = (xs[lo + 1] - xs[lo] - 2) if lo + 1 < len(xs) else chosen.right - 1
    return xs[lo] + 4, room - 3


def time_stamps(row: LadderRow, tw: int, dw: int) -> list[Stamp]:
    """The time column (``tw`` cells) and the delta column (``dw`` cells, 0 for none) of a row."""
    stamps = [Stamp(0, row.time.rjust(tw), "")]
    if dw:
        stamps.append(Stamp(tw + 1, row.delta.rjust(dw), "dim"))
    return stamps
