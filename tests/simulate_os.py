"""Run sipsniff as if on Windows or macOS, on this Linux machine: ``python -m tests.simulate_os
windows read x.pcap`` (or ``macos``; ``linux`` changes nothing).

What each system lacks is taken out of the standard library before sipsniff is imported: Windows
has no ``AF_PACKET``, ``select.poll``/``epoll``, ``fcntl``, ``termios``, ``os.fork``,
``os.sched_getaffinity``, ``signal.pthread_sigmask``, no ``mmap.MADV_*``, ``MAP_SHARED`` or
``PROT_*``; its redirected stdout is cp1252. macOS has no ``AF_PACKET``, ``epoll``,
``sched_getaffinity``, ``F_SETPIPE_SZ``. ``sipsniff.capture.system.OS`` is set, so that policies
follow the system (worker processes spawned, not forked; ``auto`` takes the pcap backend;
permission hints). A spawned worker imports this module again (as ``__mp_main__``): the
environment variable ``SIPSNIFF_SIMULATE_OS`` carries the system to it, so it runs as simulated too.

Windows' libpcap is Npcap's ``%WINDIR%\\System32\\Npcap\\wpcap.dll``: point ``WINDIR`` at a folder
where that path is this machine's libpcap (``npcap_stand_in``), or at an empty one for a machine
without Npcap. What cannot be simulated: the real libraries and kernels (Npcap's driver, macOS's
BPF), their timestamps, Windows' console; see docs/windows.md and docs/macos.md.
"""

from __future__ import annotations

import ctypes.util
import io
import mmap
import os
import select
import signal
import socket
import sys
from pathlib import Path

ENV = "SIPSNIFF_SIMULATE_OS"
SYSTEMS = ("linux", "windows", "macos")


def _drop(module: object, *names: str) -> None:
    for name in names:
        if hasattr(module, name):
            delattr(module, name)


def simulate(system_name: str) -> None:
    """Take out what ``system_name`` lacks; set ``system.OS``."""
    if system_name == "linux":
        return
    if system_name == "windows":
        _drop(mmap, *[n for n in dir(mmap) if n.startswith(("MADV_", "MAP_", "PROT_"))])
        _drop(select, "poll", "epoll", "POLLIN", "POLLERR")
        _drop(socket, "AF_PACKET")
        _drop(os, "fork", "sched_getaffinity", "geteuid")
        _drop(signal, "pthread_sigmask", "SIGKILL")
        for module in ("fcntl", "termios", "pty", "resource"):
            sys.modules[module] = None  # type: ignore[assignment]
    elif system_name == "macos":
        _drop(select, "epoll")
        _drop(socket, "AF_PACKET")
        _drop(os, "sched_getaffinity")
        import fcntl

        _drop(fcntl, "F_SETPIPE_SZ", "F_GETPIPE_SZ")
    else:
        raise SystemExit(f"simulate_os: no system {system_name!r}: {', '.join(SYSTEMS)}")
    from sipsniff.capture import system

    system.OS = system_name


def npcap_stand_in(windir: Path) -> Path:
    """A ``WINDIR`` whose ``System32\\Npcap\\wpcap.dll`` is this machine's libpcap."""
    folder = windir / "System32" / "Npcap"
    folder.mkdir(parents=True, exist_ok=True)
    found = ctypes.util.find_library("pcap")
    if found is None:
        raise FileNotFoundError("no libpcap on this machine")
    for lib in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib"):
        if (Path(lib) / found).exists():
            (folder / "wpcap.dll").symlink_to(Path(lib) / found)
            return windir
    raise FileNotFoundError(f"{found} not found")


if os.environ.get(ENV):
    simulate(os.environ[ENV])


def main() -> None:
    name, args = sys.argv[1], sys.argv[2:]
    os.environ[ENV] = name
    simulate(name)
    if name == "windows" and not sys.stdout.isatty():
        # What Windows gives a redirected stdout: the ANSI code page, strict.
        sys.stdout = io.TextIOWrapper(sys.stdout.buffer, encoding="cp1252", errors="strict")
    from sipsniff.cli import main as sipsniff

    sipsniff(args)


if __name__ == "__main__":
    main()
