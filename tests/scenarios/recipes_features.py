"""Recipes of call features (PRACK, hold, transfer, forking, B2BUA...) and of network conditions
(loss, NAT) between real softphones (baresip, linphone) through a real PBX (Kamailio).

Each recipe says, in its docstring, what it does and with which timing; the label files are
written from that. The helpers here (a linphone console, a baresip with a configuration of its
own, nft drop rules) belong to this group of recipes only.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
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
    phone,
    recipe,
    sipp,
    stop,
)

SETTLE = 1.5
"""Seconds between the last event a recipe waits for and the end of its capture, so that the
messages that follow it (the 200 to the last BYE, relayed by the proxy) are in."""

USERS = {"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret"}


# -- helpers -------------------------------------------------------------------------------------


class Console:
    """A program driven through its stdin whose output lines are kept to wait on."""

    proc: subprocess.Popen[bytes]

    def _start_reader(self) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

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
                    raise BenchError(f"no line matching {pattern!r}; the output:\n{tail}")
                self._cond.wait(left)

    def mark(self) -> int:
        with self._cond:
            return len(self.lines)

    def cmd(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()


LINPHONE_RC = """\
[sip]
sip_port={port}
sip_tcp_port=0
sip_tls_port=0
use_ipv6=0
default_proxy=0
100rel_support_level={rel100}
inc_timeout=30
supported=replaces
[rtp]
audio_rtp_port={rtp_port}
video_rtp_port={video_port}
[video]
enabled=0
capture=0
display=0
[proxy_0]
reg_proxy=<sip:{proxy}>
reg_route=<sip:{proxy};lr>
reg_identity=sip:{user}@{domain}
reg_expires=3600
reg_sendregister={register}
publish=0
[auth_info_0]
username={user}
passwd={password}
realm={domain}
domain={domain}
"""


class Linphone(Console):
    """linphonec 5.1 (liblinphone, belle-sip) as a softphone with one account ``user@domain``
    through ``proxy``; ``rel100`` is its 100rel support level (0 none, 1 supported: it PRACKs
    reliable provisional responses, 2 required: its 18x carry Require: 100rel and RSeq).
    Commands go to its stdin (``call URI``, ``answer``, ``terminate``); its output lines say
    "Call 1 to ... ringing", "connected", "ended"."""

    def __init__(
        self,
        ns: Netns,
        user: str,
        password: str,
        port: int,
        *,
        proxy: str = "127.0.0.1:5060",
        domain: str = "pbx.test",
        rel100: int = 0,
        rtp_port: int = 0,
        register: bool = True,
    ) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="linphone-"))
        (self.dir / ".local" / "share" / "linphone").mkdir(parents=True)
        rtp = rtp_port or 20000 + (port % 100) * 10
        rc = self.dir / "linphonerc"
        rc.write_text(
            LINPHONE_RC.format(
                port=port,
                rel100=rel100,
                rtp_port=rtp,
                video_port=rtp + 2,
                proxy=proxy,
                user=user,
                domain=domain,
                password=password,
                register=int(register),
            )
        )
        argv = ["env", f"HOME={self.dir}", "linphonec", "-c", str(rc), "-d", "0"]
        if os.environ.get("FEAT_DEBUG"):
            argv[-1:] = ["6", "-l", f"/tmp/feat/linphone-{user}.log"]
        self.proc = ns.popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self._start_reader()
        if register:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                mark = self.mark()
                self.cmd("status register")
                line = self.wait_for(r"^(linphonec> )?registered", after=mark)
                if "identity=" in line:
                    return
                time.sleep(0.2)
            raise BenchError(f"linphone {user} did not register")

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(BrokenPipeError):
                self.cmd("quit")
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(3)
        stop(self.proc, close=False)
        self._reader.join(5)  # it reads to the end of the output, then the pipes can go
        stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


class BaresipApp(Baresip):
    """baresip 1.0 with a configuration and accounts of the recipe's own (e.g. its b2bua module,
    which needs two accounts and the aubridge audio devices); driven like ``Baresip``."""

    def __init__(self, ns: Netns, config: str, accounts: list[str]) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="baresip-"))
        (self.dir / "config").write_text(config)
        (self.dir / "accounts").write_text("\n".join(accounts) + "\n")
        (self.dir / "contacts").write_text("\n")
        self.proc = ns.popen(
            ["baresip", "-f", str(self.dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.lines = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.wait_for("baresip is ready")


B2BUA_CONFIG = """\
poll_method		epoll
sip_listen		{ip}:{port}
sip_trans_def		udp
net_interface		{ip}
audio_player		aubridge,nil
audio_source		aubridge,nil
audio_alert		aufile,/dev/null
rtp_ports		{rtp_ports}
module_path		/usr/lib/baresip/modules
module			stdio.so
module			g711.so
module			aubridge.so
module			aufile.so
module_app		account.so
module_app		menu.so
module_app		b2bua.so
"""


_ifnames = itertools.count(1)


def veth(a: Netns, b: Netns, a_cidr: str = "", b_cidr: str = "") -> tuple[str, str]:
    """A veth pair from ``a`` to ``b``, up, with an address on either end when given (none on a
    bridge port); the two interface names."""
    names = []
    for _ in range(2):
        names.append(f"f{os.getpid() % 100000}x{next(_ifnames)}"[:15])
    subprocess.run(
        ["ip", "link", "add", names[0], "netns", a.name, "type", "veth", "peer", "name",
         names[1], "netns", b.name],
        check=True,
        capture_output=True,
    )  # fmt: skip
    for ns, ifname, cidr in ((a, names[0], a_cidr), (b, names[1], b_cidr)):
        ns.sysctl(f"net.ipv6.conf.{ifname}.disable_ipv6", "1")  # no IPv6 chatter in the capture
        if cidr:
            ns.addr(cidr, ifname)
        ns.run(["ip", "link", "set", ifname, "up"])
    return names[0], names[1]


def bridge(ns: Netns, ports: list[str]) -> None:
    """A bridge in ``ns`` joining ``ports`` (a switch: a LAN segment between namespaces)."""
    ns.run(["ip", "link", "add", "br0", "type", "bridge", "mcast_snooping", "0"])
    ns.sysctl("net.ipv6.conf.br0.disable_ipv6", "1")
    for port in ports:
        ns.run(["ip", "link", "set", port, "master", "br0"])
    ns.run(["ip", "link", "set", "br0", "up"])


def nft(ns: Netns, ruleset: str) -> None:
    """Load an nft ruleset in ``ns``."""
    ns.run(["nft", "-f", "-"], input=ruleset)


def drop_first(ns: Netns, name: str, n: int, match: str) -> None:
    """Drop, at the input of ``ns`` (after a capture on its interface saw them), the first ``n``
    packets matching ``match`` (nft expressions); later ones pass. ``numgen inc`` counts only the
    packets that reached it, i.e. those that matched the rest of the rule."""
    nft(
        ns,
        f"table inet {name} {{\n"
        "  chain input {\n"
        "    type filter hook input priority 0; policy accept;\n"
        f"    {match} numgen inc mod 1000000 < {n} counter drop\n"
        "  }\n"
        "}\n",
    )


def nft_dropped(ns: Netns, name: str) -> int:
    """How many packets the ``drop_first`` table ``name`` dropped."""
    out = ns.run(["nft", "list", "table", "inet", name]).stdout
    found = re.search(r"counter packets (\d+)", out)
    return int(found.group(1)) if found else 0


def sip_payload(text: str) -> str:
    """An nft match on the first bytes of a UDP payload (``INVITE``, ``SIP/2.0 200``)."""
    return f"@th,64,{8 * len(text)} 0x{text.encode().hex()}"


def close_all(*peers: Baresip | Linphone | Kamailio | None) -> None:
    """Close peers in order, skipping those that never started."""
    for p in peers:
        if p is not None:
            p.close()


# -- PRACK -----------------------------------------------------------------------------------------


@recipe("feature-prack")
def feature_prack(out: Path) -> None:
    """One laptop (127.0.0.1): Kamailio on :5060 (401 to REGISTER, 407 to INVITE, qop=auth,
    Record-Route); two linphone 5.1 phones: alice on :5080 (supports 100rel) and bob on :5082
    (requires 100rel); each registers (401, then 200). alice calls bob: 407, ACK, INVITE with
    credentials (Supported: 100rel), 100 Trying; bob rings at once with a reliable 180 (Require:
    100rel, RSeq: 1), alice PRACKs it (through the proxy) and bob answers the PRACK (200). bob
    answers 1 s after the ringing began (200, ACK); alice hangs up 2 s later (BYE, 200). The
    capture stops before the phones quit: both stay registered."""
    with Netns("prack") as ns:
        cap = Capture(ns, out)
        pbx = Kamailio(ns, ["udp:127.0.0.1:5060"], USERS)
        alice = bob = None
        try:
            bob = Linphone(ns, "bob", USERS["bob"], 5082, rel100=2)
            alice = Linphone(ns, "alice", USERS["alice"], 5080, rel100=1)
            alice.cmd("call sip:bob@pbx.test")
            bob.wait_for("Receiving new incoming call")
            time.sleep(1)
            bob.cmd("answer")
            alice.wait_for(r"Call \d+ with .* connected")
            time.sleep(2)
            alice.cmd("terminate")
            bob.wait_for(r"Call \d+ with .* ended")
            cap.stop(SETTLE)
        finally:
            close_all(alice, bob, pbx)


# -- hold ----------------------------------------------------------------------------------------


@recipe("feature-hold")
def feature_hold(out: Path) -> None:
    """One laptop (127.0.0.1): Kamailio on :5060 (401 to REGISTER, 407 to INVITE, qop=auth,
    Record-Route); baresip bob on :5072 and alice on :5070 register (401, then 200). alice dials
    bob (407, ACK, INVITE with credentials, 100, 180); bob answers 0.5 s after ringing (200, ACK).
    1 s into the call alice puts bob on hold: a re-INVITE through the proxy with a=sendonly, bob
    answers 200 with a=recvonly, ACK. 1 s later alice takes the call off hold: a re-INVITE with
    a=sendrecv, 200 (sendrecv), ACK. 1 s later alice hangs up (BYE, 200). The capture stops before
    the phones quit: both stay registered."""
    with Netns("hold") as ns:
        cap = Capture(ns, out)
        pbx = Kamailio(ns, ["udp:127.0.0.1:5060"], USERS)
        alice = bob = None
        try:
            bob = phone(ns, "bob", USERS["bob"], "127.0.0.1", 5072)
            alice = phone(ns, "alice", USERS["alice"], "127.0.0.1", 5070)
            alice.cmd("/dial sip:bob@pbx.test")
            bob.wait_for("Incoming call")
            time.sleep(0.5)
            bob.cmd("/accept")
            alice.wait_for("Call established")
            time.sleep(1)
            alice.cmd("/hold")
            time.sleep(1)
            alice.cmd("/resume")
            time.sleep(1)
            alice.cmd("/hangup")
            bob.wait_for("terminated")
            cap.stop(SETTLE)
        finally:
            close_all(alice, bob, pbx)


# -- transfer --------------------------------------------------------------------------------------


@recipe("feature-transfer")
def feature_transfer(out: Path) -> None:
    """One laptop (127.0.0.1): Kamailio on :5060 (401 to REGISTER, 407 to INVITE, qop=auth,
    Record-Route); baresip carol on :5074, bob on :5072 and alice on :5070 register (401,
    then 200). alice dials bob (407, ACK, INVITE with credentials, 100, 180), bob answers 0.5 s
    after ringing (200, ACK). 1 s into the call alice transfers bob to carol, blind: REFER
    (Refer-To: carol) in the call's dialog through the proxy (in-dialog: not challenged), bob
    accepts it (202) and NOTIFYs alice of its progress (sipfrag "100 Trying", 200); bob calls carol
    in a new dialog (407, ACK, INVITE with credentials, 100, 180); carol answers 0.5 s after
    ringing (200, ACK), bob NOTIFYs alice "SIP/2.0 200 OK" (200) and alice, the transferor, ends
    the first call at once (BYE, 200). bob and carol talk 1 s, then carol hangs up (BYE, 200). The
    capture stops before the phones quit: all three stay registered."""
    with Netns("xfer") as ns:
        cap = Capture(ns, out)
        pbx = Kamailio(ns, ["udp:127.0.0.1:5060"], USERS)
        alice = bob = carol = None
        try:
            carol = phone(ns, "carol", USERS["carol"], "127.0.0.1", 5074)
            bob = phone(ns, "bob", USERS["bob"], "127.0.0.1", 5072)
            alice = phone(ns, "alice", USERS["alice"], "127.0.0.1", 5070)
            alice.cmd("/dial sip:bob@pbx.test")
            bob.wait_for("Incoming call")
            time.sleep(0.5)
            bob.cmd("/accept")
            alice.wait_for("Call established")
            time.sleep(1)
            mark = bob.mark()
            alice.cmd("/transfer sip:carol@pbx.test")
            carol.wait_for("Incoming call")
            time.sleep(0.5)
            carol.cmd("/accept")
            bob.wait_for("Call established", after=mark)
            time.sleep(1)
            carol.cmd("/hangup")
            bob.wait_for(r"carol@pbx\.test terminated", after=mark)
            cap.stop(SETTLE)
        finally:
            close_all(alice, bob, carol, pbx)


# -- forking -------------------------------------------------------------------------------------


@recipe("feature-forking")
def feature_forking(out: Path) -> None:
    """One laptop (127.0.0.1): Kamailio on :5060 (401 to REGISTER, 407 to INVITE, qop=auth,
    Record-Route, parallel forking to every contact of the account); bob's account is registered
    from two baresip phones, his desk phone on :5072 and his laptop on :5074 (two REGISTER
    dialogs, 401 then 200 each; the second 200 lists both bindings); alice on :5070 registers
    too. alice dials bob (407, ACK, INVITE with credentials, 100); the proxy forks the INVITE to
    both contacts, both ring (two 180s, relayed); bob answers on the laptop (:5074) 1 s after the
    ringing began (200, relayed, ACK); the proxy CANCELs the desk phone's branch (200 to the
    CANCEL, 487 Request Terminated, ACK from the proxy). 2 s later alice hangs up (BYE to the
    laptop, 200). The capture stops before the phones quit: all stay registered."""
    with Netns("fork") as ns:
        cap = Capture(ns, out)
        pbx = Kamailio(ns, ["udp:127.0.0.1:5060"], USERS)
        alice = desk = laptop = None
        try:
            desk = phone(ns, "bob", USERS["bob"], "127.0.0.1", 5072)
            laptop = phone(ns, "bob", USERS["bob"], "127.0.0.1", 5074)
            alice = phone(ns, "alice", USERS["alice"], "127.0.0.1", 5070)
            alice.cmd("/dial sip:bob@pbx.test")
            desk.wait_for("Incoming call")
            laptop.wait_for("Incoming call")
            time.sleep(1)
            laptop.cmd("/accept")
            alice.wait_for("Call established")
            time.sleep(2)
            alice.cmd("/hangup")
            laptop.wait_for("terminated")
            cap.stop(SETTLE)
        finally:
            close_all(alice, desk, laptop, pbx)


# -- no Record-Route -------------------------------------------------------------------------------


@recipe("feature-proxied-no-rr")
def feature_proxied_no_rr(out: Path) -> None:
    """One laptop (127.0.0.1): Kamailio on :5060 as registrar and proxy WITHOUT Record-Route (401
    to REGISTER, 407 to INVITE, qop=auth); baresip bob on :5072 and alice on :5070 register (401,
    then 200). alice dials bob through the proxy (407, ACK to the proxy, INVITE with credentials,
    100, INVITE relayed to bob, 180 and 200 relayed back); bob answers 1 s after ringing. As the
    proxy did not Record-Route, the ACK goes straight from alice (:5070) to bob's Contact
    (:5072), and so does the BYE with which alice hangs up 2 s later (200 from bob to alice). The
    capture stops before the phones quit: both stay registered."""
    with Netns("norr") as ns:
        cap = Capture(ns, out)
        pbx = Kamailio(ns, ["udp:127.0.0.1:5060"], USERS, defines=("WITH_QOP", "WITH_INVITE_AUTH"))
        alice = bob = None
        try:
            bob = phone(ns, "bob", USERS["bob"], "127.0.0.1", 5072)
            alice = phone(ns, "alice", USERS["alice"], "127.0.0.1", 5070)
            alice.cmd("/dial sip:bob@pbx.test")
            bob.wait_for("Incoming call")
            time.sleep(1)
            bob.cmd("/accept")
            alice.wait_for("Call established")
            time.sleep(2)
            alice.cmd("/hangup")
            bob.wait_for("terminated")
            cap.stop(SETTLE)
        finally:
            close_all(alice, bob, pbx)


# -- B2BUA ---------------------------------------------------------------------------------------


@recipe("feature-b2bua")
def feature_b2bua(out: Path) -> None:
    """One laptop (127.0.0.1): Kamailio on :5060 (registrar and proxy, 401 to REGISTER, qop=auth,
    Record-Route; bob is its only account); baresip bob on :5072 registers (401, then 200). An
    SBC, baresip's b2bua module on :5090, sits in front of it: alice's baresip phone (:5070,
    not registered anywhere) sends its calls to the SBC. alice dials bob: her INVITE (call 1)
    reaches the SBC, which says 180 Ringing at once and places a call of its own (call 2, another
    Call-ID, From alice) through Kamailio (100, relayed to bob) to bob; bob rings (180) and
    answers 1 s later (200, ACK through the proxy); the SBC then answers alice (200, ACK). 2 s
    later bob hangs up: BYE through the proxy to the SBC (200), and the SBC hangs up on alice at
    once (BYE, 200). The capture stops before the phones quit: bob stays registered."""
    with Netns("b2bua") as ns:
        cap = Capture(ns, out)
        pbx = Kamailio(ns, ["udp:127.0.0.1:5060"], {"bob": USERS["bob"]})
        alice = bob = sbc = None
        try:
            bob = phone(ns, "bob", USERS["bob"], "127.0.0.1", 5072)
            sbc = BaresipApp(
                ns,
                B2BUA_CONFIG.format(ip="127.0.0.1", port=5090, rtp_ports="19000-19098"),
                [
                    "<sip:sbc@127.0.0.1:5090>;b2bua=inbound;regint=0",
                    '<sip:sbc@pbx.test>;b2bua=outbound;outbound="sip:127.0.0.1:5060";regint=0',
                ],
            )
            alice = phone(
                ns, "alice", "", "127.0.0.1", 5070, proxy="127.0.0.1:5090", register=False
            )
            alice.cmd("/dial sip:bob@pbx.test")
            bob.wait_for("Incoming call")
            time.sleep(1)
            bob.cmd("/accept")
            alice.wait_for("Call established")
            time.sleep(2)
            bob.cmd("/hangup")
            alice.wait_for("terminated")
            cap.stop(SETTLE)
        finally:
            close_all(alice, bob, sbc, pbx)


# -- BYE glare -------------------------------------------------------------------------------------


@recipe("feature-bye-glare")
def feature_bye_glare(out: Path) -> None:
    """One laptop (127.0.0.1), no PBX: two sipp user agents, alice on :5070 (sipp/feat_glare_uac.xml)
    calling bob on :5072 (sipp/feat_glare_uas.xml) directly. bob rings at once (180) and answers
    1 s later (200 with SDP), alice acknowledges (ACK). 2 s later alice hangs up (BYE); bob's sipp
    sends its own BYE the moment hers arrives, before answering it, so that the two BYEs cross
    as when both sides hang up at once; then bob answers alice's BYE (200) and alice answers his
    (200). Each BYE is sent once and answered. No media (sipp sends none)."""
    with Netns("glare") as ns:
        cap = Capture(ns, out)
        sipp(ns, "feat_glare_uas.xml", ip="127.0.0.1", port=5072, background=True)
        time.sleep(0.3)
        sipp(
            ns, "feat_glare_uac.xml", ip="127.0.0.1", port=5070, remote="127.0.0.1:5072", timeout=20
        )
        cap.stop(SETTLE)


# -- loss ----------------------------------------------------------------------------------------


def _lossy_call(out: Path, invite_losses: int, ok_losses: int) -> None:
    """The bench of net-loss and net-loss-heavy: see their docstrings."""
    with Netns("lossp") as phones, Netns("lossx") as pbxns:
        a, b = veth(phones, pbxns, "192.168.56.10/24", "192.168.56.1/24")
        phones.addr("192.168.56.11/24", a)
        cap = Capture(pbxns, out, iface=b)
        pbx = Kamailio(pbxns, ["udp:192.168.56.1:5060"], USERS)
        alice = bob = None
        try:
            proxy = "192.168.56.1:5060"
            bob = phone(phones, "bob", USERS["bob"], "192.168.56.11", 5072, proxy=proxy)
            alice = phone(phones, "alice", USERS["alice"], "192.168.56.10", 5070, proxy=proxy)
            drop_first(
                pbxns,
                "invite",
                invite_losses,
                f"ip saddr 192.168.56.10 udp dport 5060 {sip_payload('INVITE')}",
            )
            drop_first(
                pbxns,
                "ok",
                ok_losses,
                f"ip saddr 192.168.56.11 udp dport 5060 {sip_payload('SIP/2.0 200')}",
            )
            alice.cmd("/dial sip:bob@pbx.test")
            bob.wait_for("Incoming call")
            time.sleep(1)
            bob.cmd("/accept")
            alice.wait_for("Call established")
            time.sleep(2)
            alice.cmd("/hangup")
            bob.wait_for("terminated")
            cap.stop(SETTLE)
            dropped = (nft_dropped(pbxns, "invite"), nft_dropped(pbxns, "ok"))
            if dropped != (invite_losses, ok_losses):
                raise BenchError(f"dropped {dropped}, wanted {(invite_losses, ok_losses)}")
        finally:
            close_all(alice, bob, pbx)


@recipe("net-loss")
def net_loss(out: Path) -> None:
    """Two namespaces joined by a veth (192.168.56.0/24): the phones' (baresip alice on
    192.168.56.10:5070, bob on 192.168.56.11:5072) and the PBX's (Kamailio on 192.168.56.1:5060:
    401 to REGISTER, 407 to INVITE, qop=auth, Record-Route). The capture is on the PBX's end of the
    veth; the losses are nft drops at the input of the PBX's namespace, after the capture saw
    them: it has every copy. Both phones register (401, then 200). Then the path loses the first
    INVITE alice sends (the one without credentials) and the first 200 OK bob sends (his answer):
    alice's INVITE is resent 0.5 s later (Timer A) and challenged (407, ACK); the INVITE with
    credentials goes through (100, relayed to bob, 180 at once, relayed); bob answers 1 s after
    ringing; his 200 is lost and resent 0.5 s later, relayed to alice, ACK. Every request is
    sent at most twice and answered within 1 s. alice hangs up 2 s after the call was
    established (BYE, 200). RTP flows between the phones inside their namespace and is not on
    the captured link. The capture stops before the phones quit: both stay registered."""
    _lossy_call(out, invite_losses=1, ok_losses=1)


@recipe("net-loss-heavy")
def net_loss_heavy(out: Path) -> None:
    """The bench of net-loss (phones and PBX in two namespaces, capture on the PBX's end of the
    veth, nft drops at the PBX's input), with worse loss: the first two copies of alice's first
    INVITE are lost, so it is sent 3 times (0 s, 0.5 s, 1.5 s: Timer A doubling) before the
    third is challenged (407, ACK); the INVITE with credentials goes through (100, relayed, 180
    at once); bob answers 1 s after ringing (200, nothing lost, ACK); alice hangs up 2 s later
    (BYE, 200). Both phones registered before the loss began and stay registered."""
    _lossy_call(out, invite_losses=2, ok_losses=0)


@recipe("net-ack-lost")
def net_ack_lost(out: Path) -> None:
    """The bench of net-loss (phones and PBX in two namespaces joined by a veth, capture on the
    PBX's end, nft drops at the PBX's input after the capture saw them). Both phones register
    (401, then 200). alice dials bob: 407, ACK, INVITE with credentials, 100, relayed to bob, 180
    at once; bob answers 1 s after ringing (200, relayed to alice). From then on every ACK alice
    sends is lost on its way into the PBX: alice's ACK (and each ACK she sends again for each 200
    bob resends) is in the capture, but the PBX never relays one to bob. bob's baresip resends
    its 200 (Timer G: 0.5 s, 1 s, 2 s, then every 4 s) for 32 s (64*T1), gives up and hangs up
    (BYE from bob, relayed, 200). The capture stops before the phones quit: both stay
    registered."""
    with Netns("ackp") as phones, Netns("ackx") as pbxns:
        a, b = veth(phones, pbxns, "192.168.56.10/24", "192.168.56.1/24")
        phones.addr("192.168.56.11/24", a)
        cap = Capture(pbxns, out, iface=b)
        pbx = Kamailio(pbxns, ["udp:192.168.56.1:5060"], USERS)
        alice = bob = None
        try:
            proxy = "192.168.56.1:5060"
            bob = phone(phones, "bob", USERS["bob"], "192.168.56.11", 5072, proxy=proxy)
            alice = phone(phones, "alice", USERS["alice"], "192.168.56.10", 5070, proxy=proxy)
            alice.cmd("/dial sip:bob@pbx.test")
            bob.wait_for("Incoming call")
            # the ACK of the 407 went through: from now on, alice's ACKs are lost
            drop_first(
                pbxns, "ack", 1000, f"ip saddr 192.168.56.10 udp dport 5060 {sip_payload('ACK')}"
            )
            time.sleep(1)
            bob.cmd("/accept")
            alice.wait_for("Call established")
            bob.wait_for("session closed: Connection timed out", timeout=45)
            alice.wait_for("terminated|session closed", timeout=5)
            cap.stop(SETTLE)
            if nft_dropped(pbxns, "ack") < 2:
                raise BenchError("no ACK was lost")
        finally:
            close_all(alice, bob, pbx)


# -- NAT -----------------------------------------------------------------------------------------


class NatBench:
    """Four namespaces: alice's LAN (alice 192.168.1.10/24), a home router (192.168.1.1 inside,
    203.0.113.1 outside: iptables MASQUERADE of the LAN, and a forward filter letting in only
    what answers a flow the LAN began), a switch (a bridge: the "public" segment 203.0.113.0/24)
    and, on that segment, the PBX (203.0.113.10) and bob (203.0.113.20) in namespaces of their
    own. The capture runs on the PBX's interface: all SIP to and from the PBX, no RTP (that goes
    between the phones through the router)."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self.lan = stack.enter_context(Netns("natl"))
        self.router = stack.enter_context(Netns("natr"))
        self.switch = stack.enter_context(Netns("nats"))
        self.pbxns = stack.enter_context(Netns("natp"))
        self.bobns = stack.enter_context(Netns("natb"))
        lan_if, inside = veth(self.lan, self.router, "192.168.1.10/24", "192.168.1.1/24")
        outside, port1 = veth(self.router, self.switch, "203.0.113.1/24")
        self.pbx_if, port2 = veth(self.pbxns, self.switch, "203.0.113.10/24")
        _bob_if, port3 = veth(self.bobns, self.switch, "203.0.113.20/24")
        bridge(self.switch, [port1, port2, port3])
        self.lan.route("default", "via", "192.168.1.1")
        self.pbxns.route("default", "via", "203.0.113.1")
        self.bobns.route("default", "via", "203.0.113.1")
        self.router.sysctl("net.ipv4.ip_forward", "1")
        ipt = ["iptables", "-w"]
        self.router.run([*ipt, "-t", "nat", "-A", "POSTROUTING", "-s", "192.168.1.0/24",
                         "-o", outside, "-j", "MASQUERADE"])  # fmt: skip
        self.router.run([*ipt, "-P", "FORWARD", "DROP"])
        self.router.run([*ipt, "-A", "FORWARD", "-m", "conntrack", "--ctstate",
                         "ESTABLISHED,RELATED", "-j", "ACCEPT"])  # fmt: skip
        self.router.run([*ipt, "-A", "FORWARD", "-i", inside, "-j", "ACCEPT"])
        self.lan_if = lan_if


