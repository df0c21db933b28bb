"""The bench the labelled scenarios are recorded on: network namespaces, tcpdump, Kamailio, baresip,
sipp and SIPVicious, each started and stopped by a few lines of Python.

How this works. Every scenario runs in network namespaces of its own (``Netns``), made for it and
deleted after it, so that nothing else on the machine shows in its capture and nothing of it leaves
the machine: a single host is one namespace whose loopback carries every address the scenario
needs (``Netns.addr``); a NAT or a lossy path is two or more namespaces joined by veth pairs
(``Netns.link``). ``Capture`` runs tcpdump in a namespace and stops it once the last packet was
written. The peers are the real programs from Debian, configured from files written here:

* ``Kamailio``: a registrar and proxy with digest authentication (401 to REGISTER, 407 to other
  requests, qop=auth or none), Record-Route, parallel forking to every registered contact,
  accounts that can be locked (403 to their credentials), NAT fix-ups (rport, received, Contact);
  ``kamailio.cfg`` beside this module, switched by ``-A`` defines;
* ``Baresip``: a softphone driven through its stdin (``/dial``, ``/hangup``...), sending a sine
  tone as its microphone; its output is read to wait for "Call established" and the like;
* ``Sipp``: scripted user agents (the XML scenarios in ``sipp/`` beside this module);
* ``sipvicious``: ``svmap``, ``svwar`` and ``svcrack`` run as they are.

Needs root (namespaces, raw capture) and the Debian packages ``kamailio``, ``baresip-core``,
``sip-tester``, ``sipvicious``, ``tcpdump`` and ``iproute2``; ``missing_tools`` says what is absent.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Literal, overload

HERE = Path(__file__).resolve().parent
SIPP_DIR = HERE / "sipp"
KAMAILIO_CFG = HERE / "kamailio.cfg"
KAMAILIO_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"

TOOLS = {
    "ip": "iproute2",
    "tcpdump": "tcpdump",
    "kamailio": "kamailio",
    "baresip": "baresip-core",
    "sipp": "sip-tester",
    "svcrack": "sipvicious",
    "nft": "nftables",
    "iptables": "iptables",
}
"""Programs the recipes use, and the Debian package of each."""


class BenchError(RuntimeError):
    """A peer did not start or did not do what the scenario needs: the recording is void."""


def missing_tools() -> list[str]:
    """Debian packages the bench needs that are not installed (and "root" without root)."""
    out = [pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None]
    if os.geteuid() != 0:
        out.append("root")
    return out


_numbers = itertools.count(1)


def _unique(hint: str) -> str:
    """A name no other namespace or interface of this machine has (15 characters at most)."""
    clean = re.sub(r"[^a-z0-9]", "", hint.lower())[:5] or "ns"
    return f"s{clean}{os.getpid() % 100000}x{next(_numbers)}"


class Netns:
    """A network namespace of the scenario's own, loopback up; processes started in it are killed
    and the namespace deleted on ``close`` (or at the end of a ``with``)."""

    def __init__(self, hint: str = "ns") -> None:
        self.name = _unique(hint)
        subprocess.run(["ip", "netns", "add", self.name], check=True, capture_output=True)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.run(["ip", "link", "set", "lo", "up"])

    def __enter__(self) -> Netns:
        return self

    def __exit__(
        self,
        typ: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def cmd(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside this namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def run(
        self, argv: Sequence[str], *, check: bool = True, timeout: float = 60, **kw: object
    ) -> subprocess.CompletedProcess[str]:
        """Run to the end inside the namespace; output captured as text."""
        proc = subprocess.run(
            self.cmd(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **kw,  # type: ignore[call-overload]
        )
        if check and proc.returncode != 0:
            raise BenchError(
                f"{' '.join(argv)} exited {proc.returncode}: {(proc.stderr or proc.stdout)[-800:]}"
            )
        return proc  # type: ignore[no-any-return]

    def popen(self, argv: Sequence[str], **kw: object) -> subprocess.Popen[bytes]:
        """Start in the namespace; killed (with its process group) on ``close``."""
        proc = subprocess.Popen(self.cmd(argv), start_new_session=True, **kw)  # type: ignore[call-overload]
        self.procs.append(proc)
        return proc  # type: ignore[no-any-return]

    def addr(self, cidr: str, dev: str = "lo") -> None:
        """Add an address (``192.168.56.10/32``, ``fd00::10/128``) to an interface."""
        self.run(["ip", "addr", "add", cidr, "dev", dev, *(["nodad"] if ":" in cidr else [])])

    def link(
        self, other: Netns, mine: str, theirs: str, *, dev: str = "", other_dev: str = ""
    ) -> tuple[str, str]:
        """A veth pair from this namespace to ``other``, up, with ``mine`` / ``theirs`` (CIDR) on
        its two ends; returns the two interface names."""
        a = dev or _unique("va")[:15]
        b = other_dev or _unique("vb")[:15]
        subprocess.run(
            ["ip", "link", "add", a, "netns", self.name, "type", "veth", "peer", "name", b,
             "netns", other.name],
            check=True,
            capture_output=True,
        )  # fmt: skip
        for ns, ifname, cidr in ((self, a, mine), (other, b, theirs)):
            ns.run(["ip", "addr", "add", cidr, "dev", ifname, *(["nodad"] if ":" in cidr else [])])
            ns.run(["ip", "link", "set", ifname, "up"])
        return a, b

    def route(self, *args: str) -> None:
        self.run(["ip", "route", "add", *args])

    def sysctl(self, key: str, value: str) -> None:
        self.run(["sysctl", "-q", "-w", f"{key}={value}"])

    def close(self) -> None:
        for proc in reversed(self.procs):
            stop(proc)
        self.procs.clear()
        subprocess.run(["ip", "netns", "del", self.name], check=False, capture_output=True)


def stop(
    proc: subprocess.Popen[bytes],
    sig: int = signal.SIGTERM,
    timeout: float = 5,
    *,
    close: bool = True,
) -> None:
    """Signal a process started by ``Netns.popen`` (its whole group) and wait; kill if it lingers.
    Its pipes are closed then (unless ``close`` is False: a thread still reads them)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)
    if not close:
        return
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


