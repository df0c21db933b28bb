"""Snapshots of the browser's main screens on the captures in captures/ (pytest-textual-snapshot):
a change to what a person sees shows as a diff of the SVG. After a change on purpose, look at
the report and accept it with ``pytest tests/browse/test_snapshots.py --snapshot-update``."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from sipsniff.browse.app import BrowseApp, Source
from sipsniff.browse.loader import load
from sipsniff.capture.files import read_frames
from sipsniff.pipeline import Retention, Session
from sipsniff.render.base import RenderOptions
from tests.conftest import CAPTURES

SnapCompare = Callable[..., bool]


def app_of(path: Path, time: str = "abs") -> BrowseApp:
    _, frames = read_frames([str(path)])
    session = Session(retention=Retention())
    source = Source(
        session=session,
        feed=lambda emit, stopped: load(session, frames, emit, stopped=stopped),
        name=path.name,
        inputs=[str(path)],
    )
    session.pipe.media.append(source.rtp)
    return BrowseApp(source, RenderOptions(time=time, tz=datetime.UTC))


async def ready(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, BrowseApp)
    for _ in range(500):
        if app.done and app.marked:
            break
        await pilot.pause(0.02)
    await pilot.pause(0.1)


@pytest.mark.parametrize(
    ("capture", "keys"),
    [
        ("calls-lossy.pcap", ()),
        ("scenarios/control-many-phones.pcap", ()),
        ("scenarios/control-many-phones.pcap", ("slash", *"state:completed", "enter")),
    ],
    ids=["list", "list-many", "list-filtered"],
)
def test_call_list(snap_compare: SnapCompare, capture: str, keys: tuple[str, ...]) -> None:
    app = app_of(CAPTURES / capture)
    assert snap_compare(app, press=keys, terminal_size=(100, 24), run_before=ready)


@pytest.mark.parametrize(
    ("capture", "keys", "size"),
    [
        ("register-407.pcap", ("enter",), (80, 24)),
        ("calls-lossy.pcap", ("down", "enter", "down", "down"), (140, 30)),
        ("register-407.pcap", ("enter", "t", "down", "r"), (100, 30)),
    ],
    ids=["flow-80x24", "flow-wide", "flow-rel-raw"],
)
def test_flow(
    snap_compare: SnapCompare, capture: str, keys: tuple[str, ...], size: tuple[int, int]
) -> None:
    app = app_of(CAPTURES / capture)
    assert snap_compare(app, press=keys, terminal_size=size, run_before=ready)


def test_help(snap_compare: SnapCompare) -> None:
    app = app_of(CAPTURES / "register-407.pcap")
    assert snap_compare(app, press=("f1",), terminal_size=(100, 30), run_before=ready)
