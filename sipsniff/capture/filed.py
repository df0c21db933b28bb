"""The bytes of messages kept in their capture file (``model.FiledMessage``), read back there.

How this works: a message whose bytes lie whole in one frame of a plain pcap or pcapng file is
kept as its place in the file, a small int, not as its ~450 bytes (``pipeline.stages``). Its
``raw`` asks this file's ``FiledBytes`` for them: the block of 64 KiB around them is read, and the
last blocks read (of all files) are kept, so that reading the messages in capture order (JSON,
HTML, the call list's details) reads the file once. The file's page cache is the operating
system's, not this process's memory.

The file is opened when reading it begins and stays open, so a capture file renamed or deleted
meanwhile (tcpdump rotating its files) is still read as it was. The descriptors stay open in a
pool of the last ``OPEN`` files used (a trace is dropped without a word: its descriptor must not
wait for the garbage collector); a file whose descriptor left the pool is opened again by its
name, and checked to be the same file (device and inode). A file replaced since then, or cut
short, raises ``CaptureError``: its messages cannot be shown as they were. (One that grew, a
capture still being written, is fine.)

A file written over in place (``tcpdump -w`` to the same name again: the same inode, truncated,
then as long again) would pass those checks and show other bytes as its messages. So, while the
capture is read, the first message that starts in each block is marked (``mark``: its place
and the CRC-32 of its bytes in the block), and a block read back is checked against its mark
(``_load``): one checksum of a few hundred bytes per 64 KiB read.
"""

from __future__ import annotations

import itertools
import os
import stat
import threading
import zlib
from collections.abc import Sequence
from typing import Any, Final

from sipsniff.capture.inputs import STDIN
from sipsniff.errors import CaptureError
from sipsniff.model import PLACE_BITS, PLACE_MASK, FiledMessage, filed_types

BLOCK_BITS: Final = 16
BLOCK: Final = 1 << BLOCK_BITS
"""Bytes read at a time."""
BLOCKS: Final = 8
"""Blocks kept, of all files (512 KiB: reading in capture order, or a dialog at a time, keeps to a
few; 2 MiB of them were resident in every run that read messages back)."""
OPEN: Final = 16
"""Files kept open, those used last."""

_open: dict[int, int] = {}
"""``FiledBytes.number`` -> its open descriptor, in order of use (the pool)."""
_lock = threading.Lock()  # the browser reads from two threads
_numbers = itertools.count(1)
_blocks: dict[int, bytes] = {}
"""The last blocks read, oldest first, by ``FiledBytes.number << _FILE_SHIFT | block``."""
_FILE_SHIFT: Final = 48


class FiledBytes:
    """The capture file at ``path``, where its messages' bytes are read back.

    Raises:
        CaptureError: the file cannot be opened (then nothing is filed there).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.number = next(_numbers)
        fd = self._open()
        st = os.fstat(fd)
        self._identity = (st.st_dev, st.st_ino)
        with _lock:
            self._pool(fd)
        self._key = self.number << _FILE_SHIFT
        """This file's part of the keys of ``_blocks``."""
        self.message: type[FiledMessage] = filed_types(self)
        """The class of this file's messages (its ``store`` is this object)."""
        self.due = 0
        """Where in the file a message found when reading it is next to be marked (``mark``):
        the start of the block after the last one marked."""
        self._marks: dict[int, tuple[int, int, int]] = {}
        """Block -> place, length and CRC-32 of the bytes in it of the first message that starts
        there."""

    def mark(self, start: int, data: bytes) -> None:
        """``data``, a message's bytes, were at ``start`` in the file when it was read: what a
        block read back there is checked against (the part of them in the block). Called for a
        message at ``due`` or beyond (the caller looks: a message of a block already marked costs
        it one comparison)."""
        at = start >> BLOCK_BITS
        self.due = end = (at + 1) << BLOCK_BITS
        n = min(len(data), end - start)
        self._marks[at] = (start, n, zlib.crc32(memoryview(data)[:n]))

    def raw_of(self, msg: tuple[Any, ...]) -> bytes:
        place: int = msg[1]
        start = place >> PLACE_BITS
        end = start + (place & PLACE_MASK)
        at = start >> BLOCK_BITS
        block = _blocks.get(self._key | at)
        if block is None:
            block = self._load(at)
        off = at << BLOCK_BITS
        if end - off <= len(block):
            return block[start - off : end - off]
        return self._read(start, end - start)  # over the end of the block

    def _load(self, at: int) -> bytes:
        block = self._read(at << BLOCK_BITS, BLOCK, whole=False)
        mark = self._marks.get(at)
        if mark is not None:
            start, length, crc = mark
            i = start - (at << BLOCK_BITS)
            if zlib.crc32(memoryview(block)[i : i + length]) != crc:
                raise self._changed("other bytes are where its messages were")
        with _lock:
            while len(_blocks) >= BLOCKS:
                del _blocks[next(iter(_blocks))]
            _blocks[self._key | at] = block
        return block

    def _read(self, start: int, length: int, *, whole: bool = True) -> bytes:
        """``length`` bytes at ``start`` (fewer at the end of the file, unless ``whole``)."""
        with _lock:
            fd = _open.pop(self.number, None)
            if fd is None:
                try:
                    fd = self._open()
                except CaptureError as e:
                    raise self._changed(f"it cannot be opened again: {e}") from None
                st = os.fstat(fd)
                if (st.st_dev, st.st_ino) != self._identity:
                    os.close(fd)
                    raise self._changed("it was replaced by another file")
            self._pool(fd)
            if hasattr(os, "pread"):
                data = os.pread(fd, length, start)
            else:  # Windows
                os.lseek(fd, start, os.SEEK_SET)
                data = os.read(fd, length)
        if len(data) < length and (whole or not data):
            raise self._changed("it is shorter than it was")
        return data

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except OSError as e:
            raise CaptureError(f"cannot read {self.path}: {e.strerror or e}") from None

    def _pool(self, fd: int) -> None:
        """Put ``fd`` last in the pool (the caller holds the lock); close the one used longest
        ago when it is full."""
        _open[self.number] = fd
        while len(_open) > OPEN:
            os.close(_open.pop(next(iter(_open))))

    def _changed(self, how: str) -> CaptureError:
        return CaptureError(
            f"{self.path} changed while sipsniff was reading it ({how}): its messages cannot "
            "be shown; read it again"
        )


def filed_bytes(paths: Sequence[str]) -> dict[int, FiledBytes]:
    """The inputs whose messages may be filed, by index: the regular files among ``paths``
    (their readers say, frame by frame, whether the bytes are there as they are: not when the
    file is gzip-compressed or converted)."""
    out: dict[int, FiledBytes] = {}
    for i, path in enumerate(paths):
        if path == STDIN:
            continue
        try:
            if stat.S_ISREG(os.stat(path).st_mode):
                out[i] = FiledBytes(path)
        except (OSError, CaptureError):
            continue  # the reader says why it cannot read it
    return out
