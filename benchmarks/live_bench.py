"""How fast SIP can come before ``sipsniff live`` loses some, against tcpdump on the same traffic.

For each capture backend (``--backends ring,pcap``: Linux's packet socket ring, libpcap) and each rate (calls/s of sipp's built-in ``uac`` against ``uas`` on loopback, 6 SIP messages a
call), for ``--seconds`` each: tcpdump (immediate mode) and ``sipsniff live -f ndjson`` capture the
same ports side by side; then the SIP messages live streamed are counted against those ``sipsniff
read`` finds in tcpdump's pcap, with the kernel drops each reports and live's CPU time. The
highest rate with nothing lost is printed at the end (target: 3,000 SIP messages/s, 500 calls/s,
on a 2-core machine that also runs the two sipps and tcpdump).

``--compare-capture`` first measures the capture methods alone (no SIP decoding): a sender
blasts UDP datagrams on loopback as fast as it can, and each method counts what it got: our
``TPACKET_V3`` ring (``capture/live.py``), the libpcap backend (``capture/pcap.py``) and scapy's
``conf.L2listen`` socket read with ``recv_raw`` (one system call per packet, no dissection).

usage: python benchmarks/live_bench.py [--rates 100,300,500,1000,1500] [--seconds 8]
       [--backends ring,pcap] [--compare-capture]
Needs root (capture), sipp (Debian sip-tester) and tcpdump.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


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


def wait_for(proc: subprocess.Popen[bytes], name: str, pattern: bytes, timeout: float = 20) -> None:
    assert proc.stderr is not None
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stderr.readline()
        if not line:
            break
        if pattern in line:
            return
    proc.kill()
    sys.exit(f"live_bench: {name} did not start")


@dataclass
class Step:
    rate: int
    calls: int
    sipp_failed: int
    tcpdump_msgs: int
    tcpdump_drops: int
    live_msgs: int
    live_drops: int
    live_cpu: float
    seconds: float

    @property
    def lost(self) -> int:
        return self.tcpdump_msgs - self.live_msgs


def run_step(rate: int, seconds: float, work: Path, backend: str) -> Step:
    server, client = free_ports(2)
    bpf = f"udp port {server} or udp port {client}"
    theirs = work / f"tcpdump-{rate}.pcap"
    ours = work / f"live-{rate}.ndjson"
    dump = subprocess.Popen(
        [
            *("tcpdump", "-i", "lo", "-s", "0", "-U", "--immediate-mode", "-B", "65536"),
            "-w",
            str(theirs),
            bpf,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    wait_for(dump, "tcpdump", b"listening on")
    live = subprocess.Popen(
        [
            *(sys.executable, "-m", "sipsniff", "live", "--backend", backend, "-i", "lo"),
            *("-f", "ndjson"),
            "-o",
            str(ours),
            *bpf.split(),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    wait_for(live, "sipsniff live", b"capturing on")
    uas = subprocess.Popen(
        ["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(server), "-nostdin", "-nd"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=work,
    )
    time.sleep(0.5)
    calls = int(rate * seconds)
    stats = work / f"uac-{rate}.csv"
    started = time.monotonic()
    subprocess.run(
        [
            *("sipp", f"127.0.0.1:{server}", "-sn", "uac", "-i", "127.0.0.1", "-p", str(client)),
            *("-r", str(rate), "-m", str(calls), "-l", str(max(100, rate * 4)), "-nostdin"),
            *("-timeout", f"{int(seconds * 4 + 30)}s", "-trace_stat", "-stf", str(stats)),
            *("-fd", "3600"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=work,
        check=False,
    )
    elapsed = time.monotonic() - started
    time.sleep(1.0)
    uas.terminate()
    uas.wait()
    live.send_signal(signal.SIGTERM)
    _, status, rusage = os.wait4(live.pid, 0)
    live.returncode = os.waitstatus_to_exitcode(status)
    assert live.stderr is not None
    live_err = live.stderr.read().decode()
    live.stderr.close()
    if live.returncode != 0:
        sys.exit(f"live_bench: sipsniff live failed: {live_err}")
    dump.send_signal(signal.SIGINT)
    _, dump_err_b = dump.communicate()
    dump_err = dump_err_b.decode()

    failed = 0
    if stats.exists():
        rows = [r.split(";") for r in stats.read_text().splitlines() if r.strip()]
        if len(rows) >= 2:
            head = rows[0]
            if "FailedCall(C)" in head:
                failed = int(rows[-1][head.index("FailedCall(C)")] or 0)
    with ours.open() as f:
        live_msgs = sum(1 for _ in f)
    read = subprocess.run(
        [sys.executable, "-m", "sipsniff", "read", str(theirs), "-f", "json"],
        capture_output=True,
        check=True,
        cwd=ROOT,
    )
    tcpdump_msgs = len(json.loads(read.stdout)["messages"])
    m = re.search(r"(\d+) packets? dropped by kernel", dump_err)
    n = re.search(r"(\d+) dropped by the kernel", live_err)
    for path in (theirs, ours):
        path.unlink()
    return Step(
        rate,
        calls,
        failed,
        tcpdump_msgs,
        int(m.group(1)) if m else -1,
        live_msgs,
        int(n.group(1)) if n else -1,
        rusage.ru_utime + rusage.ru_stime,
        elapsed,
    )


# -- capture methods alone ---------------------------------------------------------------------

_SENDER = """
import socket, sys, time
n, port = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
payload = b"OPTIONS sip:x SIP/2.0\\r\\n" + b"x" * 500
t = time.perf_counter()
for _ in range(n):
    s.sendto(payload, ("127.0.0.1", port))
