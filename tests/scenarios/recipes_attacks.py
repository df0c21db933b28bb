"""Recipes of attacks on a PBX (SIPVicious, toll-fraud probes, forged Via headers), and of healthy
traffic that looks like them (many phones at once, a local UA, a mistyped password).

The attacker is a host of its own: a namespace joined to the PBX's by a veth, with an address from
203.0.113.0/24 (TEST-NET-3, standing for any Internet address); the PBX has 198.51.100.10
(TEST-NET-2), its public address. The attacker's route to the PBX's whole /24 goes through the PBX's
interface, so that a sweep of neighbouring addresses reaches the wire where the capture is (the
PBX's interface: the traffic of its Internet link) and goes unanswered there, as on a real link
where those addresses are empty. IPv6 is off in these namespaces (no router solicitations).

Each recipe says, in its docstring, what it does and with which timing; the label files are
written from that. Every sipvicious command binds (``-b``) to the attacker's address and names its
targets by IP address: nothing leaves the namespaces; ``-R`` (report back) is never used.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.scenarios.harness import (
    BenchError,
    Capture,
    Kamailio,
    Netns,
    phone,
    recipe,
    scratch,
    sipp,
)

PBX_IP = "198.51.100.10"
"""The PBX's public address (TEST-NET-2)."""
ATTACKER_IP = "203.0.113.66"
"""The attacker's Internet address (TEST-NET-3)."""
OFFICE_PUBLIC_IP = "192.0.2.20"
"""The public address of an office's NAT router (TEST-NET-1)."""


STOP_SETTLE = 1.5
"""Seconds between the scenario's end and the capture's: tcpdump (without --immediate-mode)
hands packets over in blocks retired up to a second late, and drops what it has not read when it
stops; 1.5 s lets the last block through."""


def _no_ipv6(ns: Netns) -> None:
    ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1")
    ns.sysctl("net.ipv6.conf.default.disable_ipv6", "1")


@contextlib.contextmanager
def internet(hint: str) -> Iterator[tuple[Netns, Netns, str]]:
    """Two hosts on the Internet: the PBX's (``PBX_IP``) and the attacker's (``ATTACKER_IP``),
    joined by a veth; yields (pbx namespace, attacker namespace, the PBX's interface). The attacker
    reaches all of 198.51.100.0/24 through the PBX's interface (its addresses but the PBX's are
    empty: what is sent there is dropped unanswered)."""
    with Netns(hint) as pbx, Netns("atk") as atk:
        for ns in (pbx, atk):
            _no_ipv6(ns)
        dev, atk_dev = pbx.link(atk, f"{PBX_IP}/24", f"{ATTACKER_IP}/24")
        pbx.route("203.0.113.0/24", "dev", dev)
        atk.route(f"{PBX_IP}/32", "dev", atk_dev)
        atk.route("198.51.100.0/24", "via", PBX_IP, "dev", atk_dev)
        yield pbx, atk, dev


BIND = ("-b", ATTACKER_IP, "-x", ATTACKER_IP)
"""SIPVicious options: bind to the attacker's address, and name it in Via and Contact. svwar and
svcrack 0.3.3 ignore ``-b`` for their headers and, without ``-x``, write there what the machine's
host name resolves to (127.0.0.1 or 127.0.1.1 on most machines): a Via that would depend on the
machine the scenario is recorded on."""


def _tool(ns: Netns, argv: Sequence[str], timeout: float = 40) -> str:
    """Run a SIPVicious tool in the attacker's namespace; its whole output (it logs to stderr)."""
    proc = ns.run(argv, check=False, timeout=timeout, cwd="/tmp")
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise BenchError(f"{argv[0]} exited {proc.returncode}: {out[-1500:]}")
    return out


ACCOUNTS = {"101": "x9Kq-77rt", "102": "blue-fox-42", "105": "s3cret-105", "107": "Tr0ub4dor"}
"""The PBX's accounts in the attack scenarios (numbered extensions, as on most PBXs)."""


