"""``sipsniff browse``: the call list, the flow of a dialog, and the screens around them.

How this works. A worker thread feeds a ``Session`` (``loader``): from capture files a batch at
a time, or from a live capture as packets come. After each batch it hands the UI a ``Progress``
(``call_from_thread``), and the call list (``calls.CallTable``, a virtual table) shows the new
rows at once: the first rows of a big file appear before it is read. Everything the screens show
comes from the session's trace through the same analysis as ``read``: the ladder
(``TraceReport.ladder``), findings, digest steps, statistics, RTP streams.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar

from rich.console import Group
from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from sipsniff.analysis.auth import analyze
from sipsniff.analysis.explain import DialogExplanation
from sipsniff.analysis.frames import MediaLog
from sipsniff.analysis.report import TraceReport
from sipsniff.analysis.rtp import RtpObserver, streams_of
from sipsniff.analysis.select import Selection
from sipsniff.analysis.summary import Summary
from sipsniff.browse.calls import CallTable
from sipsniff.browse.export import default_name, export, free_name
from sipsniff.browse.filter import Filter
from sipsniff.browse.flow import FlowView, diff_lines, flow_lines, message_text
from sipsniff.browse.loader import Progress, marks
from sipsniff.browse.rows import Cells, combined, related
from sipsniff.browse.screens import (
    ColumnsScreen,
    DiffScreen,
    ExportScreen,
    PasswordScreen,
    TextScreen,
    help_screen,
)
from sipsniff.errors import SipsniffError
from sipsniff.model import Dialog, Trace
from sipsniff.pipeline import Session
from sipsniff.render.auth import report_lines
from sipsniff.render.base import TIME_MODES, RenderOptions, TimeFormat
from sipsniff.render.safe import one_line
from sipsniff.render.stats import peer_lines, rtp_lines, stats_lines
from sipsniff.render.terminal import explain as explain_lines
from sipsniff.render.terminal.calllist import findings_lines

Feed = Callable[[Callable[[Progress], object], Callable[[], bool]], object]
"""Runs in the worker thread: feeds the session, calls ``emit(progress)`` after each batch,
stops when ``stopped()`` says so."""
APPLY_EVERY = 0.5
"""Seconds between two updates of the call list while the input is read (the first rows and the
end of the input are shown at once): each one draws the screen again, and a drawing holds the
reading thread up (the interpreter lock) for as long as it takes, tens of milliseconds."""


@dataclass
class Source:
    """What the browser reads: the session it shows and how it is fed."""

    session: Session
    feed: Feed
    name: str
    """For the title: the file name, or ``live eth0``."""
    inputs: Sequence[str] = ()
    """Capture files (pcap export copies their frames); empty when capturing live."""
    status: Callable[[], str] | None = None
    """Live: the capture's counters (packets, drops) for the header."""
    rtp: RtpObserver = field(default_factory=RtpObserver)
    media: MediaLog | None = None
    """Where every UDP datagram went (pcap export with RTP); files only."""
    finish: Callable[[Trace], None] | None = None
    """Called in the worker when the input ended, with the final trace (inputs filled in)."""


