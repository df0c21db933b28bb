"""``HepSender``: what it says of delivery, against real collectors on the loopback.

Over UDP nothing is known past the kernel; over TCP the collector's acknowledgements are counted
(``TCP_INFO``), a collector that closes the connection is seen, and the bytes it never acknowledged
are reported. The collectors here are sockets of the test that read what arrives and count it, so
what the sender says is compared with what really arrived.
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from sipsniff.capture.hep import HepSender, SenderStats
from sipsniff.model import Message
from sipsniff.net.hep import HepStream, encode_message
from sipsniff.pipeline import read_trace
from tests.conftest import CAPTURES

linux = pytest.mark.skipif(sys.platform != "linux", reason="TCP_INFO acknowledgements: Linux")


def call() -> list[Message]:
    return [e.msg for e in read_trace([str(CAPTURES / "invite-call.pcap")]).entries.values()]


class Collector:
    """A TCP collector that reads HEP packets; ``reset_after`` N packets it resets the connection
    (SO_LINGER 0) and waits for the next one."""

    def __init__(self, reset_after: int | None = None) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"tcp:127.0.0.1:{self.sock.getsockname()[1]}"
        self.reset_after = reset_after
        self.packets: list[bytes | str] = []
        self.received = 0
        self.connections = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.sock.settimeout(10)
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            stream = HepStream()
            with conn:
                while True:
                    chunk = conn.recv(1 << 16)
                    if not chunk:
                        break
                    self.received += len(chunk)
                    self.packets.extend(stream.feed(chunk))
                    if self.reset_after is not None and len(self.packets) >= self.reset_after:
                        self.reset_after = None
                        conn.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                        break

    def close(self) -> None:
        self.sock.close()


@contextmanager
def collector(reset_after: int | None = None) -> Iterator[Collector]:
    c = Collector(reset_after)
    try:
        yield c
    finally:
        c.close()


def send_all(url: str, msgs: list[Message], pause: float = 0.0) -> SenderStats:
    sender = HepSender(url, 7)
    for m in msgs:
        assert sender.send(m, block=True)
        time.sleep(pause)
    return sender.close()


def test_udp_says_sent_and_not_confirmed() -> None:
    msgs = call()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        stats = send_all(f"udp:127.0.0.1:{sink.getsockname()[1]}", msgs)
    assert (stats.sent, stats.dropped, stats.written, stats.unacked) == (6, 0, 0, 0)
    assert stats.describe() == "6 HEP packets sent (UDP: not confirmed), 0 dropped"


@linux
def test_tcp_counts_the_bytes_the_collector_acknowledged() -> None:
    msgs = call()
    size = sum(len(encode_message(m, agent_id=7)) for m in msgs)
    with collector() as c:
        stats = send_all(c.url, msgs)
        deadline = time.monotonic() + 5
        while c.received < size and time.monotonic() < deadline:
            time.sleep(0.01)
    assert c.received == size
    assert (stats.sent, stats.written, stats.acked, stats.unacked) == (6, size, size, 0)
    assert (stats.connections, stats.closed_by_collector) == (1, 0)
    assert stats.describe() == (
        f"6 HEP packets sent, {size:,} of {size:,} bytes acknowledged by the collector (TCP), "
        "0 dropped"
    )


@linux
def test_tcp_sees_a_collector_that_closed_the_connection() -> None:
    """The collector resets the connection after 2 packets: the sender sees it before writing
    the next, connects again, and every byte it says was acknowledged did arrive."""
    msgs = call()
    with collector(reset_after=2) as c:
        stats = send_all(c.url, msgs, pause=0.05)
        time.sleep(0.2)
    assert stats.closed_by_collector == 1
    assert c.connections == stats.connections == 2
    assert stats.sent == 6 and stats.acked == c.received
    assert len(c.packets) == 6
    assert "the collector closed the connection once" in stats.describe()


@linux
def test_tcp_bytes_written_into_a_dead_connection_are_reported_lost() -> None:
    """The collector resets the connection after one packet: the sender learns it at its next
    write (not before), and no byte is counted acknowledged that the collector did not get.
    (The next packets go once the reset is done: sent in a burst, they race it, and on a loaded
    machine all six could be read before the reset, leaving nothing to report.)"""
    msgs = call()
    with collector(reset_after=1) as c:
        sender = HepSender(c.url, 7)
        assert sender.send(msgs[0], block=True)
        deadline = time.monotonic() + 10
        while c.reset_after is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)  # the reset has reached the sender's socket
        for m in msgs[1:]:
            assert sender.send(m, block=True)
        stats = sender.close()
        time.sleep(0.2)
    assert stats.acked == c.received <= stats.written
    assert stats.unacked == stats.written - c.received
    assert stats.closed_by_collector + stats.errors >= 1
