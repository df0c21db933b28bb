"""Read speed and memory of sipsniff against sngrep (and the Python tools, when installed).

Records (once, cached in benchmarks/.cache/) a large capture of real SIP traffic: sipp's
built-in ``uac`` scenario against ``uas`` on loopback under tcpdump, 30,000 calls (180,000 messages) by default.
Or takes a capture given with ``--file``. Then runs each tool on the same file and prints, side by
side, wall time, messages/s and peak RSS (of the process and its children, from wait4).

Then the same calls over TCP (sipp ``-t t1``: every call on one connection), recorded the same way,
read beside the UDP capture: microseconds per message for each (the issue allows TCP 1.5x UDP).

usage: python benchmarks/read_bench.py [--calls N] [--rate CPS] [--file CAPTURE] [--repeat N] [--no-tcp]
Needs root for the recording (tcpdump), sipp (Debian sip-tester) and tcpdump; sngrep when present.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"


def record(path: Path, calls: int, rate: int, transport: str = "u1") -> None:
    """sipp uac -> uas on loopback, tcpdump writing ``path``.

    ``transport`` is sipp's ``-t``: ``u1`` (UDP, one socket) or ``t1`` (TCP: every call on one
    connection, so messages are framed out of one byte stream and several share segments).
    """
    for tool in ("sipp", "tcpdump"):
        if shutil.which(tool) is None:
            sys.exit(f"read_bench: {tool} is not installed (apt-get install sip-tester tcpdump)")
    CACHE.mkdir(exist_ok=True)
    port = 15060 + os.getpid() % 1000 + (500 if transport == "t1" else 0)
    proto = "tcp" if transport == "t1" else "udp"
    tmp = path.with_suffix(".part")
    dump = subprocess.Popen(
        ["tcpdump", "-i", "lo", "-s", "0", "-w", str(tmp), "-U", f"{proto} port {port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1)
    uas = subprocess.Popen(
        ["sipp", "-sn", "uas", "-t", transport, "-i", "127.0.0.1", "-p", str(port), "-nostdin"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=CACHE,
    )
    time.sleep(0.5)
    print(f"recording {calls} calls over {proto} at {rate} calls/s ...", file=sys.stderr)
    subprocess.run(
        [
            "sipp",
            f"127.0.0.1:{port}",
            "-sn",
            "uac",
            "-t",
            transport,
            "-i",
            "127.0.0.1",
            "-p",
            str(port + 1),
            "-m",
            str(calls),
            "-r",
            str(rate),
            "-l",
            str(rate * 2),
            "-nostdin",
            "-timeout",
            "600",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=CACHE,
        check=False,
    )
    time.sleep(1.5)
    uas.terminate()
    uas.wait()
    dump.send_signal(signal.SIGINT)
    dump.wait()
    tmp.rename(path)


def measure(cmd: list[str]) -> tuple[float, int, int]:
    """Run ``cmd``; return wall seconds, peak RSS in kB, exit status.

    The peak comes from GNU time (``/usr/bin/time -f %M``): a child forked from this Python process
    would start its maximum RSS at ours, so wait4's figure would be too high.
    """
    t0 = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *cmd],
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    elapsed = time.perf_counter() - t0
    lines = proc.stderr.decode(errors="replace").strip().splitlines()
    rss = int(lines[-1]) if lines and lines[-1].isdigit() else 0
    if proc.returncode != 0:
        print(f"  ({cmd[0]} exited {proc.returncode}: {lines[-2] if len(lines) > 1 else ''})")
    return elapsed, rss, proc.returncode


def count_messages(path: Path) -> int:
    out = subprocess.run(
        [sys.executable, "-m", "sipsniff", "read", str(path), "--format", "json"],
        capture_output=True,
        check=True,
    ).stdout
    import json

    return len(json.loads(out)["messages"])


TCP_LIMIT = 1.5
"""The issue's bound: a message read from TCP may cost at most this many times one from UDP."""


