"""The operating system, named once for the few places that depend on it.

What a platform lacks is mostly found by asking for it (``getattr(mmap, "MADV_DONTNEED", None)``,
``hasattr(socket, "AF_PACKET")``); what is a policy rather than a missing name is decided by
``OS``: the capture backend ``auto`` chooses, how worker processes start, which permission fix an
error names. Tests that simulate another platform set ``OS`` (tests/simulate_os.py).
"""

from __future__ import annotations

import sys
from typing import Final

LINUX: Final = "linux"
WINDOWS: Final = "windows"
MACOS: Final = "macos"
BSD: Final = "bsd"


def name_of(platform: str) -> str:
    """``sys.platform`` as one of ``LINUX``, ``WINDOWS``, ``MACOS``, ``BSD``, or itself."""
    if platform.startswith("linux"):
        return LINUX
    if platform in ("win32", "cygwin"):
        return WINDOWS
    if platform == "darwin":
        return MACOS
    if "bsd" in platform or platform.startswith("dragonfly"):
        return BSD
    return platform


OS: str = name_of(sys.platform)
"""This operating system (read it at call time: a simulation may set it)."""
