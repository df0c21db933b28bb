"""The terminal renderer: a call list in the manner of sngrep, then one ladder diagram per dialog.

How a ladder is laid out
------------------------
Every line of a ladder is one row of cells::

    <time> <delta>  │ ──── REGISTER (CSeq 1) ─────────▶ │  <note>
                    x0                                x1

The time column (and, in ``--time dialog`` mode, the delta column) come first and are never cut.
Lifeline ``k`` stands at cell ``x0 + k * gap``. An arrow fills the cells strictly between its two
lifelines, less one space at each end; its label follows a short lead of dashes, and where the arrow
passes an intermediate lifeline the dash there becomes ``┼``. The note column follows the last
lifeline.

The gap is the smallest that shows every label whole (and every endpoint address over its
lifeline). When the width is short, the notes take their short forms, then the labels shorten
(reason phrase first: ``407 Proxy Authenti…``) to keep a note column, then the note column goes
(retransmissions and challenges are then noted under their arrow), and the labels shorten down to
``MIN_GAP``. If even that does not fit, the dialog is drawn as a list, one line per message, with a
line that says why. Endpoint addresses too wide for their lifelines give way to letters and a
legend. Times are never cut.

Everything that comes from a packet goes through ``safe.clean`` and into ``rich.text.Text`` objects,
never into markup, and is measured in terminal cells (``rich.cells``), not characters.

The modules: ``cells`` (glyphs, styles, text measured in cells), ``calllist`` (the call list, the
summary line, TLS and findings lines), ``layout`` (rows fitted to the width), ``ladder`` (one
dialog's ladder), ``message`` (full mode: the text of each message).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TextIO, TypeGuard

from rich.console import Console, RenderableType
from rich.text import Text

from sipsniff.analysis.report import TraceReport
from sipsniff.model import Dialog
from sipsniff.render.base import (
    Renderer,
    RenderOptions,
    TimeFormat,
    console_of,
    no_sip,
    register,
)
from sipsniff.render.terminal.calllist import (
    PlainLines,
    call_list,
    call_list_lines,
    findings_lines,
    summary,
    tls_lines,
)
from sipsniff.render.terminal.cells import message_style, outcome_style
from sipsniff.render.terminal.ladder import ladder
from sipsniff.render.terminal.message import MAX_LINES

__all__ = [
    "MAX_LINES",
    "TerminalRenderer",
    "call_list",
    "findings_lines",
    "ladder",
    "message_style",
    "outcome_style",
    "summary",
    "tls_lines",
]


@register
class TerminalRenderer(Renderer):
    """Call list and ladders for a person at a terminal (format name ``text``)."""

    name = "text"
    description = "call list and ladders in the terminal"
    console = True

    def write(self, report: TraceReport, options: RenderOptions, out: TextIO | Console) -> None:
        console = console_of(out, options.width)
        width = console.width if options.width is None else min(options.width, console.width)
        trace, dialogs = report.trace, report.dialogs
        nothing = no_sip(trace)
        if nothing is not None:
            console.print(Text(nothing), width=width)
            for line in tls_lines(trace):
                console.print(line, width=width)
            return
        sections: list[Sequence[RenderableType | PlainLines]] = []
        if options.view in ("list", "both"):
            listed = (call_list_lines if _plain(console) else call_list)(
                trace, dialogs, options, width
            )
            sections.append([listed, summary(report, width)])
        if options.view == "both" and report.findings:
            # What went wrong, under the call list: what concerns the dialogs shown.
            sections.append(findings_lines(report.findings, width))
        if options.view in ("ladder", "both"):
            tf = TimeFormat.of(trace, options)
            sections += (_ladder(report, d, options, width, tf) for d in dialogs)
        for number, section in enumerate(sections):
            if number:
                console.print(width=width)
            for renderable in _batched(section):
                if isinstance(renderable, PlainLines):
                    for block in renderable.blocks:
                        console.file.write(block)
                    continue
                whole = isinstance(renderable, Text) and renderable.overflow == "ignore"
                console.print(renderable, width=width, soft_wrap=whole)


def _plain(console: Console) -> bool:
    """Whether ``console`` writes text as it is, with no colour or style, straight to its file (not
    recorded, not quiet, not a notebook): then lines rich would print unchanged may bypass it."""
    return (
        console.color_system is None
        and not console.record
        and not console.quiet
        and not console.is_jupyter
    )


def _ladder(
    report: TraceReport, dialog: Dialog, options: RenderOptions, width: int, tf: TimeFormat
) -> list[RenderableType]:
    """The ladder of ``dialog``, explained with ``--explain``."""
    lad = report.ladder(dialog, media=True)
    explained = None
    if options.explain:
        explained = report.explanation(lad, full=options.explain == "full")
    return ladder(lad, options, width, tf, explained)


def _batched(
    renderables: Iterable[RenderableType | PlainLines],
) -> Iterable[RenderableType | PlainLines]:
    """Runs of one-line texts joined into one (printing each line alone is slow in rich)."""
    run: list[Text] = []
    for renderable in renderables:
        if _joinable(renderable) and len(run) < 1000:
            run.append(renderable)
            continue
        if run:
            yield _joined(run)
            run = []
        if _joinable(renderable):
            run.append(renderable)
        else:
            yield renderable
    if run:
        yield _joined(run)


def _joinable(renderable: RenderableType | PlainLines) -> TypeGuard[Text]:
    """A line that is printed as it is (no wrap), and may be cropped with the others of its run;
    a line that must not be cut (``overflow="ignore"``: a Call-ID) is printed alone."""
    return (
        isinstance(renderable, Text)
        and bool(renderable.no_wrap)
        and renderable.overflow != "ignore"
    )


def _joined(lines: list[Text]) -> Text:
    text = Text("\n", no_wrap=True, overflow="crop", end="\n").join(lines)
    text.no_wrap, text.overflow, text.end = True, "crop", "\n"
    return text
