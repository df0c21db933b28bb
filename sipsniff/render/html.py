"""A shareable ladder page (``--format html``): one self-contained HTML file that works offline.

How the page is built
---------------------
The call list (the index) is HTML that Jinja2 writes with autoescaping on: every packet string in
it is escaped for its context (element text or attribute value) and made one visible line by
``safe.one_line`` first, so no control or bidi character can reorder what is shown.

The ladders are drawn in the browser, one dialog at a time (the one the address names, ``#dialog-3``),
from one block of JSON data: ``<script type="application/json" id="data">``. That keeps a capture
of thousands of dialogs to one copy of the CSS and JS and one ladder in the DOM at a time. The JSON
has ``<``, ``>``, ``&``, U+2028 and U+2029 written as ``\\u003c``-style escapes, so no packet text can
close the script element or open a comment in it; the script inserts packet text only through
``textContent`` (and ``title``), never as markup.

Times are formatted here, not in JavaScript (nanosecond timestamps do not fit a JavaScript number
whole): each message carries its wall-clock, since-capture and since-dialog stamps and each arrow
its delta, so the page's time switch only picks a column, and shows what ``base.TimeFormat`` shows
in the terminal.

CSS and JS are inline, and a Content-Security-Policy allows exactly those two (by SHA-256 hash),
``data:`` images and nothing else: the page makes no network request, and an injected script or
style would not run even if escaping failed.

The data (``sipsniff-html/1``): ``messages`` are ``json.message_dict`` objects plus ``t`` (time
stamps) and ``text`` (the message, control characters made visible); ``dialogs`` are
``json.dialog_dict`` objects plus ``lanes`` and ``rows`` (one arrow each, retransmissions folded in).

A big capture's page (``html_compact.COMPACT_FROM`` messages or more) is compact: its data is
``compact``, tables from which its script draws the call list and builds each ladder when it is
drawn, to the same result (``html_compact`` says how); its call list has no HTML rows.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator, Sequence
from functools import cache
from importlib import resources
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, TextIO

from markupsafe import Markup

from sipsniff import __version__
from sipsniff.analysis.explain.model import Ref, citation
from sipsniff.analysis.ladder import ChallengeNote, MediaNote, RetransmittedNote, Row
from sipsniff.analysis.report import TraceReport
from sipsniff.model import Dialog, Entry, Trace
from sipsniff.render.base import (
    TIME_MODES,
    Renderer,
    RenderOptions,
    TimeFormat,
    duration,
    register,
    stream_of,
)
from sipsniff.render.html_compact import CompactPage, compact_page, is_compact
from sipsniff.render.html_text import (
    CELL_LIMIT,
    message_class,
    message_text,
    script_json,
    state_class,
    visible_dict,
)
from sipsniff.render.json import dialog_dict, message_dict
from sipsniff.render.notes import retransmitted_later, words
from sipsniff.render.safe import decode, one_line

if TYPE_CHECKING:
    import jinja2
    from rich.console import Console

SCHEMA = "sipsniff-html/1"

_TEMPLATES = "templates"


# -- escaping -----------------------------------------------------------------------------------


def csp_hash(text: str) -> str:
    """A CSP source that allows exactly the inline script or style ``text``."""
    import hashlib  # only a page needs it: sip.digest.hash_hex says why

    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


# -- assets -------------------------------------------------------------------------------------


@cache
def _environment() -> jinja2.Environment:
    import jinja2  # here: a command that writes no page does not wait for its import

    return jinja2.Environment(
        loader=jinja2.PackageLoader("sipsniff.render", _TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@cache
def asset(name: str) -> str:
    """A static file of the page (``ladder.css``, ``ladder.js``), inlined as it is."""
    return resources.files("sipsniff.render").joinpath(_TEMPLATES, name).read_text("utf-8")


# -- data ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Clocks:
    """One ``TimeFormat`` per time mode."""

    by_mode: dict[str, TimeFormat]

    @classmethod
    def of(cls, trace: Trace, options: RenderOptions) -> _Clocks:
        first = TimeFormat.of(trace, options)  # one look for the capture's first message
        return cls({mode: dataclasses.replace(first, mode=mode) for mode in TIME_MODES})

    def __getitem__(self, mode: str) -> TimeFormat:
        return self.by_mode[mode]


def _message(
    trace: Trace, entry: Entry, dialog: Dialog, clocks: _Clocks, several: bool
) -> dict[str, Any]:
    msg = entry
    data = visible_dict(message_dict(entry, several_files=several))
    ts = msg.ts_ns
    data["t"] = {
        "abs": clocks["abs"].stamp(ts, dialog.start_ns, None),
        "rel": clocks["rel"].stamp(ts, dialog.start_ns, None),
        "dialog": clocks["dialog"].stamp(ts, dialog.start_ns, None),
    }
    data["label"] = one_line(msg.label, CELL_LIMIT)
    data["class"] = message_class(msg)
    data["text"] = message_text(decode(msg.raw))
    return data


def _notes(row: Row, resolution: int) -> list[str]:
    """Remarks beside an arrow, in ``render.notes``'s words: a challenge short, the retransmissions
    as a count and a time (the panel lists the copies), the others long; the media not (the info
    column says SDP)."""
    notes: list[str] = []
    for note in row.notes:
        if isinstance(note, MediaNote):
            continue
        if isinstance(note, RetransmittedNote):
            notes.append(retransmitted_later(note, resolution))
        elif isinstance(note, ChallengeNote):
            notes.append(words(note, resolution).short)
        else:
            notes.append(words(note, resolution).long)
    return notes


def _dialog(report: TraceReport, dialog: Dialog, clocks: _Clocks, by_date: bool) -> dict[str, Any]:
    data = visible_dict(dialog_dict(dialog))
    ladder = report.ladder(dialog)
    data["lanes"] = [
        {"addr": one_line(c.address, CELL_LIMIT), "agent": one_line(c.agent, CELL_LIMIT)}
        for c in ladder.columns
    ]
    resolution = report.trace.resolution
    rows: list[dict[str, Any]] = []
    prev: int | None = None
    for row in ladder.rows:
        msg = row.msg
        ts = msg.ts_ns
        info = [f"CSeq {msg.cseq}"] if msg.cseq else []
        if row.sdp:
            info.append("SDP")
        rows.append(
            {
                "m": row.entry.id,
                "src": row.src,
                "dst": row.dst,
                "copies": [c.id for c in row.copies],
                "delta": clocks["delta"].stamp(ts, dialog.start_ns, prev),
                "gap": clocks["dialog"].delta(ts, prev),
                "info": one_line(" · ".join(info), CELL_LIMIT),
                "notes": _notes(row, resolution),
            }
        )
        prev = ts
    data["rows"] = rows
    data["zone"] = clocks["abs"].title(dialog.start_ns)
    data["startText"] = {
        "abs": clocks["abs"].start(dialog.start_ns, date=by_date),
        "rel": clocks["rel"].start(dialog.start_ns),
    }
    data["durationText"] = duration(dialog.duration_ns, resolution)
    return data


def by_date(dialogs: Sequence[Dialog], clocks: _Clocks) -> bool:
    """Whether the dialogs started on more than one day: then wall-clock starts carry the date.
    (Dated a second at a time: a capture's dialogs start many to a second.)"""
    seconds = {d.start_ns // 1_000_000_000 for d in dialogs}
    return len({clocks["abs"].start(s * 1_000_000_000, date=True)[:10] for s in seconds}) > 1


def page_data(
    report: TraceReport, options: RenderOptions, compact: CompactPage | None = None
) -> dict[str, Any]:
    """What the page's script draws from (schema ``sipsniff-html/1``): with ``compact``, its
    tables (``html_compact``) instead of the dialogs and messages."""
    trace, dialogs = report.trace, report.dialogs
    ladders = options.view != "list"
    data: dict[str, Any] = {
        "schema": SCHEMA,
        "time": options.time,
        "full": options.full,
        "ladders": ladders,
        "titles": {"rel": "since start", "dialog": "time", "delta": "delta"},
        "dialogs": [],
        "messages": [],
    }
    if compact is not None:
        data["compact"] = compact.data
    elif ladders:
        clocks = _Clocks.of(trace, options)
        dated = by_date(dialogs, clocks)
        several = len(trace.inputs) > 1
        data["messages"] = [
            _message(trace, trace.entries[index], dialog, clocks, several)
            for dialog in dialogs
            for index in dialog.messages
        ]
        data["dialogs"] = [_dialog(report, d, clocks, dated) for d in dialogs]
    return data


# -- the index ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class IndexRow:
    """One line of the call list, every string already one safe line (Jinja escapes it)."""

    index: int
    start_abs: str
    start_rel: str
    method: str
    from_: str
    from_uri: str
    to: str
    to_uri: str
    src: str
    dst: str
    messages: int
    state: str
    state_class: str
    duration: str
    call_id: str


def _party(name: str, uri: str) -> str:
    uri = one_line(uri, CELL_LIMIT)
    return f"{one_line(name, CELL_LIMIT)} <{uri}>" if name else uri


def index_rows(
    trace: Trace, dialogs: Sequence[Dialog], options: RenderOptions
) -> Iterator[IndexRow]:
    clocks = _Clocks.of(trace, options)
    dated = by_date(dialogs, clocks)
    for d in dialogs:
        state = one_line(d.state, CELL_LIMIT)
        yield IndexRow(
            index=d.id,
            start_abs=clocks["abs"].start(d.start_ns, date=dated),
            start_rel=clocks["rel"].start(d.start_ns),
            method=one_line(d.first_method, CELL_LIMIT),
            from_=_party(d.from_name, d.from_uri),
            from_uri=one_line(d.from_uri, CELL_LIMIT),
            to=_party(d.to_name, d.to_uri),
            to_uri=one_line(d.to_uri, CELL_LIMIT),
            src=one_line(str(d.src), CELL_LIMIT),
            dst=one_line(str(d.dst), CELL_LIMIT),
            messages=len(d.messages),
            state=state,
            state_class=state_class(d.outcome),
            duration=duration(d.duration_ns, trace.resolution),
            call_id=one_line(d.call_id, CELL_LIMIT),
        )


def start_width(chars: int) -> str:
    """The width class of the call list's Start column (``ladder.css``) for its longest text."""
    for limit, name in ((15, ""), (19, "w20"), (26, "w27")):
        if chars <= limit:
            return name
    return "w31"


# -- learn mode -------------------------------------------------------------------------------------

EXPLAIN_LIMIT = 2000
"""Most characters of one explanation sentence or header note in the page."""


@dataclasses.dataclass(frozen=True, slots=True)
class ExplainAssets:
    """What ``read --explain -f html`` adds to the page: its own style, script and data block
    (the page without ``--explain`` stays as it was, byte for byte)."""

    css: Markup
    js: Markup
    data: Markup
    css_hash: str
    js_hash: str


def _sentence(text: str, refs: tuple[Ref, ...]) -> dict[str, str]:
    return {"text": one_line(text, EXPLAIN_LIMIT), "refs": citation(refs)}


def explain_data(report: TraceReport, full: bool) -> dict[str, Any]:
    """The explanations of the page's dialogs: ``dialogs`` (the story of each, by index) and
    ``rows`` (each arrow's sentences and header notes, by message index, with its dialog ``d``)."""
    dialogs: dict[str, Any] = {}
    rows: dict[str, Any] = {}
    for dialog in report.dialogs:
        told = report.explanation(report.ladder(dialog), full=full)
        dialogs[str(dialog.id)] = _sentence(told.summary.text, told.summary.refs)
        for row in told.rows:
            rows[str(row.entry)] = {
                "d": dialog.id,
                "sentences": [_sentence(s.text, s.refs) for s in row.sentences],
                "headers": [
                    {
                        "name": one_line(h.name, CELL_LIMIT),
                        **_sentence(h.text, h.refs),
                    }
                    for h in row.headers
                ],
            }
    return {"dialogs": dialogs, "rows": rows}


def explain_assets(report: TraceReport, options: RenderOptions) -> ExplainAssets | None:
    """The learn mode's additions to the page; None without ``--explain`` (or without ladders)."""
    if not options.explain or options.view == "list":
        return None
    css, js = asset("explain.css"), asset("explain.js")
    data = script_json(explain_data(report, options.explain == "full"))
    return ExplainAssets(Markup(css), Markup(js), Markup(data), csp_hash(css), csp_hash(js))


# -- the page -----------------------------------------------------------------------------------


def render_page(report: TraceReport, options: RenderOptions) -> Iterator[str]:
    """The page, in pieces to write one after another."""
    trace, dialogs = report.trace, report.dialogs
    css, js = asset("ladder.css"), asset("ladder.js")
    learn = explain_assets(report, options)
    clocks = _Clocks.of(trace, options)
    dated = by_date(dialogs, clocks)
    # The findings first: what working them out holds is let go before the compact tables are
    # made (together, they made the page's peak memory).
    findings = report.findings
    compact = None
    if is_compact(report, options):
        compact = compact_page(report, options, clocks["abs"], dated)
    compact_js = asset("compact.js") if compact is not None else ""
    styles, scripts = [csp_hash(css)], [csp_hash(js)]
    if compact is not None:
        scripts.insert(0, csp_hash(compact_js))
    if learn is not None:
        styles.append(learn.css_hash)
        scripts.append(learn.js_hash)
    csp = "; ".join(
        [
            "default-src 'none'",
            f"style-src {' '.join(styles)}",
            f"script-src {' '.join(scripts)}",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )
    first = min((d.start_ns for d in dialogs), default=clocks["abs"].origin_ns)
    found = [
        {
            "severity": f.severity,
            "dialog": f.dialog,
            "frames": ", ".join(str(n) for n in f.frames[:12])
            + (" …" if len(f.frames) > 12 else ""),
            "summary": one_line(f.summary, 400),
            "advice": one_line(f.advice, 400),
        }
        for f in findings
    ]
    retransmissions = sum(d.retransmissions for d in dialogs)
    last = max((d.start_ns for d in dialogs), default=first)
    start_chars = max(len(clocks["abs"].start(first, date=dated)), len(clocks["rel"].start(last)))
    data = script_json(page_data(report, options, compact))
    if compact is not None:
        compact = dataclasses.replace(compact, data={})  # in ``data`` now; not held twice
    template = _environment().get_template("ladder.html")
    pieces = template.generate(
        csp=csp,
        css=Markup(css),
        js=Markup(js),
        data=_DATA,
        # A compact page's script draws its call list from the data.
        rows=index_rows(trace, dialogs, options) if compact is None else (),
        mode=options.time,
        start_width=start_width(start_chars),
        modes=[
            ("abs", "absolute", "wall clock, " + clocks["abs"].title(first).removeprefix("time ")),
            ("rel", "relative", "since the capture's first message"),
            ("dialog", "dialog", "since the dialog's first message, and the delta"),
            ("delta", "delta", "since the previous message"),
        ],
        zone=clocks["abs"].title(first).removeprefix("time "),
        # File names, not paths: a page is shared, the folders it was made in are nobody's business.
        inputs=[one_line(PurePath(i.path).name or i.path, CELL_LIMIT) for i in trace.inputs],
        dialogs=len(dialogs),
        total=len(trace.dialogs),
        messages=sum(len(d.messages) for d in dialogs),
        retransmissions=retransmissions,
        skipped=trace.skipped_total,
        ladders=options.view != "list",
        findings=found,
        full=options.full,
        explain=learn,
        compact=compact,
        compact_js=Markup(compact_js),
        version=__version__,
    )
    return _with_data(pieces, data)


_DATA = Markup("\x00the page's data\x00")
"""What the template is given for the data block, which ``_with_data`` writes in its place: a
block of megabytes made ``Markup`` would be copied twice more (by ``Markup``, then by the
template's ``escape``) and written in one piece (encoded whole)."""
_SLICE = 1 << 20
"""Characters of the data block written at a time."""


def _with_data(pieces: Iterator[str], data: str) -> Iterator[str]:
    """``pieces`` of the page, with ``data`` (safe: ``script_json``) in the place of ``_DATA``."""
    for piece in pieces:
        if piece == _DATA:
            for at in range(0, len(data), _SLICE):
                yield data[at : at + _SLICE]
            data = ""
        else:
            yield piece


@register
class HtmlRenderer(Renderer):
    """A self-contained HTML page: call list with filter, ladders drawn on demand (``html``)."""

    name = "html"
    description = "a self-contained page"

    def write(self, report: TraceReport, options: RenderOptions, out: TextIO | Console) -> None:
        stream = stream_of(out)
        for piece in render_page(report, options):
            stream.write(piece)