@contextlib.contextmanager
def attacked_pbx(out: Path, hint: str) -> Iterator[tuple[Netns, Kamailio]]:
    """The PBX on the Internet (Kamailio on ``PBX_IP``:5060, ``ACCOUNTS``, 401 to REGISTER, 407 to
    INVITEs from its own accounts, qop=auth, Record-Route) and the attacker's host, tcpdump on the
    PBX's interface; yields the attacker's namespace and the PBX. The capture stops (0.5 s after
    the block) before Kamailio does."""
    with internet(hint) as (pbx_ns, atk, dev):
        cap = Capture(pbx_ns, out, iface=dev)
        pbx = Kamailio(pbx_ns, [f"udp:{PBX_IP}:5060"], ACCOUNTS)
        try:
            yield atk, pbx
            cap.stop(STOP_SETTLE)
        finally:
            pbx.close()


@recipe("attack-svmap")
def attack_svmap(out: Path) -> None:
    """An Internet attacker (203.0.113.66) sweeps 198.51.100.8-198.51.100.12 with SIPVicious svmap
    (``svmap -b 203.0.113.66 -x 203.0.113.66 198.51.100.8-198.51.100.12``): one OPTIONS
    sip:100@ADDRESS to port 5060 of each address, in address order, about 6 ms apart, each from
    203.0.113.66:5060 (Via too), with User-Agent friendly-scanner and From/To "sipvicious"
    <sip:100@1.1.1.1>, sent once. Only 198.51.100.10 is a host: the PBX (Kamailio, 100 is no user
    of it) answers 404 Not Found; the four other addresses are empty and answer nothing. svmap
    waits 3 s for late answers and reports one SIP device, the PBX. The capture is on the PBX's
    link, where all five probes pass."""
    with attacked_pbx(out, "svmap") as (atk, _pbx):
        report = _tool(atk, ["svmap", *BIND, "198.51.100.8-198.51.100.12"])
        found = re.findall(r"\|\s*(\d+\.\d+\.\d+\.\d+:\d+)\s*\|", report)
        if found != [f"{PBX_IP}:5060"]:
            raise BenchError(f"svmap found {found}, not the PBX alone: {report}")


@recipe("attack-svwar")
def attack_svwar(out: Path) -> None:
    """An Internet attacker (203.0.113.66) enumerates the extensions of the PBX (198.51.100.10,
    Kamailio; accounts 101, 102, 105 and 107, none registered) with SIPVicious svwar by INVITE
    (``svwar -m INVITE -e 100-110 -b 203.0.113.66 -x 203.0.113.66 198.51.100.10``), all from
    203.0.113.66:5060 (Via too), User-Agent friendly-scanner, From = To = the extension at
    198.51.100.10. First an INVITE to a random 32-bit number (svwar learns how the PBX answers an
    unknown user: 404 Not Found), then one INVITE per extension 100 to 110, about 6 ms apart, each
    sent once. The PBX answers 407 Proxy Authentication Required (stateless) to the four accounts
    and 404 Not Found (a transaction: t_newtran) to the other seven and to the random number;
    svwar never answers a challenge, and lists 101, 102, 105, 107 as existing ("reqauth"). svwar
    acknowledges every final response, but its ACK has a branch of its own (not the INVITE's: RFC
    3261 section 17.1.1.3), so Kamailio's INVITE transactions do not match it and go on resending
    their 404 (Timer G: 0.5 s, 1 s, 2 s, 4 s), each resend acknowledged the same way; svwar stops
    once no answer came for 3 s (about 7 s in), and the capture stops 1.5 s after it, well before
    Timer H (32 s)."""
    with attacked_pbx(out, "svwar") as (atk, _pbx):
        report = _tool(atk, ["svwar", "-m", "INVITE", "-e", "100-110", *BIND, PBX_IP])
        found = sorted(re.findall(r"\|\s*(\d+)\s*\|\s*reqauth", report))
        if found != sorted(ACCOUNTS):
            raise BenchError(f"svwar found {found}, not {sorted(ACCOUNTS)}: {report}")


