"""The terminal ladder of one dialog: heading, endpoint columns, one line per arrow, notes.

It draws ``analysis.ladder.Ladder`` (columns, rows, notes as data) and decides only where things
go: the layout is explained in the docstring of ``render.terminal``. When no gap between lifelines
fits the width, the dialog is drawn as a list, one line per message (``compact``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import RenderableType
from rich.text import Text

from sipsniff.analysis.explain import DialogExplanation
from sipsniff.analysis.ladder import Ladder, ResponseTimeNote
from sipsniff.model import Dialog
from sipsniff.render.base import RenderOptions, TimeFormat
from sipsniff.render.safe import ELLIPSIS, one_line
from sipsniff.render.terminal import explain
from sipsniff.render.terminal.cells import (
    ARROW_TO,
    CELL_LIMIT,
    LIFELINE,
    SELF,
    STYLE_LIFELINE,
    STYLE_REQUEST,
    WHOLE_LIMIT,
    Stamp,
    compose,
    distinct,
    join,
    letter,
    message_style,
    outcome_style,
    party,
    place,
    truncate,
)
from sipsniff.render.terminal.layout import (
    LadderNote,
    LadderRow,
    Layout,
    arrow,
    clean_label,
    fit_label,
    fit_notes,
    ladder_note,
    layout,
    span,
    time_stamps,
)
from sipsniff.render.terminal.message import message_block

NOTE_MIN = 20
"""Cells the note column keeps before labels are shortened to make room."""


@dataclass
class LadderLines:
    """A ladder as lines: those above the first arrow, then the lines of each row of the ladder
    (``Ladder.rows``, in order), so that a browser can put its cursor on a message."""

    head: list[RenderableType]
    rows: list[list[RenderableType]]

    def all(self) -> list[RenderableType]:
        return [*self.head, *(line for lines in self.rows for line in lines)]


def ladder(
    lad: Ladder,
    options: RenderOptions,
    width: int,
    tf: TimeFormat,
    explained: DialogExplanation | None = None,
) -> list[RenderableType]:
    """The ladder diagram of one dialog, as renderables to print one after another.

    One column per endpoint (ip:port, or ip with ``by_host``) in order of first appearance, one row
    per message with retransmissions folded into their original's row.

    Args:
        lad: the ladder, with its media notes (``ladder_of(media=True)``) to show them.
        tf: the time format of the trace and ``options``.
        explained: the explanation of ``lad`` (``read --explain``), told under its arrows.
    """
    return ladder_lines(lad, options, width, tf, explained).all()


def ladder_lines(
    lad: Ladder,
    options: RenderOptions,
    width: int,
    tf: TimeFormat,
    explained: DialogExplanation | None = None,
) -> LadderLines:
    """``ladder``, its lines grouped by row."""
    lines = _ladder_lines(lad, options, width, tf)
    if explained is not None:
        at = len(heading(lad.dialog, width))
        lines.head[at:at] = explain.summary_lines(explained, width)
        if lad.rows:
            tw, dw = time_widths(ladder_rows(lad, tf), tf)
            left = tw + 1 + (dw + 1 if dw else 0) + 1
            for these, row in zip(lines.rows, explained.rows, strict=True):
                these += explain.row_lines(row, left, width)
    return lines


def time_widths(rows: list[LadderRow], tf: TimeFormat) -> tuple[int, int]:
    """Cells of the time column and of the delta column (0 when there is none)."""
    time_title = tf.title(rows[0].msg.ts_ns)
    tw = max(cell_len(time_title), *(cell_len(r.time) for r in rows))
    dw = max(cell_len("delta"), *(cell_len(r.delta) for r in rows)) if tf.has_delta else 0
    return tw, dw


def _ladder_lines(lad: Ladder, options: RenderOptions, width: int, tf: TimeFormat) -> LadderLines:
    out: list[RenderableType] = [*heading(lad.dialog, width)]
    if not lad.rows:
        out.append(Text("(no messages)", style="dim italic"))
        return LadderLines(out, [])

    names = [one_line(c.address, CELL_LIMIT) for c in lad.columns]
    rows = ladder_rows(lad, tf)

    time_title = tf.title(rows[0].msg.ts_ns)
    tw, dw = time_widths(rows, tf)
    titles = [Stamp(0, time_title.rjust(tw), "bold")]
    if dw:
        titles.append(Stamp(tw + 1, "delta".rjust(dw), "bold"))
    left = tw + 1 + (dw + 1 if dw else 0) + 1

    # Addresses stand over their lifelines when the gap can hold them; else a legend lists them,
    # and the gap need not be wide enough for them.
    chosen = layout(rows, len(names), width - left, names)
    if chosen is not None and len(names) > 1 and max(map(cell_len, names)) + 2 > chosen.gap:
        chosen = layout(rows, len(names), width - left, [])
    if chosen is None:
        hosts = lad.hosts
        hint = f" (--by-host: {hosts})" if hosts < len(names) else ""
        reason = (
            f"{len(names)} endpoints{hint} do not fit in {width} columns: one line per message."
        )
        out.append(Text(reason, style="italic", end="\n"))
        lines = compact(rows, names, tw, dw, titles, width=width, full=options.full)
        return LadderLines(out + lines.head, lines.rows)

    xs = [left + k * chosen.gap for k in range(len(names))]
    agents = [one_line(c.agent, CELL_LIMIT) for c in lad.columns]
    out += headers(names, agents, xs, width, titles)
    per_row: list[list[RenderableType]] = []
    for row in rows:
        these: list[RenderableType] = [*row_lines(row, xs, chosen, tw, dw)]
        if options.full:
            these += message_block(row.msg, left, width)
        per_row.append(these)
    return LadderLines(out, per_row)


def ladder_rows(lad: Ladder, tf: TimeFormat) -> list[LadderRow]:
    """The rows of ``lad`` with their time columns, cleaned labels and notes in words.

    A response's time after its request is left out when the request is the row above and the time
    columns show the delta between them already.
    """
    shows_delta = tf.mode in ("dialog", "delta")
    rows: list[LadderRow] = []
    prev: int | None = None
    for row in lad.rows:
        ts = row.ts_ns
        notes: list[LadderNote] = []
        for note in row.notes:
            if shows_delta and isinstance(note, ResponseTimeNote) and note.follows_request:
                continue
            shown = ladder_note(note, tf.resolution)
            if shown is not None:
                notes.append(shown)
        rows.append(
            LadderRow(
                row,
                tf.stamp(ts, lad.dialog.start_ns, prev),
                tf.delta(ts, prev) if tf.has_delta else "",
                [clean_label(label) for label in row.labels],
                notes,
            )
        )
        prev = ts
    return rows


def heading(dialog: Dialog, width: int) -> list[Text]:
    """``Dialog 1  REGISTER  Alice <a@x> → b@x  REGISTERED  Call-ID abc…xyz``, fitted to ``width``.

    The Call-ID goes on a line of its own when it does not fit on the first.
    """
    index = f"Dialog {dialog.id}"
    method = one_line(dialog.first_method, 40)
    state = one_line(dialog.state, 40)
    call_id = one_line(dialog.call_id, WHOLE_LIMIT)

    def build(frm: str, to: str) -> list[tuple[str, str]]:
        parts = [(index, "bold"), ("  ", ""), (method, STYLE_REQUEST), ("  ", "")]
        parts += [(frm, ""), (f" {ARROW_TO} ", "dim"), (to, "")]
        if state:
            parts += [("  ", ""), (state, f"bold {outcome_style(dialog.outcome)}".strip())]
        return parts

    def size(parts: list[tuple[str, str]]) -> int:
        return sum(cell_len(p) for p, _ in parts)

    # The Call-ID is never cut: it is what --call-id and other tools are given. Alone on its line
    # when it does not fit beside the rest; longer than the width, the terminal wraps it (a copy
    # of it is then still one line).
    call = [("Call-ID ", "dim"), (call_id, "dim")]
    call_alone = join(call)
    call_alone.overflow = "ignore"
    from_bare, to_bare = party("", dialog.from_uri), party("", dialog.to_uri)
    named = build(party(dialog.from_name, dialog.from_uri), party(dialog.to_name, dialog.to_uri))
    bare = build(from_bare, to_bare)
    for parts in (named, bare):
        if size(parts) + 2 + size(call) <= width:
            return [join([*parts, ("  ", ""), *call])]
    for parts in (named, bare):
        if size(parts) <= width:
            return [join(parts), call_alone]
    each = max(4, (width - size(build("", ""))) // 2)
    first = join(build(truncate(from_bare, each), truncate(to_bare, each)))
    first.truncate(width, overflow="ellipsis")
    return [first, call_alone]


def row_lines(row: LadderRow, xs: Sequence[int], shape: Layout, tw: int, dw: int) -> list[Text]:
    """The line of one arrow, and the line of its important notes when there is no note column."""
    style = message_style(row.msg)
    stamps = time_stamps(row, tw, dw)
    lo, hi = sorted((row.src, row.dst))
    if lo == hi:
        at, room = span(row, xs, shape)
        stamps.append(Stamp(at - 3, f" {SELF} ", style))
        stamps.append(Stamp(at, fit_label(row.variants, room), style))
    else:
        stamps += arrow(row, xs, style, shape.lead)
    lifelines = [Stamp(x, LIFELINE, STYLE_LIFELINE) for x in xs]
    parts = compose(stamps + lifelines)
    lines = []
    if shape.note_width:
        notes = fit_notes(row.notes, shape.note_width, shape.short_notes)
        if notes:
            note_at = xs[-1] + shape.right + 2
            parts.append((" " * (note_at - sum(cell_len(p) for p, _ in parts)), ""))
            parts += notes
        return [join(parts)]
    lines.append(join(parts))
    important = [n for n in row.notes if n.important]
    if important:
        at, room = span(row, xs, shape)
        if lo != hi:
            at, room = at + shape.lead + 1, room - shape.lead - 1
        notes = fit_notes(important, room, False)
        if notes:
            text = "".join(p for p, _ in notes)
            lines.append(join(compose([Stamp(at, text, "italic " + notes[-1][1]), *lifelines])))
    return lines


def headers(
    names: list[str], agents: list[str], xs: list[int], width: int, titles: list[Stamp]
) -> list[Text]:
    """The lines above the first arrow: endpoint addresses and agents, then the column titles.

    Addresses are centred over their lifelines; when one does not fit, letters stand there instead
    and a legend lists the addresses.
    """
    placed = place(names, xs, width)
    if all(text == name for (_, text), name in zip(placed, names, strict=True)):
        lines = [join(compose([Stamp(at, text, "bold") for at, text in placed]))]
        if any(agents):
            stamps = [Stamp(at, text, "dim") for at, text in place(agents, xs, width)]
            lines.append(join(compose(stamps)))
        lifelines = [Stamp(x, LIFELINE, STYLE_LIFELINE) for x in xs]
        lines.append(join(compose(titles + lifelines)))
        return lines
    lines = []
    address_w = max(cell_len(n) for n in names)
    for k, (name, agent) in enumerate(zip(names, agents, strict=True)):
        parts = [(f"{letter(k):>3}  ", "bold"), (truncate(name, width - 5), "")]
        if agent and width - 7 - address_w >= 4:
            parts.append((" " * (address_w - cell_len(name) + 2), ""))
            parts.append((truncate(agent, width - 7 - address_w), "dim"))
        lines.append(join(parts))
    letters = [Stamp(x, letter(k), "bold") for k, x in enumerate(xs)]
    lines.append(join(compose(titles + letters)))
    return lines


def compact(
    rows: list[LadderRow],
    names: list[str],
    tw: int,
    dw: int,
    titles: list[Stamp],
    *,
    width: int,
    full: bool,
) -> LadderLines:
    """The ladder as a list, one line per message: ``time  delta  src → dst  label  note``."""
    left = tw + 1 + (dw + 1 if dw else 0) + 1
    label_need = max(r.label_cells for r in rows)
    # Addresses too wide lose what they all share (``192.168.5.``), never what tells them apart.
    room = (width - left - 3 - 2 - min(label_need, 16)) // 2
    full_names = names
    names, shared = distinct(names, max(6, room))
    src_w = max(cell_len(names[r.src]) for r in rows)
    dst_w = max(cell_len(names[r.dst]) for r in rows)
    dst_at = left + src_w + 3
    label_at = dst_at + dst_w + 2
    label_w = max(1, min(label_need, width - label_at))
    note_at = label_at + label_w + 2
    short_need = max(r.note_cells(True) for r in rows)
    note_w = max(0, width - note_at)
    if note_w < max(6, min(short_need, NOTE_MIN)):
        note_w = 0
    short = any(r.note_cells(False) > note_w for r in rows)
    head: list[RenderableType] = []
    if shared:
        head.append(Text(f"addresses: {shared} ({ELLIPSIS} stands for what they share)", "dim"))
    elif names != full_names:  # letters: the addresses whole, one per line
        head += [
            join([(f"{name:>3}  ", "bold"), (full, "")])
            for name, full in zip(names, full_names, strict=True)
        ]
    heads = [Stamp(left, "from", "bold"), Stamp(dst_at, "to", "bold")]
    head.append(join(compose([*titles, *heads])))
    per_row: list[list[RenderableType]] = []
    for row in rows:
        out: list[RenderableType] = []
        per_row.append(out)
        style = message_style(row.msg)
        stamps = time_stamps(row, tw, dw)
        stamps.append(Stamp(left, names[row.src], ""))
        stamps.append(Stamp(left + src_w + 1, ARROW_TO, style))
        stamps.append(Stamp(dst_at, names[row.dst], ""))
        stamps.append(Stamp(label_at, fit_label(row.variants, label_w), style))
        parts = compose(stamps)
        if note_w:
            notes = fit_notes(row.notes, note_w, short)
            if notes:
                parts.append((" " * (note_at - sum(cell_len(p) for p, _ in parts)), ""))
                parts += notes
        out.append(join(parts))
        important = [n for n in row.notes if n.important]
        if not note_w and important:
            notes = fit_notes(important, width - label_at, False)
            if notes:
                text = "".join(p for p, _ in notes)
                out.append(join([(" " * label_at, ""), (text, "italic " + notes[-1][1])]))
        if full:
            out += message_block(row.msg, left, width)
    return LadderLines(head, per_row)
