"""A thin ctypes binding of libpcap: the few calls the pcap capture backend and its tests use.

How this works. The library is libpcap on Linux and macOS (``libpcap.so.0.8``, ``libpcap.dylib``)
and Npcap's ``wpcap.dll`` on Windows, loaded from ``%WINDIR%\\System32\\Npcap`` as Npcap installs
it (its ``Packet.dll`` beside it), the same API everywhere. It is loaded once, when first needed:
a machine without it can still read files, and says what to install when asked to capture.
Where to look is decided by ``system.OS``; the layout of structures, by the library found.

scapy's pcap layer (``scapy.libs.winpcapy``, ``L2pcapListenSocket``) binds the same library, but
its socket reads block until a first packet comes on an idle Linux interface, and it has no
nanosecond timestamps; so here a capture is non-blocking (``pcap_setnonblock``) and waits for its
packets itself, with a timeout: ``select`` on the descriptor libpcap gives (Unix), or the event
Npcap gives (``pcap_getevent``, Windows). ``pcap_next_ex`` then hands over one packet at a time.

Structures whose layout differs by system (the ``timeval`` of a packet header, ``sockaddr``) are
laid out for the library that is actually loaded, by ``sys.platform``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sipsniff.capture import system
from sipsniff.errors import CaptureError, UsageError

ERRBUF_SIZE: Final = 256
ERROR: Final = -1
ERROR_NO_SUCH_DEVICE: Final = -5
ERROR_PERM_DENIED: Final = -8
ERROR_IFACE_NOT_UP: Final = -9
ERROR_PROMISC_PERM_DENIED: Final = -11
ERROR_TSTAMP_PRECISION_NOTSUP: Final = -12
TSTAMP_PRECISION_NANO: Final = 1
NETMASK_UNKNOWN: Final = 0xFFFFFFFF
IF_LOOPBACK: Final = 0x1
IF_UP: Final = 0x2
IF_RUNNING: Final = 0x4
IF_WIRELESS: Final = 0x8
IF_CONNECTION_STATUS: Final = 0x30
IF_DISCONNECTED: Final = 0x20

_WINDOWS = sys.platform == "win32"
_BSD_SOCKADDR = sys.platform == "darwin" or "bsd" in sys.platform
"""sockaddr starts with a length byte, then a one-byte family (macOS, the BSDs)."""


class _Timeval(ctypes.Structure):
    """``struct timeval`` as libpcap's packet header holds it on this system: two ``long`` on
    Windows (32 bits each); a 64-bit ``time_t`` and a 32-bit ``suseconds_t`` on macOS; two
    ``long`` on Linux."""

    _fields_ = (
        [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]
        if _WINDOWS or sys.platform.startswith("linux")
        else [("tv_sec", ctypes.c_int64), ("tv_usec", ctypes.c_int32)]
    )


class _PktHdr(ctypes.Structure):
    _fields_ = [("ts", _Timeval), ("caplen", ctypes.c_uint32), ("len", ctypes.c_uint32)]


class _Stat(ctypes.Structure):
    # Npcap adds a fourth counter (bs_capt) on Windows: room for it either way.
    _fields_ = [
        ("ps_recv", ctypes.c_uint),
        ("ps_drop", ctypes.c_uint),
        ("ps_ifdrop", ctypes.c_uint),
        ("bs_capt", ctypes.c_uint),
    ]


class _BpfInsn(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_ushort),
        ("jt", ctypes.c_ubyte),
        ("jf", ctypes.c_ubyte),
        ("k", ctypes.c_uint32),
    ]


class _BpfProgram(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.POINTER(_BpfInsn))]


class _Addr(ctypes.Structure):
    pass


_Addr._fields_ = [
    ("next", ctypes.POINTER(_Addr)),
    ("addr", ctypes.c_void_p),
    ("netmask", ctypes.c_void_p),
    ("broadaddr", ctypes.c_void_p),
    ("dstaddr", ctypes.c_void_p),
]


class _If(ctypes.Structure):
    pass


_If._fields_ = [
    ("next", ctypes.POINTER(_If)),
    ("name", ctypes.c_char_p),
    ("description", ctypes.c_char_p),
    ("addresses", ctypes.POINTER(_Addr)),
    ("flags", ctypes.c_uint32),
]


# -- loading -----------------------------------------------------------------------------------


def npcap_folder() -> Path:
    """Where Npcap installs ``wpcap.dll`` (Windows)."""
    return Path(os.environ.get("WINDIR", r"C:\Windows"), "System32", "Npcap")


def candidates() -> list[str]:
    """Paths or names of the library to try, in order, for this system."""
    if system.OS == system.WINDOWS:
        return [str(npcap_folder() / "wpcap.dll"), "wpcap.dll"]
    found = ctypes.util.find_library("pcap")
    names = [found] if found else []
    if system.OS == system.MACOS:
        return [*names, "/usr/lib/libpcap.A.dylib", "libpcap.dylib"]
    return [*names, "libpcap.so.1", "libpcap.so.0.8", "libpcap.so"]


def missing_hint() -> str:
    """What to install when there is no libpcap, for this system."""
    if system.OS == system.WINDOWS:
        return (
            "live capture on Windows needs Npcap: install it from https://npcap.com with "
            '"Support loopback traffic" ticked (docs/windows.md)'
        )
    if system.OS == system.MACOS:
        return "libpcap is part of macOS, yet it was not found (docs/macos.md)"
    return (
        "libpcap is not installed: apt install libpcap0.8 (Debian, Ubuntu), dnf install "
        "libpcap (Fedora), apk add libpcap (Alpine) (docs/linux.md)"
    )


_LIB: ctypes.CDLL | None = None


def library() -> ctypes.CDLL:
    """The loaded library, with the prototypes of the calls used here.

    Raises:
        CaptureError: no libpcap (or Npcap) on this machine; the message says what to install.
    """
    global _LIB  # noqa: PLW0603 - loaded once, on first use
    if _LIB is not None:
        return _LIB
    if system.OS == system.WINDOWS and npcap_folder().is_dir() and hasattr(os, "add_dll_directory"):
        os.add_dll_directory(str(npcap_folder()))  # Packet.dll, which wpcap.dll needs
    lib = None
    for name in candidates():
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    if lib is None:
        raise CaptureError(missing_hint())
    _prototypes(lib)
    _LIB = lib
    return lib


def _prototypes(lib: ctypes.CDLL) -> None:
    p, c_int, c_char_p = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
    protos: dict[str, tuple[Any, list[Any]]] = {
        "pcap_create": (p, [c_char_p, c_char_p]),
        "pcap_set_snaplen": (c_int, [p, c_int]),
        "pcap_set_promisc": (c_int, [p, c_int]),
        "pcap_set_timeout": (c_int, [p, c_int]),
        "pcap_set_buffer_size": (c_int, [p, c_int]),
        "pcap_activate": (c_int, [p]),
        "pcap_open_offline": (p, [c_char_p, c_char_p]),
        "pcap_open_dead": (p, [c_int, c_int]),
        "pcap_close": (None, [p]),
        "pcap_geterr": (c_char_p, [p]),
        "pcap_statustostr": (c_char_p, [c_int]),
        "pcap_setnonblock": (c_int, [p, c_int, c_char_p]),
        "pcap_next_ex": (
            c_int,
            [p, ctypes.POINTER(ctypes.POINTER(_PktHdr)), ctypes.POINTER(ctypes.c_void_p)],
        ),
        "pcap_compile": (c_int, [p, ctypes.POINTER(_BpfProgram), c_char_p, c_int, ctypes.c_uint32]),
        "pcap_setfilter": (c_int, [p, ctypes.POINTER(_BpfProgram)]),
        "pcap_freecode": (None, [ctypes.POINTER(_BpfProgram)]),
        "pcap_datalink": (c_int, [p]),
        "pcap_stats": (c_int, [p, ctypes.POINTER(_Stat)]),
        "pcap_findalldevs": (c_int, [ctypes.POINTER(ctypes.POINTER(_If)), c_char_p]),
        "pcap_freealldevs": (None, [ctypes.POINTER(_If)]),
        "pcap_lib_version": (c_char_p, []),
        # libpcap 1.5 and later, Npcap: absent ones are looked up with hasattr
        "pcap_set_tstamp_precision": (c_int, [p, c_int]),
        "pcap_set_immediate_mode": (c_int, [p, c_int]),
        "pcap_open_offline_with_tstamp_precision": (p, [c_char_p, ctypes.c_uint, c_char_p]),
        "pcap_get_selectable_fd": (c_int, [p]),
        "pcap_getevent": (p, [p]),
    }
    for name, (restype, argtypes) in protos.items():
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.restype = restype
            fn.argtypes = argtypes


def version() -> str:
    """The library's own version line (``libpcap version 1.10.3``, ``Npcap version 1.79...``)."""
    out: bytes = library().pcap_lib_version()
    return out.decode(errors="replace")


