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
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, TextIO

from rich.cells import cell_len, chop_cells, set_cell_size
from rich.console import Console, RenderableType
from rich.text import Text

from sipsniff.analysis.findings import Finding, findings
from sipsniff.correlate.states import TONES
from sipsniff.model import Dialog, Endpoint, Entry, Message, Trace
from sipsniff.render.base import RenderOptions, TimeFormat, duration, no_sip, register
from sipsniff.render.safe import ELLIPSIS, clean, decode, one_line
from sipsniff.sip.digest import parse_challenge
from sipsniff.sip.headers import header_value
from sipsniff.sip.sdp import has_sdp, media_summary
from sipsniff.sip.uri import parse_uri

CELL_LIMIT = 200
"""Most characters of packet text in one label or cell (before fitting to the width)."""
LINE_LIMIT = 1000
"""Most characters of one line of message text in full mode."""
MAX_LINES = 200
"""Most lines of one message in full mode."""
MIN_GAP = 18
"""Fewest cells between two lifelines: an adjacent arrow still shows a 9-cell label."""
MAX_GAP = 64
"""Most cells between two lifelines, however long a label."""
NOTE_MIN = 20
"""Cells the note column keeps before labels are shortened to make room."""

_LIFELINE = "│"
_CROSS = "┼"
_DASH = "─"
_RIGHT = "▶"
_LEFT = "◀"
_SELF = "⟲"
_ARROW_TO = "→"

_STYLE_LIFELINE = "dim"
_STYLE_NOTE = "dim"
_STYLE_REQUEST = "bold cyan"


# -- registry entry ----------------------------------------------------------------------------


@register
class TerminalRenderer:
    """Call list and ladders for a person at a terminal (format name ``text``)."""

    name = "text"

    def render(
        self,
        trace: Trace,
        dialogs: Sequence[Dialog],
        options: RenderOptions,
        out: TextIO | Console,
    ) -> None:
        if isinstance(out, Console):
            console = out
        else:
            console = Console(
                file=out, width=options.width, markup=False, emoji=False, highlight=False
            )
        width = console.width if options.width is None else min(options.width, console.width)
        nothing = no_sip(trace)
        if nothing is not None:
            console.print(Text(nothing), width=width)
            for line in tls_lines(trace):
                console.print(line, width=width)
            return
        sections: list[list[RenderableType]] = []
        if options.view in ("list", "both"):
            sections.append([call_list(trace, dialogs, options, width), summary(trace, dialogs)])
        if options.view == "both":
            # What went wrong, under the call list: what concerns the dialogs shown.
            found = findings(trace).about(d.id for d in dialogs)
            if found:
                lines = findings_lines(found)
                for line in lines:
                    line.truncate(width, overflow="ellipsis")  # one line each, cut visibly
                sections.append(list(lines))
        if options.view in ("ladder", "both"):
            tf = TimeFormat.of(trace, options)
            sections += (ladder(trace, dialog, options, width, tf) for dialog in dialogs)
        for number, section in enumerate(sections):
            if number:
                console.print(width=width)
            for renderable in _batched(section):
                console.print(renderable, width=width)


def _batched(renderables: Iterable[RenderableType]) -> Iterable[RenderableType]:
    """Runs of one-line texts joined into one (printing each line alone is slow in rich)."""
    run: list[Text] = []
    for renderable in renderables:
        if isinstance(renderable, Text) and renderable.no_wrap and len(run) < 1000:
            run.append(renderable)
            continue
        if run:
            yield _joined(run)
            run = []
        if isinstance(renderable, Text) and renderable.no_wrap:
            run.append(renderable)
        else:
            yield renderable
    if run:
        yield _joined(run)


def _joined(lines: list[Text]) -> Text:
    text = Text("\n", no_wrap=True, overflow="crop", end="\n").join(lines)
    text.no_wrap, text.overflow, text.end = True, "crop", "\n"
    return text


# -- small helpers -----------------------------------------------------------------------------


def _truncate(text: str, cells: int) -> str:
    """``text`` cut to at most ``cells`` terminal cells, ending in ``…`` when cut."""
    if cell_len(text) <= cells:
        return text
    if cells <= 0:
        return ""
    return set_cell_size(text, cells - 1).rstrip() + ELLIPSIS


def _middle(text: str, cells: int) -> str:
    """``text`` cut to ``cells`` by an ellipsis in the middle, keeping both ends (Call-ID, port)."""
    if cell_len(text) <= cells:
        return text
    if cells <= 2:
        return _truncate(text, cells)
    tail = (cells - 1) // 2
    head = cells - 1 - tail
    end = text
    while cell_len(end) > tail:
        end = end[1:]
    return set_cell_size(text, head) + ELLIPSIS + end


def _join(parts: Iterable[tuple[str, str]]) -> Text:
    text = Text(no_wrap=True, overflow="crop", end="\n")
    for piece, style in parts:
        text.append(piece, style)
    return text


@dataclass(slots=True)
class _Stamp:
    """A piece of text to put at a cell of a line."""

    start: int
    text: str
    style: str


