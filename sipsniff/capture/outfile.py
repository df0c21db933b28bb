"""Output files that never cost a user what was there before: ``-o``, ``--write-pcap``, ``-w``.

How this works. Before a capture is read, every output path is compared with every input (and with
the other outputs) by device and inode, so a symbolic link, a hard link or another spelling of the
same file is caught (``refuse_overwrite``). Then each output is opened (``OutputFile``): a regular
file, or one not there yet, is written to a temporary file beside it (``.NAME.XXXXXX.part``, in the
same directory, so on the same file system) that takes the file's place by ``rename`` when the run
is done; a run that fails or is interrupted removes the temporary file and leaves the old one whole.
What is not a regular file (``/dev/null``, ``/dev/full``, a FIFO, a terminal) is written in place:
there is nothing to keep and no rename onto it. A missing directory or one without write permission
is therefore found before the capture is read, and a failed write (disk full, I/O error) is one
``OutputError`` that names the file.

A symbolic link is followed: the file it points to is replaced, the link stays a link.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import sys
import tempfile
from collections.abc import Sequence
from types import TracebackType
from typing import IO, Any, BinaryIO, TextIO, cast

from sipsniff.errors import OutputError, UsageError

STDIN = "-"
"""The path that names standard input (and standard output, for ``-o``)."""


def _identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the file ``path`` names (links followed), None when there is none."""
    try:
        st = os.fstat(sys.stdin.fileno()) if path == STDIN else os.stat(path)
    except (OSError, ValueError, AttributeError):
        return None
    return st.st_dev, st.st_ino


def refuse_overwrite(outputs: Sequence[tuple[str, str | None]], inputs: Sequence[str]) -> None:
    """Refuse, before anything is read, outputs that are an input or another output.

    Args:
        outputs: (option, path) of each output; a path of None or ``-`` (standard output) is
            skipped.
        inputs: the paths read (captures, key logs, credentials); ``-`` is standard input.

    Raises:
        UsageError: an output is the same file as an input, or as another output, by device and
            inode (a link or another spelling of the path is the same file), or is a directory.
    """
    seen: dict[tuple[int, int] | str, str] = {}
    for name in inputs:
        ident = _identity(name)
        if ident is not None:
            seen.setdefault(ident, "the input " + ("(standard input)" if name == STDIN else name))
    for option, path in outputs:
        if path is None or path == STDIN:
            continue
        if os.path.isdir(path):
            raise UsageError(f"{option} {path} is a directory: name a file")
        ident = _identity(path)
        if ident is not None and not stat.S_ISREG(os.stat(path).st_mode):
            continue  # /dev/null, a FIFO: written in place, no harm to anything read
        key = ident if ident is not None else os.path.realpath(path)  # not there yet
        other = seen.get(key)
        if other is not None:
            raise UsageError(
                f"{option} {path} is {other}: sipsniff never writes over what it reads "
                "or writes twice to one file; choose another file"
            )
        seen[key] = f"the file of {option}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class OutputFile:
    """One output, opened now, in place only at ``commit`` (see the module's docstring).

    Use it as a context manager: leaving the block normally commits, leaving it by an exception
    (a failed write, Ctrl-C, SIGTERM turned into ``SystemExit``) discards the temporary file.

    Args:
        path: the file to write (a symbolic link is followed).
        binary: bytes (a capture) rather than UTF-8 text.

    Raises:
        OutputError: the file cannot be created there (missing directory, permission).
    """

    def __init__(self, path: str, *, binary: bool = False) -> None:
        self.path = path
        """The path as the user wrote it (what messages name)."""
        target = os.path.realpath(path)
        self._target = target
        self._temp: str | None = None
        self._done = False
        try:
            st: os.stat_result | None = os.stat(target)
        except OSError:
            st = None
        try:
            if st is not None and not stat.S_ISREG(st.st_mode):
                fd = os.open(target, os.O_WRONLY)
            else:
                folder, name = os.path.split(target)
                fd, self._temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
                mode = stat.S_IMODE(st.st_mode) if st is not None else 0o666 & ~_umask()
                os.fchmod(fd, mode)
        except OSError as exc:
            if exc.errno == errno.ENOENT and os.path.isdir(os.path.dirname(target) or "."):
                # A file system that makes no new files (/proc, /sys).
                raise OutputError(
                    f"cannot write {path}: no new file can be made in "
                    f"{os.path.dirname(target)} ({exc.strerror})"
                ) from None
            raise self.error(exc) from None
        self.stream: IO[Any] = (
            open(fd, "wb")  # noqa: SIM115  (closed by commit or discard)
            if binary
            else open(fd, "w", encoding="utf-8", newline="")  # noqa: SIM115
        )

    @property
    def text(self) -> TextIO:
        """The stream of a text output."""
        if not isinstance(self.stream, io.TextIOBase):
            raise TypeError(f"{self.path} was opened for bytes")
        return cast(TextIO, self.stream)

    @property
    def binary(self) -> BinaryIO:
        """The stream of a binary output (a capture)."""
        if isinstance(self.stream, io.TextIOBase):
            raise TypeError(f"{self.path} was opened for text")
        return cast(BinaryIO, self.stream)

    def error(self, exc: OSError) -> OutputError:
        """``exc`` as the one line that says which file could not be written and why."""
        reason = exc.strerror or os.strerror(exc.errno or errno.EIO)
        if exc.errno == errno.ENOENT and not os.path.isdir(os.path.dirname(self._target) or "."):
            reason = "no such directory"
        return OutputError(f"cannot write {self.path}: {reason}")

    def commit(self) -> None:
        """Flush and put the file in place of the old one.

        Raises:
            OutputError: the last bytes could not be written (disk full, I/O error); the
                temporary file is removed and the old file left whole.
        """
        if self._done:
            return
        try:
            self.stream.flush()
            if self._temp is not None:
                os.fsync(self.stream.fileno())
            self.stream.close()
            if self._temp is not None:
                os.replace(self._temp, self._target)
                self._temp = None
        except OSError as exc:
            self.discard()
            raise self.error(exc) from None
        self._done = True

    def discard(self) -> None:
        """Close and remove the temporary file: the old file, if any, stays as it was."""
        self._done = True
        with contextlib.suppress(OSError):  # what could not be flushed is thrown away anyway
            self.stream.close()
        if self._temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._temp)
            self._temp = None

    def __enter__(self) -> OutputFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.commit()
            return
        self.discard()
        if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError):
            raise self.error(exc) from None