def _nat_phones(bench: NatBench, defines: tuple[str, ...]) -> tuple[Kamailio, Baresip, Baresip]:
    pbx = Kamailio(bench.pbxns, ["udp:203.0.113.10:5060"], USERS, defines=defines)
    proxy = "203.0.113.10:5060"
    bob = phone(bench.bobns, "bob", USERS["bob"], "203.0.113.20", 5072, proxy=proxy)
    alice = phone(bench.lan, "alice", USERS["alice"], "192.168.1.10", 5070, proxy=proxy)
    return pbx, bob, alice


@recipe("net-nat")
def net_nat(out: Path) -> None:
    """alice behind a NAT, the PBX fixing it up (NatBench: alice 192.168.1.10 in a LAN behind a
    MASQUERADE router whose public address is 203.0.113.1; Kamailio on 203.0.113.10:5060 with
    WITH_NAT: rport/received, Contact aliases, SDP c= rewritten; 401 to REGISTER, 407 to INVITE,
    qop=auth, Record-Route; bob on 203.0.113.20:5072, public). Capture on the PBX's interface.
    bob registers, then alice (her REGISTER arrives from 203.0.113.1:5070 with Via and Contact
    192.168.1.10: the PBX saves the public address). Call 1: bob dials alice (407, ACK, INVITE with
    credentials, 100), the PBX relays it to alice's public address, which the NAT lets through;
    alice rings at once (180) and answers 1 s later (200 with her private Contact, which the
    PBX aliases; ACK); bob hangs up 2 s later (BYE through the proxy to alice, 200). Call 2:
    alice dials bob (407, ACK, INVITE with credentials, 100, relayed, 180), bob answers 0.5 s
    after ringing (200, ACK), and hangs up 1 s later (BYE reaches alice through the NAT, 200).
    Both calls complete. The capture stops before the phones quit: both stay registered."""
    with contextlib.ExitStack() as stack:
        bench = NatBench(stack)
        cap = Capture(bench.pbxns, out, iface=bench.pbx_if)
        pbx = bob = alice = None
        try:
            pbx, bob, alice = _nat_phones(
                bench, ("WITH_QOP", "WITH_RR", "WITH_NAT", "WITH_INVITE_AUTH")
            )
            bob.cmd("/dial sip:alice@pbx.test")
            alice.wait_for("Incoming call")
            time.sleep(1)
            alice.cmd("/accept")
            bob.wait_for("Call established")
            time.sleep(2)
            mark_a, mark_b = alice.mark(), bob.mark()
            bob.cmd("/hangup")
            alice.wait_for("terminated", after=mark_a)
            time.sleep(0.5)
            alice.cmd("/dial sip:bob@pbx.test")
            bob.wait_for("Incoming call", after=mark_b)
            time.sleep(0.5)
            bob.cmd("/accept")
            alice.wait_for("Call established", after=mark_a)
            time.sleep(1)
            mark_a = alice.mark()
            bob.cmd("/hangup")
            alice.wait_for("terminated", after=mark_a)
            cap.stop(SETTLE)
        finally:
            close_all(alice, bob, pbx)


