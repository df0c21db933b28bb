"""Capture files: pcap and pcapng (and Network Monitor, in netmon.py), plain or gzip-compressed,
from a path or standard input.

How this works: the whole input is one buffer (an mmap of a regular file, or the bytes of standard
input, of a pipe or of a decompressed gzip) and the readers walk it by offset with precompiled
``struct.Struct.unpack_from`` calls and slices, as dpkt's ``(ts, buf)`` readers do; nothing is
dissected. Each record becomes a ``model.Frame`` that owns a copy of its bytes, so the buffer can be
closed whenever the reader is. Standard input, pipes and gzip inputs are held whole in memory (a
gzip input as its decompressed size); a regular file is only mapped.

The format is told by its magic number, never by the file name. An input that cannot be read at all
raises ``CaptureError`` with one line a person can act on, naming the real format when the magic
tells it. Damage after a good start (a record cut short, an absurd length, a bad pcapng block) is
not an exception: reading stops there, every frame before it is kept, and ``CaptureInfo.warnings``
says what and where. So ``warnings`` holds damage only; what the formats allow (pcapng blocks we do
not use, timestamps going backwards) is no warning.

Specs: pcap is draft-ietf-opsawg-pcap, pcapng is draft-ietf-opsawg-pcapng (section header,
interface description, enhanced/simple/obsolete packet blocks).
"""

from __future__ import annotations

import heapq
import math
import mmap
import os
import stat
import struct
import weakref
from collections.abc import Generator, Iterator, Sequence
from operator import itemgetter
from types import TracebackType
from typing import Final

from sipsniff.capture import netmon
from sipsniff.capture.inputs import GZIP, STDIN, gunzip, load, not_a_capture, through_editcap
from sipsniff.errors import CaptureError, UsageError
from sipsniff.model import CaptureInfo, Frame

MAX_RECORD: Final = 256 * 1024 * 1024
"""A record or block that claims more bytes than this is taken for damage, not for a packet."""
_RELEASE_STEP: Final = 256 * 1024
"""How often (bytes read) the mapped pages already read are released: the pages of the file
resident at once, which count in the reading process's memory (16 MiB made the two-process
reader's worker 12 MB larger, 4 MiB left 3.5 MB of the file resident in it, 1 MiB 1 MB). A
release is one system call over the pages read since the last: 320 for the 82 MB of
benchmarks/read_bench.py's capture."""

_NS: Final = 1_000_000_000
_DONTNEED: Final[int | None] = getattr(mmap, "MADV_DONTNEED", None)
"""Linux, macOS and the BSDs can be told that mapped pages are done with; Windows cannot (its
``mmap`` has no ``madvise``): there the system pages a mapped file out as it needs."""

# -- pcap --------------------------------------------------------------------------------------
# File header: magic, version major, minor, thiszone, sigfigs, snaplen, linktype (24 bytes).
# Record header: ts seconds, ts fraction (micro- or nanoseconds), captured length, original length.
_PCAP_MAGICS: Final = {
    # magic as it lies in the file -> (byte order, nanoseconds?)
    b"\xd4\xc3\xb2\xa1": ("<", False),
    b"\xa1\xb2\xc3\xd4": (">", False),
    b"\x4d\x3c\xb2\xa1": ("<", True),
    b"\xa1\xb2\x3c\x4d": (">", True),
}
_PCAP_HEADER: Final = 24
_PCAP_RECORD: Final = 16
_LINKTYPE_MASK: Final = 0xFFFF
"""The low 16 bits of the header's link type field; the upper bits may carry FCS information."""

# -- pcapng ------------------------------------------------------------------------------------
_SHB: Final = 0x0A0D0D0A
"""Section Header Block; the value reads the same in both byte orders."""
_IDB: Final = 1
_PB: Final = 2
"""Packet Block (obsolete, still written by old tools)."""
_SPB: Final = 3
_EPB: Final = 6
_PACKET_BLOCKS: Final = frozenset({_PB, _SPB, _EPB})
_NUMBERED_BLOCKS: Final = frozenset({9, 0x00000BAD, 0x40000BAD})
"""Blocks that are no packets but that Wireshark lists (and numbers) as frames: systemd journal
entries and custom blocks. They take a frame number, so numbers stay Wireshark's, but no ``Frame``."""
_BLOCK_NAMES: Final = {
    _SHB: "section header block",
    _IDB: "interface description block",
    _PB: "packet block",
    _SPB: "simple packet block",
    _EPB: "enhanced packet block",
    4: "name resolution block",
    5: "interface statistics block",
    9: "systemd journal export block",
    10: "decryption secrets block",
}
_PCAPNG_MAGIC: Final = b"\x0a\x0d\x0d\x0a"
_BYTE_ORDER_MAGICS: Final = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}
_SHB_MIN: Final = 28
_OPT_ENDOFOPT: Final = 0
_OPT_IF_TSRESOL: Final = 9
_OPT_IF_TSOFFSET: Final = 14


