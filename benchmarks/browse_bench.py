"""How fast the browser opens a big capture, beside `sipsniff read -f csv` and sngrep.

The browser runs headless (Textual's ``run_test``) in a process of its own and reports, from the
moment it starts: when the first rows are on the call list, when the whole list is there (the file
read, the states final), and its peak RSS. The same capture goes through `read -f csv -o
/dev/null` and `sngrep -I FILE -N -q` for the comparison (wall, peak RSS from GNU time).

usage: python benchmarks/browse_bench.py [--file CAPTURE] [--calls N]
Without --file it uses read_bench's cached capture (recorded with sipp on loopback, as root).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import read_bench  # noqa: E402  (beside this script)


def browse_child(path: str) -> None:
    """In the measured process: open the browser on ``path``, print the figures as JSON."""
    import datetime

    from sipsniff.browse.app import BrowseApp, Source
    from sipsniff.browse.loader import load
    from sipsniff.capture.files import read_frames
    from sipsniff.pipeline import Retention, Session
    from sipsniff.render.base import RenderOptions

    t0 = time.perf_counter()
    _, frames = read_frames([path])
    session = Session(retention=Retention())
    source = Source(
        session=session,
        feed=lambda emit, stopped: load(session, frames, emit, stopped=stopped),
        name=Path(path).name,
        inputs=[path],
    )
    session.pipe.media.append(source.rtp)
    app = BrowseApp(source, RenderOptions(time="abs", tz=datetime.UTC))
    figures: dict[str, float] = {}

    async def run() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            while not app.done:
                if "first_rows" not in figures and app.table.rows:
                    await pilot.pause()  # drawn
                    figures["first_rows"] = time.perf_counter() - t0
                await pilot.pause(0.01)
            figures["full_list"] = time.perf_counter() - t0
            figures["dialogs"] = len(app.table.rows)
            while not app.marked:  # the findings column, worked out after the list is whole
                await pilot.pause(0.01)
            figures["marked"] = time.perf_counter() - t0
            t1 = time.perf_counter()
            await pilot.press("end")  # the last row, drawn
            await pilot.pause()
            figures["to_last_row"] = time.perf_counter() - t1
            t1 = time.perf_counter()
            await pilot.press("slash", *"bye")  # a free-text filter over every dialog
            await pilot.pause()
            figures["filter"] = time.perf_counter() - t1

    asyncio.run(run())
    figures["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", type=Path, default=None)
    ap.add_argument("--calls", type=int, default=30000)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        browse_child(args.child)
        return
    path = args.file
    if path is None:
        path = read_bench.CACHE / f"sipp-{args.calls}.pcap"
        if not path.exists():
            read_bench.record(path, args.calls, 1000)
    print(f"capture: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(path)], capture_output=True, text=True, check=True
    ).stdout
    b = json.loads(out.strip().splitlines()[-1])
    csv_s, csv_kb, _ = read_bench.measure(
        [sys.executable, "-m", "sipsniff", "read", str(path), "-f", "csv", "-o", "/dev/null"]
    )
    print(f"{'':<34}{'seconds':>9}{'peak RSS MB':>13}")
    print(f"{'browse: first rows on screen':<34}{b['first_rows']:>9.2f}")
    print(
        f"{'browse: full list ({:.0f} dialogs)'.format(b['dialogs']):<34}"
        f"{b['full_list']:>9.2f}{b['rss_mb']:>13.0f}"
    )
    print(f"{'browse: findings marked':<34}{b['marked']:>9.2f}")
    print(f"{'browse: End (to the last row)':<34}{b['to_last_row']:>9.3f}")
    label = 'browse: filter "bye" typed'
    print(f"{label:<34}{b['filter']:>9.3f}")
    print(f"{'read -f csv -o /dev/null':<34}{csv_s:>9.2f}{csv_kb / 1024:>13.0f}")
    if shutil.which("sngrep"):
        s, kb, _ = read_bench.measure(["sngrep", "-I", str(path), "-N", "-q", "-l", "100000"])
        print(f"{'sngrep -I FILE -N -q':<34}{s:>9.2f}{kb / 1024:>13.0f}")
    print(f"browse full list / read -f csv: {b['full_list'] / csv_s:.2f}x")


if __name__ == "__main__":
    main()