@recipe("net-nat-broken")
def net_nat_broken(out: Path) -> None:
    """The NAT of net-nat, but Kamailio WITHOUT its NAT fix-ups (no WITH_NAT: it saves alice's
    private Contact 192.168.1.10:5070 and sends in-dialog requests to private Contacts; it still
    answers to Via received/rport, so responses reach alice). 401 to REGISTER, 407 to INVITE,
    qop=auth, Record-Route, fr_timer 5 s. Capture on the PBX's interface. bob (203.0.113.20) and
    alice (192.168.1.10, seen as 203.0.113.1) register: both get 200. Call 1: alice dials bob (407,
    ACK, INVITE with credentials, 100, relayed, 180), bob answers 0.5 s after ringing (200 relayed
    to alice through the NAT, ACK) and hangs up 1 s later: his BYE goes through the proxy,
    which sends it to alice's private Contact 192.168.1.10:5070; the router drops it (a private
    address from outside): the proxy resends it (0.5, 1, 2 s... ) and after 5 s answers bob
    408 Request Timeout (bob resends his BYE too until then). alice never learns that the call
    ended. Call 2, 0.5 s after the 408: bob dials alice (407, ACK, INVITE with credentials, 100);
    the proxy relays the INVITE to 192.168.1.10:5070, dropped, resent (0.5, 1, 2 s...); alice
    never rings; after 5 s without any response the proxy answers bob 408 Request Timeout
    (ACK). The capture stops 1.5 s later, before the phones quit."""
    with contextlib.ExitStack() as stack:
        bench = NatBench(stack)
        cap = Capture(bench.pbxns, out, iface=bench.pbx_if)
        pbx = bob = alice = None
        try:
            pbx, bob, alice = _nat_phones(bench, ("WITH_QOP", "WITH_RR", "WITH_INVITE_AUTH"))
            alice.cmd("/dial sip:bob@pbx.test")
            bob.wait_for("Incoming call")
            time.sleep(0.5)
            bob.cmd("/accept")
            alice.wait_for("Call established")
            time.sleep(1)
            mark_b = bob.mark()
            bob.cmd("/hangup")
            bob.wait_for("terminated", after=mark_b)
            time.sleep(5.5)  # the proxy's 408 to bob's BYE comes after 5 s
            mark_b = bob.mark()
            bob.cmd("/dial sip:alice@pbx.test")
            bob.wait_for("408|terminated", after=mark_b, timeout=10)
            cap.stop(SETTLE)
        finally:
            close_all(alice, bob, pbx)


