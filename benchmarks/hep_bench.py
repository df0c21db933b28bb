"""HEP throughput on the loopback: messages/s a HepSender sends and a Session collects, no loss.

Run: ``python benchmarks/hep_bench.py [--messages N] [--transport udp|tcp]``.

The sender runs in this process (its thread encodes and sends, as the agent does behind ``read``
and ``live``); the collector runs in a child process (``HepListener`` + ``Session.feed_hep``: decode,
parse, correlate), so the two do not share the GIL. Messages are the SIP messages of
captures/calls-lossy.pcap, repeated with the Call-ID made unique per round so that the collector
correlates as many dialogs as a real run would. Figures: the sender's rate (``send`` calls until
``close`` returns), the collector's rate (first to last packet), and the loss (sent - collected).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import socket
import time
from multiprocessing.connection import Connection
from pathlib import Path

from sipsniff.capture.hep import HepListener, HepSender
from sipsniff.model import Message
from sipsniff.pipeline import Session, read_trace

CAPTURE = Path(__file__).resolve().parents[1] / "captures" / "calls-lossy.pcap"


def messages(n: int) -> list[Message]:
    base = [e.msg for e in read_trace([str(CAPTURE)]).entries.values()]
    out: list[Message] = []
    r = 0
    while len(out) < n:
        for m in base:
            cid = f"{r}-{m.call_id}"
            raw = m.raw.replace(m.call_id.encode(), cid.encode())
            out.append(m._replace(raw=raw, call_id=cid))
        r += 1
    return out[:n]


def collector(url: str, expect: int, idle: float, conn: Connection) -> None:
    session = Session()
    got = 0
    first = last = 0.0
    with HepListener([url]) as listener:
        conn.send("ready")
        quiet_since = time.monotonic()
        while got < expect and time.monotonic() - quiet_since < idle:
            batch = listener.poll(0.05)
            if batch:
                quiet_since = time.monotonic()
                if not first:
                    first = time.perf_counter()
            for item in batch:
                got += len(session.feed_hep(item.data, 0, None))
            if batch:
                last = time.perf_counter()
    conn.send((got, last - first, 0))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(n: int, transport: str, pace: float) -> tuple[float, float, int]:
    """One run; returns (sent/s, collected/s, lost)."""
    msgs = messages(n)
    url = f"{transport}:127.0.0.1:{free_port()}"
    parent, child = mp.Pipe()
    proc = mp.get_context("fork").Process(target=collector, args=(url, n, 2.0, child))
    proc.start()
    assert parent.recv() == "ready"
    sender = HepSender(url, 1, queue_size=n)
    t0 = time.perf_counter()
    for i, m in enumerate(msgs):
        sender.send(m)
        if pace and i % 64 == 63:
            time.sleep(64 / pace)
    stats = sender.close(linger=60)
    sent_s = time.perf_counter() - t0
    got, took, _ = parent.recv()
    proc.join()
    assert stats.dropped == 0, stats
    return stats.sent / sent_s, got / took if took else 0.0, n - got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--transport", choices=["udp", "tcp"], default=None)
    args = ap.parse_args()
    for transport in [args.transport] if args.transport else ["udp", "tcp"]:
        sent, collected, lost = run(args.messages, transport, 0.0)
        print(
            f"{transport}: {args.messages} messages, unpaced: sent {sent:,.0f}/s, "
            f"collected {collected:,.0f}/s, lost {lost}"
        )
        if transport == "udp" and lost:
            # The highest paced rate without loss: halve from the collector's rate until none.
            rate = collected
            for _ in range(6):
                sent, collected, lost = run(args.messages, transport, rate)
                print(f"udp: paced at {rate:,.0f}/s: collected {collected:,.0f}/s, lost {lost}")
                if not lost:
                    break
                rate *= 0.75


if __name__ == "__main__":
    main()
