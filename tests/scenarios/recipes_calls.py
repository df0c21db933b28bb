"""Recipes of calls between real softphones (baresip) through a real PBX (Kamailio).

Each recipe says, in its docstring, what it does and with which timing; the label files are
written from that.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

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

USERS = {"alice": "alice-secret", "bob": "bob-secret"}


@recipe("call-answered")
def call_answered(out: Path) -> None:
    """One laptop (everything on 127.0.0.1): Kamailio on :5060 (401 to REGISTER and 407 to INVITE,
    qop=auth, Record-Route); baresip alice on :5070 and bob on :5072 register (401, then 200).
    alice dials bob: 407, ACK, INVITE with credentials, 100, 180; bob answers 1 s after the
    ringing began, alice hangs up 2 s after the call was established, both sides say goodbye
    (BYE, 200). The capture stops before the phones quit, so both stay registered."""
    with Netns("answer") as ns:
        cap = Capture(ns, out)
        pbx = Kamailio(ns, ["udp:127.0.0.1:5060"], USERS)
        bob = alice = None
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
            cap.stop()
        finally:
            for b in (alice, bob):
                if b is not None:
                    b.close()
            pbx.close()


# -- the other call outcomes ---------------------------------------------------------------------
#
# Helpers of this group only: a PBX bench in one namespace whose peers are closed in order, a
# callee played by sipp (registered with Kamailio first, as a phone would be), a baresip phone on
# any transport or without a PBX.

CALLEE_USERS = {**USERS, "carol": "carol-secret"}
"""alice and bob are baresip phones; carol is a callee played by sipp (call_*.xml)."""


class _Bench:
    """One namespace, a capture of its loopback, Kamailio, and the peers started on it."""

    def __init__(self, ns: Netns, stack: contextlib.ExitStack, cap: Capture, pbx: Kamailio | None):
        self.ns, self.stack, self.cap, self.pbx = ns, stack, cap, pbx

    def phone(self, user: str, port: int, **kw: Any) -> Baresip:
        """A registered baresip phone (``harness.phone``), quit at the end of the recipe."""
        b = phone(self.ns, user, CALLEE_USERS[user], kw.pop("ip", "127.0.0.1"), port, **kw)
        self.stack.callback(b.close)
        return b

    def baresip(self, ip: str, port: int, account: str, **kw: Any) -> Baresip:
        """A baresip phone with the account line ``account`` as it is (any transport, no PBX)."""
        b = Baresip(self.ns, ip, port, account, **kw)
        self.stack.callback(b.close)
        return b

    def callee(
        self, scenario: str, *keys: str, user: str = "carol", port: int = 5080, echo: bool = False
    ) -> None:
        """sipp as ``user`` on 127.0.0.1:``port``: it registers with the PBX (call_register.xml:
        REGISTER, 401, REGISTER with credentials, 200), then answers one call as ``scenario``
        says (``keys``: more ``-key NAME VALUE`` pairs, flattened), its media on ``port`` + 1000
        (echoing the RTP it gets when ``echo``)."""
        common = ["-s", user, "-key", "domain", "pbx.test"]
        sipp(
            self.ns,
            "call_register.xml",
            ip="127.0.0.1",
            port=port,
            remote="127.0.0.1:5060",
            args=[*common, "-au", user, "-ap", CALLEE_USERS[user], "-timeout", "5"],
            timeout=10,
        )
        key_args: list[str] = []
        for name, value in zip(keys[::2], keys[1::2], strict=True):
            key_args += ["-key", name, value]
        sipp(
            self.ns,
            scenario,
            ip="127.0.0.1",
            port=port,
            args=[*common, *key_args, "-mp", str(port + 1000), *(["-rtp_echo"] if echo else [])],
            background=True,
        )
        _wait_udp(self.ns, port)


def _wait_udp(ns: Netns, port: int, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if f":{port} " in ns.run(["ss", "-lnu"], check=False).stdout:
            return
        time.sleep(0.05)
    raise BenchError(f"nothing listens on UDP port {port}")


@contextlib.contextmanager
def _bench(
    hint: str,
    out: Path,
    *,
    listen: Sequence[str] = ("udp:127.0.0.1:5060",),
    pbx: bool = True,
    addrs: Sequence[str] = (),
    **kamailio: Any,
) -> Iterator[_Bench]:
    """A namespace (with ``addrs`` on its loopback), tcpdump on its loopback writing ``out``, and
    Kamailio (unless ``pbx`` is False) with alice, bob and carol as accounts; whatever the
    recipe starts on the bench is closed at the end, phones first (after the capture stopped,
    so that they stay registered in it)."""
    with Netns(hint) as ns, contextlib.ExitStack() as stack:
        for cidr in addrs:
            ns.addr(cidr)
        cap = Capture(ns, out)
        kam = Kamailio(ns, listen, CALLEE_USERS, **kamailio) if pbx else None
        if kam is not None:
            stack.callback(kam.close)
        yield _Bench(ns, stack, cap, kam)


@recipe("call-callee-hangs-up")
def call_callee_hangs_up(out: Path) -> None:
    """As call-answered, but the callee ends the call. One laptop (127.0.0.1): Kamailio on :5060
    (401 to REGISTER, 407 to INVITE, qop=auth, Record-Route); baresip bob (:5072) and alice
    (:5070) register (401, then 200). alice dials bob: 407, ACK, INVITE with credentials, 100,
    180 at once; bob answers 1 s after the ringing began; 2 s after the call was established bob
    hangs up (BYE from bob through the proxy, 200 from alice). The capture stops before the
    phones quit, so both stay registered."""
    with _bench("hangup", out) as b:
        bob = b.phone("bob", 5072)
        alice = b.phone("alice", 5070)
        alice.cmd("/dial sip:bob@pbx.test")
        bob.wait_for("Incoming call")
        time.sleep(1)
        bob.cmd("/accept")
        alice.wait_for("Call established")
        time.sleep(2)
        bob.cmd("/hangup")
        alice.wait_for("terminated|session closed")
        b.cap.stop()


@recipe("call-busy")
def call_busy(out: Path) -> None:
    """The callee declines: one laptop (127.0.0.1), Kamailio on :5060 (401 to REGISTER, 407 to
    INVITE, qop=auth, Record-Route); baresip bob (:5072) and alice (:5070) register. alice dials
    bob: 407, ACK, INVITE with credentials, 100, 180 at once; 1 s into the ringing bob presses
    hang-up, which baresip answers with 486 ("486 Rejected"); Kamailio ACKs it and relays it to
    alice, who ACKs. The capture stops 0.5 s later, before the phones quit (both stay
    registered)."""
    with _bench("busy", out) as b:
        bob = b.phone("bob", 5072)
        alice = b.phone("alice", 5070)
        alice.cmd("/dial sip:bob@pbx.test")
        bob.wait_for("Incoming call")
        time.sleep(1)
        bob.cmd("/hangup")
        alice.wait_for("session closed: 486")
        b.cap.stop()


def _refused(out: Path, hint: str, scenario: str, **kamailio: Any) -> None:
    """baresip alice calls carol, a sipp callee that refuses as ``scenario`` says."""
    with _bench(hint, out, **kamailio) as b:
        b.callee(scenario)
        alice = b.phone("alice", 5070)
        alice.cmd("/dial sip:carol@pbx.test")
        alice.wait_for("session closed", 5)
        b.cap.stop()


@recipe("call-rejected-403")
def call_rejected_403(out: Path) -> None:
    """A callee that forbids the call, no credentials anywhere in the call. One laptop
    (127.0.0.1), Kamailio on :5060 (401 to REGISTER, qop=auth, Record-Route; INVITEs are not
    challenged: no WITH_INVITE_AUTH). carol is sipp on :5080: it registers (REGISTER, 401,
    REGISTER with credentials, 200), then waits (call_reject_403.xml). baresip alice (:5070)
    registers (401, 200) and dials carol: INVITE, 100 from Kamailio, which relays it to carol,
    and carol answers 403 Forbidden at once; Kamailio ACKs it and relays the 403 to alice, who
    ACKs. Stops before alice quits (alice and carol stay registered)."""
    _refused(out, "r403", "call_reject_403.xml", defines=("WITH_QOP", "WITH_RR"))


@recipe("call-rejected-403-authenticated")
def call_rejected_403_authenticated(out: Path) -> None:
    """A callee that forbids the call after the PBX accepted the caller's credentials. One laptop
    (127.0.0.1), Kamailio on :5060 (401 to REGISTER, 407 to INVITE, qop=auth, Record-Route).
    carol is sipp on :5080: it registers (REGISTER, 401, REGISTER with credentials, 200), then
    waits (call_reject_403.xml). baresip alice (:5070) registers (401, 200) and dials carol:
    407, ACK, INVITE with credentials (right: Kamailio says 100 and relays it to carol), and
    carol answers 403 Forbidden at once; Kamailio ACKs it and relays the 403 to alice, who ACKs.
    The 403 is carol's refusal of the call, not a refusal of alice's credentials. Stops before
    alice quits (alice and carol stay registered)."""
    _refused(out, "r403a", "call_reject_403.xml")


@recipe("call-rejected-404")
def call_rejected_404(out: Path) -> None:
    """A call to a user the PBX does not know. One laptop (127.0.0.1), Kamailio on :5060 (401 to
    REGISTER, 407 to INVITE, qop=auth). baresip alice (:5070) registers (401, 200) and dials
    sip:dave@pbx.test, an account that does not exist: 407, ACK, INVITE with credentials
    (accepted), and Kamailio, finding no dave in its location table, answers 404 Not Found
    itself; alice ACKs. Stops before alice quits (alice stays registered)."""
    with _bench("r404", out) as b:
        alice = b.phone("alice", 5070)
        alice.cmd("/dial sip:dave@pbx.test")
        alice.wait_for("session closed", 5)
        b.cap.stop()


@recipe("call-rejected-480")
def call_rejected_480(out: Path) -> None:
    """A callee that rings, then says it is unavailable. One laptop (127.0.0.1), Kamailio on :5060
    (401 to REGISTER, 407 to INVITE, qop=auth, Record-Route). carol is sipp on :5080: it
    registers (REGISTER, 401, REGISTER with credentials, 200), then waits
    (call_ring_480.xml). baresip alice (:5070) registers (401, 200) and dials carol: 407,
    ACK, INVITE with credentials, 100 from Kamailio; carol rings at once (180, relayed) and 1 s
    later answers 480 Temporarily Unavailable; Kamailio ACKs it and relays it to alice, who
    ACKs. Stops before alice quits (alice and carol stay registered)."""
    _refused(out, "r480", "call_ring_480.xml")


@recipe("call-rejected-503")
def call_rejected_503(out: Path) -> None:
    """A callee (a gateway) out of service. One laptop (127.0.0.1), Kamailio on :5060 (401 to
    REGISTER, 407 to INVITE, qop=auth, Record-Route). carol is sipp on :5080: it registers
    (REGISTER, 401, REGISTER with credentials, 200), then waits (call_reject_503.xml). baresip
    alice (:5070) registers (401, 200) and dials carol: 407, ACK, INVITE with credentials, 100
    from Kamailio; carol answers 503 Service Unavailable at once; Kamailio ACKs it and, as RFC
    3261 16.7 asks of a proxy, relays it to alice as 500 Server Internal Error (tm's
    remap_503_500); alice ACKs. Stops before alice quits (alice and carol stay registered)."""
    _refused(out, "r503", "call_reject_503.xml")


@recipe("call-no-answer")
def call_no_answer(out: Path) -> None:
    """Nobody picks up. One laptop (127.0.0.1), Kamailio on :5060 (401 to REGISTER, 407 to INVITE,
    qop=auth, Record-Route) that gives an INVITE branch 3 s to be answered (tm fr_inv_timer
    3000 ms); baresip bob (:5072) and alice (:5070) register. alice dials bob: 407, ACK, INVITE
    with credentials, 100, bob rings at once (180, relayed) and nobody answers. 3 s later
    Kamailio gives up: it cancels bob's branch (CANCEL, 200 from bob, 487 from bob, ACK) and
    answers alice 408 Request Timeout, which alice ACKs; alice's phone then shows the call
    closed (408) and does nothing more. The capture stops 0.5 s later, before the phones quit
    (both stay registered)."""
    with _bench("noans", out, fr_inv_timeout_ms=3000) as b:
        bob = b.phone("bob", 5072)
        alice = b.phone("alice", 5070)
        alice.cmd("/dial sip:bob@pbx.test")
        bob.wait_for("Incoming call")
        alice.wait_for("session closed", 8)
        bob.wait_for("terminated|session closed|Request Terminated|cancel", 3)
        b.cap.stop()


@recipe("call-cancelled")
def call_cancelled(out: Path) -> None:
    """The caller gives up while it rings. One laptop (127.0.0.1), Kamailio on :5060 (401 to
    REGISTER, 407 to INVITE, qop=auth, Record-Route); baresip bob (:5072) and alice (:5070)
    register. alice dials bob: 407, ACK, INVITE with credentials, 100, bob rings at once (180,
    relayed); 1.5 s into the ringing alice hangs up: CANCEL to Kamailio (200), which cancels
    bob's branch (CANCEL, 200, 487 from bob, ACK) and relays the 487 Request Terminated to
    alice, who ACKs. The capture stops 0.5 s later, before the phones quit (both stay
    registered)."""
    with _bench("cancel", out) as b:
        bob = b.phone("bob", 5072)
        alice = b.phone("alice", 5070)
        alice.cmd("/dial sip:bob@pbx.test")
        bob.wait_for("Incoming call")
        time.sleep(1.5)
        alice.cmd("/hangup")
        bob.wait_for("terminated|session closed", 3)
        time.sleep(0.3)
        b.cap.stop()


@recipe("call-redirect")
def call_redirect(out: Path) -> None:
    """The callee has moved, and the caller follows. One laptop (127.0.0.1), Kamailio on :5060
    (401 to REGISTER, 407 to INVITE, qop=auth, Record-Route). carol is sipp on :5080: it
    registers (REGISTER, 401, REGISTER with credentials, 200), then waits (call_redirect.xml).
    baresip bob (:5072) and alice (:5070) register. alice dials carol: 407, ACK, INVITE with
    credentials, 100; carol answers 302 Moved Temporarily, Contact <sip:bob@pbx.test>, at once
    (Kamailio ACKs it and relays it; alice ACKs). baresip follows the redirection in the same
    dialog (same Call-ID and From tag, To still carol, next CSeq, the same credentials): an
    INVITE to sip:bob@pbx.test, 100, bob rings at once (180); bob answers 1 s later (200, ACK);
    alice hangs up 1.5 s after the call was established (BYE, 200). Stops before the phones quit
    (alice, bob and carol stay registered)."""
    with _bench("redir", out) as b:
        b.callee("call_redirect.xml", "target", "sip:bob@pbx.test")
        bob = b.phone("bob", 5072)
        alice = b.phone("alice", 5070)
        alice.cmd("/dial sip:carol@pbx.test")
        bob.wait_for("Incoming call", 5)
        time.sleep(1)
        bob.cmd("/accept")
        alice.wait_for("Call established")
        time.sleep(1.5)
        alice.cmd("/hangup")
        bob.wait_for("terminated|session closed")
        b.cap.stop()


@recipe("call-early-media")
def call_early_media(out: Path) -> None:
    """Early media, then an answer. One laptop (127.0.0.1), Kamailio on :5060 (401 to REGISTER,
    407 to INVITE, qop=auth, Record-Route). carol is sipp on :5080 (media :6080): it registers
    (REGISTER, 401, REGISTER with credentials, 200), then waits (call_early_media.xml). baresip
    alice (:5070) registers and dials carol: 407, ACK, INVITE with credentials, 100; carol
    answers 183 Session Progress with SDP (PCMA) at once and plays an announcement (RTP from
    sipp's g711a.pcap) to alice; 1.5 s later 200 OK with the same SDP (ACK); alice, sending her
    tone, hangs up 2 s after the call was established (BYE, 200). Stops before alice quits
    (alice and carol stay registered)."""
    with _bench("early", out) as b:
        b.callee("call_early_media.xml")
        alice = b.phone("alice", 5070)
        alice.cmd("/dial sip:carol@pbx.test")
        alice.wait_for("Call established", 5)
        time.sleep(2)
        alice.cmd("/hangup")
        alice.wait_for("terminated")
        time.sleep(0.3)
        b.cap.stop()


@recipe("call-slow-pdd")
def call_slow_pdd(out: Path) -> None:
    """A callee slow to ring. One laptop (127.0.0.1), Kamailio on :5060 (401 to REGISTER, 407 to
    INVITE, qop=auth, Record-Route). carol is sipp on :5080 (media :6080, echoing RTP): it
    registers (REGISTER, 401, REGISTER with credentials, 200), then waits (call_slow_pdd.xml).
    baresip alice (:5070) registers and dials carol: 407, ACK, INVITE with credentials, 100
    from Kamailio, 100 from carol at once; carol rings only 4 s later (180), answers 1 s after
    that (200 with SDP, ACK); alice hangs up 1.5 s after the call was established (BYE, 200).
    Post-dial delay about 4 s: too slow. Stops before alice quits (alice and carol stay
    registered)."""
    with _bench("slow", out) as b:
        b.callee("call_slow_pdd.xml", echo=True)
        alice = b.phone("alice", 5070)
        alice.cmd("/dial sip:carol@pbx.test")
        alice.wait_for("Call established", 8)
        time.sleep(1.5)
        alice.cmd("/hangup")
        alice.wait_for("terminated")
        time.sleep(0.3)
        b.cap.stop()


@recipe("call-direct")
def call_direct(out: Path) -> None:
    """Two phones, no PBX. One namespace whose loopback carries 192.168.56.10 (alice) and
    192.168.56.20 (bob); baresip alice (:5060) and bob (:5060) have accounts that do not
    register (no server). alice dials sip:bob@192.168.56.20 directly: bob rings at once (180,
    no challenge, no 100); bob answers 1 s later (200, ACK); alice hangs up 2 s after the call
    was established (BYE, 200). Only the INVITE dialog: no REGISTER at all."""
    with _bench("direct", out, pbx=False, addrs=("192.168.56.10/32", "192.168.56.20/32")) as b:
        bob = b.baresip("192.168.56.20", 5060, "<sip:bob@192.168.56.20>;regint=0")
        alice = b.baresip("192.168.56.10", 5060, "<sip:alice@192.168.56.10>;regint=0")
        alice.cmd("/dial sip:bob@192.168.56.20")
        bob.wait_for("Incoming call")
        time.sleep(1)
        bob.cmd("/accept")
        alice.wait_for("Call established")
        time.sleep(2)
        alice.cmd("/hangup")
        bob.wait_for("terminated|session closed")
        b.cap.stop()


def _answered_call(b: _Bench, alice: Baresip, bob: Baresip) -> None:
    """alice dials bob; bob answers 1 s after the ringing began; alice hangs up 2 s later."""
    alice.cmd("/dial sip:bob@pbx.test")
    bob.wait_for("Incoming call")
    time.sleep(1)
    bob.cmd("/accept")
    alice.wait_for("Call established")
    time.sleep(2)
    alice.cmd("/hangup")
    bob.wait_for("terminated|session closed")
    b.cap.stop()


@recipe("call-tcp")
def call_tcp(out: Path) -> None:
    """call-answered over TCP. One laptop (127.0.0.1), Kamailio listening on UDP and TCP :5060
    (401 to REGISTER, 407 to INVITE, qop=auth, Record-Route); baresip bob (:5072) and alice
    (:5070) use it as their outbound proxy over TCP (;transport=tcp): each registers over a TCP
    connection of its own (401, then 200). alice dials bob: 407, ACK, INVITE with credentials,
    100; Kamailio opens a TCP connection to bob's contact and relays it; bob rings at once (180);
    bob answers 1 s after the ringing began (200, ACK); alice hangs up 2 s after the call was
    established (BYE, 200). RTP over UDP. Stops before the phones quit (both stay
    registered)."""
    with _bench("tcp", out, listen=("udp:127.0.0.1:5060", "tcp:127.0.0.1:5060")) as b:
        proxy = "127.0.0.1:5060;transport=tcp"
        bob = b.phone("bob", 5072, proxy=proxy)
        alice = b.phone("alice", 5070, proxy=proxy)
        _answered_call(b, alice, bob)


@recipe("call-ipv6")
def call_ipv6(out: Path) -> None:
    """call-answered over IPv6. One laptop (::1 only), Kamailio on [::1]:5060 (401 to REGISTER,
    407 to INVITE, qop=auth, Record-Route); baresip bob ([::1]:5072) and alice ([::1]:5070)
    register (401, then 200). alice dials bob: 407, ACK, INVITE with credentials, 100, bob rings
    at once (180); bob answers 1 s after the ringing began (200, ACK); alice hangs up 2 s after
    the call was established (BYE, 200). RTP over IPv6. Stops before the phones quit (both stay
    registered)."""
    with _bench("ipv6", out, listen=("udp:[::1]:5060",)) as b:
        bob = b.phone("bob", 5072, ip="::1", proxy="[::1]:5060")
        alice = b.phone("alice", 5070, ip="::1", proxy="[::1]:5060")
        _answered_call(b, alice, bob)


@recipe("call-callee-gone")
def call_callee_gone(out: Path) -> None:
    """A call to a phone that went away without unregistering (power cut, lost network). One
    laptop (127.0.0.1), Kamailio on :5060 (401 to REGISTER, 407 to INVITE, qop=auth,
    Record-Route; tm fr_timer 5 s); baresip bob (:5072) and alice (:5070) register (401, then
    200); then bob's process is killed (SIGKILL): its binding stays in Kamailio's location
    table, nothing listens on :5072 any more. 0.5 s later alice dials bob: 407, ACK, INVITE with
    credentials, 100 from Kamailio, which relays the INVITE to bob's contact and resends it (after
    0.5, 1.5 and 3.5 s: four copies, each answered by an ICMP port unreachable, never by SIP);
    5 s after the relay Kamailio gives up and answers alice 408 Request Timeout (no CANCEL: the
    branch never answered), which alice ACKs. Stops 0.5 s later, before alice quits (alice and
    bob's stale binding stay registered)."""
    with _bench("gone", out) as b:
        bob = b.phone("bob", 5072)
        alice = b.phone("alice", 5070)
        stop(bob.proc, signal.SIGKILL)
        time.sleep(0.5)
        alice.cmd("/dial sip:bob@pbx.test")
        alice.wait_for("session closed", 8)
        b.cap.stop()
