"""Writing the dialogs chosen in the browser to a file: pcap (with their RTP on request), or any
document format of ``read`` (HTML, JSON, Mermaid, PlantUML, NDJSON, CSV, text).

A file is written as every output of sipsniff is (``capture.outfile.OutputFile``: beside its
target under a temporary name, renamed when whole), never over an input, and never over an
existing file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sipsniff.analysis.frames import MediaLog, dialog_frames, media_frames
from sipsniff.analysis.report import TraceReport
from sipsniff.capture.outfile import OutputFile, refuse_overwrite
from sipsniff.capture.pcapwriter import write_frames, write_pcap
from sipsniff.errors import UsageError
from sipsniff.model import Dialog, Trace
from sipsniff.net.encode import LINKTYPE_ETHERNET, FrameMaker
from sipsniff.render.base import RENDERERS, RenderOptions

EXTENSIONS = {
    "pcap": "pcap",
    "html": "html",
    "json": "json",
    "mermaid": "mmd",
    "plantuml": "puml",
    "ndjson": "ndjson",
    "csv": "csv",
    "text": "txt",
}
"""Every format the browser exports, with its file name extension."""

FORMATS = tuple(EXTENSIONS)


@dataclass(frozen=True, slots=True)
class Exported:
    path: str
    what: str
    """What was written, for the status line: ``12 frames of 2 dialogs (pcap)``."""


def default_name(inputs: Sequence[str], dialogs: Sequence[Dialog], fmt: str) -> str:
    """``capture-dialog-12.html``, ``capture-dialogs-3-7-9.pcap``: beside nothing, in the current
    directory, from the first input's name (``live`` when capturing)."""
    stem = Path(inputs[0]).name if inputs and inputs[0] != "-" else "live"
    stem = re.sub(r"(\.gz)?$", "", stem)
    stem = re.sub(r"\.(pcapng|pcap|cap)$", "", stem) or "capture"
    ids = [str(d.id) for d in dialogs[:4]]
    part = ("dialog-" if len(dialogs) == 1 else "dialogs-") + "-".join(ids)
    if len(dialogs) > 4:
        part += f"-and-{len(dialogs) - 4}-more"
    return f"{stem}-{part}.{EXTENSIONS[fmt]}"


def free_name(name: str) -> str:
    """``name``, or ``name`` with ``-1``, ``-2``... before its extension when it exists."""
    if not os.path.exists(name):
        return name
    base, dot, ext = name.rpartition(".")
    if not dot:
        base, ext = name, ""
    n = 1
    while True:
        candidate = f"{base}-{n}.{ext}" if ext else f"{base}-{n}"
        if not os.path.exists(candidate):
            return candidate
        n += 1


def export(
    trace: Trace,
    dialogs: Sequence[Dialog],
    fmt: str,
    path: str,
    *,
    inputs: Sequence[str] = (),
    media: MediaLog | None = None,
    with_rtp: bool = False,
    options: RenderOptions | None = None,
) -> Exported:
    """Write ``dialogs`` to ``path`` as ``fmt``.

    Args:
        inputs: the capture files read (pcap copies their frames); none when capturing live
            (pcap then holds frames made from the messages, as ``hep --write-pcap`` does).
        media: where every UDP datagram went (``--with-rtp``: their frames are copied too).

    Raises:
        UsageError: the file exists (the browser never replaces one), is an input, or RTP was
            asked for without inputs to copy it from.
        OutputError: the file cannot be written.
    """
    if fmt not in EXTENSIONS:
        raise UsageError(f"cannot export as {fmt!r}: choose one of {', '.join(FORMATS)}")
    if not path.strip():
        raise UsageError("give a file name")
    if os.path.isdir(path):
        raise UsageError(f"{path} is a directory")
    if os.path.exists(path):
        raise UsageError(f"{path} exists: choose another name")
    refuse_overwrite([("the file", path)], [i for i in inputs if i != "-"])
    with OutputFile(path, binary=fmt == "pcap") as out:
        return Exported(path, _write(trace, dialogs, fmt, out, inputs, media, with_rtp, options))


def _write(
    trace: Trace,
    dialogs: Sequence[Dialog],
    fmt: str,
    out: OutputFile,
    inputs: Sequence[str],
    media: MediaLog | None,
    with_rtp: bool,
    options: RenderOptions | None,
) -> str:
    n = len(dialogs)
    of = f"{n} dialog{'s' * (n != 1)}"
    if fmt == "pcap":
        files = [i for i in inputs if i != "-"]
        if files and len(files) == len(inputs):
            wanted = dialog_frames(trace, dialogs)
            if with_rtp:
                if media is None:
                    raise UsageError("no RTP was kept for this capture")
                wanted |= media_frames(trace, dialogs, media)
            count, kind = write_frames(files, wanted, out.binary)
            return f"{count} frames of {of} ({kind}{', with RTP' if with_rtp else ''})"
        if with_rtp:
            raise UsageError("RTP can be exported from capture files only")
        maker = FrameMaker()
        frames = []
        ids = sorted({i for d in dialogs for i in d.messages})
        for number, i in enumerate(ids, 1):
            frame = maker.frame(number, trace.entries[i])
            if frame is not None:
                frames.append(frame)
        write_pcap(out.binary, frames, LINKTYPE_ETHERNET)
        return f"{len(frames)} frames of {of} (pcap, made from the messages)"
    renderer = RENDERERS[fmt]()
    report = TraceReport(trace, dialogs)
    opts = options or RenderOptions()
    renderer.write(report, opts, out.text)
    return f"{of} ({fmt})"
