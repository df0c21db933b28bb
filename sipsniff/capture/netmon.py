"""Microsoft Network Monitor captures (1.x ``RTSS``, 2.x ``GMBU``): the format Windows engineers
still hand over, read as Wireshark's wiretap/netmon.c reads it.

How this works. A 128-byte file header (magic, version, network type, the capture's start as a
SYSTEMTIME, and where the frame table is) is followed by records anywhere in the file: the frame
table, an array of 32-bit offsets, says where each record starts and in which order, so records
are read through it, never one after the other. A 2.x record is a time delta (64-bit
microseconds since the start), the original and captured lengths, the bytes; from version 2.1 a
trailer follows with the record's own network type (2.2: a process index; 2.3 and later: a UTC
FILETIME, which then gives the time). A 1.x record has a 32-bit millisecond delta and 16-bit
lengths.

The start time is a SYSTEMTIME with no zone: it is taken as UTC (what tshark shows with TZ=UTC;
Wireshark itself takes the zone of the machine that reads the file). Records of NetMon's own kinds
(filters, event tracing, adapter lists) take a frame number, as in Wireshark, but give no frame;
the metadata records Wireshark skips (payload headers, network and DNS info) take none.
"""

from __future__ import annotations

import calendar
import mmap
import struct
from collections.abc import Callable, Generator
from typing import Final

from sipsniff.errors import CaptureError
from sipsniff.model import CaptureInfo, Frame

MAGIC_1: Final = b"RTSS"
MAGIC_2: Final = b"GMBU"
HEADER: Final = 128
"""The file header, magic included, padded to 128 bytes."""

_HEADER: Final = struct.Struct("<4sBBH8HII")
"""magic, minor, major, network, SYSTEMTIME (year, month, dow, day, hour, min, sec, ms), frame
table offset and length."""
_REC_2: Final = struct.Struct("<QII")  # time delta (us), original length, captured length
_REC_1: Final = struct.Struct("<IHH")  # time delta (ms), original length, captured length
_U16: Final = struct.Struct("<H")
_U32: Final = struct.Struct("<I")
_U64: Final = struct.Struct("<Q")
_NS: Final = 1_000_000_000
_FILETIME_1970: Final = 116_444_736_000_000_000
"""100-ns intervals from 1601-01-01 (FILETIME's epoch) to 1970-01-01."""
_MAX_PACKET: Final = 262_144
"""Wireshark's WTAP_MAX_PACKET_SIZE_STANDARD: a bigger record is damage."""

LINKTYPES: Final = {0: 1, 1: 1, 2: 6, 7: 101, 8: 101, 9: 101}
"""NetMon network type -> pcap link type: 0 and 1 Ethernet, 2 Token Ring, 7-9 raw IP (tunnels,
wireless WAN, raw IP frames). FDDI (3), ATM (4) and 802.11 with NetMon's header (6) are not read."""
_PCAP_BASE: Final = 0xE000
"""A converted pcap file: the pcap link type is the network type less 0xE000."""
_NUMBERED: Final = frozenset({0xFFE0, 0xFFFB, 0xFFFF})
"""Event tracing, adapter list, NetMon filter: Wireshark lists them as frames."""
_SKIPPED: Final = frozenset({0xFFFC, 0xFFFD, 0xFFFE})
"""Payload header, network info, DNS cache: Wireshark skips them without a number."""
_TRAILER: Final = {1: 2, 2: 6}
"""Trailer bytes after a 2.x record by minor version (2.3 and later: 15)."""

Warn = Callable[[str, int], None]
"""Records damage met after frame N (CaptureReader._warn)."""


def _linktype(network: int) -> int | None:
    if network in LINKTYPES:
        return LINKTYPES[network]
    if network & 0xF000 == _PCAP_BASE and network < 0xE080:
        return network & 0x0FFF
    return None


