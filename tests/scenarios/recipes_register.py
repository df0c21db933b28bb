"""Recipes of registrations and their authentication: real softphones (baresip, linphone) and sipp
registering with a real registrar (Kamailio), with right, wrong and missing credentials, a locked
account, a registrar that is down, refreshes, unregistering, TCP, and a burst of many users.

Each recipe says, in its docstring, what it does and with which timing; the label files are
written from that (and from the peers' own output), never from sipsniff's. The helpers here (a
linphone console, baresip accounts of any shape, an nft rule that drops SIP) belong to this group.

Peer behaviour these recipes rely on (seen on baresip 1.0.0 / libre 1.1.0 and linphonec 5.1.65):

* baresip answers every 401 with credentials, even wrong or empty ones: libre's REGISTER client
  stops only after 16 answers of the same status in a row (``sip_request_loops``), then waits 30 to
  60 s (``failwait``) before it tries again. A baresip account without ``auth_pass`` answers the
  challenge with an empty password: it cannot leave a challenge unanswered.
* baresip sends every refresh and its un-REGISTER without credentials first (challenged again).
* linphonec asks its user for a password when a challenge finds no credentials, or when its
  credentials were refused, and sends nothing until one is typed (nor does it do anything else:
  its main loop is stopped at the prompt).
* linphonec needs its database directory ($HOME/.local/share/linphone) to exist; without it the
  core never starts its network monitor, never opens a SIP port and sends nothing.
"""

from __future__ import annotations

import contextlib
import os
import pty
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from tests.scenarios.harness import (
    Baresip,
    BenchError,
    Capture,
    Kamailio,
    Netns,
    recipe,
    sipp,
    stop,
)

SETTLE = 1.5
"""Seconds between the last event and the end of the capture (tcpdump writes in blocks)."""

USERS = {"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret"}
PBX = "127.0.0.1:5060"
NO_QOP = ("WITH_RR", "WITH_INVITE_AUTH")
"""Kamailio's defines without WITH_QOP: RFC 2069-style challenges (no qop, no cnonce, no nc)."""


# -- helpers -------------------------------------------------------------------------------------


def softphone(
    ns: Netns,
    user: str,
    password: str | None,
    port: int,
    *,
    regint: int = 3600,
    params: str = "",
    transport: str = "udp",
    proxy: str = PBX,
    more_accounts: tuple[str, ...] = (),
) -> Baresip:
    """A baresip phone on 127.0.0.1:``port`` with account ``user@pbx.test`` (no ``auth_pass`` when
    ``password`` is None) registering every ``regint`` s through ``proxy``; not waited for.
    ``more_accounts``: more users on the same phone (lines), same password and parameters."""
    tp = "" if transport == "udp" else f";transport={transport}"
    lines = []
    for u in (user, *more_accounts):
        auth = "" if password is None else f";auth_pass={password}"
        lines.append(f'<sip:{u}@pbx.test>{auth};outbound="sip:{proxy}{tp}";regint={regint}{params}')
    rtp = f"{10000 + (port % 100) * 100}-{10000 + (port % 100) * 100 + 98}"
    return Baresip(ns, "127.0.0.1", port, "\n".join(lines), transport=transport, rtp_ports=rtp)


def drop_sip(ns: Netns, port: int = 5060) -> None:
    """A firewall in ``ns`` that silently drops what comes in to UDP ``port`` (no ICMP back):
    tcpdump on lo still sees each packet leave."""
    ns.run(["nft", "add", "table", "inet", "downed"])
    ns.run(["nft", "add chain inet downed input { type filter hook input priority 0 ; }"])
    ns.run(["nft", "add", "rule", "inet", "downed", "input", "udp", "dport", str(port), "drop"])


LINPHONE_RC = """\
[sip]
sip_port={port}
sip_tcp_port=0
sip_tls_port=0
use_ipv6=0
default_proxy=0
[rtp]
audio_rtp_port={rtp_port}
video_rtp_port={video_port}
[video]
enabled=0
capture=0
display=0
[proxy_0]
reg_proxy=<sip:{proxy}>
reg_identity=sip:{user}@{domain}
reg_expires={expires}
reg_sendregister=1
publish=0
"""

LINPHONE_AUTH = """\
[auth_info_0]
username={user}
passwd={password}
realm={domain}
domain={domain}
"""


