"""The browser driven headless with Textual's Pilot, on real captures: what a person sees after
each key, checked against what ``read`` and tshark say of the same capture."""

from __future__ import annotations

import asyncio
import datetime
import io
import shutil
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Input

from sipsniff.analysis.ladder import ladder_of
from sipsniff.analysis.query import row_text
from sipsniff.analysis.rtp import RtpObserver, streams_of
from sipsniff.browse import app as browse_app
from sipsniff.browse.app import BrowseApp, FlowScreen, Source
from sipsniff.browse.calls import GUTTER, CallTable
from sipsniff.browse.loader import Progress, feed_batches, load
from sipsniff.browse.screens import ColumnsScreen, DiffScreen, PasswordScreen, TextScreen
from sipsniff.capture import filed
from sipsniff.capture.filed import filed_bytes
from sipsniff.capture.files import read_frames
from sipsniff.model import Frame
from sipsniff.pipeline import Retention, Session, read_trace
from sipsniff.render.base import RenderOptions, seconds
from tests.builders import options_capture, two_legs
from tests.conftest import CAPTURES, CORPUS, need

LOSSY = CAPTURES / "calls-lossy.pcap"
REG = CAPTURES / "register-407.pcap"
SCENARIOS = CAPTURES / "scenarios"
UTC = RenderOptions(time="abs", tz=datetime.UTC)


def file_app(*paths: Path, options: RenderOptions = UTC, initial: str = "") -> BrowseApp:
    names = [str(p) for p in paths]
    _, frames = read_frames(names)
    session = Session(retention=Retention())
    source = Source(
        session=session,
        feed=lambda emit, stopped: load(session, frames, emit, stopped=stopped, batch=64),
        name=paths[0].name,
        inputs=names,
    )
    session.pipe.media.append(source.rtp)
    session.pipe.files.update(filed_bytes(names))  # as cli.browse.file_source does
    return BrowseApp(source, options, initial=initial)


async def loaded(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, BrowseApp)
    for _ in range(400):
        if app.done:
            break
        await pilot.pause(0.02)
    assert app.done
    await pilot.pause(0.05)


def drive(app: BrowseApp, script: Callable[[Pilot[None]], Awaitable[None]]) -> None:
    async def run() -> None:
        async with app.run_test(size=(120, 36)) as pilot:
            await loaded(pilot)
            await script(pilot)

    asyncio.run(run())


def status(app: BrowseApp) -> str:
    return app.status_line.plain


def body_of(app: BrowseApp) -> str:
    screen = app.screen
    assert isinstance(screen, TextScreen)
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(screen.body)
    return console.export_text()


def test_every_dialog_is_a_row_with_the_state_read_gives() -> None:
    path = SCENARIOS / "call-busy.pcap"
    trace = read_trace([str(path)])
    app = file_app(path)

    async def script(pilot: Pilot[None]) -> None:
        assert [d.id for d in app.table.rows] == list(trace.dialogs)
        for d in app.table.rows:
            assert app.cells.row(d)["state"] == trace.dialogs[d.id].state
        assert f"{len(trace.dialogs)} dialogs" in status(app)

    drive(app, script)


