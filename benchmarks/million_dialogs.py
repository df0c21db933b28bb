"""Peak memory of ``sipsniff stats`` and ``sipsniff read --list`` on a million short dialogs.

``stats`` holds at most ``--max-dialogs`` (20,000) dialogs at once and sums up the rest as they end:
its memory must not grow with the capture. ``read`` keeps the first ``--max-dialogs`` (100,000)
dialogs and counts the messages of the others (a warning says so).

Writes a synthetic pcap (struct only: Ethernet/IPv4/UDP) of ``--dialogs`` OPTIONS / 200 OK pairs,
each with its own Call-ID, then runs both commands as subprocesses and reads their peak RSS from
``os.wait4``'s ``ru_maxrss``. Prints the file size, and per command the exit status, the wall time
and the peak RSS (total and per dialog).

    python benchmarks/million_dialogs.py                 # 1,000,000 dialogs
    python benchmarks/million_dialogs.py --dialogs 100000 --keep /tmp/m.pcap
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_ETH = bytes.fromhex("00112233445566778899aabb0800")
_RECORD = struct.Struct("<IIII")
_IP = struct.Struct("!BBHHHBBH4s4sHHHH")  # IPv4 header without options, then the UDP header


def _frame(src: bytes, dst: bytes, payload: bytes) -> bytes:
    ip_udp = _IP.pack(
        0x45, 0, 28 + len(payload), 0, 0, 64, 17, 0, src, dst, 5060, 5060, 8 + len(payload), 0
    )
    return _ETH + ip_udp + payload


def write_capture(path: Path, dialogs: int) -> int:
    """A pcap of ``dialogs`` OPTIONS / 200 OK pairs, 1 ms apart; returns its size in bytes."""
    a, b = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    t0 = 1_700_000_000_000_000  # microseconds
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for n in range(dialogs):
            common = (
                f"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK{n:x}\r\n"
                f"From: <sip:probe@example.com>;tag={n:x}\r\n"
                "To: <sip:proxy@example.com>{tag}\r\n"
                f"Call-ID: {n:08x}-options@10.0.0.1\r\n"
                "CSeq: 1 OPTIONS\r\n"
                "Content-Length: 0\r\n\r\n"
            )
            request = ("OPTIONS sip:proxy@example.com SIP/2.0\r\n" + common.format(tag="")).encode()
            reply = ("SIP/2.0 200 OK\r\n" + common.format(tag=";tag=p1")).encode()
            for i, (src, dst, payload) in enumerate(((a, b, request), (b, a, reply))):
                frame = _frame(src, dst, payload)
                us = t0 + n * 1000 + i * 200
                f.write(_RECORD.pack(us // 1_000_000, us % 1_000_000, len(frame), len(frame)))
                f.write(frame)
    return path.stat().st_size


def measure(args: list[str]) -> tuple[int, float, int]:
    """Run ``sipsniff ARGS`` (output discarded): exit status, seconds, peak RSS in bytes."""
    cmd = [sys.executable, "-m", "sipsniff", *args]
    start = time.monotonic()
    with open(os.devnull, "wb") as devnull:
        proc = subprocess.Popen(cmd, stdout=devnull, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        err = proc.stderr.read()
        _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        print(f"  {' '.join(args)}: stderr: {err.decode(errors='replace').strip()}")
    return proc.returncode, elapsed, usage.ru_maxrss * 1024  # ru_maxrss is in KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dialogs", type=int, default=1_000_000)
    ap.add_argument("--keep", type=Path, default=None, help="write the capture here and keep it")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "million.pcap"
        start = time.monotonic()
        size = write_capture(path, args.dialogs)
        print(
            f"capture: {args.dialogs} dialogs, {2 * args.dialogs} frames, "
            f"{size / 2**20:.1f} MiB, written in {time.monotonic() - start:.1f} s"
        )
        for command in (
            ["stats", str(path)],
            ["stats", str(path), "-f", "json"],
            ["read", str(path), "--list"],
        ):
            status, seconds, rss = measure(command)
            name = "sipsniff " + " ".join("FILE" if c == str(path) else c for c in command)
            print(
                f"{name:<28} exit {status}  {seconds:7.1f} s  peak RSS {rss / 2**20:8.1f} MiB  "
                f"({rss / args.dialogs:.0f} bytes per dialog)"
            )


if __name__ == "__main__":
    main()
