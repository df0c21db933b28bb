"""Which capture backend runs: ``--backend auto|ring|pcap``.

``auto`` keeps Linux's packet socket ring (``capture/live.py``), the fastest, where there is one,
and takes libpcap (``capture/pcap.py``: Npcap on Windows, the system's libpcap on macOS and the
BSDs) everywhere else. Both are ``capture.base.Capture``s and list their interfaces as
``capture.base.Device``s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from sipsniff.capture import live, pcap, system
from sipsniff.capture.base import DEFAULT_BUFFER, Capture, Device
from sipsniff.errors import UsageError

BACKENDS: Final = ("auto", "ring", "pcap")
"""The choices of ``--backend``."""


def choose(backend: str) -> str:
    """``ring`` or ``pcap``: the backend ``backend`` means on this system.

    Raises:
        UsageError: ``ring`` where there is no packet socket.
    """
    ring = system.OS == system.LINUX and live.available()
    if backend == "auto":
        return "ring" if ring else "pcap"
    if backend == "ring" and not ring:
        raise UsageError(
            "--backend ring is Linux's packet socket, which this system has not: "
            "use --backend pcap (or auto)"
        )
    if backend not in BACKENDS:
        raise UsageError(f"no capture backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    return backend


def open_capture(
    backend: str,
    names: Sequence[str] = (),
    expression: str | None = None,
    *,
    buffer_bytes: int = DEFAULT_BUFFER,
) -> Capture:
    """A live capture with the backend ``backend`` (``auto``, ``ring`` or ``pcap``) means here.

    Raises:
        CaptureError: no permission, no libpcap, an interface that cannot be opened.
        UsageError: an unknown interface, a bad filter, a backend this system has not.
    """
    if choose(backend) == "ring":
        return live.LiveCapture(names, expression, buffer_bytes=buffer_bytes)
    return pcap.PcapCapture(names, expression, buffer_bytes=buffer_bytes)


def list_devices(backend: str) -> list[Device]:
    """The interfaces the backend ``backend`` means here can capture on.

    Raises:
        CaptureError: they cannot be listed (no libpcap for ``pcap``).
    """
    return live.devices() if choose(backend) == "ring" else pcap.devices()
