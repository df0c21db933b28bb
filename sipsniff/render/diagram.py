"""Ladders as text for diagram tools: Mermaid (``--format mermaid``) and PlantUML (``plantuml``).

One sequence diagram per dialog: a participant per endpoint (ip:port, or ip with ``by_host``, with
its User-Agent or Server when a message it sent names one), an arrow per message with its
retransmissions folded in (``INVITE ×3``), requests solid and responses dashed, and before each arrow
a note with its time (per ``RenderOptions.time``: dialog-relative with the delta by default).

Mermaid takes one diagram per file, so a single dialog is written as a bare diagram (paste it into
a ``.mmd`` file or an editor) and several as a Markdown document with one ```` ```mermaid ```` block
per dialog (GitHub and GitLab draw those; ``mmdc -i calls.md`` renders each). PlantUML takes several
``@startuml`` ... ``@enduml`` blocks in one file and draws an image for each.

Escaping: participants are declared with aliases of our own (``P1``, ``P2``...), so no packet text is
ever an identifier. Every label goes through ``safe.one_line`` (no control, bidi or line-separator
characters, so no packet text can start a line of its own) and then every ASCII character outside
letters, digits, space and ``.,()@`` is written as an entity: ``#59;`` in Mermaid (``;`` ends a
statement, ``#`` starts an entity, ``%%`` a comment, ``<`` HTML), ``<U+003B>`` in PlantUML (``"`` ends
a name, ``\\n`` breaks a line, Creole reads ``**``, ``--``, ``[[url]]`` and ``<img:url>``, the
preprocessor ``$`` and ``%``). PlantUML's ``&#92;`` form fails on ``\\`` and ``$`` in some versions,
hence ``<U+XXXX>``.

Both draw the ladder as data (``analysis.ladder``: columns and rows, retransmissions folded into
their original), as the terminal and HTML ladders do.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, TextIO

from sipsniff.analysis.ladder import Ladder, MessageKind, Row
from sipsniff.analysis.report import TraceReport
from sipsniff.model import Dialog
from sipsniff.render.base import Renderer, RenderOptions, TimeFormat, register, stream_of
from sipsniff.render.safe import one_line

if TYPE_CHECKING:
    from rich.console import Console

LABEL_LIMIT = 200
"""Most characters of packet text in one label (before escaping)."""

# -- the ladder as text --------------------------------------------------------------------------


def label(row: Row) -> str:
    """``INVITE``, ``180 Ringing``, ``INVITE ×3`` (packet text, not cleaned yet)."""
    text = row.msg.label
    return f"{text} ×{row.count}" if row.copies else text


def time_notes(ladder: Ladder, tf: TimeFormat) -> list[str]:
    """The time of each row: ``0.012345 (+12.34 ms)`` in ``dialog`` mode, else the time column."""
    notes: list[str] = []
    prev: int | None = None
    start = ladder.dialog.start_ns
    for row in ladder.rows:
        ts = row.ts_ns
        stamp = tf.stamp(ts, start, prev)
        delta = tf.delta(ts, prev) if tf.has_delta else ""
        notes.append(f"{stamp} ({delta})" if delta else stamp)
        prev = ts
    return notes


def heading(dialog: Dialog) -> tuple[str, str, str]:
    """``Dialog 1: INVITE, COMPLETED``; ``sip:a@x → sip:b@x``; ``Call-ID abc`` (packet text)."""
    title = f"Dialog {dialog.id}: {dialog.first_method}"
    if dialog.state:
        title += f", {dialog.state}"
    return title, f"{dialog.from_uri} → {dialog.to_uri}", f"Call-ID {dialog.call_id}"


# -- escaping -----------------------------------------------------------------------------------

# ASCII but letters, digits and " .,:+()@" (a negated class over all of Unicode took 10 ms to
# compile, at every start of sipsniff)
_SPECIAL = re.compile(r"(?![A-Za-z0-9 .,:+()@])[\x00-\x7f]")


def mermaid_text(text: str, limit: int = LABEL_LIMIT) -> str:
    """Packet text as a Mermaid label: one line, ASCII punctuation as ``#59;`` entity codes."""
    return _SPECIAL.sub(lambda m: f"#{ord(m.group())};", one_line(text, limit))


