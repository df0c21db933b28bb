"""What every live capture backend is: the ``Capture`` it opens, the ``Device``s it lists.

Two backends (``capture/backends.py`` chooses): ``ring``, Linux's packet socket with a memory-mapped
ring (``capture/live.py``), and ``pcap``, libpcap or Npcap (``capture/pcap.py``), on every system.
Both hand over ``Frame``s (nanosecond timestamps, a link type, the bytes) a batch at a time, count
what the kernel dropped, and list the devices they can capture on in one shape, so that ``live``
and ``live --list-interfaces`` know nothing of which one runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from sipsniff.capture import system
from sipsniff.errors import CaptureError, UsageError
from sipsniff.model import Frame

ANY: Final = "any"
"""The interface name that means every interface (Linux)."""

DEFAULT_FILTER: Final = (
    "udp or tcp or sctp or (ip[6:2] & 0x1fff != 0) or ip6 or ip proto gre or ip proto 4"
)
"""Every UDP, TCP and SCTP packet, IPv4 fragments, all of IPv6, and IPv4 tunnels (GRE, IP in IP):
SIP can be on any port, and a fragment or a tunnel has no port to filter on."""

SNAPLEN: Final = 262144
"""Most bytes kept of one packet (as tcpdump's default)."""
DEFAULT_BUFFER: Final = 64 * 1024 * 1024
"""Bytes of the kernel's receive buffer (the ring, or libpcap's buffer)."""


@dataclass(slots=True)
class CaptureStats:
    """What the kernel says of a capture so far."""

    received: int = 0
    """Packets the filter accepted (those dropped included)."""
    dropped: int = 0
    """Packets the kernel dropped because its buffer was full (we fell behind)."""
    frames: int = 0
    """Packets read."""


class Capture(Protocol):
    """A live capture, open: read it until told to stop, then drain it and close it."""

    backend: str
    """``ring`` or ``pcap``."""
    names: list[str]
    """The interfaces captured on, as the user sees them (``any`` for all)."""
    expression: str
    """The capture filter."""
    linktype: int
    """LINKTYPE_* of every frame (what a pcap written of them says)."""
    down: list[str]
    """Interfaces chosen that are down (nothing will come from them)."""
    stats: CaptureStats

    def read(self, timeout: float) -> list[Frame]:
        """Frames ready now, waiting up to ``timeout`` seconds for the first (maybe none)."""
        ...

    def drain(self) -> list[Frame]:
        """What the kernel still holds: read at the end, so that nothing captured is lost."""
        ...

    def update_stats(self) -> CaptureStats:
        """``stats`` with the kernel's counters as they are now."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Capture: ...

    def __exit__(self, *exc: object) -> None: ...


@dataclass(frozen=True, slots=True)
class Device:
    """An interface as ``live --list-interfaces`` shows it and ``-i`` names it."""

    index: int
    """Its number in the list (the kernel's interface index for the ring): ``-i 3`` takes it."""
    name: str
    """What people call it: ``eth0``, ``en0``, and on Windows the adapter's name (``Ethernet``,
    ``Wi-Fi``)."""
    device: str
    """What the backend opens (``eth0``; Windows: ``\\Device\\NPF_{GUID}``)."""
    description: str = ""
    """The driver's words (Windows: ``Intel(R) Ethernet Connection I219-V``)."""
    addresses: tuple[str, ...] = ()
    kind: str = ""
    """``loopback``, ``ethernet``, ``wireless``, ``ip (tun)``... when known."""
    up: bool = True
    running: bool = True
    """Up with a carrier."""
    loopback: bool = False

    def aliases(self) -> tuple[str, ...]:
        """Every name ``-i`` accepts for it."""
        return tuple(dict.fromkeys(n for n in (self.name, self.device, self.description) if n))

    def state(self) -> str:
        words = [self.kind] if self.kind else []
        words.append("up" if self.up else "down")
        if self.up and self.running:
            words.append("running")
        return ", ".join(words)


def default_device(found: Sequence[Device]) -> Device:
    """As tcpdump: the first device that is up (and running, when one is), not a loopback nor
    ``any``; the loopback when there is nothing else.

    Raises:
        CaptureError: there is none at all.
    """
    real = [d for d in found if d.name != ANY]
    candidates = [d for d in real if d.up and not d.loopback]
    running = [d for d in candidates if d.running]
    if running or candidates:
        return (running or candidates)[0]
    loops = [d for d in real if d.loopback]
    if loops:
        return loops[0]
    raise CaptureError("no network interface to capture on (--list-interfaces lists them)")


def resolve(names: Sequence[str], found: Sequence[Device]) -> list[Device] | None:
    """The devices ``names`` name (None for ``any`` where it is no device of its own),
    duplicates dropped. A name is any alias of a device (its name, device, description; case
    does not matter), or its number in the list.

    Raises:
        UsageError: a name that is no device; the message lists the real ones.
    """
    if ANY in names and not any(d.device == ANY for d in found):
        return None
    out: list[Device] = []
    for name in names:
        device = _find(name, found)
        if device is None:
            real = [d.name for d in found]
            if system.OS == system.LINUX and ANY not in real:
                real.append(ANY)
            raise UsageError(f"no interface {name!r}: the interfaces are {', '.join(real)}")
        if device not in out:
            out.append(device)
    return out


def _find(name: str, found: Sequence[Device]) -> Device | None:
    for d in found:
        if name in d.aliases():
            return d
    folded = name.casefold()
    for d in found:
        if folded in (a.casefold() for a in d.aliases()):
            return d
    if name.isdigit():
        for d in found:
            if d.index == int(name):
                return d
    return None


def permission_hint() -> str:
    """How to let this Python capture, for the system it runs on."""
    if system.OS == system.WINDOWS:
        return (
            'Npcap lets only Administrators capture here (it was installed with "Restrict Npcap '
            "driver's access to Administrators only\"): run it from a terminal opened as "
            "Administrator, or install Npcap again without that option (docs/windows.md)"
        )
    if system.OS == system.MACOS:
        return (
            "live capture needs read access to the BPF devices (/dev/bpf*): install Wireshark's "
            "ChmodBPF, or add yourself to the access_bpf group (sudo dseditgroup -o edit -a "
            "$USER -t user access_bpf, then log in again), or run it with sudo (docs/macos.md)"
        )
    if system.OS == system.LINUX:
        python = os.path.realpath(sys.executable)
        return (
            "live capture needs root or the CAP_NET_RAW capability; run it with sudo, or grant "
            f"it once with: sudo setcap cap_net_raw,cap_net_admin=eip {python}"
        )
    return "live capture needs read access to the BPF devices (/dev/bpf*): run it as root"