class _Structs:
    """The structs of one byte order, compiled once."""

    __slots__ = ("block", "epb", "idb", "opt", "pb", "pcap_record", "shb", "spb", "tsoffset", "u32")

    def __init__(self, order: str) -> None:
        self.pcap_record = struct.Struct(order + "IIII")
        self.block = struct.Struct(order + "II")  # block type, block total length
        self.u32 = struct.Struct(order + "I")
        self.shb = struct.Struct(order + "HHq")  # version major, minor, section length (after BOM)
        self.idb = struct.Struct(order + "HHI")  # link type, reserved, snaplen
        # block type, block length, then an enhanced packet block's interface, ts high, ts low,
        # caplen, orig len: one call reads what the loop needs of the most common block.
        self.epb = struct.Struct(order + "IIIIIII")
        self.pb = struct.Struct(order + "HHIIII")  # interface, drops, ts high, ts low, caplen, orig
        self.spb = struct.Struct(order + "I")  # original length
        self.opt = struct.Struct(order + "HH")  # option code, option length
        self.tsoffset = struct.Struct(order + "q")


_STRUCTS: Final = {"<": _Structs("<"), ">": _Structs(">")}
_PCAP_FILE_HEADER: Final = {o: struct.Struct(o + "HHiIII") for o in "<>"}  # after the magic