def _svcrack(out: Path, hint: str, words: Sequence[str], user: str) -> str:
    with attacked_pbx(out, hint) as (atk, _pbx), scratch() as tmp:
        (tmp / "passwords.txt").write_text("".join(f"{w}\n" for w in words))
        argv = ["svcrack", "-u", user, "-d", str(tmp / "passwords.txt"), *BIND]
        return _tool(atk, [*argv, PBX_IP])


FAIL_WORDS = ("1234", "0000", "password", "101", "12345", "101101", "letmein", "qwerty")
"""svcrack's dictionary when it fails: none is 101's password."""


@recipe("attack-svcrack-fail")
def attack_svcrack_fail(out: Path) -> None:
    """An Internet attacker (203.0.113.66) guesses the password of account 101 of the PBX
    (198.51.100.10, Kamailio, REGISTER challenged with 401, qop=auth, realm = the From domain
    198.51.100.10) with SIPVicious svcrack and a dictionary of 8 words, none of them right
    (``svcrack -u 101 -d DICT -b 203.0.113.66 -x 203.0.113.66 198.51.100.10``; DICT: 1234 0000
    password 101 12345 101101 letmein qwerty). All in one Call-ID, from 203.0.113.66:5060 (Via
    too), User-Agent friendly-scanner, Contact sip:123@1.1.1.1 (svcrack's fixed one): a REGISTER
    without credentials (CSeq 1), 401; then one REGISTER per word with an Authorization for user
    101 (svcrack leaves CSeq at 2 for every one of them, each a new branch), each refused with a
    new 401 within a millisecond, the next guess about 6 ms later: 8 refusals in about 50 ms.
    svcrack then runs out of words, waits 10 s for late answers and reports nothing found; the
    capture stops 1.5 s after it."""
    report = _svcrack(out, "crackf", FAIL_WORDS, "101")
    if "found nothing" not in report:
        raise BenchError(f"svcrack found a password it should not: {report}")


SUCCESS_WORDS = ("1234", "0000", "password", "102", "12345", "blue-fox-42", "letmein", "qwerty")
"""svcrack's dictionary when it succeeds: 102's password is the sixth word."""


@recipe("attack-svcrack-success")
def attack_svcrack_success(out: Path) -> None:
    """An Internet attacker (203.0.113.66) guesses the password of account 102 of the PBX
    (198.51.100.10, Kamailio, REGISTER challenged with 401, qop=auth, realm 198.51.100.10) with
    SIPVicious svcrack and a dictionary of 8 words whose sixth is 102's password
    (``svcrack -u 102 -d DICT -b 203.0.113.66 -x 203.0.113.66 198.51.100.10``; DICT: 1234 0000
    password 102 12345 blue-fox-42 letmein qwerty). All in one Call-ID, from 203.0.113.66:5060
    (Via too), User-Agent friendly-scanner: a REGISTER without credentials (CSeq 1), 401; then one
    REGISTER per word with an Authorization for user 102 (CSeq 2 every time, a new branch each),
    about 6 ms apart: the first five refused (401 each), the sixth accepted (200 OK, binding the
    Contact svcrack sends, its fixed sip:123@1.1.1.1, for 3600 s): 5 refusals then a success in
    about 40 ms. svcrack stops at once and reports the password; the capture stops 1.5 s after."""
    report = _svcrack(out, "cracks", SUCCESS_WORDS, "102")
    if not re.search(r"\|\s*102\s*\|\s*blue-fox-42\s*\|", report):
        raise BenchError(f"svcrack did not find 102's password: {report}")