print(n / (time.perf_counter() - t))
"""


def compare_capture(packets: int) -> None:
    from sipsniff.capture.live import LiveCapture
    from sipsniff.capture.pcap import PcapCapture

    print(f"capture methods alone: {packets} UDP datagrams of 525 bytes blasted on loopback")
    for method in ("ring", "pcap", "scapy"):
        (port,) = free_ports(1)
        bpf = f"udp port {port}"
        got = 0
        if method in ("ring", "pcap"):
            cap = LiveCapture(["lo"], bpf) if method == "ring" else PcapCapture(["lo"], bpf)
            sender = subprocess.Popen(
                [sys.executable, "-c", _SENDER, str(packets), str(port)], stdout=subprocess.PIPE
            )
            cpu0 = time.process_time()
            while sender.poll() is None:
                got += len(cap.read(0.05))
            got += len(cap.drain())
            cpu = time.process_time() - cpu0
            drops = cap.update_stats().dropped
            cap.close()
        else:
            import logging

            import scapy.arch  # noqa: F401, TID251 - sets conf.L2listen for this system
            from scapy.config import conf  # noqa: TID251 - benchmark of scapy's socket

            logging.getLogger("scapy").setLevel(logging.ERROR)

            sock = conf.L2listen(iface="lo", filter=bpf)
            sock.ins.setblocking(False)
            sender = subprocess.Popen(
                [sys.executable, "-c", _SENDER, str(packets), str(port)], stdout=subprocess.PIPE
            )
            cpu0 = time.process_time()
            idle_since = None
            while True:
                try:
                    sock.recv_raw()
                    got += 1
                    idle_since = None
                except (BlockingIOError, OSError):
                    if sender.poll() is not None:
                        idle_since = idle_since or time.monotonic()
                        if time.monotonic() - idle_since > 0.2:
                            break
                    time.sleep(0.0005)
            cpu = time.process_time() - cpu0
            drops = -1
            sock.close()
        rate = float((sender.communicate()[0] or b"0").decode().strip() or 0)
        # On the loopback each datagram is seen sent and received; scapy's socket shows both.
        print(
            f"  {method:5}  sent at {rate:9,.0f}/s  seen {got:8,}  kernel drops {drops:6}  "
            f"cpu {cpu:5.2f} s ({got / max(cpu, 1e-9):9,.0f} packets per cpu-second)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rates", default="100,300,500,1000,1500", help="calls/s, comma-separated")
    ap.add_argument("--seconds", type=float, default=8.0, help="length of each step")
    ap.add_argument("--backends", default="ring,pcap", help="capture backends, comma-separated")
    ap.add_argument("--compare-capture", action="store_true")
    ap.add_argument("--packets", type=int, default=200_000)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("live_bench: capture needs root")
    for tool in ("sipp", "tcpdump"):
        if shutil.which(tool) is None:
            sys.exit(f"live_bench: {tool} is not installed (apt-get install sip-tester tcpdump)")
    sys.path.insert(0, str(ROOT))
    if args.compare_capture:
        compare_capture(args.packets)
        print()
    rates = [int(r) for r in args.rates.split(",")]
    for backend in args.backends.split(","):
        print(f"backend {backend}")
        print(
            f"{'calls/s':>7} {'msgs/s':>7} {'sent/s':>7} {'calls':>6} {'failed':>6} "
            f"{'tcpdump':>8} {'t.drops':>7} {'live':>8} {'lost':>5} {'k.drops':>7} "
            f"{'live cpu':>9}"
        )
        best = None
        with tempfile.TemporaryDirectory(prefix="live_bench.") as tmp:
            for rate in rates:
                s = run_step(rate, args.seconds, Path(tmp), backend)
                ok = s.lost == 0 and s.live_drops == 0
                if ok:
                    best = s
                print(
                    f"{s.rate:>7} {s.rate * 6:>7} {s.tcpdump_msgs / s.seconds:>7.0f} "
                    f"{s.calls:>6} {s.sipp_failed:>6} {s.tcpdump_msgs:>8} {s.tcpdump_drops:>7} "
                    f"{s.live_msgs:>8} {s.lost:>5} {s.live_drops:>7} "
                    f"{s.live_cpu:>7.2f} s  {'ok' if ok else 'LOSS'}",
                    flush=True,
                )
        if best is None:
            print(f"{backend}: live lost messages at every rate")
        else:
            print(
                f"{backend}: highest rate with no loss: {best.rate} calls/s = {best.rate * 6} SIP "
                f"messages/s ({best.tcpdump_msgs} messages, live used {best.live_cpu:.2f} s of "
                f"cpu in {best.seconds:.1f} s)"
            )
        print()


if __name__ == "__main__":
    main()