def per_message(udp: Path, udp_messages: int, tcp: Path, repeat: int) -> None:
    """``sipsniff read -f json`` on the same calls over UDP and over one TCP connection:
    microseconds per message for each, and their ratio against ``TCP_LIMIT``."""
    tcp_messages = count_messages(tcp)
    print(f"capture: {tcp} ({tcp.stat().st_size / 1e6:.1f} MB, {tcp_messages} SIP messages)")
    us: dict[str, float] = {}
    print(f"{'sipsniff json':<22}{'messages':>10}{'seconds':>9}{'us/msg':>9}{'peak RSS MB':>13}")
    for name, path, n in (("udp", udp, udp_messages), ("tcp (one connection)", tcp, tcp_messages)):
        cmd = [sys.executable, "-m", "sipsniff", "read", str(path), "-f", "json", "-o", "/dev/null"]
        secs, rss_kb, _ = min((measure(cmd) for _ in range(repeat)), key=lambda r: r[0])
        us[name] = secs / n * 1e6
        print(f"{name:<22}{n:>10}{secs:>9.2f}{us[name]:>9.2f}{rss_kb / 1024:>13.0f}")
    ratio = us["tcp (one connection)"] / us["udp"]
    verdict = "within" if ratio <= TCP_LIMIT else "OVER"
    print(f"tcp / udp per message: {ratio:.2f}x ({verdict} the {TCP_LIMIT}x bound)\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=30000)
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--file", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=1, help="runs per tool; the best is kept")
    ap.add_argument("--no-tcp", action="store_true", help="skip the UDP vs TCP comparison")
    args = ap.parse_args()

    if not Path("/usr/bin/time").exists():
        sys.exit("read_bench: GNU time is needed for peak RSS (apt-get install time)")
    path = args.file or CACHE / f"sipp-{args.calls}-calls.pcap"
    if not path.exists():
        record(path, args.calls, args.rate)
    messages = count_messages(path)
    size = path.stat().st_size
    print(f"capture: {path} ({size / 1e6:.1f} MB, {messages} SIP messages)")
    if not args.no_tcp:
        tcp_path = CACHE / f"sipp-{args.calls}-calls-tcp.pcap"
        if not tcp_path.exists():
            record(tcp_path, args.calls, args.rate, "t1")
        per_message(path, messages, tcp_path, args.repeat)

    py = sys.executable
    tools: list[tuple[str, list[str]]] = [
        (
            "sipsniff json",
            [py, "-m", "sipsniff", "read", str(path), "-f", "json", "-o", "/dev/null"],
        ),
        # the call list as CSV: read, correlate, one line per dialog (the nearest to sngrep -N -q)
        (
            "sipsniff csv list",
            [py, "-m", "sipsniff", "read", str(path), "-f", "csv", "-o", "/dev/null"],
        ),
        ("sipsniff stats", [py, "-m", "sipsniff", "stats", str(path)]),
        ("sipsniff text list", [py, "-m", "sipsniff", "read", str(path), "--list"]),
        # every dialog's ladder as data in one page: the ladder model, notes and escaping at scale
        (
            "sipsniff html",
            [py, "-m", "sipsniff", "read", str(path), "-f", "html", "-o", "/dev/null"],
        ),
    ]
    if shutil.which("sngrep"):
        # -l: sngrep stops storing dialogs at its limit (20,000 by default); lift it to be fair.
        tools.append(("sngrep -N -q", ["sngrep", "-I", str(path), "-N", "-q", "-l", "10000000"]))
    if shutil.which("sip-ladder"):
        tools.append(("sip-ladder", ["sip-ladder", str(path)]))
    if shutil.which("sip-doctor"):
        tools.append(("sip-doctor", ["sip-doctor", str(path)]))

    print(f"{'tool':<22}{'seconds':>9}{'msgs/s':>11}{'peak RSS MB':>13}")
    for name, cmd in tools:
        best: tuple[float, int, int] | None = None
        for _ in range(args.repeat):
            r = measure(cmd)
            if best is None or r[0] < best[0]:
                best = r
        assert best is not None
        secs, rss_kb, code = best
        flag = "" if code == 0 else f"  (exit {code})"
        print(f"{name:<22}{secs:>9.2f}{messages / secs:>11,.0f}{rss_kb / 1024:>13.0f}{flag}")


if __name__ == "__main__":
    main()
