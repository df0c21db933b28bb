"""HEP over the network: the agent's sender and the collector's listener (the sockets of net/hep.py).

How this works. ``HepSender.send`` only puts the message on a bounded queue (``put_nowait``): it
never blocks the capture that calls it. A sender thread encodes each message as HEPv3 and sends it
(UDP: one datagram each; TCP: one connection, opened again after an error). When the queue is full,
or a message cannot be encoded or sent, it is dropped and counted; ``close`` sends what is queued
(for up to ``linger`` seconds) and returns the counters.

Sent is not delivered. Over UDP nothing comes back: a packet handed to the kernel is all that is
known. Over TCP the kernel knows how many bytes the collector's TCP acknowledged
(``tcpi_bytes_acked`` of ``TCP_INFO``, Linux), so each connection is accounted when it ends: bytes
written, bytes acknowledged. A collector that closes the connection (FIN or RST: it never writes
on a HEP connection) is seen before the next packet is written, so the packets written since its
last acknowledgement are counted as lost, and the next packet goes on a new connection. ``close``
half-closes the last connection and waits (within ``linger``) for the acknowledgement of its last
byte. Acknowledged is received by the collector's TCP, not stored: a capture node that cannot
parse what it gets (Kamailio without ``tcp_accept_hep3``) still acknowledges it.

``HepListener`` binds UDP and TCP sockets and hands over, a batch at a time, the HEP packets they
received with who sent them; TCP streams are cut into packets by ``net.hep.HepStream``.
"""

from __future__ import annotations

import contextlib
import queue
import select
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import NamedTuple

from sipsniff.errors import UsageError
from sipsniff.model import Message
from sipsniff.net.hep import HepStream, encode_message

DEFAULT_QUEUE = 10000
"""Messages the sender's queue holds before it drops."""
RECV_BUFFER = 8 << 20
"""Receive buffer asked for on UDP listening sockets (the kernel caps it at net.core.rmem_max)."""


class HepUrl(NamedTuple):
    """Where HEP goes or comes from: ``udp:HOST:PORT`` or ``tcp:HOST:PORT``."""

    transport: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport}:{host}:{self.port}"


def parse_hep_url(text: str) -> HepUrl:
    """Parse ``udp:HOST:PORT`` / ``tcp:HOST:PORT`` (HOST an address or name, IPv6 in brackets).

    Raises:
        UsageError: anything else.
    """
    usage = f"{text!r}: expected udp:HOST:PORT or tcp:HOST:PORT (e.g. udp:127.0.0.1:9060)"
    transport, _, rest = text.partition(":")
    transport = transport.lower()
    host, _, port = rest.rpartition(":")
    if transport not in ("udp", "tcp") or not host or not port.isdigit():
        raise UsageError(usage)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not 0 <= int(port) < 65536:
        raise UsageError(f"{text!r}: port {port} out of range")
    return HepUrl(transport, host, int(port))


def _resolve(url: HepUrl) -> tuple[int, tuple[str, int]]:
    kind = socket.SOCK_DGRAM if url.transport == "udp" else socket.SOCK_STREAM
    try:
        infos = socket.getaddrinfo(url.host, url.port, type=kind)
    except socket.gaierror as exc:
        raise UsageError(f"{url}: cannot resolve {url.host}: {exc.strerror}") from None
    family, _, _, _, addr = infos[0]
    return family, (str(addr[0]), int(addr[1]))


_TCPI_BYTES_ACKED = struct.Struct("=Q")
"""``tcpi_bytes_acked`` of Linux's ``struct tcp_info``, at offset 120 (since Linux 4.1)."""
_TCPI_BYTES_ACKED_AT = 120


def _tcp_acked(sock: socket.socket) -> int | None:
    """Bytes of data the peer acknowledged on ``sock``; None where the kernel does not say.

    ``tcpi_bytes_acked`` counts sequence space: the SYN (1) and, once acknowledged, our FIN (1).
    """
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    except (OSError, AttributeError):
        return None
    if len(info) < _TCPI_BYTES_ACKED_AT + 8:
        return None
    acked: int = _TCPI_BYTES_ACKED.unpack_from(info, _TCPI_BYTES_ACKED_AT)[0]
    return max(0, acked - 1)


