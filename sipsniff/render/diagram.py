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

The ladder as data (``ladder_of``: lanes and arrows, retransmissions folded into their original)
is shared with the HTML renderer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from sipsniff.model import Dialog, Endpoint, Entry, Trace
from sipsniff.render.base import RenderOptions, TimeFormat, register
from sipsniff.render.safe import one_line
from sipsniff.sip.headers import header_value

if TYPE_CHECKING:
    from rich.console import Console

LABEL_LIMIT = 200
"""Most characters of packet text in one label (before escaping)."""

# -- the ladder as data -------------------------------------------------------------------------


@dataclass(slots=True)
class Arrow:
    """One arrow of a ladder: a message, with the retransmissions of it folded in."""

    entry: Entry
    src: int
    """Lane of the sender."""
    dst: int
    """Lane of the receiver (== ``src`` for a message to itself)."""
    copies: list[Entry] = field(default_factory=list)
    """Retransmissions of ``entry`` in this dialog, in capture order."""

    @property
    def count(self) -> int:
        """How many times the message was seen: 1 plus its retransmissions."""
        return 1 + len(self.copies)


@dataclass(slots=True)
class Ladder:
    """What a ladder diagram of one dialog shows."""

    lanes: list[str]
    """Endpoint of each lane (``ip:port``, or ``ip`` by host), in order of first appearance."""
    agents: list[str]
    """User-Agent (or Server) of each lane, from the first message it sent with one; "" if none."""
    arrows: list[Arrow]


def _root(trace: Trace, index: int) -> int:
    """The first message of a chain of retransmissions."""
    for _ in range(1000):
        original = trace.entries[index].retransmission_of
        if original is None or original not in trace.entries:
            break
        index = original
    return index


def ladder_of(trace: Trace, dialog: Dialog, *, by_host: bool = False) -> Ladder:
    """Lanes and arrows of ``dialog``: one lane per endpoint, one arrow per message, with
    retransmissions folded into the arrow of their original (when it is in the dialog)."""

    def key(endpoint: Endpoint) -> str:
        return endpoint.ip if by_host else str(endpoint)

    lanes: dict[str, int] = {}
    agents: dict[int, str] = {}
    arrows: list[Arrow] = []
    by_root: dict[int, Arrow] = {}
    for index in dialog.messages:
        entry = trace.entries[index]
        msg = entry.msg
        src = lanes.setdefault(key(msg.src), len(lanes))
        dst = lanes.setdefault(key(msg.dst), len(lanes))
        if src not in agents:
            agent = header_value(msg.raw, "User-Agent") or header_value(msg.raw, "Server")
            if agent:
                agents[src] = agent
        root = _root(trace, index)
        arrow = by_root.get(root)
        if arrow is not None and root != index:
            arrow.copies.append(entry)
            continue
        arrow = Arrow(entry, src, dst)
        arrows.append(arrow)
        by_root[root] = arrow
    return Ladder(list(lanes), [agents.get(k, "") for k in range(len(lanes))], arrows)


def label(arrow: Arrow) -> str:
    """``INVITE``, ``180 Ringing``, ``INVITE ×3`` (packet text, not cleaned yet)."""
    text = arrow.entry.msg.label
    return f"{text} ×{arrow.count}" if arrow.count > 1 else text


def time_notes(trace: Trace, dialog: Dialog, arrows: Sequence[Arrow], tf: TimeFormat) -> list[str]:
    """The time of each arrow: ``0.012345 (+12.34 ms)`` in ``dialog`` mode, else the time column."""
    notes: list[str] = []
    prev: int | None = None
    for arrow in arrows:
        ts = arrow.entry.msg.ts_ns
        stamp = tf.stamp(ts, dialog.start_ns, prev)
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

_SPECIAL = re.compile(r"[^A-Za-z0-9 .,:+()@\u0080-\U0010ffff]")


def mermaid_text(text: str, limit: int = LABEL_LIMIT) -> str:
    """Packet text as a Mermaid label: one line, ASCII punctuation as ``#59;`` entity codes."""
    return _SPECIAL.sub(lambda m: f"#{ord(m.group())};", one_line(text, limit))


def plantuml_text(text: str, limit: int = LABEL_LIMIT) -> str:
    """Packet text as a PlantUML label: one line, ASCII punctuation as ``<U+003B>``."""
    return _SPECIAL.sub(lambda m: f"<U+{ord(m.group()):04X}>", one_line(text, limit))


# -- renderers ----------------------------------------------------------------------------------


def _write_text(out: TextIO | Console, text: str) -> None:
    from rich.console import Console

    if isinstance(out, Console):
        out.file.write(text)
    else:
        out.write(text)