class CaptureReader:
    """One pcap or pcapng input (plain or gzip-compressed, a path or ``-`` for standard input).

    Opening reads and checks the file header; iterating yields its frames, numbered from 1 as
    Wireshark numbers them. ``info`` is filled as reading goes: ``frames`` when an iteration ends
    (or stops), the pcapng link types and resolution as their interface blocks are read.
    """

    def __init__(self, path: str, file_index: int = 0) -> None:
        """Open ``path`` and check that it holds a capture we can read.

        Args:
            path: a file name, or ``-`` for standard input (read whole into memory).
            file_index: the index of this input among several; every ``Frame.file`` carries it.

        Raises:
            CaptureError: the input is missing, unreadable, empty or not a pcap/pcapng capture.
        """
        self.path = path
        self.file_index = file_index
        self.name = "standard input" if path == STDIN else path
        """How messages call the input."""
        self.skipped_blocks: dict[int, int] = {}
        """pcapng blocks passed over (name resolution, statistics, custom...), by block type.

        Legal, so no warning; custom and systemd journal blocks among them take a frame number, as
        Wireshark lists them as frames."""
        self._warnings: list[str] = []
        """Damage found while opening (in the gzip layer), reported again by every iteration."""
        self._generators: weakref.WeakSet[Generator[Frame, None, None]] = weakref.WeakSet()
        self._map: mmap.mmap | None = None
        self._released = 0
        """Where the mapped pages released so far end (``_release``; from 0 at each iteration)."""
        self._buf: bytes | mmap.mmap = b""
        self._gzip = False
        self._order = "<"
        """Byte order of a pcap file."""
        self._converted = False
        """The input was in another format, converted by editcap (``inputs.through_editcap``)."""
        self._numbered = 0
        """Frame numbers taken by pcapng blocks that are no packets (see ``_NUMBERED_BLOCKS``)."""
        self._load()
        try:
            self.info = self._check()
        except BaseException:
            self.close()
            raise
        self.info.warnings.extend(self._warnings)

    # -- public --------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Frame]:
        if self.info.format.startswith("netmon"):
            gen = self._netmon()
        elif self.info.format.startswith("pcapng"):
            gen = self._pcapng()
        else:
            gen = self._pcap()
        self._generators.add(gen)
        return gen

    def close(self) -> None:
        """Stop any iteration in progress and release the file. Safe to call twice."""
        for gen in list(self._generators):
            gen.close()
        self._buf = b""
        if self._map is not None:
            self._map.close()
            self._map = None

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- opening -------------------------------------------------------------------------------
    def _load(self) -> None:
        """Get the whole input into ``self._buf``, decompressed."""
        self._buf, self._map = load(self.path, self.name)
        if self._buf[:2] == GZIP:
            data, damage = gunzip(self._buf, self.name)
            self.close()
            self._buf = data
            self._gzip = True
            if damage:
                self._warnings.append(damage)

    def _check(self) -> CaptureInfo:
        """Tell the format from the magic number, check the header and describe the input."""
        buf = self._buf
        gz = "+gzip" if self._gzip else ""
        if not buf:
            what = "an empty gzip file" if gz else "empty"
            raise CaptureError(f"{self.name} is {what}")
        magic = bytes(buf[:4])
        if magic in _PCAP_MAGICS:
            order, nano = _PCAP_MAGICS[magic]
            if len(buf) < _PCAP_HEADER:
                raise self._too_short("a pcap file header", _PCAP_HEADER)
            header = _PCAP_FILE_HEADER[order].unpack_from(buf, 4)
            major, minor, _zone, _sigfigs, _snaplen, linktype = header
            if major != 2:
                raise CaptureError(
                    f"{self.name} is a pcap file of version {major}.{minor}, which cannot be read "
                    "(only 2.x can)"
                )
            self._order = order
            fmt = "pcap-ns" if nano else "pcap"
            return CaptureInfo(
                path=self.path,
                format=fmt + gz,
                linktypes=(linktype & _LINKTYPE_MASK,),
                resolution=9 if nano else 6,
            )
        if magic == _PCAPNG_MAGIC:
            if len(buf) < _SHB_MIN:
                raise self._too_short("a pcapng section header", _SHB_MIN)
            bom = _BYTE_ORDER_MAGICS.get(bytes(buf[8:12]))
            if bom is None:
                raise CaptureError(
                    f"{self.name} starts like pcapng but its section header is damaged "
                    "(no byte-order magic): it cannot be read"
                )
            structs = _STRUCTS[bom]
            _, blen = structs.block.unpack_from(buf, 0)
            if blen < _SHB_MIN or blen & 3 or blen > MAX_RECORD:
                raise CaptureError(
                    f"{self.name} starts like pcapng but its section header is damaged "
                    f"(bad length {blen}): it cannot be read"
                )
            if blen > len(buf):
                raise self._too_short("its pcapng section header", blen)
            major, minor, _ = structs.shb.unpack_from(buf, 12)
            if major != 1:
                raise CaptureError(
                    f"{self.name} is a pcapng file of version {major}.{minor}, which cannot be "
                    "read (only 1.x can)"
                )
            return CaptureInfo(path=self.path, format="pcapng" + gz)
        if magic in (netmon.MAGIC_1, netmon.MAGIC_2):
            info = netmon.check(buf, self.path, self.name)
            info.format += gz
            return info
        converted = None if self._converted else through_editcap(self.path, buf, gz=self._gzip)
        if converted is None:
            raise not_a_capture(self.name, self.path, bytes(buf[:512]), gz=self._gzip)
        data, what = converted
        self.close()
        self._buf, self._converted = data, True
        info = self._check()
        info.format += "+editcap"
        info.notices.append(f"{self.name} is {what}: read through editcap, converted to pcapng")
        return info

    def _too_short(self, header: str, size: int) -> CaptureError:
        n = len(self._buf)
        inside = "once decompressed " if self._gzip else ""
        return CaptureError(
            f"{self.name} is too short to be a capture: {inside}{n} bytes, "
            f"and {header} alone takes {size}"
        )

    # -- damage --------------------------------------------------------------------------------
    def _warn(self, what: str, number: int) -> None:
        """Record damage met after frame ``number``."""
        frames = number - self._numbered
        plural = "frame" if frames == 1 else "frames"
        self.info.warnings.append(f"{self.name}: {what}; {frames} {plural} read before it")

    def _start(self) -> None:
        """Reset what an earlier iteration filled in."""
        self.info.warnings[:] = self._warnings
        self.info.frames = 0
        self.skipped_blocks.clear()
        self._numbered = 0
        self._released = 0

    def _filed_mask(self) -> int:
        """0 when the frames' ``offset`` is where their bytes are in the file, -1 (which an
        offset or-ed with it becomes) when the buffer is not the file as it is."""
        plain = self.path != STDIN and not self._gzip and not self._converted
        try:
            plain = plain and stat.S_ISREG(os.stat(self.path).st_mode)  # no pipe (<(zcat ...))
        except OSError:
            plain = False
        return 0 if plain else -1

    # -- pcap ----------------------------------------------------------------------------------
    def _release(self, off: int) -> int:
        """Tell the kernel the mapped pages before ``off`` are done with, so a large file does not
        stay resident (RSS) while it is read; returns the offset to release at next."""
        if self._map is not None and _DONTNEED is not None:
            end = off - off % mmap.PAGESIZE
            if end > self._released:
                self._map.madvise(_DONTNEED, self._released, end - self._released)
                self._released = end
        return off + _RELEASE_STEP

    def _pcap(self) -> Generator[Frame, None, None]:
        self._start()
        buf = self._buf
        end = len(buf)
        info = self.info
        linktype = info.linktypes[0]
        fi = self.file_index
        tick = 1 if info.format.startswith("pcap-ns") else 1000
        filed = self._filed_mask()
        unpack = _STRUCTS[self._order].pcap_record.unpack_from
        # tuple.__new__ skips the Python-level NamedTuple constructor: a third faster per frame.
        new = tuple.__new__
        frame = Frame
        ns = _NS
        n = 0
        off = _PCAP_HEADER
        release_at = _RELEASE_STEP
        try:
            while off < end:
                if off >= release_at:
                    release_at = self._release(off)
                if end - off < _PCAP_RECORD:
                    self._warn(
                        f"last record (frame {n + 1}) is cut short: {end - off} of its "
                        f"{_PCAP_RECORD} header bytes",
                        n,
                    )
                    break
                sec, frac, caplen, orig = unpack(buf, off)
                start = off + _PCAP_RECORD
                off = start + caplen
                if off > end:
                    if caplen > MAX_RECORD:
                        self._warn(
                            f"record of frame {n + 1} claims {caplen} bytes, more than 256 MiB: "
                            "the file is damaged there",
                            n,
                        )
                    else:
                        self._warn(
                            f"last record (frame {n + 1}) is cut short: {end - start + 16} of "
                            f"{caplen + 16} bytes",
                            n,
                        )
                    break
                if caplen > MAX_RECORD:
                    self._warn(
                        f"record of frame {n + 1} claims {caplen} bytes, more than 256 MiB: "
                        "the file is damaged there",
                        n,
                    )
                    break
                n += 1
                yield new(
                    frame,
                    (n, sec * ns + frac * tick, linktype, buf[start:off], orig, fi, start | filed),
                )
        finally:
            info.frames = n

    # -- Network Monitor ------------------------------------------------------------------------
    def _netmon(self) -> Generator[Frame, None, None]:
        self._start()
        yield from netmon.frames(self._buf, self.info, self.file_index, self._warn)

    # -- pcapng --------------------------------------------------------------------------------
    def _pcapng(self) -> Generator[Frame, None, None]:
        self._start()
        buf = self._buf
        end = len(buf)
        info = self.info
        fi = self.file_index
        new = tuple.__new__
        frame = Frame
        filed = self._filed_mask()
        s = _STRUCTS["<"]
        block = s.block.unpack_from
        u32 = s.u32.unpack_from
        epb = s.epb.unpack_from
        # Per interface of the current section: link type, snaplen, and how its timestamp ticks
        # become nanoseconds: ns = ticks * mul // div + offset.
        ifaces: list[tuple[int, int, int, int, int]] = []
        resolutions: list[int] = []
        n = 0
        ts = 0
        off = 0
        release_at = _RELEASE_STEP
        try:
            while off < end:
                if off >= release_at:
                    release_at = self._release(off)
                left = end - off
                if left >= 28:
                    btype, blen, iface, hi, lo, caplen, orig = epb(buf, off)
                elif left >= 12:
                    btype, blen = block(buf, off)
                else:
                    self._warn(f"{left} stray bytes at the end, too few for a pcapng block", n)
                    break
                if btype == _SHB:
                    order = _BYTE_ORDER_MAGICS.get(bytes(buf[off + 8 : off + 12]))
                    if order is None:
                        self._warn(
                            f"section header block at offset {off} has no byte-order magic: "
                            "the file is damaged there",
                            n,
                        )
                        break
                    s = _STRUCTS[order]
                    block = s.block.unpack_from
                    u32 = s.u32.unpack_from
                    epb = s.epb.unpack_from
                    btype, blen = block(buf, off)
                if blen < 12 or blen & 3 or blen > MAX_RECORD:
                    self._warn(
                        f"{_block_name(btype, n)} at offset {off} has a bad length ({blen}): "
                        "the file is damaged there",
                        n,
                    )
                    break
                nxt = off + blen
                if nxt > end:
                    self._warn(
                        f"last {_block_name(btype, n)} is cut short: {left} of {blen} bytes", n
                    )
                    break
                if u32(buf, nxt - 4)[0] != blen:
                    self._warn(
                        f"{_block_name(btype, n)} at offset {off} has different lengths at its "
                        f"start ({blen}) and end ({u32(buf, nxt - 4)[0]}): the file is damaged "
                        "there",
                        n,
                    )
                    break
                if btype == _EPB:
                    if blen < 32 or 32 + ((caplen + 3) & ~3) > blen:
                        self._bad_packet_block(btype, off, blen, caplen if blen >= 32 else -1, n)
                        break
                    if iface >= len(ifaces):
                        self._no_interface(iface, len(ifaces), n)
                        break
                    linktype, _snaplen, mul, div, offset = ifaces[iface]
                    ts = ((hi << 32) | lo) * mul // div + offset
                    n += 1
                    data = buf[off + 28 : off + 28 + caplen]
                    yield new(frame, (n, ts, linktype, data, orig, fi, (off + 28) | filed))
                elif btype == _IDB:
                    parsed = self._interface(s, buf, off, blen, n)
                    if parsed is None:
                        break
                    ifaces.append(parsed[0])
                    resolutions.append(parsed[1])
                    info.resolution = max(resolutions)
                    linktype = parsed[0][0]
                    if linktype not in info.linktypes:
                        info.linktypes = (*info.linktypes, linktype)
                elif btype == _SHB:
                    ifaces = []
                elif btype == _PB:
                    if blen < 32:
                        self._bad_packet_block(btype, off, blen, -1, n)
                        break
                    iface, _drops, hi, lo, caplen, orig = s.pb.unpack_from(buf, off + 8)
                    if 32 + ((caplen + 3) & ~3) > blen:
                        self._bad_packet_block(btype, off, blen, caplen, n)
                        break
                    if iface >= len(ifaces):
                        self._no_interface(iface, len(ifaces), n)
                        break
                    linktype, _snaplen, mul, div, offset = ifaces[iface]
                    ts = ((hi << 32) | lo) * mul // div + offset
                    n += 1
                    data = buf[off + 28 : off + 28 + caplen]
                    yield new(frame, (n, ts, linktype, data, orig, fi, (off + 28) | filed))
                elif btype == _SPB:
                    # No interface field (it is interface 0) and no timestamp: the frame keeps
                    # the time of the packet before it, so a merge keeps it in place.
                    if blen < 16:
                        self._bad_packet_block(btype, off, blen, -1, n)
                        break
                    if not ifaces:
                        self._no_interface(0, 0, n)
                        break
                    (orig,) = s.spb.unpack_from(buf, off + 8)
                    linktype, snaplen, _mul, _div, _offset = ifaces[0]
                    caplen = min(orig, blen - 16)
                    if snaplen:
                        caplen = min(caplen, snaplen)
                    n += 1
                    data = buf[off + 12 : off + 12 + caplen]
                    yield new(frame, (n, ts, linktype, data, orig, fi, (off + 12) | filed))
                else:
                    self.skipped_blocks[btype] = self.skipped_blocks.get(btype, 0) + 1
                    if btype in _NUMBERED_BLOCKS:
                        n += 1
                        self._numbered += 1
                off = nxt
        finally:
            info.frames = n - self._numbered

    def _bad_packet_block(self, btype: int, off: int, blen: int, caplen: int, n: int) -> None:
        """Warn of a packet block too small for its fields (caplen -1) or for its packet."""
        what = f"{_block_name(btype, n)} at offset {off}"
        if caplen < 0:
            self._warn(f"{what} has a bad length ({blen}): the file is damaged there", n)
        else:
            self._warn(
                f"{what} holds {caplen} bytes of packet in a {blen}-byte block: the file is "
                "damaged there",
                n,
            )

    def _no_interface(self, iface: int, count: int, n: int) -> None:
        self._warn(
            f"frame {n + 1} names interface {iface}, but its section describes only {count}: "
            "the file is damaged there",
            n,
        )

    def _interface(
        self, s: _Structs, buf: bytes | mmap.mmap, off: int, blen: int, n: int
    ) -> tuple[tuple[int, int, int, int, int], int] | None:
        """Parse an interface description block: (link type, snaplen, mul, div, offset), digits.

        Returns None (after a warning) when the block is damaged.
        """
        if blen < 20:
            self._warn(
                f"interface description block at offset {off} has a bad length ({blen}): "
                "the file is damaged there",
                n,
            )
            return None
        linktype, _reserved, snaplen = s.idb.unpack_from(buf, off + 8)
        per_second = 1_000_000  # if_tsresol absent: microseconds
        offset = 0
        pos = off + 16
        stop = off + blen - 4
        while pos + 4 <= stop:
            code, length = s.opt.unpack_from(buf, pos)
            if code == _OPT_ENDOFOPT:
                break
            value = pos + 4
            if value + length > stop:
                self._warn(
                    f"interface description block at offset {off} has an option running past "
                    "its end: the file is damaged there",
                    n,
                )
                return None
            if code == _OPT_IF_TSRESOL and length >= 1:
                v = buf[value]
                exponent = v & 0x7F
                if exponent > 63:
                    self._warn(
                        f"interface description block at offset {off} has an unusable "
                        f"timestamp resolution (if_tsresol {v:#04x}): the file is damaged there",
                        n,
                    )
                    return None
                per_second = 2**exponent if v & 0x80 else 10**exponent
            elif code == _OPT_IF_TSOFFSET and length >= 8:
                offset = s.tsoffset.unpack_from(buf, value)[0] * _NS
            pos = value + ((length + 3) & ~3)
        if _NS % per_second == 0:
            mul, div = _NS // per_second, 1
        else:
            mul, div = _NS, per_second
        digits = min(9, math.ceil(math.log10(per_second) - 1e-9))
        return (linktype, snaplen, mul, div, offset), digits


