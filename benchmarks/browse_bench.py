"""How fast the browser opens a big capture, beside `sipsniff read -f csv` and sngrep.

The browser runs headless (Textual's ``run_test``) in a process of its own, opened as ``sipsniff
browse`` opens it (``cli.browse.file_source``), and reports, from the moment the process started
(interpreter and imports included, as for the commands beside it): when the first rows are on the
call list and drawn (the app's next refresh), when the whole list is there and drawn (the file read, the states final), when the findings
column is filled, when the text the filter box looks words up in is made for every dialog, and
its peak RSS. Waiting, it only looks at the app's flags: a pilot's pause would have the app draw
every 10 ms (0.4 s more for the whole list), and ``pilot.pause()`` without a delay waits for
the process to be idle, up to a second, while the reading goes on. The same capture goes through `read -f csv -o /dev/null` and
`sngrep -I FILE -N -q` for the comparison (wall, peak RSS from GNU time).

``--child FILE --until-full`` is the browser alone, ended as soon as its list is whole (without
its teardown: ``os._exit``): ``read_bench.py`` times it beside the other modes, from outside, as it
times them.

usage: python benchmarks/browse_bench.py [--file CAPTURE] [--calls N]
Without --file it uses read_bench's cached capture (recorded with sipp on loopback, as root).
"""

from __future__ import annotations

import time

LAUNCHED = time.time()  # before the imports: the child's times count from its start

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

# The rest is imported where it is used: the measured process imports, before its reading
# process forks, only what ``sipsniff browse`` has by then (each module more would be in the
# pages the two share at the fork, and in the worker's memory).
HERE = Path(__file__).resolve().parent


async def drawn(app: Any) -> None:
    """Until the app's screen has been drawn with what it holds now: the next refresh."""
    import asyncio

    done = asyncio.Event()
    app.call_after_refresh(done.set)
    await done.wait()


def browse_child(path: str, *, until_full: bool = False) -> None:
    """In the measured process: open the browser on ``path``, print the figures as JSON."""
    import datetime

    from sipsniff.cli.browse import file_source
    from sipsniff.render.base import RenderOptions

    source = file_source([path])  # as the command does: Textual is imported after the fork
    import asyncio
    import json
    import resource

    from sipsniff.browse.app import BrowseApp

    app = BrowseApp(source, RenderOptions(time="abs", tz=datetime.UTC))
    figures: dict[str, float] = {}

    def since_start() -> float:
        return time.time() - LAUNCHED

    async def run() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            while not app.done:
                if "first_rows" not in figures and app.table.rows:
                    # Drawn: the screen refreshed with them. (Not ``pilot.pause()``: it waits
                    # for the process to be idle, up to a second, and the reading goes on.)
                    await drawn(app)
                    figures["first_rows"] = since_start()
                # Only a look at the flag: the app draws when it would for a person (a pilot's
                # pause would have it draw every time, and hold the reading up).
                await asyncio.sleep(0.01)
            await drawn(app)
            figures["full_list"] = since_start()
            figures["dialogs"] = len(app.table.rows)
            if until_full:
                # Gone at once: the findings column (worked out next, in a thread the app's
                # exit would wait for) and the teardown are not the list's time.
                print(json.dumps(figures), flush=True)
                os._exit(0)
            while not app.marked:  # the findings column, worked out after the list is whole
                await asyncio.sleep(0.01)
            figures["marked"] = since_start()
            while not app.indexed:  # the filter's text of every dialog, made after the findings
                await asyncio.sleep(0.01)
            figures["indexed"] = since_start()
            t1 = time.perf_counter()
            await pilot.press("end")  # the last row, drawn
            await pilot.pause()
            figures["to_last_row"] = time.perf_counter() - t1
            t1 = time.perf_counter()
            await pilot.press("slash", *"bye")  # a free-text filter over every dialog
            await pilot.pause()
            figures["filter"] = time.perf_counter() - t1

    asyncio.run(run())
    peak = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,  # a reading process, if any
    )
    figures["rss_mb"] = peak / 1024
    print(json.dumps(figures))


def child_command(path: Path, *, until_full: bool = False) -> list[str]:
    """The command that runs the browser headless on ``path`` (``browse_child``)."""
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        str(path),
        *(["--until-full"] if until_full else []),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", type=Path, default=None)
    ap.add_argument("--calls", type=int, default=30000)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--until-full", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        browse_child(args.child, until_full=args.until_full)
        return
    import json
    import shutil
    import subprocess

    sys.path.insert(0, str(HERE))
    import read_bench  # beside this script

    path = args.file
    if path is None:
        path = read_bench.CACHE / f"sipp-{args.calls}-calls.pcap"
        if not path.exists():
            read_bench.record(path, args.calls, 1000)
    print(f"capture: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    out = subprocess.run(child_command(path), capture_output=True, text=True, check=True).stdout
    b = json.loads(out.strip().splitlines()[-1])
    csv = read_bench.measure(
        [sys.executable, "-m", "sipsniff", "read", str(path), "-f", "csv", "-o", "/dev/null"]
    )
    csv_s, csv_kb = csv.seconds, csv.rss_kb
    print("(browse: seconds from the start of its process)")
    print(f"{'':<34}{'seconds':>9}{'peak RSS MB':>13}")
    print(f"{'browse: first rows on screen':<34}{b['first_rows']:>9.2f}")
    print(
        f"{'browse: full list ({:.0f} dialogs)'.format(b['dialogs']):<34}"
        f"{b['full_list']:>9.2f}{b['rss_mb']:>13.0f}"
    )
    print(f"{'browse: findings marked':<34}{b['marked']:>9.2f}")
    print(f"{'browse: filter text of all made':<34}{b['indexed']:>9.2f}")
    print(f"{'browse: End (to the last row)':<34}{b['to_last_row']:>9.3f}")
    label = 'browse: filter "bye" typed'
    print(f"{label:<34}{b['filter']:>9.3f}")
    print(f"{'read -f csv -o /dev/null':<34}{csv_s:>9.2f}{csv_kb / 1024:>13.0f}")
    if shutil.which("sngrep"):
        sngrep = read_bench.measure(["sngrep", "-I", str(path), "-N", "-q", "-l", "100000"])
        print(f"{'sngrep -I FILE -N -q':<34}{sngrep.seconds:>9.2f}{sngrep.rss_kb / 1024:>13.0f}")
    print(f"browse full list / read -f csv: {b['full_list'] / csv_s:.2f}x")


if __name__ == "__main__":
    main()
