"""Make the screenshots of docs/browse.md: the browser run headless on the captures in captures/,
keys pressed, each screen saved as SVG (Textual's own screenshots: what a terminal shows).

usage: python docs/browse_shots.py
"""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path

from sipsniff.browse.app import BrowseApp, Source
from sipsniff.browse.loader import load
from sipsniff.capture.files import read_frames
from sipsniff.pipeline import Retention, Session
from sipsniff.render.base import RenderOptions

TOP = Path(__file__).resolve().parents[1]
SHOTS = (
    ("browse-list.svg", "captures/scenarios/control-many-phones.pcap", (), (100, 24)),
    ("browse-flow.svg", "captures/register-407.pcap", ("enter", "down"), (80, 24)),
    (
        "browse-flow-wide.svg",
        "captures/calls-lossy.pcap",
        ("down", "enter", "down", "down"),
        (150, 30),
    ),
    ("browse-help.svg", "captures/register-407.pcap", ("f1",), (100, 28)),
)


async def shot(name: str, capture: str, keys: tuple[str, ...], size: tuple[int, int]) -> None:
    path = TOP / capture
    _, frames = read_frames([str(path)])
    session = Session(retention=Retention())
    source = Source(
        session=session,
        feed=lambda emit, stopped: load(session, frames, emit, stopped=stopped),
        name=path.name,
        inputs=[str(path)],
    )
    session.pipe.media.append(source.rtp)
    app = BrowseApp(source, RenderOptions(time="abs", tz=datetime.UTC))
    async with app.run_test(size=size) as pilot:
        while not (app.done and app.marked):
            await pilot.pause(0.02)
        await pilot.press(*keys)
        await pilot.pause(0.2)
        app.save_screenshot(str(TOP / "docs" / name))


def main() -> None:
    for args in SHOTS:
        asyncio.run(shot(*args))


if __name__ == "__main__":
    main()