class BrowseApp(App[None]):
    """The browser. ``options`` holds the time mode, zone and ``by_host`` as ``read`` takes them."""

    TITLE = "sipsniff browse"
    CSS = """
    #status { height: 1; background: $boost; padding: 0 1; }
    #filter { height: 1; border: none; padding: 0 1; background: $boost; }
    #filter:focus { background: $accent 30%; }
    #filter.error { color: $error; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit_or_back", "Quit"),
        Binding("escape", "escape", "Back", show=False),
        Binding("f1,question_mark", "help", "Help"),
        Binding("slash,f3,f7", "filter", "Filter"),
        Binding("f2,e", "export", "Save"),
        Binding("f4,x", "extended", "Extended flow"),
        Binding("f10,c", "columns", "Columns"),
        Binding("t", "time", "Time"),
        Binding("s", "stats", "Stats"),
        Binding("a", "auth", "Auth"),
        Binding("p", "pause", "Pause", show=False),
    ]

    def __init__(self, source: Source, options: RenderOptions, *, initial: str = "") -> None:
        super().__init__()
        self.initial = initial
        """The filter to start with."""
        self.source = source
        self.session = source.session
        self.trace = source.session.trace()
        self.options = options
        self.cells = Cells(self.trace, TimeFormat.of(self.trace, options))
        self.table = CallTable(self.cells, id="calls")
        self.filter = Filter(datetime.UTC if options.utc else options.tz)
        self.all: list[Dialog] = []
        """Every dialog found, in order of ids (what the filter chooses from)."""
        self.frames = 0
        self.done = False
        self.marked = False
        """The findings of the capture are known (they come after the list is whole)."""
        self.indexed = False
        """The filter's text of every dialog is made (after the findings)."""
        self._found: dict[int, str] | None = None
        self._text_made = False
        """The findings column, once the thread ``after`` has made it."""
        self.after: threading.Thread | None = None
        """The thread that makes the findings and the filter's text once the list is whole."""
        self.paused = False
        self._pending: list[Progress] = []
        """What the reading did that the list does not show yet: held while paused, and for
        ``APPLY_EVERY`` after the list was last brought up to date."""
        self._applied = 0.0
        """When the list was last brought up to date (``time.monotonic``)."""
        self._quitting = False
        self.failure: SipsniffError | None = None
        """The error that ended the browser (``_handle_exception``), raised again by ``run``."""
        self._started = time.monotonic()
        self._rate: tuple[float, int] = (self._started, 0)
        self._msg_rate = 0.0
        self.status_line = Text()
        """What the status line shows."""
        self.status_bar = Static(id="status")

    # -- layout ------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield self.status_bar
        yield Input(
            placeholder="filter: words, method:INVITE state:rejected status:4xx user:100 "
            "host:10.0.0.0/8 since:10:00 ...",
            id="filter",
        )
        yield self.table
        yield Footer()

    def on_mount(self) -> None:
        self.table.focus()
        if self.initial:
            self.query_one("#filter", Input).value = self.initial
        self._status()
        self._read()
        self.set_interval(0.5, self._tick)

    # -- reading -----------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="read")
    def _read(self) -> None:
        try:
            self.source.feed(self._emit, lambda: self._quitting)
        except SipsniffError as exc:
            self.call_from_thread(self._failed, str(exc))
            return
        if self._quitting:
            return
        trace = self.session.trace()
        if self.source.finish is not None:
            self.source.finish(trace)
        self.call_from_thread(self._finished, trace)
        # What comes after the list is whole takes seconds on a big capture: in a thread the
        # process does not wait for when the person quits meanwhile (a daemon; this worker's
        # thread, in Textual's pool, would be waited for).
        self.after = threading.Thread(
            target=self._after, args=(trace,), name="findings", daemon=True
        )
        self.after.start()

    def _after(self, trace: Trace) -> None:
        """The findings column, then the filter's text of every dialog."""
        # Left for ``_tick`` to apply: a call into an app that may have ended meanwhile (not by
        # a key that says so) would be lost, and its coroutine never awaited.
        self._found = marks(trace)
        # The text the filter box looks words up in, made now for every dialog, so that the
        # first key typed finds it there (a second of work on 30,000 dialogs). The filter makes
        # what it needs itself meanwhile: both make the same text, whichever comes first.
        text = self.filter.index.text
        for i, d in enumerate(list(trace.dialogs.values())):
            if not i % 1024 and self._quitting:
                return
            text(trace, d)
        self._text_made = True

    def _emit(self, progress: Progress) -> None:
        if not self._quitting:
            self.call_from_thread(self._progress, progress)

    def _progress(self, p: Progress) -> None:
        self.frames = p.frames
        self._pending.append(p)
        if self.paused and not p.done:
            return
        # The first rows at once, the last state at once, and in between the list brought up
        # to date every APPLY_EVERY at most (``_tick`` does it too): each time, the screen is
        # drawn again, which holds up the reading thread (the interpreter lock) for as long.
        if p.done or not self.all or time.monotonic() - self._applied >= APPLY_EVERY:
            self._catch_up()

    def _catch_up(self) -> None:
        """Apply what the reading did since the list was last brought up to date."""
        pending, self._pending = self._pending, []
        for p in pending:
            self._apply(p)
        self._applied = time.monotonic()

    def _apply(self, p: Progress) -> None:
        gone = p.gone
        if gone:
            self.all = [d for d in self.all if d.id not in gone]
            self.cells.forget(gone)
            self.table.selected -= gone
            for part in p.parts:
                self.filter.forget(part)
        if p.new and not self.all:
            self.cells.retime(TimeFormat.of(self.trace, self.options))
        self.all.extend(p.new)
        if p.new or gone or p.changed:
            self._refilter()
        screen = self.screen
        if isinstance(screen, FlowScreen):
            screen.update(p.changed, gone)
        self._status()

    def _finished(self, trace: Trace) -> None:
        self._catch_up()
        self.trace = trace
        self.cells.trace = trace
        self.cells.retime(TimeFormat.of(trace, self.options))
        self.done = True
        self._refilter()
        self._status()

    def _marked(self, found: dict[int, str]) -> None:
        self.cells.marks = found
        self.cells.retime(TimeFormat.of(self.trace, self.options))  # the findings column
        self.marked = True
        self.table.refresh()
        self._status()

    def _failed(self, text: str) -> None:
        self.done = True
        self.notify(text, title="cannot read", severity="error", timeout=30)
        self._status()

    def _tick(self) -> None:
        if self._pending and not self.paused:
            self._catch_up()
        if self._found is not None and not self.marked:
            self._marked(self._found)
        if self._text_made and self.marked:
            self.indexed = True
        now = time.monotonic()
        then, count = self._rate
        messages = self.session.messages
        if now - then >= 1.0:
            self._msg_rate = (messages - count) / (now - then)
            self._rate = (now, messages)
        self._status()

    # -- the call list -----------------------------------------------------------------------
    def _refilter(self) -> None:
        rows = self.all if self.filter.trivial else self.filter.apply(self.trace, self.all)
        self.table.set_rows(rows)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "filter":
            return
        error = self.filter.set(event.value)
        event.input.set_class(error is not None, "error")
        event.input.tooltip = error
        self._refilter()
        self._status()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self.table.focus()

    def on_call_table_open(self, event: CallTable.Open) -> None:
        self._open(event.dialogs)

    def _open(self, dialogs: Sequence[Dialog], *, extended: bool = False) -> None:
        if not dialogs:
            return
        chosen = related(self.trace, dialogs) if extended else list(dialogs)
        self.push_screen(FlowScreen(self, chosen))

    def _status(self) -> None:
        total = len(self.all)
        shown = len(self.table.rows)
        parts = [Text(self.source.name, style="bold")]
        count = f"{shown} of {total} dialogs" if shown != total else f"{total} dialogs"
        parts.append(Text(count))
        if self.table.selected:
            parts.append(Text(f"{len(self.table.selected)} selected", style="bold"))
        parts.append(Text(f"time {self.options.time}"))
        if self.source.status is not None:
            parts.append(Text(f"{self.source.status()}, {self._msg_rate:.0f} SIP msg/s"))
        elif not self.done:
            parts.append(Text(f"reading… {self.frames:,} frames", style="yellow"))
        elif not self.marked:
            parts.append(Text("looking for what went wrong…", style="yellow"))
        if self.paused:
            parts.append(Text(f"PAUSED ({len(self._pending)} updates held)", style="bold red"))
        if self.filter.error:
            parts.append(Text(self.filter.error, style="red"))
        line = Text("  ·  ").join(parts)
        line.no_wrap = True
        line.overflow = "ellipsis"
        self.status_line = line
        self.status_bar.update(line)

    # -- actions -----------------------------------------------------------------------------
    def action_quit_or_back(self) -> None:
        if len(self.screen_stack) > 1:
            self.pop_screen()
            return
        self._quitting = True
        self.exit()

    def action_escape(self) -> None:
        if len(self.screen_stack) > 1:
            self.pop_screen()
            return
        box = self.query_one("#filter", Input)
        if box.has_focus and box.value:
            box.value = ""
        self.table.focus()

    def action_help(self) -> None:
        self.push_screen(help_screen())

    def action_filter(self) -> None:
        if len(self.screen_stack) == 1:
            self.query_one("#filter", Input).focus()

    def action_extended(self) -> None:
        if len(self.screen_stack) == 1:
            self._open(self.table.chosen(), extended=True)

    def action_columns(self) -> None:
        def apply(keys: list[str] | None) -> None:
            if keys:
                self.table.set_columns(keys)

        self.push_screen(ColumnsScreen([c.key for c in self.table.columns]), apply)

    def action_time(self) -> None:
        modes = list(TIME_MODES)
        mode = modes[(modes.index(self.options.time) + 1) % len(modes)]
        self.options = replace(self.options, time=mode)
        self.cells.retime(TimeFormat.of(self.trace, self.options))
        self.table.refresh()
        screen = self.screen
        if isinstance(screen, FlowScreen):
            screen.redraw()
        self._status()

    def action_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused:
            self._catch_up()
        self._status()

    def dialogs_in_view(self) -> list[Dialog]:
        screen = self.screen
        if isinstance(screen, FlowScreen):
            return list(screen.dialogs)
        return self.table.chosen()

    def action_stats(self) -> None:
        summary = Summary(Selection(), rtp=True)
        summary.add(self.trace)
        report = summary.report(self.trace, observer=self.source.rtp)
        if report.messages == 0:
            body: Group | Text = Text("No SIP in this capture (yet).")
        else:
            res = report.resolution
            lines = stats_lines(report.stats, res)
            if report.streams:
                lines += [Text(""), *rtp_lines(report.streams)]
            lines += [Text(""), *findings_lines(report.findings)]
            lines += [Text(""), *peer_lines(report.peers[:10], res)]
            body = Group(*lines)
        self.push_screen(TextScreen("Statistics of the capture  (Esc closes)", body))

    def action_auth(self) -> None:
        dialogs = self.dialogs_in_view()
        if not dialogs:
            return
        users = ", ".join(sorted({one_line(d.from_uri, 40) for d in dialogs})[:3])

        def show(password: str | None) -> None:
            if password is None:
                return
            report = analyze(self.trace, default_password=password or None)
            lines = report_lines(self.trace, report.of_dialogs(dialogs), show_password=False)
            title = "Digest authentication, step by step  (Esc closes)"
            self.push_screen(TextScreen(title, Group(*lines)))

        self.push_screen(PasswordScreen(users), show)

    def action_export(self) -> None:
        dialogs = self.dialogs_in_view()
        if not dialogs:
            self.notify("no dialog to save", severity="warning")
            return
        inputs = self.source.inputs
        n = len(dialogs)
        what = f"{n} dialog{'s' * (n != 1)}"
        screen = ExportScreen(
            what,
            lambda fmt: free_name(default_name(inputs, dialogs, fmt)),
            rtp=self.source.media is not None,
        )

        def save(choice: tuple[str, str, bool] | None) -> None:
            if choice is None:
                return
            fmt, path, with_rtp = choice
            try:
                done = export(
                    self.trace,
                    dialogs,
                    fmt,
                    path,
                    inputs=inputs,
                    media=self.source.media,
                    with_rtp=with_rtp,
                    options=self.options,
                )
            except SipsniffError as exc:
                self.notify(str(exc), title="not saved", severity="error", timeout=10)
                return
            self.notify(f"{done.path}: {done.what}", title="saved")

        self.push_screen(screen, save)

    async def action_quit(self) -> None:
        self._quitting = True
        self.exit()

    def _handle_exception(self, error: Exception) -> None:
        """An error of sipsniff's own (the capture file changed while it was shown: its messages
        cannot be read again) ends the browser with that error, said in one line by the command
        (``failure``), not with a traceback."""
        if isinstance(error, SipsniffError):
            self.failure = error
            self._quitting = True
            self.exit(return_code=int(error.exit_status))
            return
        super()._handle_exception(error)


