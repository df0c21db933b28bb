"""One root error, a few children, and the exit statuses every command shares.

Raise only for usage and programming errors and for inputs that cannot be read at all; a bad packet is
a ``model.Skipped`` record, not an exception.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """Exit statuses of every sipsniff command (documented in docs/exit-status.md)."""

    OK = 0
    """Everything read and shown."""
    ERROR = 1
    """An unexpected failure (a bug): please report it."""
    USAGE = 2
    """Bad command line (click's own status for usage errors)."""
    INPUT_UNREADABLE = 3
    """An input could not be read at all: missing, not a capture, unsupported format."""
    INPUT_DAMAGED = 4
    """Input partly damaged (truncated record, bad block): everything before the damage was shown."""
    OUTPUT_FAILED = 5
    """An output could not be written (no such directory, no permission, disk full, I/O error);
    a file it would have replaced is left as it was."""
    INTERRUPTED = 130
    """Ctrl-C (128 + SIGINT), as a shell reports it."""
    CLOSED_OUTPUT = 141
    """The reader of standard output went away (``| head``): 128 + SIGPIPE, what grep and cat
    report when a closed pipe ends them."""
    TERMINATED = 143
    """SIGTERM (128 + SIGTERM) outside ``live`` and ``hep``, which take it as the way to stop."""


class SipsniffError(Exception):
    """Root of every error sipsniff raises on purpose. ``str()`` is one line a person can act on."""

    exit_status: ExitStatus = ExitStatus.ERROR


class CaptureError(SipsniffError):
    """An input cannot be read: missing, unreadable, not a capture file, unsupported link layer."""

    exit_status = ExitStatus.INPUT_UNREADABLE


class OutputError(SipsniffError):
    """An output cannot be written: its directory is missing or not writable, the disk is full, an
    I/O error. The message names the file and the reason (``cannot write OUT: No space left on
    device``)."""

    exit_status = ExitStatus.OUTPUT_FAILED


class ParseError(SipsniffError):
    """Malformed data at a known offset. Caught inside the parsers and turned into ``Skipped``."""

    def __init__(self, reason: str, offset: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset


class UsageError(SipsniffError):
    """Options that contradict each other or name something that does not exist."""

    exit_status = ExitStatus.USAGE