class Capture:
    """tcpdump in a namespace, writing a pcap; ``stop`` returns once every packet is written."""

    def __init__(self, ns: Netns, out: Path, iface: str = "lo", bpf: str = "") -> None:
        self.out = out
        out.parent.mkdir(parents=True, exist_ok=True)
        # --immediate-mode: packets reach the file as they come; without it the last ones, still
        # in the kernel buffer when tcpdump is stopped, are lost
        argv = ["tcpdump", "-i", iface, "-s", "0", "-U", "-n", "--immediate-mode", "-w", str(out)]
        if bpf:
            argv.append(bpf)
        self.proc = ns.popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline().decode(errors="replace")
        if "listening" not in line:
            raise BenchError(f"tcpdump did not start: {line.strip()}")
        time.sleep(0.2)

    def stop(self, settle: float = 0.5) -> Path:
        time.sleep(settle)
        stop(self.proc, signal.SIGINT)
        if not self.out.exists() or self.out.stat().st_size <= 24:
            raise BenchError(f"tcpdump wrote nothing to {self.out}")
        return self.out

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.stop(0)


# -- Kamailio ------------------------------------------------------------------------------------

DEFINES = ("WITH_QOP", "WITH_RR", "WITH_NAT", "WITH_INVITE_AUTH", "WITH_MIN_EXPIRES")
"""Switches of ``kamailio.cfg``: qop=auth in challenges, Record-Route on dialog-forming
requests, NAT fix-ups (rport, received, Contact), 407 to INVITEs from local accounts, 423 to a
REGISTER asking for less than 10 s (else raised to 10 s silently)."""