class FlowScreen(Screen[None]):
    """The ladder of one or several dialogs; the message under the cursor beside or below it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("r", "raw", "Raw"),
        Binding("m", "mark", "Mark"),
        Binding("d", "diff", "Diff"),
        Binding("f", "findings", "Findings"),
        Binding("l", "learn", "Learn"),
        Binding("f4,x", "extended", "Extended"),
    ]
    DEFAULT_CSS = """
    FlowScreen #title { height: auto; background: $boost; padding: 0 1; }
    FlowScreen #panes { height: 1fr; layout: vertical; }
    FlowScreen #panes.wide { layout: horizontal; }
    FlowScreen #message { height: 40%; border-top: solid $accent; padding: 0 1; }
    FlowScreen #panes.wide #message { height: 1fr; width: 45%; border-top: none;
                                      border-left: solid $accent; }
    FlowScreen FlowView { height: 1fr; width: 1fr; }
    """

    def __init__(self, app: BrowseApp, dialogs: Sequence[Dialog]) -> None:
        super().__init__()
        self.browser = app
        self.dialogs = list(dialogs)
        self.view = FlowView(id="flow")
        self.raw = False
        self.pane = Text()
        """What the message pane shows."""
        self.title_line = Text()
        """What the line above the ladder says."""
        self.learn = False
        """Learn mode: what the message under the cursor is and why it is there, above it."""
        self.explained: DialogExplanation | None = None
        self.marked: int | None = None
        """``Entry.id`` of the message marked for a diff."""
        self.gone = False
        """A dialog shown was let go by the session (live, memory bounded): the flow stays as it
        was last drawn."""

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        with Horizontal(id="panes"):
            yield self.view
            with VerticalScroll(id="message"):
                yield Static(id="text")
        yield Footer()

    def on_mount(self) -> None:
        self.view.focus()

    def on_resize(self) -> None:
        wide = self.size.width >= 140
        self.query_one("#panes").set_class(wide, "wide")
        self.call_after_refresh(self.redraw)

    def update(self, changed: set[int], gone: set[int]) -> None:
        """Live: messages came, or dialogs were let go."""
        ids = {d.id for d in self.dialogs}
        if not self.gone and not ids.isdisjoint(gone):
            self.gone = True
            self.notify("this dialog left memory (--keep, --max-dialogs): the flow stays as it is")
        elif not self.gone and not ids.isdisjoint(changed):
            self.redraw()

    def redraw(self) -> None:
        trace = self.browser.trace
        if any(d.id not in trace.dialogs for d in self.dialogs):
            self.gone = True  # let go by the worker's session; the list hears of it next
        if self.gone:
            return
        options = self.browser.options
        width = max(40, self.view.size.width - 1)
        dialog = combined(trace, self.dialogs)
        report = TraceReport(trace, self.dialogs, by_host=options.by_host)
        lad = report.ladder(dialog, media=True)
        self.explained = report.explanation(lad) if self.learn else None
        streams = streams_of(trace, self.browser.source.rtp, [d.id for d in self.dialogs])
        self.view.show(flow_lines(trace, lad, options, width, streams), lad.rows)
        title = Text(no_wrap=True, overflow="ellipsis")
        ids = ", ".join(str(d.id) for d in self.dialogs)
        title.append(f"Flow of dialog{'s' * (len(self.dialogs) > 1)} {ids}", "bold")
        title.append(f"  ·  {len(lad.rows)} messages  ·  time {options.time}")
        if len(streams):
            title.append(f"  ·  {len(streams)} RTP streams")
        if self.marked is not None:
            title.append(f"  ·  marked frame {trace.entries[self.marked].frame}", "yellow")
        self.title_line = title
        self.query_one("#title", Static).update(title)
        self._message()

    def on_flow_view_moved(self, event: FlowView.Moved) -> None:
        self._message()

    def _message(self) -> None:
        row = self.view.current
        pane = self.query_one("#text", Static)
        if row is None:
            self.pane = Text()
            pane.update(self.pane)
            return
        msg = row.msg
        head = Text(
            f"frame {msg.frame}  {msg.src} → {msg.dst}  {msg.transport}  {msg.size} bytes"
            + (f"  ({row.count} copies)" if row.count > 1 else ""),
            style="dim",
        )
        parts = [head]
        if self.explained is not None:
            width = max(20, self.query_one("#message").size.width - 2)
            told = self.explained.row(row.entry.id)
            if self.view.cursor == 0:
                parts += explain_lines.summary_lines(self.explained, width)
            if told is not None:
                parts += explain_lines.row_lines(told, 0, width)
        parts.append(message_text(msg, raw=self.raw))
        self.pane = Text("\n").join(parts)
        pane.update(self.pane)

    def action_raw(self) -> None:
        self.raw = not self.raw
        self._message()

    def action_learn(self) -> None:
        self.learn = not self.learn
        self.redraw()

    def action_mark(self) -> None:
        row = self.view.current
        if row is not None:
            self.marked = None if self.marked == row.entry.id else row.entry.id
            self.redraw()

    def action_diff(self) -> None:
        row = self.view.current
        if row is None:
            return
        if self.marked is None or self.marked == row.entry.id:
            self.notify("mark a message with m, then move to another and press d")
            return
        a = self.browser.trace.entries[self.marked]
        b = row.msg
        left, right = diff_lines(a, b)
        title = f"frame {a.frame} (left) and frame {b.frame} (right)  (Esc closes)"
        self.app.push_screen(DiffScreen(title, left, right))

    def action_findings(self) -> None:
        report = TraceReport(self.browser.trace, self.dialogs)
        found = report.findings
        body = Group(*findings_lines(found)) if found else Text("Nothing wrong found.")
        self.app.push_screen(TextScreen("Findings of these dialogs  (Esc closes)", body))

    def action_extended(self) -> None:
        more = related(self.browser.trace, self.dialogs)
        if len(more) == len(self.dialogs):
            self.notify("no other leg of this call in the capture")
            return
        self.dialogs = more
        self.redraw()
