"""The ``ring`` capture backend, Linux's own: a packet socket with a memory-mapped ring; and a pcap
writer.

How this works. One ``AF_PACKET`` socket receives every packet of the chosen interfaces; a BPF filter
attached to it (compiled by libpcap, once) keeps the kernel from handing over what we
do not want. The socket gets a ``TPACKET_V3`` receive ring, as libpcap uses: the kernel writes
packets, with their nanosecond timestamps, into blocks of a shared memory area, and hands a block to
us when it is full or ``RETIRE_MS`` after its first packet. Reading a packet is then a
``struct.unpack_from`` and a slice of the ring, with no system call and no dissection; a block is
handed back when read. The ring is the receive buffer (``--buffer``): when we fall behind, the
kernel drops packets and counts them (``PACKET_STATISTICS``).

Link layers: one Ethernet (or loopback) interface is read as Ethernet (``SOCK_RAW``); ``any``,
several interfaces, or an interface of another kind are read as IP packets (``SOCK_DGRAM``) behind a
Linux cooked v2 header (``LINKTYPE_LINUX_SLL2``) built from the socket address the ring carries,
which names the interface. As libpcap does, packets *sent* on a loopback interface are left out by
the filter: the kernel shows each of them twice, sent and received.

Measured against scapy's own listening socket (``conf.L2listen(...).recv_raw()``, one system call
per packet) and the ``pcap`` backend: see benchmarks/live_bench.py and docs/live.md. Linux only
(``AF_PACKET``, ``/sys``, ``select.poll``, ``MAP_SHARED``): ``capture/backends.py`` chooses it there
only, and ``LiveCapture`` says so elsewhere.

``PcapWriter`` writes what was captured as it comes, in the nanosecond pcap format, starting a new
file (``FILE.1``, ``FILE.2``...) past a size when asked to. Each file is written beside its name
(``.FILE.XXXXXX.part``, ``outfile.OutputFile``) and takes that name when it is complete: at the
end of the run, or when the next one starts; a file of that name from before stays whole until then.
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import select
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from sipsniff.capture import libpcap
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
from sipsniff.capture.outfile import OutputFile
from sipsniff.errors import CaptureError
from sipsniff.model import Frame

__all__ = ["ANY", "DEFAULT_BUFFER", "DEFAULT_FILTER", "SNAPLEN", "LiveCapture", "PcapWriter"]

LINKTYPE_ETHERNET: Final = 1
LINKTYPE_LINUX_SLL2: Final = 276
RETIRE_MS: Final = 20
"""A block that is not full is handed over this long after its first packet (display latency)."""

# <linux/if_packet.h>, <linux/if_ether.h>, <linux/filter.h>, <linux/if_arp.h>
_ETH_P_ALL: Final = 0x0003
_SOL_PACKET: Final = 263
_PACKET_RX_RING: Final = 5
_PACKET_STATISTICS: Final = 6
_PACKET_VERSION: Final = 10
_TPACKET_V3: Final = 2
_TP_STATUS_KERNEL: Final = 0
_TP_STATUS_USER: Final = 1
_TP_STATUS_VLAN_VALID: Final = 0x10
_TP_STATUS_VLAN_TPID_VALID: Final = 0x40
_PACKET_OUTGOING: Final = 4
_SO_ATTACH_FILTER: Final = 26
_ARPHRD_ETHER: Final = 1
_ARPHRD_LOOPBACK: Final = 772
_IFF_UP: Final = 0x1
_IFF_LOOPBACK: Final = 0x8
_DLT_EN10MB: Final = 1
_DLT_RAW: Final = 12

# BPF opcodes and the kernel's ancillary loads (SKF_AD_OFF + SKF_AD_*).
_LD_W_ABS: Final = 0x20
_JEQ_K: Final = 0x15
_JA: Final = 0x05
_RET_K: Final = 0x06
_AD_PKTTYPE: Final = (-0x1000 + 4) & 0xFFFFFFFF
_AD_IFINDEX: Final = (-0x1000 + 8) & 0xFFFFFFFF

_BLOCK: Final = struct.Struct("=III")
"""tpacket_hdr_v1 from offset 8 of a block: block_status, num_pkts, offset_to_first_pkt."""
_PACKET: Final = struct.Struct("=IIIIIIHHIIH")
"""tpacket3_hdr: next offset, sec, nsec, snaplen, len, status, mac, net, rxhash, vlan tci, tpid."""
_SLL: Final = struct.Struct("=HHiHBB8s")
"""sockaddr_ll, at offset 48 of a packet (TPACKET_ALIGN(sizeof(tpacket3_hdr))): family,
protocol (network order), ifindex, hatype, pkttype, halen, addr."""
_SLL_AT: Final = 48
_SLL2: Final = struct.Struct(">HHIHBB8s")
"""The LINKTYPE_LINUX_SLL2 header: protocol, reserved, ifindex, ARPHRD type, packet type, address
length, address (20 bytes)."""
_STATS: Final = struct.Struct("=III")
"""tpacket_stats_v3: packets (drops included), drops, times the queue froze."""
_RING_REQ: Final = struct.Struct("=IIIIIII")
"""tpacket_req3: block size, block count, frame size, frame count, retire timeout (ms), private
area size, feature request word."""
_BPF_INSN: Final = struct.Struct("=HBBI")


# -- interfaces --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Interface:
    """A network interface as the kernel lists it."""

    name: str
    index: int
    arphrd: int
    """ARPHRD_* type: 1 Ethernet, 772 loopback, 65534 none (tun)..."""
    flags: int
    operstate: str = ""
    """RFC 2863 operational state as /sys shows it: ``up``, ``down``, ``unknown`` (loopback)..."""

    @property
    def up(self) -> bool:
        return bool(self.flags & _IFF_UP)

    @property
    def running(self) -> bool:
        """Up with a carrier (the loopback's state is ``unknown``, and it runs)."""
        return self.up and self.operstate in ("up", "unknown")

    @property
    def loopback(self) -> bool:
        return bool(self.flags & _IFF_LOOPBACK) or self.arphrd == _ARPHRD_LOOPBACK

    @property
    def ethernet(self) -> bool:
        """Whether its frames start with an Ethernet header (the loopback's do too)."""
        return self.arphrd in (_ARPHRD_ETHER, _ARPHRD_LOOPBACK)


def _sys_int(name: str, attr: str) -> int | None:
    try:
        return int(Path("/sys/class/net", name, attr).read_text().strip(), 0)
    except (OSError, ValueError):
        return None


def interfaces() -> list[Interface]:
    """The interfaces of this machine (network namespace), in kernel index order."""
    try:
        pairs = socket.if_nameindex()
    except OSError as exc:
        raise CaptureError(f"cannot list the network interfaces: {exc.strerror}") from None
    out = []
    for index, name in sorted(pairs):
        arphrd = _sys_int(name, "type")
        flags = _sys_int(name, "flags")
        try:
            oper = Path("/sys/class/net", name, "operstate").read_text().strip()
        except OSError:
            oper = ""
        out.append(Interface(name, index, -1 if arphrd is None else arphrd, flags or 0, oper))
    return out


def available() -> bool:
    """Whether this system has packet sockets (Linux)."""
    return hasattr(socket, "AF_PACKET") and Path("/sys/class/net").is_dir()


def devices() -> list[Device]:
    """The interfaces as the ring sees them, numbered by the kernel's index, with the addresses
    libpcap lists when it is there."""
    try:
        addresses = {d.name: d.addresses for d in libpcap.find_all_devices()}
    except CaptureError:
        addresses = {}
    kinds = {_ARPHRD_ETHER: "ethernet", _ARPHRD_LOOPBACK: "loopback", 65534: "ip (tun)"}
    return [
        Device(
            index=i.index,
            name=i.name,
            device=i.name,
            addresses=addresses.get(i.name, ()),
            kind=kinds.get(i.arphrd, f"type {i.arphrd}"),
            up=i.up,
            running=i.running,
            loopback=i.loopback,
        )
        for i in interfaces()
    ]


# -- BPF ---------------------------------------------------------------------------------------


def compile_filter(expression: str, dlt: int) -> list[tuple[int, int, int, int]]:
    """Compile a tcpdump filter expression for a link type with libpcap.

    Raises:
        UsageError: the expression does not compile; the message is libpcap's.
        CaptureError: there is no libpcap.
    """
    return libpcap.compile_filter(expression, dlt, SNAPLEN)


def _prefix(
    only: Sequence[int], loopbacks: Sequence[int], bound_loopback: bool
) -> list[tuple[int, int, int, int]]:
    """Instructions run before the user's filter, which falls through to it or returns 0.

    Args:
        only: accept only packets of these interface indexes (several ``-i``); empty for all.
        loopbacks: indexes of loopback interfaces whose outgoing packets are dropped.
        bound_loopback: the socket is bound to a loopback interface: drop every outgoing packet.
    """
    prog: list[tuple[int, int, int, int]] = []
    if only:
        prog.append((_LD_W_ABS, 0, 0, _AD_IFINDEX))
        for n, index in enumerate(only):
            # Accept: jump over the remaining tests and the "ret 0" after them.
            prog.append((_JEQ_K, len(only) - n, 0, index))
        prog.append((_RET_K, 0, 0, 0))
    if bound_loopback:
        prog.append((_LD_W_ABS, 0, 0, _AD_PKTTYPE))
        prog.append((_JEQ_K, 0, 1, _PACKET_OUTGOING))
        prog.append((_RET_K, 0, 0, 0))
    elif loopbacks:
        prog.append((_LD_W_ABS, 0, 0, _AD_IFINDEX))
        for n, index in enumerate(loopbacks):
            # To the pkttype test, which follows the "ja" after the last index test.
            prog.append((_JEQ_K, len(loopbacks) - n, 0, index))
        prog.append((_JA, 0, 0, 3))
        prog.append((_LD_W_ABS, 0, 0, _AD_PKTTYPE))
        prog.append((_JEQ_K, 0, 1, _PACKET_OUTGOING))
        prog.append((_RET_K, 0, 0, 0))
    return prog


def _attach(sock: socket.socket, program: Sequence[tuple[int, int, int, int]]) -> None:
    code = b"".join(_BPF_INSN.pack(*insn) for insn in program)
    buf = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("HL", len(program), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)


# -- the capture -------------------------------------------------------------------------------


class LiveCapture:
    """A packet socket with a ``TPACKET_V3`` ring on some interfaces (or all): the ``ring``
    backend (``capture.base.Capture``).

    Args:
        names: interface names (or numbers, ``Device.index``); ``["any"]`` for all of them;
            empty for the default one.
        expression: a tcpdump filter expression (``DEFAULT_FILTER`` when None).
        buffer_bytes: size of the ring.

    Raises:
        CaptureError: no permission, or the socket cannot be set up.
        UsageError: an unknown interface, or a filter that does not compile.
    """

    backend = "ring"

    def __init__(
        self,
        names: Sequence[str] = (),
        expression: str | None = None,
        *,
        buffer_bytes: int = DEFAULT_BUFFER,
    ) -> None:
        if not available():
            raise CaptureError(
                "the ring backend is Linux's packet socket, which this system has not: "
                "use --backend pcap"
            )
        found = interfaces()
        listed = devices()
        picked = resolve(names, listed) if names else [default_device(listed)]
        by_name = {i.name: i for i in found}
        chosen = None if picked is None else [by_name[d.name] for d in picked]
        self.names = [ANY] if chosen is None else [i.name for i in chosen]
        """The interfaces captured on, by name (``any`` for all)."""
        self.expression = DEFAULT_FILTER if expression is None else expression
        self.stats = CaptureStats()
        single = chosen[0] if chosen is not None and len(chosen) == 1 else None
        self.cooked = single is None or not single.ethernet
        """Read as IP behind a cooked v2 header (else as Ethernet)."""
        self.linktype = LINKTYPE_LINUX_SLL2 if self.cooked else LINKTYPE_ETHERNET
        self.down = [i.name for i in (chosen or ()) if not i.up]
        """Interfaces chosen that are down (nothing will come from them)."""
        user = compile_filter(self.expression, _DLT_RAW if self.cooked else _DLT_EN10MB)
        if single is not None:
            prefix = _prefix((), (), bound_loopback=single.loopback)
        else:
            loops = [i.index for i in (chosen if chosen is not None else found) if i.loopback]
            only = [i.index for i in chosen] if chosen is not None else []
            prefix = _prefix(only, loops, bound_loopback=False)

        kind = socket.SOCK_DGRAM if self.cooked else socket.SOCK_RAW
        where = ", ".join(self.names)
        try:
            self.sock = socket.socket(socket.AF_PACKET, kind, socket.htons(_ETH_P_ALL))
        except PermissionError:
            raise CaptureError(
                f"no permission to capture on {where}: {permission_hint()}"
            ) from None
        except OSError as exc:
            raise CaptureError(f"cannot open a packet socket: {exc.strerror}") from None
        try:
            # The filter first, then the ring, then the binding: nothing unfiltered gets in.
            _attach(self.sock, prefix + user)
            self._setup_ring(buffer_bytes)
            if single is not None:
                self.sock.bind((single.name, _ETH_P_ALL))
        except PermissionError:
            self.sock.close()
            raise CaptureError(
                f"no permission to capture on {where}: {permission_hint()}"
            ) from None
        except OSError as exc:
            self.sock.close()
            raise CaptureError(f"cannot capture on {where}: {exc.strerror or exc}") from None
        self._poll = select.poll()
        self._poll.register(self.sock.fileno(), select.POLLIN | select.POLLERR)
        self._block = 0
        self.number = 0
        """Frames read so far (the number of the last one)."""

    def _setup_ring(self, buffer_bytes: int) -> None:
        block = 1 << 20
        count = max(2, buffer_bytes // block)
        frame = 1 << 11
        self.sock.setsockopt(_SOL_PACKET, _PACKET_VERSION, _TPACKET_V3)
        req = _RING_REQ.pack(block, count, frame, block // frame * count, RETIRE_MS, 0, 0)
        self.sock.setsockopt(_SOL_PACKET, _PACKET_RX_RING, req)
        self._block_size = block
        self._blocks = count
        self.ring = mmap.mmap(
            self.sock.fileno(), block * count, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE
        )

    # -- reading -----------------------------------------------------------------------------
    def read(self, timeout: float) -> list[Frame]:
        """The frames of the next ready block; wait up to ``timeout`` seconds for one.

        Returns an empty list when none came in time. Frames are numbered from 1 in the order read.
        """
        ring = self.ring
        at = self._block * self._block_size
        status = _BLOCK.unpack_from(ring, at + 8)[0]
        if not status & _TP_STATUS_USER:
            if timeout <= 0:
                return []
            self._poll.poll(max(1, int(timeout * 1000)))
            status = _BLOCK.unpack_from(ring, at + 8)[0]
            if not status & _TP_STATUS_USER:
                return []
        _, count, first = _BLOCK.unpack_from(ring, at + 8)
        frames = self._frames(at, at + first, count)
        struct.pack_into("=I", ring, at + 8, _TP_STATUS_KERNEL)
        self._block = (self._block + 1) % self._blocks
        self.stats.frames += len(frames)
        return frames

    def _frames(self, block_at: int, at: int, count: int) -> list[Frame]:
        ring = self.ring
        unpack = _PACKET.unpack_from
        number = self.number
        linktype = self.linktype
        out: list[Frame] = []
        append = out.append
        cooked = self.cooked
        for _ in range(count):
            nxt, sec, nsec, snap, length, status, mac, _net, _hash, tci, tpid = unpack(ring, at)
            data = ring[at + mac : at + mac + snap]
            if cooked:
                _fam, proto, ifindex, hatype, pkttype, halen, addr = _SLL.unpack_from(
                    ring, at + _SLL_AT
                )
                head = _SLL2.pack(
                    socket.ntohs(proto), 0, ifindex & 0xFFFFFFFF, hatype, pkttype, halen, addr
                )
                data = head + data
                length += len(head)
            elif status & _TP_STATUS_VLAN_VALID and len(data) >= 12:
                # The kernel took the 802.1Q tag out: put it back where it was, as libpcap does.
                vlan_tpid = tpid if status & _TP_STATUS_VLAN_TPID_VALID else 0x8100
                data = data[:12] + struct.pack(">HH", vlan_tpid, tci & 0xFFFF) + data[12:]
                length += 4
            number += 1
            append(Frame(number, sec * 1_000_000_000 + nsec, linktype, data, length))
            at += nxt
        self.number = number
        return out

    def drain(self, wait: float = 3 * RETIRE_MS / 1000) -> list[Frame]:
        """Everything still in the ring, waiting ``wait`` seconds for the kernel to hand over its
        last block (it does ``RETIRE_MS`` after the block's first packet)."""
        out: list[Frame] = []
        while True:
            frames = self.read(wait)
            if not frames:
                return out
            out += frames

    def update_stats(self) -> CaptureStats:
        """Add the kernel's counters since the last call (reading them resets them)."""
        try:
            raw = self.sock.getsockopt(_SOL_PACKET, _PACKET_STATISTICS, _STATS.size)
        except OSError:
            return self.stats
        packets, drops, _frozen = _STATS.unpack(raw)
        self.stats.received += packets
        self.stats.dropped += drops
        return self.stats

    def close(self) -> None:
        self.update_stats()
        with contextlib.suppress(BufferError):  # a view still exported: the socket goes anyway
            self.ring.close()
        self.sock.close()

    def __enter__(self) -> LiveCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- pcap writer -------------------------------------------------------------------------------

_PCAP_NS_HEADER: Final = struct.Struct("<IHHiIII")
_PCAP_NS_MAGIC: Final = 0xA1B23C4D
_PCAP_RECORD: Final = struct.Struct("<IIII")


class PcapWriter:
    """Writes frames to a pcap file with nanosecond timestamps, one link type.

    Args:
        path: the file; with ``rotate``, further files are ``path.1``, ``path.2``...
        linktype: LINKTYPE_* of every frame.
        rotate: start a new file before one grows past this many bytes (None: never).

    Raises:
        OutputError: the file cannot be written (no such directory, disk full).
    """

    def __init__(self, path: str, linktype: int, *, rotate: int | None = None) -> None:
        self.path = path
        self.linktype = linktype
        self.rotate = rotate
        self.paths: list[str] = []
        """Every file written, in order."""
        self.frames = 0
        self._file: OutputFile | None = None
        self._out: BinaryIO | None = None
        self._size = 0
        self._records = 0
        self._open()

    def _open(self) -> None:
        path = self.path if not self.paths else f"{self.path}.{len(self.paths)}"
        self._file = OutputFile(path, binary=True)
        out = self._file.binary
        header = _PCAP_NS_HEADER.pack(_PCAP_NS_MAGIC, 2, 4, 0, 0, SNAPLEN, self.linktype)
        self._write(out, header)
        self._size = len(header)
        self._records = 0
        self._out = out
        self.paths.append(path)

    def _write(self, out: BinaryIO, data: bytes) -> None:
        try:
            out.write(data)
        except OSError as exc:
            assert self._file is not None
            raise self._file.error(exc) from None

    def write(self, frame: Frame) -> None:
        out = self._out
        if out is None:
            raise ValueError("write to a closed PcapWriter")
        size = _PCAP_RECORD.size + len(frame.data)
        if self.rotate is not None and self._size + size > self.rotate and self._records:
            assert self._file is not None
            self._file.commit()
            self._open()
            out = self._out
            assert out is not None
        secs, nsecs = divmod(frame.ts_ns, 1_000_000_000)
        self._write(out, _PCAP_RECORD.pack(secs, nsecs, len(frame.data), frame.orig_len))
        self._write(out, frame.data)
        self._size += size
        self._records += 1
        self.frames += 1

    def flush(self) -> None:
        if self._out is not None:
            try:
                self._out.flush()
            except OSError as exc:
                assert self._file is not None
                raise self._file.error(exc) from None

    def close(self) -> None:
        """Put the file in place (what was captured is kept, however the run ends)."""
        if self._file is not None:
            file, self._file, self._out = self._file, None, None
            file.commit()
