"""A throwaway HOMER for the tests: a PostgreSQL cluster in a temporary folder, Kamailio capture
nodes (``sipcapture``) storing the HEP they receive into its ``sip_capture`` table, and Kamailio as
a proxy mirroring its traffic as HEP (``siptrace``). The configurations and the schema are in
tests/data/homer/ (docs/hep.md shows them). Everything listens on 127.0.0.1 only, on free ports,
and is stopped by its process id.

PostgreSQL refuses to run as root: as root the cluster belongs to the ``postgres`` user that
Debian's package creates, and its programs run as that user (``subprocess``'s ``user=``), so that
a signal reaches the server itself.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import pytest

DATA = Path(__file__).resolve().parent / "data" / "homer"
SCHEMA = DATA / "sip_capture.sql"
CAPTURE_CFG = DATA / "capture.cfg"
PROXY_CFG = DATA / "proxy.cfg"
DEBS = "postgresql kamailio kamailio-postgres-modules"
INITDB = ("--no-sync", "--locale=C", "--encoding=SQL_ASCII")
"""A cluster for a test run: nothing synced, and text columns that take any byte, as SIP may."""


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parts)
    return found[-1].parent if found else None


def need_homer() -> None:
    """Skip unless PostgreSQL's server, Kamailio and its PostgreSQL module are installed."""
    modules = list(Path("/usr/lib").glob("*/kamailio/modules/db_postgres.so"))
    modules += list(Path("/usr/lib").glob("kamailio/modules/db_postgres.so"))
    if shutil.which("kamailio") is None or _pg_bin() is None or not modules:
        pytest.skip(f"a HOMER capture node needs: apt-get install {DEBS}")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_bound(transport: str, port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until something listens on ``transport`` ``port`` of 127.0.0.1; fail with ``log`` if the
    process ends first."""
    table = Path("/proc/net/udp" if transport == "udp" else "/proc/net/tcp")
    local = f"0100007F:{port:04X}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1] == local and (transport == "udp" or fields[3] == "0A"):
                return
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {transport} port {port}:\n{log.read_text()[-3000:]}")


class Row(NamedTuple):
    """The columns of ``sip_capture`` the tests compare, as HOMER stores them."""

    callid: str
    method: str
    """The request's method, or a response's status code."""
    reply_reason: str
    cseq: str
    source_ip: str
    source_port: int
    destination_ip: str
    destination_port: int
    micro_ts: int
    proto: int
    """Kamailio's transport numbers: 1 UDP, 2 TCP."""
    node: str
    """``capture_node:agent id``: the node's name and the capture id of the HEP packet."""
    msg: bytes


class Postgres:
    """A PostgreSQL cluster of its own, in a temporary folder, with a ``homer`` database."""

    def __init__(self) -> None:
        bindir = _pg_bin()
        assert bindir is not None
        self.dir = Path(tempfile.mkdtemp(prefix="sipsniff-pg-"))
        user = None
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            user = "postgres"
        data = self.dir / "data"
        subprocess.run(
            [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", *INITDB],
            check=True,
            capture_output=True,
            cwd=self.dir,
            user=user,
            group=user,
        )
        self.port = free_port()
        self.log = self.dir / "postgres.log"
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.dir),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        args = [str(bindir / "postgres"), "-D", str(data), "-p", str(self.port)]
        args += [a for k, v in settings.items() for a in ("-c", f"{k}={v}")]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                args, stdout=log, stderr=log, cwd=self.dir, user=user, group=user
            )
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/homer"
        try:
            wait_bound("tcp", self.port, self.proc, self.log)
            self.psql("CREATE DATABASE homer", db="postgres")
            self.psql(SCHEMA.read_text())
        except BaseException:
            self.stop()
            raise

    def psql(self, sql: str, db: str = "homer") -> str:
        args = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.dir)]
        args += ["-p", str(self.port), "-U", "postgres", "-d", db]
        proc = subprocess.run(args, input=sql, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def rows(self, node: str) -> list[Row]:
        """The rows stored by ``node`` (``name:agent``), in the order they were inserted."""
        assert node.replace(":", "").isalnum()
        columns = "callid, method, reply_reason, cseq, source_ip, source_port, destination_ip, "
        columns += "destination_port, micro_ts, proto, node, encode(msg, 'hex')"
        out = self.psql(
            f"COPY (SELECT {columns} FROM sip_capture WHERE node = '{node}' ORDER BY id) "
            "TO STDOUT WITH (FORMAT csv)"
        )
        return [
            Row(c, m, r, q, si, int(sp), di, int(dp), int(ts), int(p), n, bytes.fromhex(x))
            for c, m, r, q, si, sp, di, dp, ts, p, n, x in csv.reader(io.StringIO(out))
        ]

    def wait_rows(self, node: str, count: int, timeout: float = 15) -> list[Row]:
        """The rows of ``node`` once ``count`` are there (or at ``timeout``), and a moment more
        for any that should not be."""
        deadline = time.monotonic() + timeout
        while len(self.rows(node)) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)
        return self.rows(node)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Kamailio:
    """Kamailio on ``cfg`` with the defines given (``-A NAME=VALUE``, or ``-A NAME`` for None),
    in the foreground, its log in a temporary folder; ready once ``listen`` is bound."""

    def __init__(self, cfg: Path, listen: tuple[str, int], **defines: str | None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="sipsniff-kamailio-"))
        self.log = self.dir / "kamailio.log"
        transport, port = listen
        args = ["kamailio", "-f", str(cfg), "-DD", "-E", "-Y", str(self.dir), "-w", str(self.dir)]
        args += ["-A", f"LISTEN={transport}:127.0.0.1:{port}"]
        for name, value in defines.items():
            args += ["-A", name if value is None else f"{name}={value}"]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        try:
            wait_bound(transport, port, self.proc, self.log)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def capture_node(db: Postgres, transport: str, name: str) -> tuple[Kamailio, str]:
    """A capture node taking HEP on ``transport`` into ``db``; and its HEP URL."""
    port = free_port(socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM)
    defines: dict[str, str | None] = {"DB_URL": f'"{db.url}"', "NODE": f'"{name}"'}
    if transport == "tcp":
        defines["WITH_TCP"] = None
    node = Kamailio(CAPTURE_CFG, (transport, port), **defines)
    return node, f"{transport}:127.0.0.1:{port}"