def test_updates_held_back_while_reading_all_reach_the_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While a file is read the list is brought up to date every APPLY_EVERY at most: what was
    held back (here, all but the first rows: an hour between updates) is there at the end, in
    order, each dialog in its final state."""
    monkeypatch.setattr(browse_app, "APPLY_EVERY", 3600.0)
    path = CORPUS / "branch-scenario-sipp.pcapng"
    trace = read_trace([str(need(path))])
    app = file_app(path)
    applied: list[int] = []
    apply = app._apply

    def counted(p: Progress) -> None:
        applied.append(p.frames)
        apply(p)

    monkeypatch.setattr(app, "_apply", counted)

    async def script(pilot: Pilot[None]) -> None:
        assert [d.id for d in app.table.rows] == list(trace.dialogs)
        for d in app.table.rows:
            assert app.cells.row(d)["state"] == trace.dialogs[d.id].state
        assert not app._pending
        assert len(applied) > 2 and applied == sorted(applied)  # every batch, in order

    drive(app, script)


def test_filter_narrows_the_rows_and_says_how_many() -> None:
    path = SCENARIOS / "register-refresh.pcap"
    trace = read_trace([str(path)])
    methods = {d.first_method for d in trace.dialogs.values()}
    app = file_app(LOSSY, path)

    async def script(pilot: Pilot[None]) -> None:
        total = len(app.all)
        await pilot.press("slash", *"method:register")
        await pilot.pause(0.1)
        rows = app.table.rows
        assert rows and all(d.first_method == "REGISTER" for d in rows)
        assert f"{len(rows)} of {total} dialogs" in status(app)
        await pilot.press("enter")  # back to the list, the filter stays
        assert app.table.has_focus and len(app.table.rows) == len(rows)
        await pilot.press("slash", "ctrl+u", *"-method:register")
        await pilot.pause(0.1)
        assert all(d.first_method != "REGISTER" for d in app.table.rows)
        assert len(app.table.rows) == total - len(rows)
        await pilot.press("ctrl+u", *"sipp")  # a free word: in From, To, the User-Agent...
        await pilot.pause(0.1)
        assert {d.id for d in app.table.rows} == {d.id for d in app.all if "sipp" in d.from_uri}

    assert "REGISTER" in methods
    drive(app, script)


def test_the_filter_text_of_every_dialog_is_made_before_the_first_key() -> None:
    """After the findings, the reading thread makes the text the filter box looks free words up
    in, for every dialog: what the filter would make itself, so the first key finds it made."""
    path = need(CORPUS / "branch-scenario-sipp.pcapng")
    trace = read_trace([str(path)])
    app = file_app(path)

    async def script(pilot: Pilot[None]) -> None:
        for _ in range(400):
            if app.indexed:
                break
            await pilot.pause(0.02)
        assert app.indexed and app.marked
        made = app.filter.index._text
        assert sorted(made) == sorted(trace.dialogs)
        for d in trace.dialogs.values():
            assert made[d.id] == (len(d.messages), d.state, row_text(trace, d))
        await pilot.press("slash", *"cancelled")
        await pilot.pause(0.1)
        found = {d.id for d in app.table.rows}
        assert found == {d.id for d in app.all if "cancelled" in row_text(trace, d)}
        assert len(found) == 12  # the CANCELLED dialogs

    drive(app, script)


def test_quitting_does_not_wait_for_the_findings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The findings of a big capture take seconds after the list is whole: a person who quits
    meanwhile is not kept waiting (they are made in a daemon thread, which the process does not
    wait for at exit), and nothing is applied to the app once it has ended."""
    release = threading.Event()
    started = threading.Event()

    def slow_marks(trace: object) -> dict[int, str]:
        started.set()
        release.wait(10)
        return {}

    monkeypatch.setattr(browse_app, "marks", slow_marks)
    app = file_app(SCENARIOS / "call-busy.pcap")

    async def script(pilot: Pilot[None]) -> None:
        for _ in range(200):
            if started.is_set():
                break
            await pilot.pause(0.02)
        assert started.is_set()
        await pilot.press("q")

    drive(app, script)
    thread = app.after
    assert thread is not None and thread.daemon and thread.is_alive()
    release.set()
    thread.join(5)
    assert not thread.is_alive() and not app.marked and not app.indexed


def test_filter_takes_the_cli_selection_language() -> None:
    path = SCENARIOS / "call-busy.pcap"
    trace = read_trace([str(path)])
    busy = [d.id for d in trace.dialogs.values() if "486" in d.state]
    assert busy
    app = file_app(path, SCENARIOS / "call-answered.pcap")

    async def script(pilot: Pilot[None]) -> None:
        await pilot.press("slash", *"status:486")
        await pilot.pause(0.1)
        assert [d.first_method for d in app.table.rows] == ["INVITE"] * len(busy)
        assert all("486" in d.state for d in app.table.rows)
        await pilot.press("ctrl+u", *"state:completed is:call")
        await pilot.pause(0.1)
        assert app.table.rows and all(d.state == "COMPLETED" for d in app.table.rows)
        shown = len(app.table.rows)
        await pilot.press(*" status:4z")  # being typed: said in the status line, rest applies
        await pilot.pause(0.1)
        assert app.filter.error is not None and app.filter.error in status(app)
        assert len(app.table.rows) == shown

    drive(app, script)


def test_sort_by_a_column_and_reverse() -> None:
    app = file_app(LOSSY)

    async def script(pilot: Pilot[None]) -> None:
        table = app.table
        msgs = next(k for k, c in enumerate(table._visible) if c.key == "msgs")
        for _ in range(msgs):
            await pilot.press("greater_than_sign")
        assert table.sort == "msgs"
        counts = [len(d.messages) for d in table.rows]
        assert counts == sorted(counts) and counts != [len(d.messages) for d in app.all]
        await pilot.press("greater_than_sign", "less_than_sign")  # same column again: reversed
        assert table.sort == "msgs"
        await pilot.press("z")
        assert [len(d.messages) for d in table.rows] == sorted(counts, reverse=True)

    drive(app, script)