def _block_name(btype: int, frames: int) -> str:
    """``block (frame 12)`` for a packet block, ``interface description block`` for others."""
    if btype in _PACKET_BLOCKS:
        return f"block (frame {frames + 1})"
    return _BLOCK_NAMES.get(btype, f"block of type {btype:#x}")


def read_frames(paths: Sequence[str]) -> tuple[list[CaptureInfo], Iterator[Frame]]:
    """Open every input, then read their frames merged in time order.

    Args:
        paths: file names; ``-`` (once at most) is standard input.

    Returns:
        One ``CaptureInfo`` per input, in the order of ``paths``, filled as the iteration goes, and
        the frames of all inputs ordered by ``ts_ns``: ties keep the order of ``paths``, and each
        input's own frames keep their file order even where its timestamps go backwards.
        ``Frame.file`` is the index of the input in ``paths``; frame numbers count per input.

    Raises:
        CaptureError: for the first input that cannot be read, before anything is yielded.
        UsageError: ``-`` named more than once.
    """
    if list(paths).count(STDIN) > 1:
        raise UsageError("standard input (-) can be read only once; name it a single time")
    readers: list[CaptureReader] = []
    try:
        for index, path in enumerate(paths):
            readers.append(CaptureReader(path, index))
    except BaseException:
        for reader in readers:
            reader.close()
        raise
    return [r.info for r in readers], _merged(readers)


def regular_size(paths: Sequence[str]) -> int | None:
    """Total size in bytes of ``paths`` when each is a regular file (as stored: a gzip file
    compressed); None when one is not (standard input, a pipe, a device) or cannot be seen."""
    total = 0
    for path in paths:
        if path == STDIN:
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        total += st.st_size
    return total


def _merged(readers: list[CaptureReader]) -> Iterator[Frame]:
    try:
        if len(readers) == 1:
            yield from readers[0]
        elif readers:
            yield from heapq.merge(*readers, key=itemgetter(1))
    finally:
        for reader in readers:
            reader.close()