def check(buf: bytes | mmap.mmap, path: str, name: str) -> CaptureInfo:
    """Check a NetMon file header and describe the input.

    Raises:
        CaptureError: too short, a version or network type that cannot be read, a bad frame table.
    """
    if len(buf) < HEADER:
        version = 1 if bytes(buf[:4]) == MAGIC_1 else 2
        raise CaptureError(
            f"{name} is a Microsoft Network Monitor {version}.x capture cut short: {len(buf)} "
            f"bytes, and its file header alone takes {HEADER}"
        )
    magic, minor, major, network, *_systime, table_off, table_len = _HEADER.unpack_from(buf, 0)
    expected = 1 if magic == MAGIC_1 else 2
    if major != expected:
        raise CaptureError(
            f"{name} is a Network Monitor file of version {major}.{minor}, which cannot be read "
            "(only 1.x and 2.x can)"
        )
    if major == 1 or minor == 0:
        linktype = _linktype(network)
        if linktype is None:
            raise CaptureError(
                f"{name} is a Network Monitor capture of network type {network}, which cannot "
                "be read (Ethernet, Token Ring and raw IP can)"
            )
        linktypes: tuple[int, ...] = (linktype,)
    else:
        linktypes = ()  # per record, from its trailer
    if table_len == 0 or table_len % 4 or table_off + table_len > len(buf):
        raise CaptureError(
            f"{name} is a Network Monitor capture whose frame table is damaged (offset "
            f"{table_off}, {table_len} bytes, in a {len(buf)}-byte file): it cannot be read"
        )
    fmt = f"netmon{major}"
    resolution = 3 if major == 1 else 7 if minor >= 3 else 6
    return CaptureInfo(path=path, format=fmt, linktypes=linktypes, resolution=resolution)


def frames(
    buf: bytes | mmap.mmap, info: CaptureInfo, file_index: int, warn: Warn
) -> Generator[Frame, None, None]:
    """The frames of a NetMon file ``check`` accepted, numbered as Wireshark numbers them; damage
    stops the reading with a warning. ``info.frames`` is set as the generator ends."""
    _magic, minor, major, network, *systime, table_off, table_len = _HEADER.unpack_from(buf, 0)
    year, month, _dow, day, hour, minute, sec, msec = systime
    try:
        start = calendar.timegm((year, month, day, hour, minute, sec)) * _NS + msec * 1_000_000
    except (ValueError, OverflowError):
        start = 0
    file_linktype = _linktype(network)
    trailer = 0 if major == 1 else _TRAILER.get(minor, 0 if minor == 0 else 15)
    head = _REC_1 if major == 1 else _REC_2
    end = len(buf)
    n = 0
    numbered = 0
    try:
        for index in range(table_len // 4):
            (off,) = _U32.unpack_from(buf, table_off + 4 * index)
            if off + head.size > end:
                warn(f"frame {n + 1} lies past the end of the file (offset {off})", n - numbered)
                return
            delta, orig, caplen = head.unpack_from(buf, off)
            data = off + head.size
            if caplen > _MAX_PACKET or data + caplen + trailer > end:
                warn(
                    f"record of frame {n + 1} claims {caplen} bytes, more than the file holds: "
                    "the file is damaged there",
                    n - numbered,
                )
                return
            if major == 1:
                ts = start + delta * 1_000_000
            else:
                signed = (delta * 10) & 0xFFFF_FFFF_FFFF_FFFF
                if signed >= 1 << 63:
                    signed -= 1 << 64
                ts = start + signed * 100
            linktype = file_linktype
            if trailer:
                (net,) = _U16.unpack_from(buf, data + caplen)
                if net in _SKIPPED:
                    continue
                linktype = _linktype(net)
                if trailer >= 15:
                    (filetime,) = _U64.unpack_from(buf, data + caplen + 6)
                    ts = (filetime - _FILETIME_1970) * 100
                if linktype is None:
                    n += 1
                    numbered += 1
                    if net not in _NUMBERED:
                        warn(
                            f"frame {n} has network type {net:#06x}, which cannot be read",
                            n - numbered,
                        )
                    continue
            assert linktype is not None
            n += 1
            yield Frame(n, ts, linktype, bytes(buf[data : data + caplen]), orig, file_index)
    finally:
        info.frames = n - numbered