TOLL_NUMBERS = ("00972595000101", "+441632960102", "01144163296010", "9011441632960104")
"""Numbers a toll-fraud probe tries: international, with the prefixes a PBX might use."""


@recipe("attack-toll-fraud")
def attack_toll_fraud(out: Path) -> None:
    """A toll-fraud probe from the Internet: sipp on 203.0.113.66:5060 (atk_toll_fraud.xml, no
    User-Agent header) sends four INVITEs, 0.5 s apart, to long international numbers at the PBX's
    bare IP address: sip:00972595000101@198.51.100.10, sip:+441632960102@...,
    sip:01144163296010@..., sip:9011441632960104@... (the same destination behind the prefixes a
    PBX might want), each From "100" <sip:100@198.51.100.10> (100 is no account), with an SDP
    offer. The PBX (Kamailio) asks no credentials of a From that is no account of it, finds none
    of the numbers registered and answers each 404 Not Found (a transaction: no 100 Trying); sipp
    acknowledges each 404 in its transaction (ACK with the INVITE's Via) and ends."""
    with attacked_pbx(out, "toll") as (atk, _pbx), scratch() as tmp:
        numbers = tmp / "numbers.csv"
        numbers.write_text("SEQUENTIAL\n" + "".join(f"{n};\n" for n in TOLL_NUMBERS))
        args = ["-inf", str(numbers), "-r", "2", "-timeout", "15", "-timeout_error"]
        sipp(atk, "atk_toll_fraud.xml", ip=ATTACKER_IP, port=5060, remote=f"{PBX_IP}:5060",
             calls=len(TOLL_NUMBERS), args=args)  # fmt: skip


@recipe("attack-spoofed-via")
def attack_spoofed_via(out: Path) -> None:
    """Forged Via headers from the Internet: sipp on 203.0.113.66:5060 (atk_spoofed_via.xml) sends
    two INVITEs to sip:100@198.51.100.10 (100 is no account of the PBX), 1 s apart, From "100"
    <sip:100@198.51.100.10>, no User-Agent: the first with Via SIP/2.0/UDP 127.0.0.1:5060 (a
    loopback address; Contact and SDP say 127.0.0.1 too), the second with Via SIP/2.0/UDP
    198.51.100.10:5060 (the PBX's own address; Contact and SDP too). Both packets come from
    203.0.113.66. The PBX (Kamailio) answers each 404 Not Found to the packet's source (it adds
    received=203.0.113.66 to the Via), port 5060; sipp acknowledges each 404 with the same Via
    (the forged one, received added) and ends."""
    with attacked_pbx(out, "spoof") as (atk, _pbx):
        for via in ("127.0.0.1", PBX_IP):
            args = ["-s", "100", "-key", "via_host", via, "-timeout", "10", "-timeout_error"]
            sipp(atk, "atk_spoofed_via.xml", ip=ATTACKER_IP, port=5060, remote=f"{PBX_IP}:5060",
                 args=args)  # fmt: skip
            time.sleep(1)


LOCAL_USERS = {"alice": "alice-secret", "bob": "bob-secret"}