class Kamailio:
    """Kamailio 5.6 as registrar and proxy, domain ``domain``, listening on ``listen``
    (``udp:IP:PORT`` items; ``tcp:`` too); accounts ``users`` (user -> password) of which ``locked``
    ones get 403 to their credentials."""

    def __init__(
        self,
        ns: Netns,
        listen: Sequence[str],
        users: dict[str, str],
        *,
        domain: str = "pbx.test",
        defines: Sequence[str] = ("WITH_QOP", "WITH_RR", "WITH_INVITE_AUTH"),
        locked: Sequence[str] = (),
        fr_inv_timeout_ms: int = 30000,
        extra_aliases: Sequence[str] = (),
    ) -> None:
        for d in defines:
            if d not in DEFINES:
                raise ValueError(f"unknown define {d}: use {DEFINES}")
        self.ns = ns
        self.dir = Path(tempfile.mkdtemp(prefix="kam-"))
        lines = ["event_route[htable:mod-init] {"]
        for user, password in users.items():
            lines.append(f'    $sht(pw=>{user}) = "{password}";')
        for user in locked:
            lines.append(f"    $sht(locked=>{user}) = 1;")
        lines.append("}")
        (self.dir / "users.cfg").write_text("\n".join(lines) + "\n")
        cfg = KAMAILIO_CFG.read_text()
        cfg = cfg.replace("@DIR@", str(self.dir)).replace("@DOMAIN@", domain)
        cfg = cfg.replace("@FR_INV@", str(fr_inv_timeout_ms)).replace("@MODULES@", KAMAILIO_MODULES)
        aliases = "\n".join(f'alias="{a}"' for a in (domain, *extra_aliases))
        cfg = cfg.replace("@ALIASES@", aliases)
        (self.dir / "kamailio.cfg").write_text(cfg)
        argv = ["kamailio", "-f", str(self.dir / "kamailio.cfg"), "-DD", "-E"]
        argv += ["-w", str(self.dir), "-Y", str(self.dir)]
        for item in listen:
            argv += ["-l", item]
        for d in defines:
            argv += ["-A", d]
        self.log = (self.dir / "kamailio.log").open("wb")
        self.proc = ns.popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_listening(listen)

    def _wait_listening(self, listen: Sequence[str]) -> None:
        deadline = time.monotonic() + 10
        want = {item.split(":", 1)[0] for item in listen}
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"kamailio exited: {self.log_text()[-1500:]}")
            out = self.ns.run(["ss", "-lnup" if want == {"udp"} else "-lnp"], check=False).stdout
            if "kamailio" in out:
                time.sleep(0.3)
                return
            time.sleep(0.1)
        raise BenchError(f"kamailio did not listen: {self.log_text()[-1500:]}")

    def log_text(self) -> str:
        self.log.flush()
        return (self.dir / "kamailio.log").read_text(errors="replace")

    def close(self) -> None:
        stop(self.proc)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


# -- baresip -------------------------------------------------------------------------------------

BARESIP_CONFIG = """\
poll_method		epoll
sip_listen		{listen}
sip_trans_def		{transport}
net_interface		{ip}
audio_player		aufile,/dev/null
audio_source		ausine,440
ausrc_srate		48000
ausrc_channels		2
auplay_srate		48000
audio_alert		aufile,/dev/null
rtp_ports		{rtp_ports}
module_path		/usr/lib/baresip/modules
module			stdio.so
module			g711.so
module			ausine.so
module			aufile.so
module_app		account.so
module_app		menu.so
module_app		contact.so
{extra}
"""