# -- re-INVITE glare -------------------------------------------------------------------------------


@recipe("feature-reinvite-glare")
def feature_reinvite_glare(out: Path) -> None:
    """One laptop (127.0.0.1), no PBX: two sipp user agents, alice on :5070
    (sipp/feat_reinvite_glare_uac.xml) calling bob on :5072 (sipp/feat_reinvite_glare_uas.xml).
    bob rings at once (180), answers 0.5 s later (200), ACK. 1 s later alice re-INVITEs (hold,
    a=sendonly); bob's sipp sends a re-INVITE of its own (a=sendonly) the moment hers arrives,
    before answering it, so that the two cross; bob answers hers 491 Request Pending (alice
    ACKs), alice answers his 491 (bob ACKs). bob retries 1 s later (RFC 3261 14.1: he does not
    own the Call-ID, so he waits less than 2 s): re-INVITE, 200 (a=recvonly), ACK. 1 s later
    alice hangs up (BYE, 200). No media (sipp sends none)."""
    with Netns("rglare") as ns:
        cap = Capture(ns, out)
        sipp(ns, "feat_reinvite_glare_uas.xml", ip="127.0.0.1", port=5072, background=True)
        time.sleep(0.3)
        sipp(
            ns,
            "feat_reinvite_glare_uac.xml",
            ip="127.0.0.1",
            port=5070,
            remote="127.0.0.1:5072",
            timeout=20,
        )
        cap.stop(SETTLE)