@recipe("control-local-ua")
def control_local_ua(out: Path) -> None:
    """One host (a Debian machine whose host name maps to 127.0.1.1): Kamailio on 127.0.0.1:5060
    (401 to REGISTER, 407 to INVITE, qop=auth, Record-Route), baresip bob on 127.0.0.1:5072
    (registers: 401, 200), and a UA for alice on 127.0.0.1:5070 that takes
    its address from the host name, as UAs bound to every address do: sipp, its Via, Contact and
    SDP saying 127.0.1.1 (port 5070; media 127.0.1.1:6000) while its packets go from
    127.0.0.1:5070 to 127.0.0.1:5060 (ctl_local_register.xml, then ctl_local_call.xml). alice
    registers (REGISTER, 401, REGISTER with credentials, 200; Kamailio answers to the source,
    adding received=127.0.0.1 to the Via), then about 0.1 s later calls bob in a Call-ID of its own:
    INVITE, 407, ACK, INVITE with credentials, 100, bob's 180 at once (relayed), bob answers 0.5 s
    later (200, relayed), ACK through the proxy; 2 s of call, bob's media echoed back by sipp
    (-rtp_echo); alice hangs up (BYE through the proxy, 200). Nothing is wrong: the UA is on the PBX's own host, and a host may name any of
    its loopback addresses."""
    with Netns("localua") as ns:
        cap = Capture(ns, out)
        pbx = Kamailio(ns, ["udp:127.0.0.1:5060"], LOCAL_USERS)
        bob = None
        try:
            bob = phone(ns, "bob", LOCAL_USERS["bob"], "127.0.0.1", 5072)
            common = ["-s", "alice", "-au", "alice", "-ap", LOCAL_USERS["alice"], "-key", "domain",
                      "pbx.test", "-key", "via_host", "127.0.1.1", "-timeout", "15",
                      "-timeout_error"]  # fmt: skip
            sipp(ns, "ctl_local_register.xml", ip="127.0.0.1", port=5070, remote="127.0.0.1:5060",
                 args=common)  # fmt: skip
            call = [*common, "-key", "callee", "bob", "-mi", "127.0.1.1", "-rtp_echo"]
            caller = sipp(ns, "ctl_local_call.xml", ip="127.0.0.1", port=5070,
                          remote="127.0.0.1:5060", args=call, background=True)  # fmt: skip
            bob.wait_for("Incoming call")
            time.sleep(0.5)
            bob.cmd("/accept")
            if caller.wait(20) != 0:
                raise BenchError(f"alice's call failed (sipp exited {caller.returncode})")
            bob.wait_for("terminated")
            cap.stop(STOP_SETTLE)
        finally:
            if bob is not None:
                bob.close()
            pbx.close()


@contextlib.contextmanager
def lan(hint: str, pbx_ip: str, peer_ips: Sequence[str]) -> Iterator[tuple[Netns, Netns, str]]:
    """A PBX host and another host on one LAN (192.168.1.0/24), joined by a veth: yields (the PBX's
    namespace, the other's, the PBX's interface); ``peer_ips`` are the other host's addresses."""
    with Netns(hint) as pbx, Netns("desk") as desk:
        for ns in (pbx, desk):
            _no_ipv6(ns)
        dev, desk_dev = pbx.link(desk, f"{pbx_ip}/24", f"{peer_ips[0]}/24")
        for ip in peer_ips[1:]:
            desk.addr(f"{ip}/24", desk_dev)
        yield pbx, desk, dev


TYPO_PASSWORD = "sunflower-73"
TYPO_TYPED = "sunflower-37"


@recipe("control-typo")
def control_typo(out: Path) -> None:
    """A person mistypes a password once: on a LAN, the PBX (Kamailio on 192.168.1.10:5060, 401 to
    REGISTER, qop=auth, realm pbx.test) and a softphone on 192.168.1.23:5060 (sipp,
    ctl_typo_register.xml, User-Agent DeskSoftphone/5.0). The person sets up account alice with
    the password typed wrong (sunflower-37 for sunflower-73): REGISTER, 401, REGISTER with
    credentials, 401 again; the phone gives up and shows the error. 4 s later the person has typed
    the password again, right, and the phone registers anew in a new Call-ID from the same port:
    REGISTER, 401, REGISTER with credentials, 200 (bound for 3600 s). The capture is on the PBX's
    interface and stops right after."""
    with lan("typo", "192.168.1.10", ["192.168.1.23"]) as (pbx_ns, desk, dev):
        cap = Capture(pbx_ns, out, iface=dev)
        pbx = Kamailio(pbx_ns, ["udp:192.168.1.10:5060"], {"alice": TYPO_PASSWORD})
        try:
            for password in (TYPO_TYPED, TYPO_PASSWORD):
                args = ["-s", "alice", "-au", "alice", "-ap", password, "-key", "domain",
                        "pbx.test", "-timeout", "10", "-timeout_error"]  # fmt: skip
                sipp(desk, "ctl_typo_register.xml", ip="192.168.1.23", port=5060,
                     remote="192.168.1.10:5060", args=args)  # fmt: skip
                if password == TYPO_TYPED:
                    time.sleep(4)
            cap.stop(STOP_SETTLE)
        finally:
            pbx.close()