def test_flow_moves_from_message_to_message_and_switches_time() -> None:
    trace = read_trace([str(LOSSY)])
    second = trace.dialogs[2]
    ladder = ladder_of(trace, second)
    app = file_app(LOSSY)

    async def script(pilot: Pilot[None]) -> None:
        await pilot.press("down", "enter")
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, FlowScreen)
        view = screen.view
        assert [r.entry.id for r in view.rows] == [r.entry.id for r in ladder.rows]
        pane = screen.pane.plain
        assert pane.splitlines()[1].startswith("INVITE ")
        await pilot.press("down", "down")
        assert view.cursor == 2
        pane = screen.pane.plain
        assert f"frame {ladder.rows[2].msg.frame} " in pane
        first = next(line.text.plain for line in view.lines if line.row == 0)
        assert first.startswith(
            datetime.datetime.fromtimestamp(ladder.rows[0].ts_ns / 1e9, datetime.UTC).strftime(
                "%H:%M:%S."
            )
        )
        await pilot.press("t")  # rel: seconds since the capture's first message
        await pilot.pause(0.1)
        first = next(line.text.plain for line in view.lines if line.row == 0)
        origin = min(e.msg.ts_ns for e in trace.entries.values())
        assert first.lstrip().startswith(seconds(ladder.rows[0].ts_ns - origin, 6) + " ")
        await pilot.press("r")
        assert "0000  " in screen.pane.plain
        await pilot.press("escape")
        assert not isinstance(app.screen, FlowScreen)

    drive(app, script)


def test_two_marked_messages_are_diffed_side_by_side() -> None:
    app = file_app(REG)

    async def script(pilot: Pilot[None]) -> None:
        await pilot.press("enter")
        await pilot.pause(0.2)
        await pilot.press("m", "down", "down", "d")
        await pilot.pause(0.1)
        screen = app.screen
        assert isinstance(screen, DiffScreen)
        left, right = screen.left.plain, screen.right.plain
        assert "- CSeq: 1 REGISTER" in left and "+ CSeq: 2 REGISTER" in right
        assert "+ Proxy-Authorization:" in right

    drive(app, script)


def test_extended_flow_joins_the_legs_of_a_b2bua(tmp_path: Path) -> None:
    path = two_legs(tmp_path / "b2bua.pcap")
    trace = read_trace([str(path)])
    assert len(trace.dialogs) == 2 and trace.dialogs[1].linked == (2,)
    app = file_app(path)

    async def script(pilot: Pilot[None]) -> None:
        await pilot.press("x")
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, FlowScreen)
        assert [d.id for d in screen.dialogs] == [1, 2]
        assert len(screen.view.rows) == len(trace.entries)
        times = [r.ts_ns for r in screen.view.rows]
        assert times == sorted(times)
        # three endpoints: the caller, the B2BUA and the callee each have a lifeline
        head = "\n".join(line.text.plain for line in screen.view.lines if line.row is None)
        assert "10.0.0.1:5060" in head and "10.0.0.3:5060" in head

    drive(app, script)


def test_auth_screen_checks_the_password_step_by_step() -> None:
    app = file_app(REG)

    async def script(pilot: Pilot[None]) -> None:
        await pilot.press("a")
        await pilot.pause(0.1)
        assert isinstance(app.screen, PasswordScreen)
        await pilot.press(*"101")
        box = app.screen.query_one(Input)
        assert box.password and box.value == "101"  # typed, shown as dots
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, TextScreen)
        body = body_of(app)
        assert "password    fits" in body and 'MD5("101:myvoipapp.com:***")' in body
        await pilot.press("escape", "a", *"wrong", "enter")
        await pilot.pause(0.2)
        assert "does not fit" in body_of(app)

    drive(app, script)


needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")