def plantuml_text(text: str, limit: int = LABEL_LIMIT) -> str:
    """Packet text as a PlantUML label: one line, ASCII punctuation as ``<U+003B>``."""
    return _SPECIAL.sub(lambda m: f"<U+{ord(m.group()):04X}>", one_line(text, limit))


# -- renderers ----------------------------------------------------------------------------------


def mermaid(ladder: Ladder, tf: TimeFormat) -> str:
    """One ``sequenceDiagram`` of ``ladder`` (``tf``: the time format of its trace)."""
    title, parties, call_id = heading(ladder.dialog)
    lines = ["sequenceDiagram", f"    title {mermaid_text(title)}"]
    for k, column in enumerate(ladder.columns):
        name = mermaid_text(column.address)
        if column.agent:
            name += "<br/>" + mermaid_text(column.agent, 60)
        lines.append(f"    participant P{k + 1} as {name}")
    # A title wider than the diagram is clipped; a note over every lane widens the diagram.
    span = f"P1,P{len(ladder.columns)}" if len(ladder.columns) > 1 else "P1"
    about = f"{mermaid_text(parties)}<br/>{mermaid_text(call_id)}"
    lines.append(f"    Note over {span}: {about}")
    first = "P1"
    for row, note in zip(ladder.rows, time_notes(ladder, tf), strict=True):
        lines.append(f"    Note left of {first}: {mermaid_text(note)}")
        line = "->>" if row.kind is MessageKind.REQUEST else "-->>"
        lines.append(f"    P{row.src + 1}{line}P{row.dst + 1}: {mermaid_text(label(row))}")
    return "\n".join(lines) + "\n"


def plantuml(ladder: Ladder, tf: TimeFormat) -> str:
    """One ``@startuml`` ... ``@enduml`` block of ``ladder`` (``tf`` as for ``mermaid``)."""
    title, parties, call_id = heading(ladder.dialog)
    lines = [
        f"@startuml dialog-{ladder.dialog.id}",
        "hide footbox",
        f"title {plantuml_text(title)}\\n{plantuml_text(parties)}\\n{plantuml_text(call_id)}",
    ]
    for k, column in enumerate(ladder.columns):
        name = plantuml_text(column.address)
        if column.agent:
            name += "\\n" + plantuml_text(column.agent, 60)
        lines.append(f'participant "{name}" as P{k + 1}')
    for row, note in zip(ladder.rows, time_notes(ladder, tf), strict=True):
        colour = _PLANTUML_COLOURS[row.kind]
        line = f"-[{colour}]->" if colour else "->"
        text = plantuml_text(label(row))
        lines.append(f"P{row.src + 1} {line} P{row.dst + 1} : {text}")
        lines.append(f"note left : {plantuml_text(note)}")
    lines.append("@enduml")
    return "\n".join(lines) + "\n"


_PLANTUML_COLOURS = {
    MessageKind.REQUEST: "",
    MessageKind.PROVISIONAL: "#b58900",
    MessageKind.SUCCESS: "#2e7d32",
    MessageKind.FAILURE: "#c62828",
}
"""Arrow colour by message kind, as the terminal ladder: requests plain, 1xx amber, 2xx green, else
red."""


@register
class MermaidRenderer(Renderer):
    """Mermaid sequence diagrams (format name ``mermaid``): bare for one dialog, else Markdown."""

    name = "mermaid"
    description = "sequence diagrams"

    def write(self, report: TraceReport, options: RenderOptions, out: TextIO | Console) -> None:
        tf = TimeFormat.of(report.trace, options)
        diagrams = [mermaid(report.ladder(d), tf) for d in report.dialogs]
        if len(diagrams) == 1:
            stream_of(out).write(diagrams[0])
            return
        parts = ["# SIP dialogs\n"]
        for dialog, diagram in zip(report.dialogs, diagrams, strict=True):
            parts.append(f"\n## Dialog {dialog.id}\n\n```mermaid\n{diagram}```\n")
        stream_of(out).write("".join(parts))


@register
class PlantUmlRenderer(Renderer):
    """PlantUML sequence diagrams (format name ``plantuml``), one ``@startuml`` block per dialog."""

    name = "plantuml"
    description = "sequence diagrams"

    def write(self, report: TraceReport, options: RenderOptions, out: TextIO | Console) -> None:
        tf = TimeFormat.of(report.trace, options)
        stream_of(out).write("\n".join(plantuml(report.ladder(d), tf) for d in report.dialogs))