def _text(raw: bytes | None) -> str:
    return (raw or b"").decode("utf-8", errors="replace").strip()


# -- devices -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PcapDevice:
    """A device as ``pcap_findalldevs`` lists it."""

    name: str
    """What ``pcap_create`` takes: ``eth0``, ``en0``, ``\\Device\\NPF_{GUID}``..."""
    description: str
    flags: int
    """PCAP_IF_* bits: loopback, up, running, wireless, connection status."""
    addresses: tuple[str, ...]
    """IPv4 and IPv6 addresses, in the order listed."""


def _sockaddr(ptr: int | None) -> str | None:
    """The IP address at a ``struct sockaddr *``, None for another family or none."""
    if not ptr:
        return None
    head = ctypes.string_at(ptr, 2)
    family = head[1] if _BSD_SOCKADDR else int.from_bytes(head, sys.byteorder)
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, ctypes.string_at(ptr + 4, 4))
    if family == socket.AF_INET6:
        return socket.inet_ntop(socket.AF_INET6, ctypes.string_at(ptr + 8, 16))
    return None


def find_all_devices() -> list[PcapDevice]:
    """The devices libpcap can capture on, in its order (up and running first, loopback last
    but for Npcap's loopback adapter).

    Raises:
        CaptureError: no libpcap; or it cannot list them (its message).
    """
    lib = library()
    head = ctypes.POINTER(_If)()
    err = ctypes.create_string_buffer(ERRBUF_SIZE)
    if lib.pcap_findalldevs(ctypes.byref(head), err) != 0:
        raise CaptureError(f"cannot list the capture devices: {_text(err.value)}")
    out: list[PcapDevice] = []
    try:
        node = head
        while node:
            dev = node.contents
            addresses: list[str] = []
            a = dev.addresses
            while a:
                ip = _sockaddr(a.contents.addr)
                if ip is not None:
                    addresses.append(ip)
                a = a.contents.next
            out.append(
                PcapDevice(
                    _text(dev.name), _text(dev.description), int(dev.flags), tuple(addresses)
                )
            )
            node = dev.next
    finally:
        if head:
            lib.pcap_freealldevs(head)
    return out


