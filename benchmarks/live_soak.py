"""A long run of ``sipsniff live`` under steady SIP traffic: its memory (RSS) over time.

sipp's built-in ``uac`` calls ``uas`` on loopback at ``--rate`` calls/s (6 SIP messages a call) for
``--minutes``, while ``sipsniff live -f ndjson -o /dev/null`` captures them with ``--keep`` and
``--max-dialogs``; every ``--interval`` seconds the RSS of the live process is printed. Finished
dialogs leave memory after ``--keep`` seconds, so once the first ones have gone the RSS should stay
flat: the end compares the mean of the first and last quarters of the samples taken after the
warm-up (twice ``--keep``).

usage: python benchmarks/live_soak.py [--minutes 5] [--rate 200] [--keep 30] [--max-dialogs 10000]
Needs root (capture) and sipp (Debian sip-tester). Not a unit test: it takes minutes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--rate", type=int, default=200, help="calls/s")
    ap.add_argument("--keep", type=float, default=30.0, help="sipsniff live --keep")
    ap.add_argument("--max-dialogs", type=int, default=10000, help="sipsniff live --max-dialogs")
    ap.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("live_soak: capture needs root")
    if shutil.which("sipp") is None:
        sys.exit("live_soak: sipp is not installed (apt-get install sip-tester)")
    server, client = free_ports(2)
    seconds = args.minutes * 60
    calls = int(args.rate * seconds)
    print(
        f"{args.rate} calls/s ({args.rate * 6} SIP messages/s) for {args.minutes:g} min, "
        f"--keep {args.keep:g} --max-dialogs {args.max_dialogs}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="live_soak.") as tmp:
        live = subprocess.Popen(
            [
                *(sys.executable, "-m", "sipsniff", "live", "-i", "lo", "-f", "ndjson"),
                *("-o", os.devnull, "--keep", str(args.keep)),
                *("--max-dialogs", str(args.max_dialogs)),
                *f"udp port {server} or udp port {client}".split(),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=ROOT,
        )
        assert live.stderr is not None
        if b"capturing on" not in live.stderr.readline():
            sys.exit("live_soak: sipsniff live did not start")
        uas = subprocess.Popen(
            ["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(server), "-nostdin", "-nd"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=tmp,
        )
        time.sleep(0.5)
        uac = subprocess.Popen(
            [
                *("sipp", f"127.0.0.1:{server}", "-sn", "uac", "-i", "127.0.0.1"),
                *("-p", str(client), "-r", str(args.rate), "-m", str(calls), "-nostdin"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=tmp,
        )
        start = time.monotonic()
        samples: list[tuple[float, float]] = []
        print(f"{'t (s)':>7} {'RSS (MiB)':>10}", flush=True)
        try:
            while uac.poll() is None:
                t = time.monotonic() - start
                rss = rss_mib(live.pid)
                samples.append((t, rss))
                print(f"{t:7.0f} {rss:10.1f}", flush=True)
                time.sleep(args.interval)
        finally:
            if uac.poll() is None:
                uac.terminate()
                uac.wait()
            uas.terminate()
            uas.wait()
            time.sleep(0.5)
            live.send_signal(signal.SIGTERM)
            _, err = live.communicate(timeout=120)
        print(err.decode().rstrip())
    settled = [rss for t, rss in samples if t >= 2 * args.keep]
    if len(settled) >= 4:
        q = len(settled) // 4
        first, last = sum(settled[:q]) / q, sum(settled[-q:]) / q
        print(
            f"after the warm-up ({2 * args.keep:g} s): RSS {min(settled):.1f} to "
            f"{max(settled):.1f} MiB; first quarter {first:.1f}, last quarter {last:.1f} MiB "
            f"({last - first:+.1f} MiB)"
        )
    else:
        print("too few samples after the warm-up to judge: run longer (--minutes)")


if __name__ == "__main__":
    main()
