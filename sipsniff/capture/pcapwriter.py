"""Copy chosen frames of capture files into a new capture: ``sipsniff read --write-pcap``.

How this works: the inputs are read again (``read_frames``, so in the same merged time order and
with the same numbering as the pipeline saw them) and every frame whose ``(file, number)`` is wanted
is written unchanged: its bytes, original length, timestamp and link type. One link type makes a
pcap file (with nanosecond timestamps when an input has them, microseconds otherwise); several make
a pcapng file with one interface per link type. Specs: draft-ietf-opsawg-pcap, -pcapng.
"""

from __future__ import annotations

import struct
from collections.abc import Collection, Sequence
from typing import BinaryIO

from sipsniff.capture.files import read_frames
from sipsniff.capture.inputs import STDIN
from sipsniff.errors import UsageError
from sipsniff.model import Frame

SNAPLEN = 262144
"""Snapshot length written in the headers (what tcpdump uses by default)."""

_PCAP_US = 0xA1B2C3D4
_PCAP_NS = 0xA1B23C4D
_NS = 1_000_000_000


def write_frames(
    paths: Sequence[str], wanted: Collection[tuple[int, int]], out: BinaryIO
) -> tuple[int, str]:
    """Write the frames of ``paths`` named in ``wanted`` to ``out``, in input order.

    Args:
        paths: the inputs, as given to ``read_trace`` (standard input cannot be read twice).
        wanted: ``(file index, frame number)`` of each frame to copy.
        out: where the capture goes (an ``outfile.OutputFile``'s stream: written beside the file
            it replaces, so a failed run leaves that file whole).

    Returns:
        How many frames were written and the format: ``pcap`` or ``pcapng``.

    Raises:
        UsageError: an input is standard input.
        OSError: ``out`` could not be written (``OutputFile`` names the file).
    """
    if STDIN in paths:
        raise UsageError("--write-pcap reads the inputs twice: standard input (-) cannot be used")
    infos, frames = read_frames(paths)
    chosen: list[Frame] = [f for f in frames if (f.file, f.number) in wanted]
    nanos = max((i.resolution for i in infos), default=6) > 6
    linktypes = list(dict.fromkeys(f.linktype for f in chosen))
    if len(linktypes) <= 1:
        _pcap(out, chosen, linktypes[0] if linktypes else 1, nanos=nanos)
        return len(chosen), "pcap"
    _pcapng(out, chosen, linktypes)
    return len(chosen), "pcapng"


def write_pcap(out: BinaryIO, frames: Sequence[Frame], linktype: int) -> None:
    """Frames made here (``net.encode.FrameMaker``), not copied from a capture: a pcap with
    nanosecond timestamps."""
    _pcap(out, frames, linktype, nanos=True)


def _pcap(out: BinaryIO, frames: Sequence[Frame], linktype: int, *, nanos: bool) -> None:
    magic = _PCAP_NS if nanos else _PCAP_US
    out.write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, SNAPLEN, linktype))
    record = struct.Struct("<IIII")
    for f in frames:
        sec, frac = divmod(f.ts_ns, _NS)
        if not nanos:
            frac //= 1000
        out.write(record.pack(sec, frac, len(f.data), max(f.orig_len, len(f.data))))
        out.write(f.data)


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _pcapng(out: BinaryIO, frames: Sequence[Frame], linktypes: Sequence[int]) -> None:
    # Section header block: type, length, byte-order magic, version 1.0, section length unknown.
    shb = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
    out.write(
        struct.pack("<II", 0x0A0D0D0A, 12 + len(shb)) + shb + struct.pack("<I", 12 + len(shb))
    )
    # One interface description block per link type, with if_tsresol (option 9) = 10^-9.
    iface: dict[int, int] = {}
    for i, lt in enumerate(linktypes):
        iface[lt] = i
        body = struct.pack("<HHI", lt, 0, SNAPLEN)
        body += struct.pack("<HH", 9, 1) + _pad4(b"\x09") + struct.pack("<HH", 0, 0)
        out.write(struct.pack("<II", 1, 12 + len(body)) + body + struct.pack("<I", 12 + len(body)))
    for f in frames:
        # Enhanced packet block: interface, timestamp (high, low), captured and original length.
        ts = f.ts_ns
        body = struct.pack(
            "<IIIII",
            iface[f.linktype],
            ts >> 32,
            ts & 0xFFFFFFFF,
            len(f.data),
            max(f.orig_len, len(f.data)),
        )
        body += _pad4(f.data)
        out.write(struct.pack("<II", 6, 12 + len(body)) + body + struct.pack("<I", 12 + len(body)))