@dataclass(slots=True)
class SenderStats:
    """What a ``HepSender`` did, and what it knows of what arrived."""

    transport: str = "udp"
    """``udp`` or ``tcp``: what can be known of delivery."""
    queued: int = 0
    """Messages accepted by ``send``."""
    sent: int = 0
    """HEP packets handed to the kernel."""
    dropped: int = 0
    """Messages lost before the kernel: queue full, not encodable, send error, or left in the queue
    at ``close``."""
    errors: int = 0
    """Send or connect errors (each drops a message)."""
    last_error: str = ""
    written: int = 0
    """TCP: bytes written on connections (the HEP packets sent)."""
    acked: int = 0
    """TCP: of ``written``, the bytes the collector's TCP acknowledged (0 when ``acked_known`` is
    False)."""
    acked_known: bool = True
    """False when the kernel did not say what was acknowledged (not Linux)."""
    connections: int = 0
    """TCP: connections opened."""
    closed_by_collector: int = 0
    """TCP: connections the collector closed (FIN or reset) while sipsniff was sending."""

    @property
    def unacked(self) -> int:
        """TCP: bytes written that the collector never acknowledged."""
        return self.written - self.acked if self.acked_known else 0

    def describe(self) -> str:
        """One line: what was sent and, over TCP, what the collector acknowledged."""
        if self.transport == "udp":
            text = f"{self.sent} HEP packets sent (UDP: not confirmed), {self.dropped} dropped"
        elif self.acked_known:
            text = (
                f"{self.sent} HEP packets sent, {self.acked:,} of {self.written:,} bytes "
                f"acknowledged by the collector (TCP), {self.dropped} dropped"
            )
        else:
            text = f"{self.sent} HEP packets sent (TCP: acknowledgements unknown here)"
            text += f", {self.dropped} dropped"
        if self.closed_by_collector:
            times = "once" if self.closed_by_collector == 1 else f"{self.closed_by_collector} times"
            text += f"; the collector closed the connection {times}"
        if self.errors:
            text += f" ({self.errors} send errors, last: {self.last_error})"
        return text


_STOP = object()