def mermaid(
    trace: Trace, dialog: Dialog, options: RenderOptions, tf: TimeFormat | None = None
) -> str:
    """One ``sequenceDiagram`` for ``dialog`` (``tf``: the time format, when the caller has it)."""
    tf = tf or TimeFormat.of(trace, options)
    ladder = ladder_of(trace, dialog, by_host=options.by_host)
    title, parties, call_id = heading(dialog)
    lines = ["sequenceDiagram", f"    title {mermaid_text(title)}"]
    for k, (lane, agent) in enumerate(zip(ladder.lanes, ladder.agents, strict=True)):
        name = mermaid_text(lane)
        if agent:
            name += "<br/>" + mermaid_text(agent, 60)
        lines.append(f"    participant P{k + 1} as {name}")
    # A title wider than the diagram is clipped; a note over every lane widens the diagram.
    span = f"P1,P{len(ladder.lanes)}" if len(ladder.lanes) > 1 else "P1"
    about = f"{mermaid_text(parties)}<br/>{mermaid_text(call_id)}"
    lines.append(f"    Note over {span}: {about}")
    first = "P1"
    for arrow, note in zip(
        ladder.arrows, time_notes(trace, dialog, ladder.arrows, tf), strict=True
    ):
        lines.append(f"    Note left of {first}: {mermaid_text(note)}")
        line = "->>" if arrow.entry.msg.is_request else "-->>"
        lines.append(f"    P{arrow.src + 1}{line}P{arrow.dst + 1}: {mermaid_text(label(arrow))}")
    return "\n".join(lines) + "\n"


def plantuml(
    trace: Trace, dialog: Dialog, options: RenderOptions, tf: TimeFormat | None = None
) -> str:
    """One ``@startuml`` ... ``@enduml`` block for ``dialog`` (``tf`` as for ``mermaid``)."""
    tf = tf or TimeFormat.of(trace, options)
    ladder = ladder_of(trace, dialog, by_host=options.by_host)
    title, parties, call_id = heading(dialog)
    lines = [
        f"@startuml dialog-{dialog.id}",
        "hide footbox",
        f"title {plantuml_text(title)}\\n{plantuml_text(parties)}\\n{plantuml_text(call_id)}",
    ]
    for k, (lane, agent) in enumerate(zip(ladder.lanes, ladder.agents, strict=True)):
        name = plantuml_text(lane)
        if agent:
            name += "\\n" + plantuml_text(agent, 60)
        lines.append(f'participant "{name}" as P{k + 1}')
    for arrow, note in zip(
        ladder.arrows, time_notes(trace, dialog, ladder.arrows, tf), strict=True
    ):
        msg = arrow.entry.msg
        line = "->" if msg.status is None else f"-[{_plantuml_colour(msg.status)}]->"
        text = plantuml_text(label(arrow))
        lines.append(f"P{arrow.src + 1} {line} P{arrow.dst + 1} : {text}")
        lines.append(f"note left : {plantuml_text(note)}")
    lines.append("@enduml")
    return "\n".join(lines) + "\n"


def _plantuml_colour(status: int) -> str:
    """Arrow colour by response class, as the terminal ladder: 1xx amber, 2xx green, else red."""
    if status < 200:
        return "#b58900"
    if status < 300:
        return "#2e7d32"
    return "#c62828"


@register
class MermaidRenderer:
    """Mermaid sequence diagrams (format name ``mermaid``): bare for one dialog, else Markdown."""

    name = "mermaid"

    def render(
        self,
        trace: Trace,
        dialogs: Sequence[Dialog],
        options: RenderOptions,
        out: TextIO | Console,
    ) -> None:
        tf = TimeFormat.of(trace, options)
        diagrams = [mermaid(trace, d, options, tf) for d in dialogs]
        if len(diagrams) == 1:
            _write_text(out, diagrams[0])
            return
        parts = ["# SIP dialogs\n"]
        for dialog, diagram in zip(dialogs, diagrams, strict=True):
            parts.append(f"\n## Dialog {dialog.id}\n\n```mermaid\n{diagram}```\n")
        _write_text(out, "".join(parts))


@register
class PlantUmlRenderer:
    """PlantUML sequence diagrams (format name ``plantuml``), one ``@startuml`` block per dialog."""

    name = "plantuml"

    def render(
        self,
        trace: Trace,
        dialogs: Sequence[Dialog],
        options: RenderOptions,
        out: TextIO | Console,
    ) -> None:
        tf = TimeFormat.of(trace, options)
        _write_text(out, "\n".join(plantuml(trace, d, options, tf) for d in dialogs))