OFFICE_PHONES = {str(ext): f"desk-{ext}-pw" for ext in range(201, 213)}
"""The twelve desk phones of the office (sipp), by extension."""
OFFICE_USERS = {
    **OFFICE_PHONES,
    "alice": "alice-secret",
    "bob": "bob-secret",
    "carol": "carol-secret",
    "dave": "dave-secret",
}
CAROL_IP = "198.51.100.30"
DAVE_IP = "198.51.100.31"


@recipe("control-many-phones")
def control_many_phones(out: Path) -> None:
    """A small office starts up behind its NAT router: twelve desk phones and two softphones
    register with their hosted PBX within two seconds, then two calls.

    Hosts: the PBX on the Internet (Kamailio on 198.51.100.10:5060, domain pbx.test, 401 to
    REGISTER, 407 to INVITE, qop=auth, Record-Route, NAT fix-ups: rport, received, Contact and SDP
    rewritten to the public address); the office LAN 192.168.1.0/24 behind a NAT router
    (masquerade to its public address 192.0.2.20, a Linux router without SIP helper): desk phones
    201 to 212 (sipp, ctl_phone_boot.xml, User-Agent OfficePhone/2.1) on 192.168.1.101 to .112
    port 5060, softphones alice (baresip, 192.168.1.201:5060) and bob (baresip,
    192.168.1.202:5062); carol (198.51.100.30:5060) and dave (198.51.100.31:5060), baresip
    softphones of two teleworkers with public addresses, registered beforehand and answering at
    once (their traffic with the PBX does not cross the capture point).

    The capture is on the PBX's Internet link, where all the office's traffic arrives from
    192.0.2.20 (each phone from a port of its own). The desk phones start 0.1 s apart (1.1 s in
    all): each registers (REGISTER, 401, REGISTER with credentials, 200) and, one second later,
    registers again in the same Call-ID, again without credentials first (REGISTER, 401,
    REGISTER with credentials, 200): 24 challenges and 24 acceptances in about 2.2 s. alice and
    bob register at the same time (401, 200). Then alice calls carol (INVITE, 407, ACK, INVITE
    with credentials, 100, 180, 200, ACK), and 0.3 s later bob calls dave the same way; 2 s after
    each answer the caller hangs up (BYE, 200). Media flows both ways through the NAT in each call
    (PCMU, the sine tone of baresip). Nothing is wrong: every challenge was answered with the right
    password."""
    with (
        Netns("office") as office,
        Netns("router") as router,
        Netns("hosted") as pbx_ns,
        Netns("carol") as carol_ns,
        Netns("dave") as dave_ns,
        Netns("bob") as bob_ns,
    ):
        for ns in (office, router, pbx_ns, carol_ns, dave_ns, bob_ns):
            _no_ipv6(ns)
        # The Internet: the PBX's host routes between the office's router and the teleworkers.
        wan, pbx_dev = router.link(pbx_ns, f"{OFFICE_PUBLIC_IP}/24", f"{PBX_IP}/24")
        pbx_ns.route("192.0.2.0/24", "dev", pbx_dev)
        router.route(f"{PBX_IP}/32", "dev", wan)
        router.route("198.51.100.0/24", "via", PBX_IP, "dev", wan)
        for ns, ip in ((carol_ns, CAROL_IP), (dave_ns, DAVE_IP)):
            far, near = pbx_ns.link(ns, f"{PBX_IP}/32", f"{ip}/32")
            pbx_ns.route(f"{ip}/32", "dev", far)
            ns.route(f"{PBX_IP}/32", "dev", near)
            ns.route("default", "via", PBX_IP, "dev", near)
        pbx_ns.sysctl("net.ipv4.ip_forward", "1")
        # The office: a LAN behind a NAT router.
        _, office_dev = router.link(office, "192.168.1.1/24", "192.168.1.201/24")
        router.sysctl("net.ipv4.ip_forward", "1")
        router.run(["iptables", "-t", "nat", "-A", "POSTROUTING", "-o", wan, "-j", "MASQUERADE"])
        for ports, ip in (("16000:16099", "192.168.1.201"), ("16200:16299", "192.168.1.202")):
            router.run(["iptables", "-t", "nat", "-A", "PREROUTING", "-i", wan, "-p", "udp",
                        "--dport", ports, "-j", "DNAT", "--to-destination", ip])  # fmt: skip
        # bob's laptop: a host of its own on the LAN (its own port of the router's switch).
        lan2, _ = router.link(bob_ns, "192.168.1.1/32", "192.168.1.202/24")
        router.route("192.168.1.202/32", "dev", lan2)
        bob_ns.route("default", "via", "192.168.1.1")
        desk_ips = {ext: f"192.168.1.{100 + i}" for i, ext in enumerate(OFFICE_PHONES, 1)}
        for ip in desk_ips.values():
            office.addr(f"{ip}/24", office_dev)
        office.route("default", "via", "192.168.1.1")
        pbx = Kamailio(pbx_ns, [f"udp:{PBX_IP}:5060"], OFFICE_USERS,
                       defines=("WITH_QOP", "WITH_RR", "WITH_NAT", "WITH_INVITE_AUTH"))  # fmt: skip
        phones = []
        try:
            proxy = f"{PBX_IP}:5060"
            for ns, user, ip in ((carol_ns, "carol", CAROL_IP), (dave_ns, "dave", DAVE_IP)):
                auto = ";answermode=auto"
                remote = phone(ns, user, OFFICE_USERS[user], ip, 5060, proxy=proxy, params=auto,
                               rtp_ports="20000-20098")  # fmt: skip
                phones.append(remote)
            cap = Capture(pbx_ns, out, iface=pbx_dev)
            desks = []
            for ext, ip in desk_ips.items():
                args = ["-s", ext, "-au", ext, "-ap", OFFICE_PHONES[ext], "-key", "domain",
                        "pbx.test", "-timeout", "15", "-timeout_error"]  # fmt: skip
                desks.append(sipp(office, "ctl_phone_boot.xml", ip=ip, port=5060,
                                  remote=proxy, args=args, background=True))  # fmt: skip
                time.sleep(0.1)
            alice = phone(
                office, "alice", OFFICE_USERS["alice"], "192.168.1.201", 5060, proxy=proxy
            )
            phones.append(alice)
            bob = phone(bob_ns, "bob", OFFICE_USERS["bob"], "192.168.1.202", 5062, proxy=proxy)
            phones.append(bob)
            for proc in desks:
                if proc.wait(20) != 0:
                    raise BenchError(f"a desk phone failed (sipp exited {proc.returncode})")
            alice.cmd("/dial sip:carol@pbx.test")
            time.sleep(0.3)
            bob.cmd("/dial sip:dave@pbx.test")
            for b in (alice, bob):
                b.wait_for("Call established")
            time.sleep(2)
            marks = [alice.mark(), bob.mark()]
            alice.cmd("/hangup")
            time.sleep(0.3)
            bob.cmd("/hangup")
            for b, mark in zip((alice, bob), marks, strict=True):
                b.wait_for("terminated", after=mark)
            cap.stop(STOP_SETTLE)
        finally:
            for b in phones:
                b.close()
            pbx.close()