# -- attended transfer -----------------------------------------------------------------------------


@recipe("feature-attended-transfer")
def feature_attended_transfer(out: Path) -> None:
    """One laptop (127.0.0.1): Kamailio on :5060 (401 to REGISTER, 407 to INVITE, qop=auth,
    Record-Route); three linphone 5.1 phones: carol on :5084, bob on :5082, alice on :5080,
    each registered (401, then 200). alice calls bob (407, ACK, INVITE with credentials, 100,
    180); bob answers 0.5 s after ringing (200, ACK). 1 s later bob puts alice on hold (re-INVITE
    a=sendonly, 200 recvonly, ACK) and at once calls carol (a second dialog: 407, ACK, INVITE with
    credentials, 100, 180); carol answers 0.5 s after ringing (200, ACK). 1 s later bob transfers
    alice to carol, attended: a REFER in the alice-bob dialog whose Refer-To names carol with a
    Replaces of the bob-carol dialog (202). linphone alice then puts bob on hold (re-INVITE
    a=sendonly, 200 inactive, ACK) and calls carol with a Replaces header (a third dialog: 407,
    ACK, INVITE with credentials, 100, 180 and 200 at once: carol takes it without ringing
    for long, ACK); carol ends the replaced call with bob (BYE, 200); alice NOTIFYs bob (sipfrag
    100 Trying, then 200 Ok; 200 to each) and bob ends his call with alice (BYE, 200). alice and
    carol talk 1 s, then alice hangs up (BYE, 200). The capture stops before the phones quit:
    all stay registered."""
    with Netns("attx") as ns:
        cap = Capture(ns, out)
        pbx = Kamailio(ns, ["udp:127.0.0.1:5060"], USERS)
        alice = bob = carol = None
        try:
            carol = Linphone(ns, "carol", USERS["carol"], 5084)
            bob = Linphone(ns, "bob", USERS["bob"], 5082)
            alice = Linphone(ns, "alice", USERS["alice"], 5080)
            alice.cmd("call sip:bob@pbx.test")
            bob.wait_for("Receiving new incoming call")
            time.sleep(0.5)
            bob.cmd("answer")
            alice.wait_for(r"Call \d+ with .* connected")
            time.sleep(1)
            bob.cmd("pause 1")
            bob.wait_for(r"Call 1 with .* is now paused")
            bob.cmd("call sip:carol@pbx.test")
            carol.wait_for("Receiving new incoming call")
            time.sleep(0.5)
            carol.cmd("answer")
            bob.wait_for(r"Call 2 with .*carol.* connected")
            time.sleep(1)
            mark = carol.mark()
            bob.cmd("transfer 1 --to-call 2")
            carol.wait_for(r"Call \d+ with .*alice.* connected", after=mark)
            time.sleep(1)
            alice.cmd("terminate")
            carol.wait_for(r"Call \d+ with .*alice.* ended", after=mark)
            cap.stop(SETTLE)
        finally:
            close_all(alice, bob, carol, pbx)