class Baresip:
    """baresip 1.0 as a softphone: one account (``aor`` with its parameters, e.g.
    ``<sip:alice@pbx.test>;auth_pass=pw;outbound="sip:127.0.0.1:5060";answermode=manual``),
    listening on ``ip:port``; commands go to its stdin, its output is kept to wait on."""

    def __init__(
        self,
        ns: Netns,
        ip: str,
        port: int,
        account: str,
        *,
        transport: str = "udp",
        rtp_ports: str = "10000-10100",
        extra: str = "",
    ) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="baresip-"))
        host = f"[{ip}]" if ":" in ip else ip
        (self.dir / "config").write_text(
            BARESIP_CONFIG.format(
                listen=f"{host}:{port}",
                transport=transport,
                ip=ip,
                rtp_ports=rtp_ports,
                extra=extra,
            )
        )
        (self.dir / "accounts").write_text(account + "\n")
        (self.dir / "contacts").write_text("\n")
        self.proc = ns.popen(
            ["baresip", "-f", str(self.dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.wait_for("baresip is ready")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            text = re.sub(r"\x1b\[[0-9;]*m", "", raw.decode(errors="replace")).rstrip()
            with self._cond:
                self.lines.append(text)
                self._cond.notify_all()

    def wait_for(self, pattern: str, timeout: float = 10, after: int = 0) -> str:
        """Wait for an output line (from line number ``after`` on) matching ``pattern``."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[after:]:
                    if rx.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    tail = "\n".join(self.lines[-30:])
                    raise BenchError(f"baresip: no line matching {pattern!r}; its output:\n{tail}")
                self._cond.wait(left)

    def mark(self) -> int:
        """The number of output lines so far, for ``wait_for(after=...)``."""
        with self._cond:
            return len(self.lines)

    def cmd(self, line: str) -> None:
        """Type a command (``/dial sip:bob@pbx.test``, ``/hangup``, ``/accept``...)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def close(self, quit_wait: float = 1.5) -> None:
        """Quit as a user does (``/quit``: unregisters, then exits), or stop it."""
        if self.proc.poll() is None:
            with contextlib.suppress(BrokenPipeError):
                self.cmd("/quit")
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(quit_wait)
        stop(self.proc, close=False)
        self._reader.join(5)  # it reads to the end of the output, then the pipes can go
        stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


# -- sipp ----------------------------------------------------------------------------------------


@overload
def sipp(
    ns: Netns,
    scenario: str,
    *,
    ip: str,
    port: int,
    remote: str | None = None,
    calls: int = 1,
    args: Sequence[str] = (),
    background: Literal[True],
    timeout: float = 60,
) -> subprocess.Popen[bytes]: ...


@overload
def sipp(
    ns: Netns,
    scenario: str,
    *,
    ip: str,
    port: int,
    remote: str | None = None,
    calls: int = 1,
    args: Sequence[str] = (),
    background: Literal[False] = False,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]: ...


def sipp(
    ns: Netns,
    scenario: str,
    *,
    ip: str,
    port: int,
    remote: str | None = None,
    calls: int = 1,
    args: Sequence[str] = (),
    background: bool = False,
    timeout: float = 60,
) -> subprocess.Popen[bytes] | subprocess.CompletedProcess[str]:
    """Run sipp with ``scenario`` (a file in ``sipp/``, or a path) from ``ip:port``; a client
    when ``remote`` is given. In the background for a server (stopped with its namespace)."""
    path = Path(scenario) if "/" in scenario else SIPP_DIR / scenario
    argv = ["sipp", "-sf", str(path), "-i", ip, "-p", str(port), "-m", str(calls), "-nostdin"]
    argv += list(args)
    if remote is not None:
        argv.append(remote)
    if background:
        return ns.popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/tmp")
    return ns.run(argv, timeout=timeout, check=True, cwd="/tmp")


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    """A temporary directory removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="scenario-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def phone(
    ns: Netns,
    user: str,
    password: str,
    ip: str,
    port: int,
    *,
    proxy: str = "127.0.0.1:5060",
    domain: str = "pbx.test",
    params: str = "",
    rtp_ports: str = "",
    register: bool = True,
    extra: str = "",
) -> Baresip:
    """A baresip phone with account ``user@domain`` through ``proxy`` (registered, and waited for,
    unless ``register`` is False); ``params``: more account parameters (``;answermode=auto``).
    RTP ports default to a range of its own derived from ``port``."""
    ports = rtp_ports or f"{10000 + (port % 100) * 100}-{10000 + (port % 100) * 100 + 98}"
    reg = ";regint=3600" if register else ";regint=0"
    account = f'<sip:{user}@{domain}>;auth_pass={password};outbound="sip:{proxy}"{reg}{params}'
    b = Baresip(ns, ip, port, account, rtp_ports=ports, extra=extra)
    if register:
        b.wait_for(r"registered successfully|\[1 binding\]")
    return b


# -- the recipes ---------------------------------------------------------------------------------

Recipe = Callable[[Path], None]
RECIPES: dict[str, Recipe] = {}
"""Recipes by scenario name: each writes the scenario's pcap to the path it is given."""


def recipe(name: str) -> Callable[[Recipe], Recipe]:
    """Register a recipe under a scenario name (the stem of its pcap and label files)."""

    def add(fn: Recipe) -> Recipe:
        if name in RECIPES:
            raise ValueError(f"two recipes named {name}")
        RECIPES[name] = fn
        return fn

    return add
