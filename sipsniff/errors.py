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


class SipsniffError(Exception):
    """Root of every error sipsniff raises on purpose. ``str()`` is one line a person can act on."""

    exit_status: ExitStatus = ExitStatus.ERROR


class CaptureError(SipsniffError):
    """An input cannot be read: missing, unreadable, not a capture file, unsupported link layer."""

    exit_status = ExitStatus.INPUT_UNREADABLE


class ParseError(SipsniffError):
    """Malformed data at a known offset. Caught inside the parsers and turned into ``Skipped``."""

    def __init__(self, reason: str, offset: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset


class UsageError(SipsniffError):
    """Options that contradict each other or name something that does not exist."""

    exit_status = ExitStatus.USAGE
