"""The bytes of messages kept in their capture file (``model.FiledMessage``), read back there.

How this works: a message whose bytes lie whole in one frame of a plain pcap or pcapng file is
kept as its place in the file, a small int, not as its ~450 bytes (``pipeline.stages``). Its
``raw`` asks this file's ``FiledBytes`` for them: the block of 64 KiB around them is read (the file
opened, read at that offset and closed again: no descriptor stays open for a trace that may live
long, and none is left behind for the garbage collector), and the last blocks read are kept, so
that reading the messages in capture order (JSON, HTML, the call list's details) reads the file
once. The file's page cache is the operating system's, not this process's memory.

The file is checked each time it is opened: the same file (device and inode) as when reading
began, and long enough. A file replaced or cut short since then raises ``CaptureError``: the
messages cannot be shown as they were. (One that grew, a capture still being written, is fine.)
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from typing import Final

from sipsniff.capture.inputs import STDIN
from sipsniff.errors import CaptureError
from sipsniff.model import PLACE_BITS, PLACE_MASK, FiledMessage

BLOCK_BITS: Final = 16
BLOCK: Final = 1 << BLOCK_BITS
"""Bytes read at a time."""
BLOCKS: Final = 32
"""Blocks kept (2 MiB)."""


class FiledBytes:
    """The capture file at ``path``, where its messages' bytes are read back.

    Raises:
        CaptureError: the file cannot be opened (then nothing is filed there).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        st = self._stat()
        self._identity = (st.st_dev, st.st_ino)
        self._blocks: dict[int, bytes] = {}
        self.message: type[FiledMessage] = type(
            "FiledMessage", (FiledMessage,), {"__slots__": (), "store": self}
        )
        """The class of this file's messages (its ``store`` is this object)."""

    def read(self, place: int) -> bytes:
        start = place >> PLACE_BITS
        end = start + (place & PLACE_MASK)
        at = start >> BLOCK_BITS
        block = self._blocks.get(at)
        if block is None:
            block = self._load(at)
        off = at << BLOCK_BITS
        if end - off <= len(block):
            return block[start - off : end - off]
        return self._read(start, end - start)  # over the end of the block

    def _load(self, at: int) -> bytes:
        block = self._read(at << BLOCK_BITS, BLOCK, whole=False)
        blocks = self._blocks
        if len(blocks) >= BLOCKS:
            del blocks[next(iter(blocks))]
        blocks[at] = block
        return block

    def _read(self, start: int, length: int, *, whole: bool = True) -> bytes:
        """``length`` bytes at ``start`` (fewer at the end of the file, unless ``whole``)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except OSError as e:
            raise self._changed(f"it cannot be opened again ({e.strerror or e})") from None
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != self._identity:
                raise self._changed("it was replaced by another file")
            if hasattr(os, "pread"):
                data = os.pread(fd, length, start)
            else:  # Windows
                os.lseek(fd, start, os.SEEK_SET)
                data = os.read(fd, length)
        finally:
            os.close(fd)
        if len(data) < length and (whole or not data):
            raise self._changed("it is shorter than it was")
        return data

    def _stat(self) -> os.stat_result:
        try:
            return os.stat(self.path)
        except OSError as e:
            raise CaptureError(f"cannot read {self.path}: {e.strerror or e}") from None

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