@needs_tshark
def test_export_to_pcap_is_read_back_by_tshark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    trace = read_trace([str(LOSSY)])
    chosen = [trace.dialogs[1], trace.dialogs[3]]
    app = file_app(LOSSY)

    async def script(pilot: Pilot[None]) -> None:
        await pilot.press("space", "down", "space", "f2")  # space moves down: dialogs 1 and 3
        await pilot.pause(0.2)
        await pilot.press("enter")
        await pilot.pause(0.3)

    drive(app, script)
    out = tmp_path / "calls-lossy-dialogs-1-3.pcap"
    assert out.exists(), list(tmp_path.iterdir())
    seen = subprocess.run(
        ["tshark", "-r", str(out), "-Y", "sip", "-T", "fields", "-e", "sip.Call-ID"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    wanted = [trace.entries[i].msg.call_id for d in chosen for i in d.messages]
    assert sorted(seen) == sorted(wanted)
    # the default name is taken now: a second export gets another, the first stays whole
    size = out.stat().st_size
    app = file_app(LOSSY)
    drive(app, script)
    assert (tmp_path / "calls-lossy-dialogs-1-3-1.pcap").exists() and out.stat().st_size == size


def test_export_writes_the_documents_read_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = file_app(REG)

    async def script(pilot: Pilot[None]) -> None:
        await pilot.press("enter", "f2")
        await pilot.pause(0.2)
        select = app.screen.query_one("#format")
        select.value = "mermaid"  # type: ignore[attr-defined]
        await pilot.pause(0.1)
        app.screen.query_one("#path").focus()
        await pilot.press("enter")
        await pilot.pause(0.3)

    drive(app, script)
    text = (tmp_path / "register-407-dialog-1.mmd").read_text()
    assert text.startswith("sequenceDiagram") and "407" in text


def replay(path: Path, speed: float = 1.0) -> Iterator[list[Frame]]:
    """The frames of a capture as a live capture hands them over: in real time, in batches
    every 20 ms."""
    _, frames = read_frames([str(path)])
    start_wall = time.monotonic()
    first: int | None = None
    batch: list[Frame] = []
    for f in frames:
        first = f.ts_ns if first is None else first
        due = start_wall + (f.ts_ns - first) / 1e9 / speed
        while time.monotonic() < due:
            yield batch
            batch = []
            time.sleep(min(0.02, max(0.0, due - time.monotonic())))
        batch.append(f)
    yield batch


def test_live_rows_grow_as_packets_come_and_pause_loses_nothing() -> None:
    path = SCENARIOS / "control-many-phones.pcap"
    trace = read_trace([str(path)])
    session = Session(retention=Retention())
    seen: list[int] = []

    def feed(emit: Callable[[Progress], object], stopped: Callable[[], bool]) -> None:
        def counted(p: Progress) -> object:
            seen.append(len(p.new))
            return emit(p)

        feed_batches(session, (b for b in replay(path) if not stopped()), counted)

    source = Source(
        session=session, feed=feed, name="live lo", status=lambda: "12 packets, 0 dropped"
    )
    app = BrowseApp(source, UTC)

    async def run() -> None:
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.press("p")
            held = len(app.table.rows)
            await pilot.pause(0.8)  # dialogs keep coming (one every 0.1 s): none is shown
            assert len(app.table.rows) == held and app.session.dialogs > held
            assert "PAUSED" in status(app) and "12 packets, 0 dropped" in status(app)
            await loaded(pilot)
            await pilot.press("p")
            await pilot.pause(0.1)
            assert [d.id for d in app.table.rows] == list(trace.dialogs)
            assert [app.cells.row(d)["state"] for d in app.table.rows] == [
                d.state for d in trace.dialogs.values()
            ]

    asyncio.run(run())
    assert sum(seen) == len(trace.dialogs) and len([n for n in seen if n]) > 1


def test_live_memory_stays_bounded_and_an_open_flow_survives_its_dialog_leaving(
    tmp_path: Path,
) -> None:
    path = tmp_path / "options.pcap"
    options_capture(path, 80)
    session = Session(retention=Retention.forgetting(300 * 10**9, 4))
    flow_open = threading.Event()

    def feed(emit: Callable[[Progress], object], stopped: Callable[[], bool]) -> None:
        def batches() -> Iterator[list[Frame]]:
            _, frames = read_frames([str(path)])
            everything = list(frames)
            yield everything[:2]  # dialog 1, then wait for its flow to be opened
            flow_open.wait(10)
            for k in range(2, len(everything), 8):
                yield everything[k : k + 8]

        feed_batches(session, batches(), emit)

    app = BrowseApp(Source(session=session, feed=feed, name="live lo"), UTC)

    async def run() -> None:
        async with app.run_test(size=(120, 36)) as pilot:
            while not app.all:
                await pilot.pause(0.01)
            await pilot.press("enter")  # the flow of dialog 1, which will be let go
            await pilot.pause(0.05)
            screen = app.screen
            assert isinstance(screen, FlowScreen) and [d.id for d in screen.dialogs] == [1]
            flow_open.set()
            most = 0
            while not app.done:
                most = max(most, len(app.all))
                await pilot.pause(0.005)
            assert screen.gone and screen.view.rows  # still shows what it showed
            await pilot.press("escape")
            ids = [d.id for d in app.table.rows]
            assert ids == sorted(session.correlator.dialogs) and 80 in ids and 1 not in ids
            assert most <= 4 + session.retention.slack + 8

    asyncio.run(run())


def test_rtp_streams_are_rows_of_the_flow() -> None:
    path = need(CORPUS / "sip-rtp-g711.pcap")
    observer = RtpObserver()
    trace = read_trace([str(path)], media=[observer])
    streams = streams_of(trace, observer, [1])
    assert len(streams) == 2
    app = file_app(path)

    async def script(pilot: Pilot[None]) -> None:
        await pilot.press("enter")
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, FlowScreen)
        rtp = [line.text.plain for line in screen.view.lines if "RTP " in line.text.plain]
        assert len(rtp) == len(streams)
        for line, s in zip(rtp, sorted(streams, key=lambda s: s.start_ns), strict=True):
            assert f"{s.src} → {s.dst}" in line and s.codec in line
            assert f"{s.packets} packets, lost {s.lost}" in line
        # in time order among the messages: after the 200 OK whose SDP answered
        order = [
            line.row
            for line in screen.view.lines
            if line.row is not None or "RTP " in line.text.plain
        ]
        first_rtp = order.index(None)
        ok = next(k for k, r in enumerate(screen.view.rows) if r.msg.status == 200)
        assert first_rtp > order.index(ok)
        assert "2 RTP streams" in screen.title_line.plain

    drive(app, script)


def test_columns_are_chosen_and_ordered() -> None:
    app = file_app(LOSSY)

    async def script(pilot: Pilot[None]) -> None:
        await pilot.press("f10")
        await pilot.pause(0.1)
        assert isinstance(app.screen, ColumnsScreen)
        await pilot.press("down", "space")  # hide Method (second)
        await pilot.press("down", "plus")  # From up, before Method
        await pilot.press("enter")
        await pilot.pause(0.1)
        keys = [c.key for c in app.table.columns]
        assert keys[:2] == ["idx", "from"] and "method" not in keys
        head = app.table._header().plain.split()
        assert head[:3] == ["Idx", "▲", "From"]

    drive(app, script)


def test_mouse_sorts_by_a_title_and_opens_with_a_double_click() -> None:
    app = file_app(LOSSY)

    async def script(pilot: Pilot[None]) -> None:
        table = app.table
        at = [c.key for c in table._visible].index("msgs")
        x = GUTTER + sum(w + 1 for w in table._widths[:at])
        await pilot.click(CallTable, offset=(x + 1, 0))
        assert table.sort == "msgs"
        await pilot.click(CallTable, offset=(x + 1, 0))
        assert table.descending
        target = table.rows[2]
        await pilot.double_click(CallTable, offset=(10, 3))
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, FlowScreen) and screen.dialogs == [target]

    drive(app, script)