def _compose(stamps: list[_Stamp]) -> list[tuple[str, str]]:
    """Pieces of one line with spaces between the stamps (sorted by cell, never overlapping)."""
    parts: list[tuple[str, str]] = []
    cursor = 0
    for stamp in sorted(stamps, key=lambda s: s.start):
        if stamp.start < cursor or not stamp.text:
            continue
        if stamp.start > cursor:
            parts.append((" " * (stamp.start - cursor), ""))
        parts.append((stamp.text, stamp.style))
        cursor = stamp.start + cell_len(stamp.text)
    return parts


def _place(labels: Sequence[str], xs: Sequence[int], width: int) -> list[tuple[int, str]]:
    """Labels centred over the cells ``xs``, each kept between the midpoints to its neighbours.

    A label may spread left of the first cell and right of the last one, up to the line's edges.
    Returns (start cell, label) pairs; a label wider than its room is cut with an ellipsis.
    """
    placed: list[tuple[int, str]] = []
    for k, (label, x) in enumerate(zip(labels, xs, strict=True)):
        lo = 0 if k == 0 else (xs[k - 1] + x) // 2 + 1
        hi = width if k == len(xs) - 1 else (x + xs[k + 1]) // 2 - 1  # exclusive
        text = _truncate(label, hi - lo)
        w = cell_len(text)
        start = min(max(x - (w - 1) // 2, lo), hi - w)
        placed.append((start, text))
    return placed


def _user_host(uri: str) -> str:
    """``user@host`` of a SIP URI (scheme, port, parameters and headers dropped); the number of
    a ``tel:`` URI; another URI as it is, up to its parameters."""
    u = parse_uri(uri)
    if u.scheme == "tel":
        return u.user
    if u.scheme not in ("sip", "sips", ""):
        return re.split("[;?]", uri.strip().strip("<>"), maxsplit=1)[0]
    user = u.user.partition(";")[0]
    return f"{user}@{u.host}" if user else u.host


def _party(name: str, uri: str, cells: int | None = None) -> str:
    """``Alice <alice@example.com>`` when ``cells`` allow (None: always), else the address alone."""
    address = one_line(_user_host(uri), CELL_LIMIT)
    if not name:
        return address
    named = f"{one_line(name, CELL_LIMIT)} <{address}>"
    if cells is None or cell_len(named) <= cells:
        return named
    return address


def outcome_style(outcome: str) -> str:
    """Colour of a dialog's outcome (``correlate.states.TONES``): green when it went well, red when
    something was refused or failed, yellow while under way or for the callee's own choice."""
    return {"good": "green", "bad": "red", "mid": "yellow"}.get(TONES.get(outcome, ""), "")


def message_style(msg: Message) -> str:
    """Colour of an arrow: requests cyan, 1xx yellow, 2xx green, 3xx-6xx red."""
    if msg.status is None:
        return _STYLE_REQUEST
    if msg.status < 200:
        return "yellow"
    if msg.status < 300:
        return "green"
    return "red"


def _header_section(raw: bytes) -> bytes:
    for blank in (b"\r\n\r\n", b"\n\n"):
        end = raw.find(blank)
        if end >= 0:
            return raw[:end]
    return raw[:65536]


def _first_header(raw: bytes, names: Sequence[bytes]) -> str | None:
    """Value of the first header of the message named one of ``names`` (lower case), or None."""
    for line in _header_section(raw).split(b"\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon and line[:1] not in b" \t" and name.strip().lower() in names:
            return decode(value.strip())
    return None


# -- call list ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _ListColumn:
    title: str
    cells: list[str]
    minimum: int
    """Narrowest it may become; columns whose minimum is their width never shrink (times)."""
    right: bool = False
    styles: list[str] | None = None
    named: list[str] | None = None
    """Cells with display names, shown instead of ``cells`` where the final width allows."""
    width: int = 0

    def __post_init__(self) -> None:
        self.width = max([cell_len(self.title), *(cell_len(c) for c in self.cells)])
        self.minimum = min(self.minimum, self.width)

    def cell(self, row: int) -> tuple[str, str]:
        """The text of row ``row`` cut to the column's width, and its style."""
        text = self.cells[row]
        if self.named is not None and cell_len(self.named[row]) <= self.width:
            text = self.named[row]
        return _truncate(text, self.width), self.styles[row] if self.styles is not None else ""


def _shrink(columns: list[_ListColumn], gap: int, width: int) -> None:
    """Narrow the widest shrinkable columns, one cell at a time, until the row fits ``width``."""
    while sum(c.width for c in columns) + gap * (len(columns) - 1) > width:
        candidates = [c for c in columns if c.width > c.minimum]
        if not candidates:
            return
        max(candidates, key=lambda c: c.width).width -= 1


_SRC_DST = f"Src {_ARROW_TO} Dst"
_DROP_ORDER = (_SRC_DST, "Duration", "To", "Msgs")
"""Columns of the call list to leave out, in this order, when the width cannot hold them."""


def call_list(trace: Trace, dialogs: Sequence[Dialog], options: RenderOptions, width: int) -> Text:
    """The call list: one row per dialog, fitted to ``width`` cells.

    Columns: Idx, Start, Method, From, To, Src -> Dst, Msgs, State, Duration. Times are never cut;
    From, To, Src -> Dst, Method and State shrink with an ellipsis; when even that is not enough,
    Src -> Dst goes first (the ladder shows it), then Duration, To and Msgs.
    """
    tf = TimeFormat.of(trace, options)
    resolution = trace.resolution
    abs_time = options.time == "abs"
    by_date = abs_time and len({tf.start(d.start_ns, date=True)[:10] for d in dialogs}) > 1
    zone = tf.title(dialogs[0].start_ns).removeprefix("time") if dialogs and abs_time else ""

    def ep(endpoint: Endpoint) -> str:
        return one_line(endpoint.ip if options.by_host else str(endpoint), CELL_LIMIT)

    def party(name: str, uri: str) -> str:
        return _party(name, uri)

    columns = [
        _ListColumn("Idx", [str(d.id) for d in dialogs], 99, right=True),
        _ListColumn(
            "Start" + zone, [tf.start(d.start_ns, date=by_date) for d in dialogs], 99, right=True
        ),
        _ListColumn(
            "Method",
            methods := [one_line(d.first_method, 40) for d in dialogs],
            min(max(map(len, methods), default=6), 9),
            styles=[_STYLE_REQUEST] * len(dialogs),
        ),
        _ListColumn(
            "From",
            froms := [party("", d.from_uri) for d in dialogs],
            10,
            named=[party(d.from_name, d.from_uri) for d in dialogs],
        ),
        _ListColumn(
            "To",
            tos := [party("", d.to_uri) for d in dialogs],
            10,
            named=[party(d.to_name, d.to_uri) for d in dialogs],
        ),
        # Whole or not at all: half an address is worse than none.
        _ListColumn(_SRC_DST, [f"{ep(d.src)} {_ARROW_TO} {ep(d.dst)}" for d in dialogs], 999),
        _ListColumn("Msgs", [str(len(d.messages)) for d in dialogs], 99, right=True),
        _ListColumn(
            "State",
            states := [one_line(d.state, 40) for d in dialogs],
            min(max(map(len, states), default=5), 18),
            styles=[outcome_style(d.outcome) for d in dialogs],
        ),
        _ListColumn(
            "Duration", [duration(d.duration_ns, resolution) for d in dialogs], 99, right=True
        ),
    ]
    # Src -> Dst gives way before From and To are cut below 16 cells (the ladder shows the addresses).
    preferred = {"From": min(max(map(len, froms), default=4), 16)}
    preferred["To"] = min(max(map(len, tos), default=2), 16)
    if sum(max(c.minimum, preferred.get(c.title, 0)) for c in columns) + len(columns) - 1 > width:
        columns = [c for c in columns if c.title != _SRC_DST]
    for title in _DROP_ORDER:
        if sum(c.minimum for c in columns) + len(columns) - 1 <= width:
            break
        columns = [c for c in columns if c.title != title]
    gap = 2 if sum(c.width for c in columns) + 2 * (len(columns) - 1) <= width else 1
    _shrink(columns, gap, width)

    # Widths are settled above, so rows are laid out here directly: a rich Table would measure
    # every cell again, which takes seconds for a call list of thousands of dialogs.
    sep = " " * gap
    last = len(columns) - 1
    head = Text(sep.join(_pad(c.title, c.width, c.right) for c in columns).rstrip(), "bold")
    lines = [head]
    for row in range(len(dialogs)):
        line = Text()
        for k, c in enumerate(columns):
            cell, style = c.cell(row)
            text = _pad(cell, c.width, c.right)
            line.append(text.rstrip() if k == last else text + sep, style or None)
        lines.append(line)
    for line in lines:
        line.truncate(width, overflow="ellipsis")
    out = Text("\n", no_wrap=True, overflow="ellipsis", end="").join(lines)
    out.no_wrap = True
    out.overflow = "ellipsis"
    return out


def _pad(text: str, width: int, right: bool) -> str:
    room = width - cell_len(text)
    if room <= 0:
        return text
    return " " * room + text if right else text + " " * room


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else plural or word + 's'}"


def summary(trace: Trace, dialogs: Sequence[Dialog]) -> Text:
    """One line of counts: messages, dialogs, retransmissions, skipped records, keep-alives."""
    total = len(trace.dialogs)
    shown = f" ({len(dialogs)} shown)" if len(dialogs) != total else ""
    retransmissions = sum(1 for e in trace.entries.values() if e.retransmission_of is not None)
    parts = [
        _plural(len(trace.entries), "message"),
        _plural(total, "dialog") + shown,
        _plural(retransmissions, "retransmission"),
        f"{len(trace.skipped)} skipped",
        _plural(trace.counts.keepalive, "keep-alive"),
    ]
    text = Text(", ".join(parts), style="dim")
    for line in tls_lines(trace):
        text.append("\n")
        text.append(line)
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


def tls_lines(trace: Trace) -> list[Text]:
    """One line per encrypted connection, and how to decrypt them: SIP we cannot read is still SIP
    a person is looking for."""
    out = []
    for c in trace.tls:
        what = " ".join(x for x in (c.version, c.sni and f"SNI {c.sni}") if x) or "TLS"
        line = clean(
            f"encrypted: {c.client} → {c.server}  {what}  "
            f"{c.client_bytes}/{c.server_bytes} bytes  frames {c.first_frame}-{c.last_frame}",
            200,
        )
        out.append(Text(line, no_wrap=True, overflow="ellipsis"))
    if trace.tls:
        out.append(Text("(--tls-keylog FILE decrypts TLS whose handshake was captured)"))
    return out


_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}


def findings_lines(items: Sequence[Finding]) -> list[Text]:
    """What went wrong and what to do, most severe first: evidence, then one line of advice."""
    if not items:
        return [Text("Findings", style="bold"), Text("  nothing wrong found")]
    lines = [Text(f"Findings ({len(items)})", style="bold")]
    for f in items:
        where = "capture" if f.dialog is None else f"dialog {f.dialog}"
        frames = ",".join(str(n) for n in f.frames[:6]) + ("…" if len(f.frames) > 6 else "")
        line = Text("  ")
        line.append(f"{f.severity:<7}", _SEVERITY_STYLE.get(f.severity, ""))
        line.append(f" {where}, frames {frames}: ")
        line.append(clean(f.summary, 300))
        lines.append(line)
        lines.append(Text("          → " + clean(f.advice, 300), style="dim"))
    for line in lines:
        line.no_wrap = True
    return lines


# -- ladder ------------------------------------------------------------------------------------

_Key = Endpoint | str


class _Note(NamedTuple):
    """A remark beside an arrow."""

    long: str
    short: str
    style: str
    important: bool
    """Shown under the arrow when there is no note column (retransmissions, challenges)."""


def _challenge_note(msg: Message) -> _Note:
    """``challenge: Digest MD5, realm example.com`` (the realm from the packet, cleaned)."""
    name = "WWW-Authenticate" if msg.status == 401 else "Proxy-Authenticate"
    value = header_value(msg.raw, name)
    if value is None:
        return _Note("challenge", "challenge", "yellow", True)
    c = parse_challenge(value)
    what = f"{c.scheme} {c.algorithm or 'MD5'}" if c.is_digest else c.scheme
    if c.qop:
        what += f" qop={','.join(c.qop)}"
    if c.realm:
        what += f", realm {c.realm}"
    return _Note(clean(f"challenge: {what}", 70), "challenge", "yellow", True)


@dataclass(slots=True)
class _Row:
    """One arrow of a ladder: a message, with its retransmissions folded in."""

    entry: Entry
    src: int
    dst: int
    count: int = 1
    last_ns: int = 0
    time: str = ""
    delta: str = ""
    variants: list[tuple[str, str, str]] = field(default_factory=list)
    """Labels from richest to barest, each (head, reason, tail); the reason may be cut."""
    notes: list[_Note] = field(default_factory=list)

    @property
    def msg(self) -> Message:
        return self.entry.msg

    @property
    def label_cells(self) -> int:
        """Cells of the richest label."""
        return cell_len(_label_text(self.variants[0]))

    def note_cells(self, short: bool) -> int:
        """Cells of all notes in their long or short forms."""
        if not self.notes:
            return 0
        return sum(cell_len(n.short if short else n.long) for n in self.notes) + 2 * (
            len(self.notes) - 1
        )


def _key(endpoint: Endpoint, by_host: bool) -> _Key:
    return endpoint.ip if by_host else endpoint


def _key_label(key: _Key) -> str:
    return one_line(str(key), CELL_LIMIT)


def _label_variants(msg: Message, count: int, sdp: bool) -> list[tuple[str, str, str]]:
    times = f" ×{count}" if count > 1 else ""
    if msg.status is None:
        method = one_line(msg.method or "?", 40)
        cseq = f"CSeq {msg.cseq_num}" if msg.cseq_num is not None else ""
        extras = ", ".join(x for x in (cseq, "SDP" if sdp else "") if x)
        variants = [
            (method + times, "", f" ({extras})" if extras else ""),
            (method + times, "", " (SDP)" if sdp else ""),
            (method + times, "", ""),
            (method, "", ""),
        ]
    else:
        code = str(msg.status)
        reason = one_line(msg.reason or "", CELL_LIMIT)
        body = " (SDP)" if sdp else ""
        variants = [(code, reason, times + body), (code, "", times + body), (code, "", times)]
        variants.append((code, "", ""))
    unique: list[tuple[str, str, str]] = []
    for variant in variants:
        if variant not in unique:
            unique.append(variant)
    return unique


def _label_text(variant: tuple[str, str, str]) -> str:
    head, reason, tail = variant
    return f"{head} {reason}{tail}" if reason else head + tail


def _fit_label(variants: Sequence[tuple[str, str, str]], cells: int) -> str:
    """The richest label that fits ``cells``: the reason is cut first, extras are dropped next."""
    for variant in variants:
        text = _label_text(variant)
        if cell_len(text) <= cells:
            return text
        head, reason, tail = variant
        room = cells - cell_len(head) - 1 - cell_len(tail)
        if reason and room >= 4:
            return f"{head} {_truncate(reason, room)}{tail}"
    return _truncate(_label_text(variants[-1]), cells)


def _fit_notes(notes: Sequence[_Note], cells: int, short: bool) -> list[tuple[str, str]]:
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
        piece = _truncate(form, room)
        if sep:
            parts.append((sep, _STYLE_NOTE))
        parts.append((piece, note.style))
        used += len(sep) + cell_len(piece)
        if piece != form:
            break
    return parts


def _agents(entries: Sequence[Entry], keys: Sequence[_Key], by_host: bool) -> list[str]:
    """User-Agent (or Server) of each endpoint, from the first message it sent that has one."""
    found: dict[_Key, str] = {}
    for entry in entries:
        key = _key(entry.msg.src, by_host)
        if key in found:
            continue
        value = _first_header(entry.msg.raw, (b"user-agent", b"server"))
        if value:
            found[key] = one_line(value, CELL_LIMIT)
    return [found.get(k, "") for k in keys]


def _heading(dialog: Dialog, width: int) -> list[Text]:
    """``Dialog 1  REGISTER  Alice <a@x> → b@x  REGISTERED  Call-ID abc…xyz``, fitted to ``width``.

    The Call-ID goes on a line of its own when it does not fit on the first.
    """
    index = f"Dialog {dialog.id}"
    method = one_line(dialog.first_method, 40)
    state = one_line(dialog.state, 40)
    call_id = one_line(dialog.call_id, CELL_LIMIT)

    def build(frm: str, to: str) -> list[tuple[str, str]]:
        parts = [(index, "bold"), ("  ", ""), (method, _STYLE_REQUEST), ("  ", "")]
        parts += [(frm, ""), (f" {_ARROW_TO} ", "dim"), (to, "")]
        if state:
            parts += [("  ", ""), (state, f"bold {outcome_style(dialog.outcome)}".strip())]
        return parts

    def size(parts: list[tuple[str, str]]) -> int:
        return sum(cell_len(p) for p, _ in parts)

    call = [("Call-ID ", "dim"), (_middle(call_id, max(8, min(40, width - 8))), "dim")]
    call_alone = [("Call-ID ", "dim"), (_middle(call_id, max(8, width - 8)), "dim")]
    from_bare, to_bare = _party("", dialog.from_uri), _party("", dialog.to_uri)
    named = build(_party(dialog.from_name, dialog.from_uri), _party(dialog.to_name, dialog.to_uri))
    bare = build(from_bare, to_bare)
    for parts in (named, bare):
        if size(parts) + 2 + size(call) <= width:
            return [_join([*parts, ("  ", ""), *call])]
    for parts in (named, bare):
        if size(parts) <= width:
            return [_join(parts), _join(call_alone)]
    each = max(4, (width - size(build("", ""))) // 2)
    first = _join(build(_truncate(from_bare, each), _truncate(to_bare, each)))
    first.truncate(width, overflow="ellipsis")
    return [first, _join(call_alone)]


def _root(trace: Trace, index: int) -> int:
    """The first message of a chain of retransmissions."""
    for _ in range(1000):
        original = trace.entries[index].retransmission_of
        if original is None or original not in trace.entries:
            break
        index = original
    return index


def _rows(trace: Trace, dialog: Dialog, keys: dict[_Key, int], by_host: bool) -> list[_Row]:
    """The arrows of a dialog, retransmissions folded into the row of their original."""
    rows: list[_Row] = []
    by_root: dict[int, _Row] = {}
    for index in dialog.messages:
        entry = trace.entries[index]
        root = _root(trace, index)
        row = by_root.get(root)
        if row is not None and root != index:
            row.count += 1
            row.last_ns = max(row.last_ns, entry.msg.ts_ns)
            continue
        row = _Row(
            entry,
            keys[_key(entry.msg.src, by_host)],
            keys[_key(entry.msg.dst, by_host)],
            last_ns=entry.msg.ts_ns,
        )
        rows.append(row)
        by_root[root] = row
    return rows


def _annotate(trace: Trace, dialog: Dialog, rows: list[_Row], tf: TimeFormat) -> None:
    """Fill in the times, labels and notes of each row."""
    resolution = trace.resolution
    # The response time is worth a note unless the row above is the request and the time
    # columns already show the delta between them.
    shows_delta = tf.mode in ("dialog", "delta")
    prev: int | None = None
    above: int | None = None
    for row in rows:
        msg = row.msg
        row.time = tf.stamp(msg.ts_ns, dialog.start_ns, prev)
        row.delta = tf.delta(msg.ts_ns, prev) if tf.has_delta else ""
        prev = msg.ts_ns
        previous_row, above = above, row.entry.id
        row.variants = _label_variants(msg, row.count, has_sdp(msg))
        if msg.status in (401, 407):
            row.notes.append(_challenge_note(msg))
        if row.variants and has_sdp(msg):
            media = media_summary(msg)
            if media:
                codecs = media.split(" · ")[0]
                row.notes.append(_Note(clean(media, 60), clean(codecs, 14), "cyan", False))
        if msg.status is not None and row.entry.transaction in trace.transactions:
            request = trace.transactions[row.entry.transaction].request
            redundant = shows_delta and request == previous_row
            if request is not None and request != row.entry.id and not redundant:
                spent = duration(msg.ts_ns - trace.entries[request].msg.ts_ns, resolution)
                row.notes.append(
                    _Note(f"{spent} after the request", f"after {spent}", _STYLE_NOTE, False)
                )
        if row.count > 1:
            until = duration(row.last_ns - msg.ts_ns, resolution, sign=True)
            row.notes.append(
                _Note(f"retransmitted until {until}", f"resent until {until}", "magenta", True)
            )


@dataclass(slots=True)
class _Layout:
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


def _layout(rows: list[_Row], n: int, avail: int, headers: list[str]) -> _Layout | None:
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
    layout = _Layout(fallback[0], fallback[1], 4, 0, False)
    if long_need:
        for gap, right, need, short in candidates:
            lanes = (n - 1) * gap + right
            if lanes + 2 + need <= avail:
                layout = _Layout(gap, right, 4, avail - lanes - 2, short)
                break
    for row in rows:
        span = abs(row.src - row.dst)
        if span and row.label_cells > span * layout.gap - 3 - 9:
            layout.lead = 2
    return layout


def _arrow(row: _Row, xs: Sequence[int], style: str, lead: int) -> list[_Stamp]:
    """Stamps of one arrow between two different lifelines (cells absolute)."""
    lo, hi = sorted((row.src, row.dst))
    rightward = row.dst > row.src
    start = xs[lo] + 2
    inner = xs[hi] - xs[lo] - 3
    room = inner - lead - 4 - (1 if lead > 2 else 0)
    label = _fit_label(row.variants, room) if room >= 1 else ""
    if not label:
        dashes = _DASH * (inner - 1)
        head, tail = ("", dashes + _RIGHT) if rightward else (_LEFT + dashes, "")
    elif rightward:
        head = _DASH * lead + " "
        tail = " " + _DASH * (inner - lead - cell_len(label) - 3) + _RIGHT
    else:
        head = _LEFT + _DASH * (lead - 1) + " "
        tail = " " + _DASH * (inner - lead - cell_len(label) - 2)
    label_at = start + len(head)
    tail_at = label_at + cell_len(label)
    head_chars, tail_chars = list(head), list(tail)
    for k in range(lo + 1, hi):
        x = xs[k]
        if start <= x < label_at and head_chars[x - start] == _DASH:
            head_chars[x - start] = _CROSS
        elif tail_at <= x < tail_at + len(tail_chars) and tail_chars[x - tail_at] == _DASH:
            tail_chars[x - tail_at] = _CROSS
    return [
        _Stamp(xs[lo], _LIFELINE, _STYLE_LIFELINE),
        _Stamp(start, "".join(head_chars), style),
        _Stamp(label_at, label, style),
        _Stamp(tail_at, "".join(tail_chars), style),
        _Stamp(xs[hi], _LIFELINE, _STYLE_LIFELINE),
    ]


def _span(row: _Row, xs: Sequence[int], layout: _Layout) -> tuple[int, int]:
    """First cell and width of the room an arrow's label (or its note below) may use."""
    lo, hi = sorted((row.src, row.dst))
    if lo != hi:
        return xs[lo] + 2, xs[hi] - xs[lo] - 3
    room = (xs[lo + 1] - xs[lo] - 2) if lo + 1 < len(xs) else layout.right - 1
    return xs[lo] + 4, room - 3


def _time_stamps(row: _Row, tw: int, dw: int) -> list[_Stamp]:
    stamps = [_Stamp(0, row.time.rjust(tw), "")]
    if dw:
        stamps.append(_Stamp(tw + 1, row.delta.rjust(dw), "dim"))
    return stamps


def _row_lines(row: _Row, xs: Sequence[int], layout: _Layout, tw: int, dw: int) -> list[Text]:
    """The line of one arrow, and the line of its important notes when there is no note column."""
    style = message_style(row.msg)
    stamps = _time_stamps(row, tw, dw)
    lo, hi = sorted((row.src, row.dst))
    if lo == hi:
        at, room = _span(row, xs, layout)
        stamps.append(_Stamp(at - 3, f" {_SELF} ", style))
        stamps.append(_Stamp(at, _fit_label(row.variants, room), style))
    else:
        stamps += _arrow(row, xs, style, layout.lead)
    lifelines = [_Stamp(x, _LIFELINE, _STYLE_LIFELINE) for x in xs]
    parts = _compose(stamps + lifelines)
    lines = []
    if layout.note_width:
        notes = _fit_notes(row.notes, layout.note_width, layout.short_notes)
        if notes:
            note_at = xs[-1] + layout.right + 2
            parts.append((" " * (note_at - sum(cell_len(p) for p, _ in parts)), ""))
            parts += notes
        return [_join(parts)]
    lines.append(_join(parts))
    important = [n for n in row.notes if n.important]
    if important:
        at, room = _span(row, xs, layout)
        if lo != hi:
            at, room = at + layout.lead + 1, room - layout.lead - 1
        notes = _fit_notes(important, room, False)
        if notes:
            text = "".join(p for p, _ in notes)
            lines.append(_join(_compose([_Stamp(at, text, "italic " + notes[-1][1]), *lifelines])))
    return lines


def _letter(k: int) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return letters[k] if k < len(letters) else f"{letters[k % 26]}{k // 26}"


def _headers(
    names: list[str], agents: list[str], xs: list[int], width: int, titles: list[_Stamp]
) -> list[Text]:
    """The lines above the first arrow: endpoint addresses and agents, then the column titles.

    Addresses are centred over their lifelines; when one does not fit, letters stand there instead
    and a legend lists the addresses.
    """
    placed = _place(names, xs, width)
    if all(text == name for (_, text), name in zip(placed, names, strict=True)):
        lines = [_join(_compose([_Stamp(at, text, "bold") for at, text in placed]))]
        if any(agents):
            stamps = [_Stamp(at, text, "dim") for at, text in _place(agents, xs, width)]
            lines.append(_join(_compose(stamps)))
        lifelines = [_Stamp(x, _LIFELINE, _STYLE_LIFELINE) for x in xs]
        lines.append(_join(_compose(titles + lifelines)))
        return lines
    lines = []
    address_w = max(cell_len(n) for n in names)
    for k, (name, agent) in enumerate(zip(names, agents, strict=True)):
        parts = [(f"{_letter(k):>3}  ", "bold"), (_truncate(name, width - 5), "")]
        if agent and width - 7 - address_w >= 4:
            parts.append((" " * (address_w - cell_len(name) + 2), ""))
            parts.append((_truncate(agent, width - 7 - address_w), "dim"))
        lines.append(_join(parts))
    letters = [_Stamp(x, _letter(k), "bold") for k, x in enumerate(xs)]
    lines.append(_join(_compose(titles + letters)))
    return lines


def _message_block(msg: Message, indent: int, width: int) -> list[Text]:
    """Full mode: the message text under its arrow, header names in bold, then a blank line.

    At most ``MAX_LINES`` lines of the message, each cut at ``LINE_LIMIT`` characters, folded to
    the width with continuation lines indented two more cells.
    """
    lines = decode(msg.raw).split("\n")
    while lines and lines[-1] in ("", "\r"):
        lines.pop()
    texts: list[Text] = []
    in_headers = True
    for number, raw_line in enumerate(lines[:MAX_LINES]):
        line = raw_line.removesuffix("\r")
        shown = clean(line, LINE_LIMIT)
        text = Text(no_wrap=True, overflow="crop", end="\n")
        if number == 0:
            text.append(shown, f"bold {message_style(msg)}")
        elif in_headers and not line:
            in_headers = False
        elif in_headers and line[:1] not in (" ", "\t") and ":" in shown:
            name, _, value = shown.partition(":")
            text.append(name, "bold")
            text.append(":" + value)
        else:
            text.append(shown)
        texts.append(text)
    tail = []
    if len(lines) > MAX_LINES:
        tail.append((f"{ELLIPSIS} {len(lines) - MAX_LINES} more lines", "dim italic"))
    if msg.truncated:
        note = f"truncated: Content-Length {msg.content_length}, {len(msg.body)} bytes captured"
        tail.append((f"{ELLIPSIS} {note}", "dim italic"))
    tail += [(f"! {one_line(problem, CELL_LIMIT)}", "yellow") for problem in msg.problems]
    texts += [Text(t, style, end="\n") for t, style in tail]

    room = max(8, width - indent)
    out: list[Text] = []
    for text in texts:
        text.expand_tabs(8)
        first, *rest = chop_cells(text.plain, room) or [""]
        pieces = [first]
        if rest:
            pieces += chop_cells(text.plain[len(first) :], room - 2)
        offsets = []
        at = 0
        for piece in pieces[:-1]:
            at += len(piece)
            offsets.append(at)
        for k, part in enumerate(text.divide(offsets)):
            part.pad_left(indent + (2 if k else 0))
            part.no_wrap, part.overflow, part.end = True, "crop", "\n"
            out.append(part)
    out.append(Text(end="\n"))
    return out


def _compact(
    rows: list[_Row],
    names: list[str],
    tw: int,
    dw: int,
    titles: list[_Stamp],
    *,
    width: int,
    full: bool,
) -> list[RenderableType]:
    """The ladder as a list, one line per message: ``time  delta  src → dst  label  note``."""
    left = tw + 1 + (dw + 1 if dw else 0) + 1
    src_w = max(cell_len(names[r.src]) for r in rows)
    dst_w = max(cell_len(names[r.dst]) for r in rows)
    label_need = max(r.label_cells for r in rows)
    while left + src_w + dst_w + 3 + 2 + min(label_need, 16) > width and max(src_w, dst_w) > 6:
        if src_w >= dst_w:
            src_w -= 1
        else:
            dst_w -= 1
    dst_at = left + src_w + 3
    label_at = dst_at + dst_w + 2
    label_w = max(1, min(label_need, width - label_at))
    note_at = label_at + label_w + 2
    short_need = max(r.note_cells(True) for r in rows)
    note_w = max(0, width - note_at)
    if note_w < max(6, min(short_need, NOTE_MIN)):
        note_w = 0
    short = any(r.note_cells(False) > note_w for r in rows)
    out: list[RenderableType] = []
    heads = [_Stamp(left, "from", "bold"), _Stamp(dst_at, "to", "bold")]
    out.append(_join(_compose([*titles, *heads])))
    for row in rows:
        style = message_style(row.msg)
        stamps = _time_stamps(row, tw, dw)
        stamps.append(_Stamp(left, _middle(names[row.src], src_w), ""))
        stamps.append(_Stamp(left + src_w + 1, _ARROW_TO, style))
        stamps.append(_Stamp(dst_at, _middle(names[row.dst], dst_w), ""))
        stamps.append(_Stamp(label_at, _fit_label(row.variants, label_w), style))
        parts = _compose(stamps)
        if note_w:
            notes = _fit_notes(row.notes, note_w, short)
            if notes:
                parts.append((" " * (note_at - sum(cell_len(p) for p, _ in parts)), ""))
                parts += notes
        out.append(_join(parts))
        important = [n for n in row.notes if n.important]
        if not note_w and important:
            notes = _fit_notes(important, width - label_at, False)
            if notes:
                text = "".join(p for p, _ in notes)
                out.append(_join([(" " * label_at, ""), (text, "italic " + notes[-1][1])]))
        if full:
            out += _message_block(row.msg, left, width)
    return out


def ladder(
    trace: Trace,
    dialog: Dialog,
    options: RenderOptions,
    width: int,
    tf: TimeFormat | None = None,
) -> list[RenderableType]:
    """The ladder diagram of one dialog, as renderables to print one after another.

    One column per endpoint (ip:port, or ip with ``by_host``) in order of first appearance, one row
    per message with retransmissions folded into their original's row.

    Args:
        tf: the time format of ``trace`` and ``options``, when the caller has it already (it costs
            a pass over the trace).
    """
    entries = [trace.entries[i] for i in dialog.messages]
    out: list[RenderableType] = [*_heading(dialog, width)]
    if not entries:
        out.append(Text("(no messages)", style="dim italic"))
        return out

    keys: dict[_Key, int] = {}
    for entry in entries:
        for endpoint in (entry.msg.src, entry.msg.dst):
            keys.setdefault(_key(endpoint, options.by_host), len(keys))
    names = [_key_label(k) for k in keys]
    tf = tf or TimeFormat.of(trace, options)
    rows = _rows(trace, dialog, keys, options.by_host)
    _annotate(trace, dialog, rows, tf)

    time_title = tf.title(rows[0].msg.ts_ns)
    tw = max(cell_len(time_title), *(cell_len(r.time) for r in rows))
    dw = max(cell_len("delta"), *(cell_len(r.delta) for r in rows)) if tf.has_delta else 0
    titles = [_Stamp(0, time_title.rjust(tw), "bold")]
    if dw:
        titles.append(_Stamp(tw + 1, "delta".rjust(dw), "bold"))
    left = tw + 1 + (dw + 1 if dw else 0) + 1

    # Addresses stand over their lifelines when the gap can hold them; else a legend lists them,
    # and the gap need not be wide enough for them.
    layout = _layout(rows, len(names), width - left, names)
    if layout is not None and len(names) > 1 and max(map(cell_len, names)) + 2 > layout.gap:
        layout = _layout(rows, len(names), width - left, [])
    if layout is None:
        hosts = len({e.msg.src.ip for e in entries} | {e.msg.dst.ip for e in entries})
        hint = f" (--by-host: {hosts})" if hosts < len(names) else ""
        reason = (
            f"{len(names)} endpoints{hint} do not fit in {width} columns: one line per message."
        )
        out.append(Text(reason, style="italic", end="\n"))
        return out + _compact(rows, names, tw, dw, titles, width=width, full=options.full)

    xs = [left + k * layout.gap for k in range(len(names))]
    agents = _agents(entries, list(keys), options.by_host)
    out += _headers(names, agents, xs, width, titles)
    for row in rows:
        out += _row_lines(row, xs, layout, tw, dw)
        if options.full:
            out += _message_block(row.msg, left, width)
    return out