class HepSender:
    """Sends SIP messages as HEPv3 to a collector, from a thread, never blocking the caller.

    Args:
        url: ``udp:HOST:PORT`` or ``tcp:HOST:PORT``.
        agent_id: capture agent id carried by every packet.
        password: authentication key (chunk 0x000e), when the collector wants one.
        queue_size: messages waiting to be sent before ``send`` drops.

    Raises:
        UsageError: a bad URL or a host that does not resolve.
    """

    def __init__(
        self,
        url: str,
        agent_id: int = 0,
        password: str | None = None,
        *,
        queue_size: int = DEFAULT_QUEUE,
    ) -> None:
        self.url = parse_hep_url(url)
        self.family, self.addr = _resolve(self.url)
        self.agent_id = agent_id
        self.password = password
        self.stats = SenderStats(self.url.transport)
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._sock: socket.socket | None = None
        self._written = 0
        """Bytes written on the current TCP connection."""
        self._retry_at = 0.0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="hep-sender", daemon=True)
        self._thread.start()

    def send(self, msg: Message, *, block: bool = False) -> bool:
        """Queue one message; False (and counted as dropped) when the queue is full or closed.

        Args:
            block: wait for room instead of dropping (for files: ``read --hep``; never in live
                capture).
        """
        if self._closed:
            self.stats.dropped += 1
            return False
        try:
            self._queue.put(msg, block=block)
        except queue.Full:
            self.stats.dropped += 1
            return False
        self.stats.queued += 1
        return True

    def close(self, linger: float = 5.0) -> SenderStats:
        """Send what is queued (waiting at most ``linger`` seconds), stop; the final counters."""
        if not self._closed:
            self._closed = True
            deadline = time.monotonic() + linger
            while True:
                try:
                    self._queue.put(_STOP, timeout=max(0.0, deadline - time.monotonic()))
                    break
                except queue.Full:
                    break
            self._thread.join(max(0.0, deadline - time.monotonic()))
            if self._thread.is_alive():  # gave up: what is left is lost
                self._drain_unsent()
            elif self._sock is not None and self.url.transport == "tcp":
                self._finish_tcp(deadline)
            if self._sock is not None:
                self._hang_up()
        return self.stats

    def __enter__(self) -> HepSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        get = self._queue.get
        while True:
            item = get()
            if item is _STOP:
                return
            assert isinstance(item, Message)
            try:
                data = encode_message(item, agent_id=self.agent_id, password=self.password)
            except ValueError as exc:
                self._fail(str(exc))
                continue
            self._send(data)

    def _send(self, data: bytes) -> None:
        sock = self._sock
        if sock is not None and self.url.transport == "tcp" and self._collector_closed(sock):
            self.stats.closed_by_collector += 1
            self._hang_up()
            sock = None
        if sock is None:
            sock = self._connect()
            if sock is None:
                self.stats.dropped += 1
                return
        try:
            if self.url.transport == "udp":
                # Unconnected: an ICMP error for one packet must not fail the next send.
                sock.sendto(data, self.addr)
            else:
                sock.sendall(data)
        except OSError as exc:
            self._fail(exc.strerror or str(exc))
            self._hang_up()
            self._retry_at = time.monotonic() + (0.0 if self.url.transport == "udp" else 1.0)
            return
        self.stats.sent += 1
        if self.url.transport == "tcp":
            self._written += len(data)
            self.stats.written += len(data)

    def _connect(self) -> socket.socket | None:
        if time.monotonic() < self._retry_at:
            return None
        kind = socket.SOCK_DGRAM if self.url.transport == "udp" else socket.SOCK_STREAM
        sock = socket.socket(self.family, kind)
        try:
            if kind == socket.SOCK_STREAM:
                sock.settimeout(5.0)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.connect(self.addr)
        except OSError as exc:
            sock.close()
            self.stats.errors += 1
            self.stats.last_error = f"connect to {self.url}: {exc.strerror or exc}"
            self._retry_at = time.monotonic() + 1.0
            return None
        self._sock = sock
        self._written = 0
        if kind == socket.SOCK_STREAM:
            self.stats.connections += 1
        return sock

    def _collector_closed(self, sock: socket.socket) -> bool:
        """Whether the collector closed the connection (it never writes on it: anything readable
        is its FIN or reset; stray bytes are read and ignored)."""
        try:
            if not select.select([sock], [], [], 0)[0]:
                return False
            return sock.recv(1 << 16, socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def _finish_tcp(self, deadline: float) -> None:
        """Half-close the connection and wait, until ``deadline``, for its last byte's ack."""
        sock = self._sock
        assert sock is not None
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
        while time.monotonic() < deadline:
            acked = _tcp_acked(sock)
            if acked is None or acked >= self._written or self._collector_closed(sock):
                return
            time.sleep(0.005)

    def _hang_up(self) -> None:
        """Account the connection's acknowledged bytes and close it."""
        sock = self._sock
        if sock is None:
            return
        self._sock = None
        if sock.type == socket.SOCK_STREAM:
            acked = _tcp_acked(sock)
            if acked is None:
                self.stats.acked_known = False
            else:
                self.stats.acked += min(acked, self._written)
        with contextlib.suppress(OSError):
            sock.close()

    def _fail(self, why: str) -> None:
        self.stats.errors += 1
        self.stats.dropped += 1
        self.stats.last_error = why

    def _drain_unsent(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not _STOP:
                self.stats.dropped += 1


class Received(NamedTuple):
    """A HEP packet as the listener received it (or, for a broken TCP stream, a reason)."""

    data: bytes | str
    peer: tuple[str, int]
    """Who sent it (the agent's address)."""
    transport: str
    """``udp`` or ``tcp``: how it came."""


def _exclusive(sock: socket.socket) -> None:
    """Make this socket the only one on its address, yet able to bind again at once after a
    restart. Unix: ``SO_REUSEADDR`` on TCP only (a port left in TIME_WAIT binds; one in use does
    not); on UDP it would let a second listener share a port in use, silently, and take its
    datagrams. Windows: ``SO_REUSEADDR`` lets a second socket take a port in use, whatever the
    transport; ``SO_EXCLUSIVEADDRUSE`` refuses it (and TIME_WAIT does not stop a bind there)."""
    exclusive = getattr(socket, "SO_EXCLUSIVEADDRUSE", None)
    if exclusive is not None:
        sock.setsockopt(socket.SOL_SOCKET, exclusive, 1)
    elif sock.type == socket.SOCK_STREAM:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)


class HepListener:
    """Listens for HEP on UDP and TCP addresses.

    Args:
        urls: ``udp:HOST:PORT`` / ``tcp:HOST:PORT``, one socket each.
        max_buffer: most bytes held over all TCP connections (each holds at most a HEP packet
            under way); past it the connections holding most are closed (``capped``).

    Raises:
        UsageError: a bad URL, or an address that cannot be bound.
    """

    def __init__(self, urls: list[str], *, max_buffer: int = 256 << 20) -> None:
        self.urls = [parse_hep_url(u) for u in urls]
        self._sel = selectors.DefaultSelector()
        self._streams: dict[socket.socket, tuple[HepStream, tuple[str, int]]] = {}
        self.bound: list[HepUrl] = []
        """The URLs as bound (the port the kernel chose for port 0)."""
        self.connections = 0
        self.max_buffer = max_buffer
        self.held = 0
        """Bytes held over all TCP connections."""
        self.capped = 0
        """Connections closed, with a packet under way, to stay under ``max_buffer``."""
        try:
            for url in self.urls:
                self._bind(url)
        except BaseException:
            self.close()
            raise

    def _bind(self, url: HepUrl) -> None:
        family, addr = _resolve(url)
        kind = socket.SOCK_DGRAM if url.transport == "udp" else socket.SOCK_STREAM
        sock = socket.socket(family, kind)
        try:
            _exclusive(sock)
            if kind == socket.SOCK_DGRAM:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)
            sock.bind(addr)
            if kind == socket.SOCK_STREAM:
                sock.listen(64)
        except OSError as exc:
            sock.close()
            raise UsageError(f"cannot listen on {url}: {exc.strerror}") from None
        sock.setblocking(False)
        self._sel.register(
            sock, selectors.EVENT_READ, ("udp" if kind == socket.SOCK_DGRAM else "accept")
        )
        self.bound.append(url._replace(port=sock.getsockname()[1]))

    def poll(self, timeout: float) -> list[Received]:
        """What arrived, waiting at most ``timeout`` seconds for the first of it."""
        out: list[Received] = []
        for key, _ in self._sel.select(timeout):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            role = key.data
            if role == "udp":
                for _ in range(256):  # a batch, then look at the others
                    try:
                        data, peer = sock.recvfrom(65535)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break
                    out.append(Received(data, (str(peer[0]), int(peer[1])), "udp"))
            elif role == "accept":
                try:
                    conn, peer = sock.accept()
                except OSError:
                    continue
                conn.setblocking(False)
                self.connections += 1
                self._streams[conn] = (HepStream(), (str(peer[0]), int(peer[1])))
                self._sel.register(conn, selectors.EVENT_READ, "stream")
            else:
                if sock not in self._streams:
                    continue  # closed by _shed earlier in this batch
                stream, peer = self._streams[sock]
                try:
                    chunk = sock.recv(1 << 16)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    self._forget(sock)
                    if stream.pending:
                        out.append(
                            Received(
                                f"TCP connection closed in the middle of a HEP packet "
                                f"({stream.pending} bytes)",
                                peer,
                                "tcp",
                            )
                        )
                    continue
                before = stream.held
                out.extend(Received(item, peer, "tcp") for item in stream.feed(chunk))
                self.held += stream.held - before
                if self.held > self.max_buffer:
                    self._shed()
        return out

    def _forget(self, sock: socket.socket) -> None:
        self._sel.unregister(sock)
        sock.close()
        stream, _ = self._streams.pop(sock)
        self.held -= stream.held

    def _shed(self) -> None:
        """Over ``max_buffer``: close the connections that hold most until under it."""
        for sock, _ in sorted(self._streams.items(), key=lambda kv: -kv[1][0].held):
            if self.held <= self.max_buffer:
                return
            self._forget(sock)
            self.capped += 1

    def close(self) -> None:
        for key in list(self._sel.get_map().values()):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            self._sel.unregister(sock)
            sock.close()
        self._streams.clear()
        self.held = 0
        self._sel.close()

    def __enter__(self) -> HepListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