def test_learn_mode_tells_what_the_message_under_the_cursor_is() -> None:
    """``l`` in the flow: read --explain's sentences for the message under the cursor, facts of
    this capture (the realm of the challenge, the Expires granted)."""
    app = file_app(REG)

    async def script(pilot: Pilot[None]) -> None:
        await pilot.press("enter")
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, FlowScreen)
        assert "RFC" not in screen.pane.plain
        await pilot.press("l")
        await pilot.pause(0.1)
        assert "registered" in screen.pane.plain and "RFC 3261" in screen.pane.plain
        await pilot.press("down")  # the 407
        told = screen.pane.plain.split("frame")[1]
        assert "myvoipapp.com" in told and "407" in told
        await pilot.press("down", "down")  # the 200 OK: the binding granted
        assert "120 s" in screen.pane.plain

    drive(app, script)


def test_a_capture_file_cut_short_while_shown_ends_the_browser_with_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its messages' bytes are read from the file (``capture.filed``): gone, they cannot be
    shown; the browser ends and the command says why in one line (no traceback)."""
    monkeypatch.setattr(filed, "BLOCK_BITS", 6)  # blocks of 64 bytes, one kept: read again
    monkeypatch.setattr(filed, "BLOCK", 64)
    monkeypatch.setattr(filed, "BLOCKS", 1)
    copy = tmp_path / "cut.pcap"
    shutil.copy(CAPTURES / "invite-call.pcap", copy)
    app = file_app(copy)

    async def run() -> None:
        async with app.run_test(size=(120, 36)) as pilot:
            await loaded(pilot)
            copy.write_bytes(copy.read_bytes()[:100])
            await pilot.press("enter")  # the flow, and the first message under the cursor
            await pilot.pause(0.2)

    asyncio.run(run())
    assert app.failure is not None
    assert "changed while sipsniff was reading it" in str(app.failure)
    assert app.return_code == int(app.failure.exit_status)