# -- handles -----------------------------------------------------------------------------------


class OpenError(CaptureError):
    """``pcap_activate`` failed; ``status`` is its PCAP_ERROR_* value."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class Handle:
    """One open ``pcap_t``: live (``open_live``) or a file (``open_offline``).

    ``nano`` says whether timestamps come in nanoseconds (else microseconds).
    """

    def __init__(self, ptr: int, *, nano: bool, live: bool) -> None:
        self._lib = library()
        self._p: int | None = ptr
        self.nano = nano
        self.live = live
        self.linktype = int(self._lib.pcap_datalink(ptr))
        """DLT_ value of the device or file."""
        self._hdr = ctypes.POINTER(_PktHdr)()
        self._data = ctypes.c_void_p()
        self._hdr_ref = ctypes.byref(self._hdr)
        self._data_ref = ctypes.byref(self._data)
        self.fd = -1
        """A descriptor ``select`` can wait on (Unix; -1 where there is none)."""
        self.event: int | None = None
        """An event handle to wait on (Windows)."""

    @property
    def ptr(self) -> int:
        if self._p is None:
            raise ValueError("a closed pcap handle")
        return self._p

    def error(self) -> str:
        return _text(self._lib.pcap_geterr(self.ptr))

    def set_filter(self, expression: str) -> None:
        """Compile ``expression`` for this handle's link type and apply it (in the kernel where
        the system can).

        Raises:
            UsageError: it does not compile; the message is libpcap's.
        """
        prog = _BpfProgram()
        if self._lib.pcap_compile(self.ptr, ctypes.byref(prog), expression.encode(), 1,
                                  NETMASK_UNKNOWN) != 0:  # fmt: skip
            raise UsageError(f"bad capture filter {expression!r}: {self.error()}")
        try:
            if self._lib.pcap_setfilter(self.ptr, ctypes.byref(prog)) != 0:
                raise CaptureError(f"cannot apply the capture filter: {self.error()}")
        finally:
            self._lib.pcap_freecode(ctypes.byref(prog))

    def next_packets(self, most: int) -> tuple[list[tuple[int, int, bytes]], bool]:
        """Up to ``most`` packets ready now, as ``(timestamp ns, original length, bytes)``;
        and whether the end was reached (a file read to its end).

        Raises:
            CaptureError: libpcap's read failed (the device went away...).
        """
        lib_next = self._lib.pcap_next_ex
        p, hdr_ref, data_ref = self.ptr, self._hdr_ref, self._data_ref
        string_at = ctypes.string_at
        unit = 1 if self.nano else 1000
        out: list[tuple[int, int, bytes]] = []
        append = out.append
        for _ in range(most):
            status = lib_next(p, hdr_ref, data_ref)
            if status == 1:
                h = self._hdr.contents
                ts = h.ts
                append(
                    (
                        ts.tv_sec * 1_000_000_000 + ts.tv_usec * unit,
                        h.len,
                        string_at(self._data.value or 0, h.caplen),
                    )
                )
            elif status == 0:
                return out, False
            elif status == -2:
                return out, True
            else:
                raise CaptureError(f"capture failed: {self.error()}")
        return out, False

    def stats(self) -> tuple[int, int, int]:
        """Packets received, dropped by the kernel (buffer full), dropped by the interface, since
        the capture started (0s for a file)."""
        if not self.live:
            return 0, 0, 0
        st = _Stat()
        if self._lib.pcap_stats(self.ptr, ctypes.byref(st)) != 0:
            return 0, 0, 0
        return int(st.ps_recv), int(st.ps_drop), int(st.ps_ifdrop)

    def close(self) -> None:
        if self._p is not None:
            self._lib.pcap_close(self._p)
            self._p = None


def open_live(
    device: str, *, snaplen: int, buffer_bytes: int, timeout_ms: int, immediate: bool
) -> Handle:
    """A live capture on ``device``: not promiscuous, non-blocking, nanosecond timestamps where
    the system has them.

    Raises:
        OpenError: it cannot be activated (``status`` tells why: no permission, no device...).
    """
    lib = library()
    err = ctypes.create_string_buffer(ERRBUF_SIZE)

    def create(nano: bool) -> tuple[int, int]:
        p = lib.pcap_create(device.encode(), err)
        if not p:
            raise OpenError(f"cannot capture on {device}: {_text(err.value)}", ERROR)
        lib.pcap_set_snaplen(p, snaplen)
        lib.pcap_set_promisc(p, 0)
        lib.pcap_set_timeout(p, timeout_ms)
        lib.pcap_set_buffer_size(p, buffer_bytes)
        if immediate and hasattr(lib, "pcap_set_immediate_mode"):
            lib.pcap_set_immediate_mode(p, 1)
        if nano:
            lib.pcap_set_tstamp_precision(p, TSTAMP_PRECISION_NANO)
        return p, lib.pcap_activate(p)

    nano = hasattr(lib, "pcap_set_tstamp_precision")
    p, status = create(nano)
    try:
        if status == ERROR_TSTAMP_PRECISION_NOTSUP:  # asked for too much: microseconds then
            lib.pcap_close(p)
            p = 0
            nano = False
            p, status = create(nano)
        if status < 0:
            detail = _text(lib.pcap_geterr(p)) if status == ERROR else ""
            raise OpenError(detail or _text(lib.pcap_statustostr(status)), status)
        if lib.pcap_setnonblock(p, 1, err) != 0:
            raise OpenError(f"cannot read {device} without blocking: {_text(err.value)}", ERROR)
    except BaseException:
        if p:
            lib.pcap_close(p)
        raise
    handle = Handle(p, nano=nano, live=True)
    if _WINDOWS and hasattr(lib, "pcap_getevent"):
        handle.event = int(lib.pcap_getevent(p) or 0) or None
    elif hasattr(lib, "pcap_get_selectable_fd"):
        handle.fd = int(lib.pcap_get_selectable_fd(p))
    return handle


def open_offline(path: str) -> Handle:
    """A capture file opened by libpcap itself (``pcap_open_offline``), with nanosecond
    timestamps where libpcap can give them.

    Raises:
        CaptureError: libpcap cannot read it (its message).
    """
    lib = library()
    err = ctypes.create_string_buffer(ERRBUF_SIZE)
    name = os.fsencode(path)
    if hasattr(lib, "pcap_open_offline_with_tstamp_precision"):
        p = lib.pcap_open_offline_with_tstamp_precision(name, TSTAMP_PRECISION_NANO, err)
        nano = True
    else:
        p = lib.pcap_open_offline(name, err)
        nano = False
    if not p:
        raise CaptureError(f"libpcap cannot read {path}: {_text(err.value)}")
    return Handle(p, nano=nano, live=False)


def compile_filter(expression: str, dlt: int, snaplen: int) -> list[tuple[int, int, int, int]]:
    """A tcpdump expression compiled for link type ``dlt``, as BPF instructions.

    Raises:
        UsageError: it does not compile; the message is libpcap's.
    """
    lib = library()
    p = lib.pcap_open_dead(dlt, snaplen)
    if not p:
        raise CaptureError("libpcap cannot compile filters here")
    prog = _BpfProgram()
    try:
        if lib.pcap_compile(p, ctypes.byref(prog), expression.encode(), 1, NETMASK_UNKNOWN) != 0:
            raise UsageError(f"bad capture filter {expression!r}: {_text(lib.pcap_geterr(p))}")
        insns = [prog.bf_insns[i] for i in range(prog.bf_len)]
        out = [(i.code, i.jt, i.jf, i.k) for i in insns]
        lib.pcap_freecode(ctypes.byref(prog))
        return out
    finally:
        lib.pcap_close(p)


# -- waiting -----------------------------------------------------------------------------------


def wait(handles: Sequence[Handle], timeout: float) -> None:
    """Return when a packet may be ready on one of ``handles``, or after ``timeout`` seconds.

    Unix: ``select`` on their descriptors. Windows: ``WaitForMultipleObjects`` on their events.
    Without either (never seen), a sleep of the timeout: the next read finds what came.
    """
    if timeout <= 0:
        return
    fds = [h.fd for h in handles if h.fd >= 0]
    events = [h.event for h in handles if h.event]
    if fds:
        select.select(fds, [], [], timeout)
    elif events:
        kernel32: Any = ctypes.WinDLL("kernel32")  # type: ignore[attr-defined,unused-ignore]
        array = (ctypes.c_void_p * len(events))(*events)
        kernel32.WaitForMultipleObjects(len(events), array, False, int(timeout * 1000))
    else:
        time.sleep(timeout)