class Linphonec:
    """linphonec 5.1.65 (liblinphone, belle-sip) with one account ``user@domain`` registering
    through ``proxy``, on 127.0.0.1:``port`` (UDP); no credentials at all when ``password`` is
    None. Runs on a pseudo-terminal (its prompts and answers come line by line); commands are
    typed with ``cmd``. When a challenge finds no credentials, or its credentials were refused,
    it prints ``Password for USER on REALM:`` and waits: anything typed then is the password."""

    def __init__(
        self,
        ns: Netns,
        user: str,
        password: str | None,
        port: int,
        *,
        proxy: str = PBX,
        domain: str = "pbx.test",
        expires: int = 3600,
    ) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="linphonec-"))
        # without its database directory the core never starts its network monitor: no SIP port
        (self.dir / ".local" / "share" / "linphone").mkdir(parents=True)
        rtp = 20000 + (port % 100) * 10
        rc = LINPHONE_RC.format(
            port=port,
            rtp_port=rtp,
            video_port=rtp + 2,
            proxy=proxy,
            user=user,
            domain=domain,
            expires=expires,
        )
        if password is not None:
            rc += LINPHONE_AUTH.format(user=user, password=password, domain=domain)
        (self.dir / "linphonerc").write_text(rc)
        self.log = self.dir / "log"
        master, slave = pty.openpty()
        self._fd = master
        env = dict(os.environ, HOME=str(self.dir), TERM="dumb")
        self.proc = ns.popen(
            ["linphonec", "-c", str(self.dir / "linphonerc"), "-d", "6", "-l", str(self.log)],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
        )
        os.close(slave)
        self.lines: list[str] = []
        self._partial = ""
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", chunk.decode(errors="replace"))
            with self._cond:
                self._partial += text.replace("\r", "")
                *done, self._partial = self._partial.split("\n")
                self.lines.extend(done)
                self._cond.notify_all()

    def _all(self, after: int) -> list[str]:
        return [*self.lines[after:], self._partial]

    def wait_for(self, pattern: str, timeout: float = 10, after: int = 0) -> str:
        """Wait for output (a line, or the prompt being written) matching ``pattern``."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self._all(after):
                    if rx.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    tail = "\n".join(self._all(max(0, len(self.lines) - 30)))
                    raise BenchError(
                        f"linphonec: nothing matching {pattern!r}; its output:\n{tail}"
                    )
                self._cond.wait(min(left, 0.2))

    def mark(self) -> int:
        with self._cond:
            return len(self.lines)

    def wait_log(self, pattern: str, timeout: float = 10) -> str:
        """Wait for a line of its debug log matching ``pattern`` (registration states: ``moving
        from state [LinphoneRegistrationProgress] to [LinphoneRegistrationFailed]``)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            text = self.log.read_text(errors="replace") if self.log.exists() else ""
            for line in text.splitlines():
                if rx.search(line):
                    return line
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise BenchError(f"linphonec: no log line matching {pattern!r}")
            time.sleep(0.1)

    def cmd(self, line: str) -> None:
        os.write(self._fd, line.encode() + b"\n")

    def wait_registered(self, timeout: float = 10) -> None:
        """Ask ``status register`` until it says registered (only when no password prompt can be
        up: the question would be taken as the password)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mark = self.mark()
            self.cmd("status register")
            line = self.wait_for(r"registered(=|, identity=)", after=mark)
            if "identity=" in line:
                return
            time.sleep(0.2)
        raise BenchError("linphonec did not register")

    def close(self, quit_wait: float = 3) -> None:
        """Quit as a user does (``quit``: unregisters, then exits), or stop it: when a password
        prompt is up, ``kill`` it instead (``quit`` would be taken as the password)."""
        if self.proc.poll() is None:
            self.cmd("quit")
            try:
                self.proc.wait(quit_wait)
            except subprocess.TimeoutExpired:
                stop(self.proc)
        self._shut()

    def kill(self) -> None:
        stop(self.proc)
        self._shut()

    def _shut(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)
        shutil.rmtree(self.dir, ignore_errors=True)


def kill(b: Baresip | None) -> None:
    """Stop a baresip at once (SIGKILL): with a transaction pending (a registrar that never
    answers), /quit and SIGTERM both wait for it to time out (up to 32 s)."""
    if b is not None:
        stop(b.proc, signal.SIGKILL)
        shutil.rmtree(b.dir, ignore_errors=True)


def close_all(*peers: Baresip | Linphonec | Kamailio | None) -> None:
    """Close peers in order, skipping those that never started."""
    for p in peers:
        if p is not None:
            p.close()


# -- the recipes ---------------------------------------------------------------------------------


@recipe("register-ok")
def register_ok(out: Path) -> None:
    """One laptop (127.0.0.1): Kamailio on :5060 as registrar (401 with qop=auth); baresip alice
    on :5070 registers (Expires 3600): REGISTER, 401, REGISTER with the right credentials, 200
    with its binding. The capture goes on 1.5 s and stops before the phone quits: alice stays
    registered."""
    with Netns("regok") as ns:
        cap = Capture(ns, out)
        pbx = Kamailio(ns, [f"udp:{PBX}"], USERS)
        alice = None
        try:
            alice = softphone(ns, "alice", USERS["alice"], 5070)
            alice.wait_for(r"registered successfully")
            cap.stop(SETTLE)
        finally:
            close_all(alice, pbx)


@recipe("register-noqop")
def register_noqop(out: Path) -> None:
    """One laptop (127.0.0.1): Kamailio on :5060 as registrar whose challenges carry no qop
    (RFC 2069-style digest: no cnonce, no nc); linphonec bob on :5080 registers (Expires 3600):
    REGISTER, 401, REGISTER with the right credentials, 200. The capture goes on 1.5 s after
    linphonec says it is registered and stops before it quits: bob stays registered."""
    with Netns("regnq") as ns:
        cap = Capture(ns, out)
        pbx = Kamailio(ns, [f"udp:{PBX}"], USERS, defines=NO_QOP)
        bob = None
        try:
            bob = Linphonec(ns, "bob", USERS["bob"], 5080)
            bob.wait_registered()
            cap.stop(SETTLE)
        finally:
            close_all(bob, pbx)


@recipe("register-refresh")
def register_refresh(out: Path) -> None:
    """One laptop (127.0.0.1): Kamailio on :5060 (401 with qop=auth, shortest binding 10 s);
    baresip alice on :5070 asks for 10 s bindings and refreshes at half of what it is granted
    (regint=10, rwait=50): it registers at 0 s (REGISTER, 401, REGISTER with credentials, 200),
    then refreshes at 5 s and at 10 s in the same Call-ID, each refresh sent first without
    credentials, so challenged again (401) and repeated with them (200). The capture stops 12 s
    after the phone started, before the next refresh (15 s) and before the phone quits."""
    with Netns("regrf") as ns:
        cap = Capture(ns, out)
        pbx = Kamailio(ns, [f"udp:{PBX}"], USERS)
        alice = None
        try:
            alice = softphone(ns, "alice", USERS["alice"], 5070, regint=10, params=";rwait=50")
            start = time.monotonic()
            alice.wait_for(r"registered successfully")
            time.sleep(max(0.0, 12 - (time.monotonic() - start) - SETTLE))
            cap.stop(SETTLE)
        finally:
            close_all(alice, pbx)


@recipe("register-unregister")
def register_unregister(out: Path) -> None:
    """One laptop (127.0.0.1): Kamailio on :5060 (401 with qop=auth); baresip alice on :5070
    registers (REGISTER, 401, REGISTER with credentials, 200), then 1 s later the user quits
    (/quit): baresip un-registers in the same Call-ID (REGISTER with Expires 0 for its contact,
    challenged again: 401, repeated with credentials: 200 with no binding left) and exits. The
    capture stops 1.5 s after it exited."""
    with Netns("regun") as ns:
        cap = Capture(ns, out)
        pbx = Kamailio(ns, [f"udp:{PBX}"], USERS)
        alice = None
        try:
            alice = softphone(ns, "alice", USERS["alice"], 5070)
            alice.wait_for(r"registered successfully")
            time.sleep(1)
            alice.close(quit_wait=5)
            if alice.proc.returncode is None:
                raise BenchError("baresip did not exit after /quit")
            alice = None
            cap.stop(SETTLE)
        finally:
            close_all(alice, pbx)


@recipe("register-wrong-password")
def register_wrong_password(out: Path) -> None:
    """One laptop (127.0.0.1): Kamailio on :5060 (401 with qop=auth); baresip alice on :5070 is
    configured with a wrong password. REGISTER, 401; baresip answers with its (wrong) credentials,
    Kamailio refuses them with a fresh 401, and baresip answers that one too, in the same Call-ID,
    without delay: 16 REGISTERs in all (1 without credentials, 15 with the same wrong password),
    16 401s, within a few ms, until libre's loop guard stops it (16 answers of the same status in a
    row). It would try again after 30 to 60 s: the capture stops 3 s after baresip reported the
    failure, before it does, and before the phone quits."""
    with Netns("regwp") as ns:
        cap = Capture(ns, out)
        pbx = Kamailio(ns, [f"udp:{PBX}"], USERS)
        alice = None
        try:
            alice = softphone(ns, "alice", "not-the-secret", 5070)
            alice.wait_for(r"401 Unauthorized")
            time.sleep(3 - SETTLE)
            cap.stop(SETTLE)
        finally:
            close_all(alice, pbx)


@recipe("register-wrong-password-linphone")
def register_wrong_password_linphone(out: Path) -> None:
    """One laptop (127.0.0.1): Kamailio on :5060 (401, no qop); linphonec bob on :5080 is
    configured with a wrong password: REGISTER, 401, REGISTER with its (wrong) credentials, 401
    again. linphonec gives up at once (registration state Failed; it neither asks its user nor
    tries again: it was seen silent for 15 s after). The capture stops 3 s after the failure;
    linphonec is then killed (it never unregisters: it was never registered)."""
    with Netns("regwl") as ns:
        cap = Capture(ns, out)
        pbx = Kamailio(ns, [f"udp:{PBX}"], USERS, defines=NO_QOP)
        bob = None
        try:
            bob = Linphonec(ns, "bob", "not-the-secret", 5080)
            bob.wait_log(r"to \[LinphoneRegistrationFailed\]")
            time.sleep(3 - SETTLE)
            cap.stop(SETTLE)
        finally:
            if bob is not None:
                bob.kill()
            pbx.close()


@recipe("register-locked")
def register_locked(out: Path) -> None:
    """One laptop (127.0.0.1): Kamailio on :5060 (401 with qop=auth) where carol's account is
    locked; baresip carol on :5070, with her right password: REGISTER, 401, REGISTER with the
    right credentials, 403 "Forbidden - account locked". baresip gives up (it would try again after
    30 to 60 s): the capture stops 3 s after baresip reported the 403, before the phone quits."""
    with Netns("reglk") as ns:
        cap = Capture(ns, out)
        pbx = Kamailio(ns, [f"udp:{PBX}"], USERS, locked=["carol"])
        carol = None
        try:
            carol = softphone(ns, "carol", USERS["carol"], 5070)
            carol.wait_for(r"403 Forbidden")
            time.sleep(3 - SETTLE)
            cap.stop(SETTLE)
        finally:
            close_all(carol, pbx)


@recipe("register-no-credentials")
def register_no_credentials(out: Path) -> None:
    """One laptop (127.0.0.1): Kamailio on :5060 (401 with qop=auth); linphonec bob on :5080 has
    an account but no password at all: REGISTER, 401. linphonec finds no credentials for the realm
    and asks its user for a password (``Password for bob on pbx.test:``); nobody types, so the
    challenge is never answered. The capture stops 3 s after the prompt; linphonec is then
    killed."""
    with Netns("regnc") as ns:
        cap = Capture(ns, out)
        pbx = Kamailio(ns, [f"udp:{PBX}"], USERS)
        bob = None
        try:
            bob = Linphonec(ns, "bob", None, 5080)
            bob.wait_for(r"Password for bob on pbx\.test")
            time.sleep(3 - SETTLE)
            cap.stop(SETTLE)
        finally:
            if bob is not None:
                bob.kill()
            pbx.close()


@recipe("register-server-down")
def register_server_down(out: Path) -> None:
    """One laptop (127.0.0.1) whose registrar is down: nothing listens on :5060 and a firewall
    drops what comes to it (no ICMP either). baresip alice on :5070 sends one REGISTER and, with
    no response, resends it (RFC 3261 Timer E: 0.5, 1, 2, 4, 4 s apart) at 0, 0.5, 1.5, 3.5, 7.5 and
    11.5 s: one request, sent 6 times, never answered. The capture stops 13.5 s after the first,
    before the next copy (15.5 s) and before Timer F (32 s) ends the transaction."""
    with Netns("regdn") as ns:
        drop_sip(ns)
        cap = Capture(ns, out)
        alice = None
        try:
            alice = softphone(ns, "alice", USERS["alice"], 5070)
            time.sleep(13.5 - SETTLE)
            cap.stop(SETTLE)
        finally:
            kill(alice)


@recipe("register-server-down-2lines")
def register_server_down_2lines(out: Path) -> None:
    """As register-server-down, with a phone of two lines: baresip on :5070 with accounts alice
    and bob sends two REGISTERs (two Call-IDs) to :5060, where nothing answers and a firewall drops
    everything (no ICMP); each is resent at 0.5, 1.5, 3.5, 7.5 and 11.5 s: two requests, each sent
    6 times, never answered. The capture stops 13.5 s after the first."""
    with Netns("regd2") as ns:
        drop_sip(ns)
        cap = Capture(ns, out)
        phone = None
        try:
            phone = softphone(ns, "alice", "line-secret", 5070, more_accounts=("bob",))
            time.sleep(13.5 - SETTLE)
            cap.stop(SETTLE)
        finally:
            kill(phone)


BURST_USERS = {f"{100 + i}": f"pw-{100 + i}-{'xkcdqwerty'[i % 10]}{i * 7}" for i in range(1, 17)}
"""16 extensions (101..116) and their passwords."""


@recipe("register-burst-ok")
def register_burst_ok(out: Path) -> None:
    """One laptop (127.0.0.1): Kamailio on :5060 (401 with qop=auth) with 16 accounts, 101 to
    116; sipp on :5090 (one address, one port: like an office's phones behind one NAT after a
    power cut, or an SBC registering its users) registers all 16 at 20 per second (0.75 s from
    first to last), from an injection file of the users and their right passwords: for each, in
    its own Call-ID, REGISTER, 401, REGISTER with the right credentials, 200. No phone quits."""
    with Netns("regbu") as ns, contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="regburst-")))
        csv = tmp / "users.csv"
        csv.write_text("SEQUENTIAL\n" + "".join(f"{u};{p}\n" for u, p in BURST_USERS.items()))
        cap = Capture(ns, out)
        pbx = Kamailio(ns, [f"udp:{PBX}"], BURST_USERS)
        try:
            sipp(
                ns,
                "reg_users.xml",
                ip="127.0.0.1",
                port=5090,
                remote=PBX,
                calls=len(BURST_USERS),
                args=["-inf", str(csv), "-r", "20", "-rp", "1000", "-key", "domain", "pbx.test"],
                timeout=20,
            )
            cap.stop(SETTLE)
        finally:
            pbx.close()


@recipe("register-tcp")
def register_tcp(out: Path) -> None:
    """One laptop (127.0.0.1): Kamailio listening on UDP and TCP :5060 (401 with qop=auth);
    baresip alice on :5070 registers over TCP (one connection from an ephemeral port): REGISTER,
    401, REGISTER with the right credentials, 200. The capture stops 1.5 s later, before the phone
    quits: alice stays registered, the connection stays open."""
    with Netns("regtc") as ns:
        cap = Capture(ns, out)
        pbx = Kamailio(ns, [f"udp:{PBX}", f"tcp:{PBX}"], USERS)
        alice = None
        try:
            alice = softphone(ns, "alice", USERS["alice"], 5070, transport="tcp")
            alice.wait_for(r"registered successfully")
            cap.stop(SETTLE)
        finally:
            close_all(alice, pbx)


@recipe("register-interval-too-brief")
def register_interval_too_brief(out: Path) -> None:
    """One laptop (127.0.0.1): Kamailio on :5060 (401 with qop=auth) that refuses bindings shorter
    than 10 s with 423 Interval Too Brief (Min-Expires: 10); baresip alice on :5070 asks for 5 s
    (regint=5): REGISTER, 401, REGISTER with the right credentials (expires=5), 423, and baresip
    at once asks again for what the registrar allows, with its credentials (expires=10): 200,
    all in one Call-ID. The capture stops 1.5 s later, before any refresh (at 9 s) and before the
    phone quits: alice stays registered."""
    with Netns("reg423") as ns:
        cap = Capture(ns, out)
        pbx = Kamailio(ns, [f"udp:{PBX}"], USERS, defines=("WITH_QOP", "WITH_MIN_EXPIRES"))
        alice = None
        try:
            alice = softphone(ns, "alice", USERS["alice"], 5070, regint=5)
            alice.wait_for(r"registered successfully")
            cap.stop(SETTLE)
        finally:
            close_all(alice, pbx)


@recipe("register-unregister-linphone")
def register_unregister_linphone(out: Path) -> None:
    """One laptop (127.0.0.1): Kamailio on :5060 (401, no qop); linphonec bob on :5080 registers
    (REGISTER, 401, REGISTER with the right credentials, 200), then 1 s after it said it was
    registered the user quits (``quit``): linphonec un-registers in the same Call-ID with an
    ``Expires: 0`` header and the credentials it already has (the nonce is still good: no new
    challenge), Kamailio answers 200 with no binding left, linphonec exits. The capture stops
    1.5 s after it exited."""
    with Netns("regul") as ns:
        cap = Capture(ns, out)
        pbx = Kamailio(ns, [f"udp:{PBX}"], USERS, defines=NO_QOP)
        bob = None
        try:
            bob = Linphonec(ns, "bob", USERS["bob"], 5080)
            bob.wait_registered()
            time.sleep(1)
            bob.close(quit_wait=5)
            if bob.proc.returncode is None:
                raise BenchError("linphonec did not exit after quit")
            bob = None
            cap.stop(SETTLE)
        finally:
            close_all(bob, pbx)
