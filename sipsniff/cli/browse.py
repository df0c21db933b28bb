"""``sipsniff browse``: the interactive call browser on capture files (``live --browse`` for a
capture that runs on: cli/live.py)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from sipsniff.analysis.frames import MediaLog
from sipsniff.capture.filed import filed_bytes
from sipsniff.capture.files import read_frames
from sipsniff.capture.inputs import STDIN
from sipsniff.cli.common import (
    cli,
    keep_until_exit,
    link_header_option,
    make_selection,
    selection_options,
    selection_query,
)
from sipsniff.cli.env import Environment, pass_environment
from sipsniff.errors import UsageError
from sipsniff.model import Trace
from sipsniff.pipeline import DEFAULT_LINK_HEADERS, Retention, Session
from sipsniff.pipeline.read import TwoProcesses, two_processes
from sipsniff.render.base import TIME_MODES, RenderOptions

if TYPE_CHECKING:
    from sipsniff.browse.app import Source


def time_options(f: Callable[..., object]) -> Callable[..., object]:
    f = click.option("--by-host", is_flag=True, help="One flow column per IP address.")(f)
    f = click.option("--utc", is_flag=True, help="Absolute times in UTC.")(f)
    return click.option(
        "--time",
        "time_mode",
        type=click.Choice(TIME_MODES),
        default="abs",
        show_default=True,
        help="Time column to start with (t switches it in the browser).",
    )(f)


@cli.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@time_options
@link_header_option
@click.option(
    "--filter",
    "initial",
    default="",
    metavar="TEXT",
    help="Start with this in the filter box (the same language: docs/browse.md).",
)
@selection_options
@pass_environment
def browse(
    env: Environment,
    files: tuple[str, ...],
    time_mode: str,
    utc: bool,
    by_host: bool,
    link_headers: tuple[str, ...],
    initial: str,
    **sel: Any,
) -> None:
    """Browse capture FILEs (gzip too; - for stdin) interactively: the call list, the flow of
    each dialog, the message under the cursor, digest steps, stats, export (docs/browse.md)."""
    make_selection(**sel)  # a bad value is a usage error before anything is read
    initial = " ".join(t for t in (selection_query(**sel), initial) if t)
    if not env.isatty:
        raise UsageError("browse needs a terminal; for a script, use read (-f json, -f csv)")
    source = file_source(files, link_headers)  # an input that cannot be read is said at once
    if STDIN in files or not sys.stdin.isatty():
        _keyboard_from_terminal()
    run(source, RenderOptions(time=time_mode, utc=utc, by_host=by_host, tz=env.tz), initial)


def file_source(files: Sequence[str], link_headers: Sequence[str] = ()) -> Source:
    """What the browser reads capture ``files`` from (``benchmarks/browse_bench.py`` opens them so
    too). Raises ``CaptureError`` for an input that cannot be read."""
    from sipsniff.analysis.rtp import RtpObserver
    from sipsniff.browse.loader import Progress, load, load_two

    infos, frames = read_frames(files)
    session = Session(link_headers=link_headers or DEFAULT_LINK_HEADERS, retention=Retention())
    rtp, media = RtpObserver(), MediaLog()
    session.pipe.media.extend([rtp, media])
    session.pipe.files.update(filed_bytes(files))  # the bytes of messages stay in the files
    reader = None
    if two_processes(files):
        # A worker process reads, decodes and parses, as ``read`` does on a big file; this
        # process correlates (and shows the datagrams that are not SIP to ``rtp`` and ``media``).
        reader = TwoProcesses(session, files, infos, frames, progress=True)
        del frames

        def feed(emit: Callable[[Progress], object], stopped: Callable[[], bool]) -> Trace:
            return load_two(reader, emit, stopped=stopped)

        def finish(trace: Trace) -> None:
            trace.inputs, trace.tls = reader.infos, reader.tls
            session.correlator.release()  # the file is read: what the findings make may use it

    else:

        def feed(emit: Callable[[Progress], object], stopped: Callable[[], bool]) -> Trace:
            return load(session, frames, emit, stopped=stopped)

        def finish(trace: Trace) -> None:
            trace.inputs = infos
            session.correlator.release()

    if reader is not None:
        # Now, from the only thread there is: forked where it can be, before the browser's
        # threads start, and before Textual is imported: the worker holds none of it (its PSS
        # peaked at 40 MB with it, at 33 MB without, on 30,000 calls).
        reader.start()
    from sipsniff.browse.app import Source

    return Source(
        session=session,
        feed=feed,
        name=", ".join(os.path.basename(f) if f != STDIN else "standard input" for f in files),
        inputs=files,
        rtp=rtp,
        media=media,
        finish=finish,
    )


def run(source: Source, options: RenderOptions, initial: str = "") -> None:
    """Run the browser until the person quits."""
    from sipsniff.browse.app import BrowseApp

    app = BrowseApp(source, options, initial=initial)
    app.run()
    keep_until_exit(app)
    if app.failure is not None:  # the capture file changed under it: said in one line
        raise app.failure


def _keyboard_from_terminal() -> None:
    """Standard input is not the terminal (the capture came on it, or it was redirected): keys
    come from the terminal, as in ``less``."""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY)
    except OSError:
        raise UsageError(
            "standard input is not a terminal and there is no terminal to read keys from"
        ) from None
    os.dup2(fd, 0)
    os.close(fd)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 (fd 0 lives as long as the process)
