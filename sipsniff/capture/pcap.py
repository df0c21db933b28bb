"""The ``pcap`` capture backend: libpcap on Linux and macOS, Npcap on Windows.

How this works. Each interface chosen is a libpcap handle (``capture/libpcap.py``): not
promiscuous, non-blocking, with the capture filter compiled by libpcap and applied in the kernel
(BPF, or Npcap's driver), timestamps in nanoseconds where the system gives them (Linux, Npcap;
macOS gives microseconds). ``read`` takes what is ready, and when nothing is, waits for the
handles (``libpcap.wait``) up to its timeout, so that a capture on an idle interface still looks
at the clock, the signals and the screen. Several interfaces must share a link type (their frames
go to one pcap); their frames are merged in time order, batch by batch.

Interfaces are listed as libpcap lists them. On Windows the names libpcap knows are
``\\Device\\NPF_{GUID}``; the adapter's own name (``Ethernet``, ``Wi-Fi``) comes from Windows
(``GetAdaptersAddresses``, through scapy), and Npcap's loopback adapter is called by its
description, ``Adapter for loopback traffic capture``. ``-i`` takes any of these names.

On the loopback, libpcap shows each packet once (Linux: the copy sent is left out; macOS and
Npcap: one copy, link type NULL).
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any, Final

from sipsniff.capture import libpcap, system
from sipsniff.capture.base import (
    ANY,
    DEFAULT_BUFFER,
    DEFAULT_FILTER,
    SNAPLEN,
    CaptureStats,
    Device,
    default_device,
    permission_hint,
    resolve,
)
from sipsniff.errors import CaptureError, UsageError
from sipsniff.model import Frame

TIMEOUT_MS: Final = 20
"""Longest the kernel holds packets before handing them over (as the ring's ``RETIRE_MS``)."""
BATCH: Final = 4096
"""Most packets taken from one handle per read."""
NPF_PREFIX: Final = "\\Device\\NPF_"
LOOPBACK_DESCRIPTION: Final = "Adapter for loopback traffic capture"
"""Npcap's loopback adapter (``\\Device\\NPF_Loopback``), when installed with loopback support."""

_DLT_TO_LINKTYPE: Final = {12: 101, 14: 101}
"""DLT_RAW as libpcap numbers it on most systems -> LINKTYPE_RAW, as pcap files carry it (the
other DLT values in use here are their LINKTYPE)."""


def _windows_adapters() -> dict[str, str]:
    """Windows: each adapter's GUID (upper case, in braces) -> its name (``Ethernet``)."""
    try:
        # capture/ is where scapy belongs (the rule bans it from everything else).
        from scapy.arch.windows import get_windows_if_list  # noqa: TID251

        adapters: list[dict[str, Any]] = get_windows_if_list()
    except Exception:  # scapy's Windows layer could not ask Windows: the NPF names then
        return {}
    return {str(a["guid"]).upper(): str(a["name"]) for a in adapters if a.get("guid")}


def devices() -> list[Device]:
    """The interfaces libpcap (Npcap) can capture on, numbered from 1 in its order.

    Raises:
        CaptureError: no libpcap (the message says what to install), or it cannot list them.
    """
    found = libpcap.find_all_devices()
    adapters = _windows_adapters() if system.OS == system.WINDOWS else {}
    out = []
    for n, d in enumerate(found, 1):
        name = d.name
        if d.name.startswith(NPF_PREFIX):
            guid = d.name[len(NPF_PREFIX) :].upper()
            name = adapters.get(guid) or (
                d.description if d.flags & libpcap.IF_LOOPBACK and d.description else d.name
            )
        loopback = bool(d.flags & libpcap.IF_LOOPBACK)
        kind = "loopback" if loopback else "wireless" if d.flags & libpcap.IF_WIRELESS else ""
        status = d.flags & libpcap.IF_CONNECTION_STATUS
        out.append(
            Device(
                index=n,
                name=name,
                device=d.name,
                description=d.description,
                addresses=d.addresses,
                kind=kind,
                up=bool(d.flags & libpcap.IF_UP),
                running=bool(d.flags & libpcap.IF_RUNNING) and status != libpcap.IF_DISCONNECTED,
                loopback=loopback,
            )
        )
    return out


def _open(device: Device, expression: str, buffer_bytes: int) -> libpcap.Handle:
    immediate = system.OS != system.LINUX  # see docs/live.md: latency where rates are low
    try:
        handle = libpcap.open_live(
            device.device,
            snaplen=SNAPLEN,
            buffer_bytes=buffer_bytes,
            timeout_ms=TIMEOUT_MS,
            immediate=immediate,
        )
    except libpcap.OpenError as exc:
        if exc.status in (libpcap.ERROR_PERM_DENIED, libpcap.ERROR_PROMISC_PERM_DENIED):
            raise CaptureError(
                f"no permission to capture on {device.name}: {permission_hint()}"
            ) from None
        if exc.status == libpcap.ERROR_IFACE_NOT_UP:
            raise CaptureError(f"cannot capture on {device.name}: it is down") from None
        raise CaptureError(f"cannot capture on {device.name}: {exc}") from None
    try:
        handle.set_filter(expression)
    except BaseException:
        handle.close()
        raise
    return handle


class PcapCapture:
    """Live capture through libpcap on some interfaces.

    Args:
        names: interface names (any alias ``Device.aliases`` gives, or a number of the list);
            empty for the default one; ``any`` on Linux.
        expression: a tcpdump filter expression (``DEFAULT_FILTER`` when None).
        buffer_bytes: the kernel's buffer for each interface.

    Raises:
        CaptureError: no libpcap, no permission, or an interface that cannot be opened.
        UsageError: an unknown interface, a filter that does not compile, interfaces of
            different link types.
    """

    backend = "pcap"

    def __init__(
        self,
        names: Sequence[str] = (),
        expression: str | None = None,
        *,
        buffer_bytes: int = DEFAULT_BUFFER,
    ) -> None:
        found = devices()
        chosen = resolve(names, found) if names else [default_device(found)]
        if chosen is None:
            raise UsageError(
                f"'{ANY}' (every interface) is Linux's: name the interfaces with -i, one each "
                "(--list-interfaces lists them)"
            )
        self.names = [d.name for d in chosen]
        self.expression = DEFAULT_FILTER if expression is None else expression
        self.down = [d.name for d in chosen if not d.up]
        self.stats = CaptureStats()
        self.number = 0
        """Frames read so far (the number of the last one)."""
        self.handles: list[libpcap.Handle] = []
        try:
            for d in chosen:
                self.handles.append(_open(d, self.expression, buffer_bytes))
            dlts = {h.linktype for h in self.handles}
            if len(dlts) > 1:
                kinds = ", ".join(
                    f"{d.name} ({h.linktype})" for d, h in zip(chosen, self.handles, strict=True)
                )
                raise UsageError(
                    f"these interfaces have different link layers: {kinds}; capture them one at "
                    "a time (one pcap holds one link type)"
                )
        except BaseException:
            self.close()
            raise
        dlt = self.handles[0].linktype
        self.linktype = _DLT_TO_LINKTYPE.get(dlt, dlt)
        self.nano = all(h.nano for h in self.handles)
        """Timestamps carry nanoseconds (else microseconds)."""

    def _take(self) -> list[Frame]:
        linktype = self.linktype
        got: list[tuple[int, int, bytes]] = []
        for h in self.handles:
            packets, _ = h.next_packets(BATCH)
            got += packets
        if len(self.handles) > 1:
            got.sort(key=itemgetter(0))
        n = self.number
        frames = [
            Frame(n + i, ts, linktype, data, length) for i, (ts, length, data) in enumerate(got, 1)
        ]
        self.number = n + len(frames)
        self.stats.frames += len(frames)
        return frames

    def read(self, timeout: float) -> list[Frame]:
        """The frames ready now; when none are, wait up to ``timeout`` seconds for some."""
        frames = self._take()
        if not frames and timeout > 0:
            libpcap.wait(self.handles, timeout)
            frames = self._take()
        return frames

    def drain(self) -> list[Frame]:
        """What is still held: read until nothing comes for ``3 * TIMEOUT_MS``."""
        out: list[Frame] = []
        while True:
            frames = self.read(3 * TIMEOUT_MS / 1000)
            if not frames:
                return out
            out += frames

    def update_stats(self) -> CaptureStats:
        """The kernel's counters since the capture started (libpcap keeps them)."""
        received = dropped = 0
        for h in self.handles:
            recv, drop, _ifdrop = h.stats()
            received += recv
            dropped += drop
        self.stats.received = received
        self.stats.dropped = dropped
        return self.stats

    def close(self) -> None:
        if self.handles:
            self.update_stats()
        for h in self.handles:
            h.close()
        self.handles = []

    def __enter__(self) -> PcapCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
