"""Tests of the terminal renderer: golden renders at fixed widths, layout properties, injection.

Traces are built by hand (``Capture`` below), so these tests depend on nothing but ``model`` and the
render package. Set ``SIPSNIFF_UPDATE_GOLDEN=1`` to rewrite the golden files, then read them.
"""

from __future__ import annotations

import datetime
import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console

from sipsniff.model import (
    CaptureInfo,
    Dialog,
    Endpoint,
    Entry,
    Message,
    Payload,
    Skipped,
    Trace,
    Transaction,
)
from sipsniff.render.base import RENDERERS, RenderOptions
from sipsniff.render.terminal import TerminalRenderer

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("SIPSNIFF_UPDATE_GOLDEN") == "1"

# -- building traces by hand -------------------------------------------------------------------

_FIELD = re.compile(r"^([A-Za-z-]+)[ \t]*:[ \t]*(.*)$")


def _nameaddr(value: str) -> tuple[str, str, str | None]:
    """(display name, uri, tag) of a From/To value, for the simple values the tests write."""
    name, _, rest = value.rpartition("<")
    uri, _, params = rest.partition(">")
    tag = re.search(r";tag=([^;]+)", params)
    return name.strip().strip('"'), uri, tag.group(1) if tag else None


def sip(
    ts_ns: int,
    src: Endpoint,
    dst: Endpoint,
    start: str,
    headers: Sequence[str],
    body: bytes = b"",
    **fields: object,
) -> Message:
    """A Message with raw text from ``start``, ``headers`` and ``body``; fields parsed from them.

    Keyword arguments override parsed fields (for values raw text cannot carry, like a CR).
    """
    lines = [start, *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    head = "\r\n".join(lines).encode() + b"\r\n\r\n"
    raw = head + body
    values: dict[str, str] = {}
    for line in headers:
        m = _FIELD.match(line)
        if m:
            values.setdefault(m.group(1).lower(), m.group(2))
    parts = start.split(" ", 2)
    is_request = not start.startswith("SIP/2.0")
    cseq_num, _, cseq_method = values.get("cseq", "").partition(" ")
    from_name, from_uri, from_tag = _nameaddr(values.get("from", "<>"))
    to_name, to_uri, to_tag = _nameaddr(values.get("to", "<>"))
    branch = re.search(r";branch=([^;]+)", values.get("via", ""))
    msg = Message(
        pkt=Payload(frame=0, ts_ns=ts_ns, src=src, dst=dst, transport="udp", data=raw),
        raw=raw,
        method=parts[0] if is_request else None,
        ruri=parts[1] if is_request else None,
        status=None if is_request else int(parts[1]),
        reason=None if is_request else parts[2],
        call_id=values.get("call-id", ""),
        cseq_num=int(cseq_num) if cseq_num.isdigit() else None,
        cseq_method=cseq_method,
        branch=branch.group(1) if branch else None,
        sent_by=str(src),
        from_uri=from_uri,
        from_name=from_name,
        from_tag=from_tag,
        to_uri=to_uri,
        to_name=to_name,
        to_tag=to_tag,
        content_length=len(body),
        body_start=len(head),
    )
    return msg._replace(**fields)


@dataclass
class Capture:
    """Builds a Trace the way the correlator would: entries, transactions and dialogs."""

    resolution: int = 6
    trace: Trace = field(default_factory=Trace)

    def __post_init__(self) -> None:
        self.trace.inputs.append(CaptureInfo("test.pcap", "pcap", resolution=self.resolution))

    def transaction(self, method: str, dialog: int) -> int:
        index = len(self.trace.transactions)
        self.trace.transactions.append(Transaction(index, (str(index),), method, dialog))
        return index

    def add(self, msg: Message, tx: int, retransmission_of: int | None = None) -> int:
        index = len(self.trace.entries)
        transaction = self.trace.transactions[tx]
        msg = msg._replace(pkt=msg.pkt._replace(frame=index + 1))
        entry = Entry(index, msg, transaction.dialog, tx, retransmission_of)
        self.trace.entries.append(entry)
        transaction.messages.append(index)
        if msg.is_request and transaction.request is None:
            transaction.request = index
        if not msg.is_request and msg.status is not None and msg.status >= 200:
            transaction.final = transaction.final if transaction.final is not None else index
        return index

    def dialog(self, state: str) -> Dialog:
        """Close the dialog of the last transactions added, with ``state``."""
        number = len(self.trace.dialogs) + 1
        mine = [e for e in self.trace.entries if e.dialog == number]
        first = mine[0].msg
        dialog = Dialog(
            index=number,
            call_id=first.call_id,
            first_method=first.method or "",
            from_uri=first.from_uri,
            from_name=first.from_name,
            to_uri=first.to_uri,
            to_name=first.to_name,
            src=first.src,
            dst=first.dst,
            start_ns=first.ts_ns,
            end_ns=mine[-1].msg.ts_ns,
            messages=[e.index for e in mine],
            transactions=sorted({e.transaction for e in mine}),
            state=state,
            retransmissions=sum(1 for e in mine if e.retransmission),
        )
        self.trace.dialogs.append(dialog)
        return dialog


S = 1_000_000_000
T0 = 1_795_636_207 * S  # 2026-11-25 19:50:07 UTC, the time of captures/register-407.pcap
CLIENT = Endpoint("127.0.0.1", 36140)
SERVER = Endpoint("127.0.0.1", 36139)


def register_flow(cap: Capture, t0: int = T0 + 32_470_000) -> Dialog:
    """REGISTER -> 407 -> REGISTER -> 200, as in captures/register-407.pcap (µs apart)."""
    common = [
        'From: "100" <sip:100@127.0.0.1>;tag=4751SIPpTag001',
        'To: "100" <sip:100@127.0.0.1>',
        "Call-ID: 1-4751@127.0.0.1",
    ]
    via1 = "Via: SIP/2.0/UDP 127.0.0.1:36140;branch=z9hG4bK-4751-1-0;rport"
    via2 = "Via: SIP/2.0/UDP 127.0.0.1:36140;branch=z9hG4bK-4751-1-3;rport"
    dialog = len(cap.trace.dialogs) + 1
    tx1 = cap.transaction("REGISTER", dialog)
    cap.add(
        sip(t0, CLIENT, SERVER, "REGISTER sip:127.0.0.1 SIP/2.0",
            [via1, "Max-Forwards: 70", *common, "CSeq: 1 REGISTER", "Expires: 3600",
             "User-Agent: SIPp"]),
        tx1,
    )
    cap.add(
        sip(t0 + 152_000, SERVER, CLIENT, "SIP/2.0 407 Proxy Authentication Required",
            [via1, *common[:1], common[1] + ";tag=4747SIPpTag011", common[2], "CSeq: 1 REGISTER",
             'Proxy-Authenticate: Digest realm="myvoipapp.com",algorithm=MD5,'
             'nonce="18bf67854ae23d6d2cd772af69535f91",stale=FALSE']),
        tx1,
    )
    tx2 = cap.transaction("REGISTER", dialog)
    cap.add(
        sip(t0 + 219_000, CLIENT, SERVER, "REGISTER sip:127.0.0.1 SIP/2.0",
            [via2, "Max-Forwards: 70", *common, "CSeq: 2 REGISTER", "Expires: 3600",
             'Proxy-Authorization: Digest username="101",realm="myvoipapp.com",'
             'uri="sip:127.0.0.1:36139",nonce="18bf67854ae23d6d2cd772af69535f91",'
             'response="2bc80f0aef6ccfb8f2dba5d5f656a6b8",algorithm=MD5',
             "User-Agent: SIPp"]),
        tx2,
    )
    cap.add(
        sip(t0 + 249_000, SERVER, CLIENT, "SIP/2.0 200 OK",
            [via2, *common[:1], common[1] + ";tag=4747SIPpTag011", common[2], "CSeq: 2 REGISTER",
             "Contact: <sip:100@:5060>", "Expires: 120"]),
        tx2,
    )
    return cap.dialog("REGISTERED")


ALICE = Endpoint("10.0.0.5", 5060)
PROXY = Endpoint("10.0.0.1", 5060)
BOB = Endpoint("10.0.0.9", 5062)

SDP_ALICE = (
    b"v=0\r\no=alice 2890844526 2890844526 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\n"
    b"t=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
)
SDP_BOB = (
    b"v=0\r\no=bob 2808844564 2808844564 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\n"
    b"t=0 0\r\nm=audio 5000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def proxy_call(cap: Capture, t0: int = T0 + 5 * S) -> Dialog:
    """Alice calls Bob through a proxy: a retransmitted INVITE, 100/180/200 with SDP, ACK, and a
    BYE sent straight from Alice to Bob (no Record-Route), crossing the proxy's lifeline."""
    dialog = len(cap.trace.dialogs) + 1
    call_id = "Call-ID: a84b4c76e66710@pc33.atlanta.example.com"
    frm = 'From: "Alice Liddell" <sip:alice@atlanta.example.com>;tag=1928301774'
    to = "To: <sip:bob@biloxi.example.com>"
    to_tagged = to + ";tag=a6c85cf"
    ua = "User-Agent: Linphone/5.2.0 (belle-sip/5.2.0)"
    invite_a = [
        "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKnashds8",
        "Max-Forwards: 70", to, frm, call_id, "CSeq: 314159 INVITE",
        "Contact: <sip:alice@10.0.0.5:5060>", ua, "Content-Type: application/sdp",
    ]
    invite_p = [
        "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK2d4790.1",
        *invite_a[:1], "Max-Forwards: 69", *invite_a[2:6],
        "Contact: <sip:alice@10.0.0.5:5060>", ua, "Content-Type: application/sdp",
    ]
    server = "Server: Kamailio (5.7.2 (x86_64/linux))"
    bob_ua = "User-Agent: Yealink SIP-T46U 108.86.0.45"

    def resp(status: str, via: list[str], *extra: str, tag: bool = True) -> list[str]:
        return [*via, frm, to_tagged if tag else to, call_id, "CSeq: 314159 INVITE", *extra]

    tx_a = cap.transaction("INVITE", dialog)
    first = cap.add(sip(t0, ALICE, PROXY, "INVITE sip:bob@biloxi.example.com SIP/2.0",
                        invite_a, SDP_ALICE), tx_a)
    cap.add(sip(t0 + 500_812_000, ALICE, PROXY, "INVITE sip:bob@biloxi.example.com SIP/2.0",
                invite_a, SDP_ALICE), tx_a, first)
    cap.add(sip(t0 + 1_502_044_000, ALICE, PROXY, "INVITE sip:bob@biloxi.example.com SIP/2.0",
                invite_a, SDP_ALICE), tx_a, first)
    cap.add(sip(t0 + 1_512_003_000, PROXY, ALICE, "SIP/2.0 100 Trying",
                resp("100", invite_a[:1], server, tag=False)), tx_a)
    tx_b = cap.transaction("INVITE", dialog)
    cap.add(sip(t0 + 1_513_090_000, PROXY, BOB, "INVITE sip:bob@10.0.0.9:5062 SIP/2.0",
                invite_p, SDP_ALICE), tx_b)
    cap.add(sip(t0 + 1_530_411_000, BOB, PROXY, "SIP/2.0 180 Ringing",
                resp("180", invite_p[:2], bob_ua)), tx_b)
    cap.add(sip(t0 + 1_531_002_000, PROXY, ALICE, "SIP/2.0 180 Ringing",
                resp("180", invite_a[:1], bob_ua)), tx_a)
    ok_b = ["Contact: <sip:bob@10.0.0.9:5062>", bob_ua, "Content-Type: application/sdp"]
    cap.add(sip(t0 + 4_207_330_000, BOB, PROXY, "SIP/2.0 200 OK",
                resp("200", invite_p[:2], *ok_b), SDP_BOB), tx_b)
    cap.add(sip(t0 + 4_208_100_000, PROXY, ALICE, "SIP/2.0 200 OK",
                resp("200", invite_a[:1], *ok_b), SDP_BOB), tx_a)
    tx_ack = cap.transaction("ACK", dialog)
    cap.add(sip(t0 + 4_250_000_000, ALICE, BOB, "ACK sip:bob@10.0.0.9:5062 SIP/2.0",
                ["Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKnashds9", "Max-Forwards: 70",
                 to_tagged, frm, call_id, "CSeq: 314159 ACK"]), tx_ack)
    tx_bye = cap.transaction("BYE", dialog)
    bye = ["Via: SIP/2.0/UDP 10.0.0.9:5062;branch=z9hG4bKnashds10", "Max-Forwards: 70",
           "From: <sip:bob@biloxi.example.com>;tag=a6c85cf",
           'To: "Alice Liddell" <sip:alice@atlanta.example.com>;tag=1928301774',
           call_id, "CSeq: 231 BYE"]
    cap.add(sip(t0 + 16_620_500_000, BOB, ALICE, "BYE sip:alice@10.0.0.5:5060 SIP/2.0",
                [*bye, bob_ua]), tx_bye)
    cap.add(sip(t0 + 16_621_104_000, ALICE, BOB, "SIP/2.0 200 OK", [*bye, ua]), tx_bye)
    return cap.dialog("COMPLETED")


def forked_call(cap: Capture, t0: int = T0 + 30 * S) -> Dialog:
    """A proxy forks an INVITE to six phones: eight endpoints, too many for 80 columns."""
    dialog = len(cap.trace.dialogs) + 1
    caller, proxy = Endpoint("10.0.0.5", 5060), Endpoint("10.0.0.1", 5060)
    phones = [Endpoint(f"10.0.1.{11 + i}", 5060) for i in range(6)]
    common = [
        'From: "Reception" <sip:200@pbx.example.com>;tag=77aa',
        "To: <sip:600@pbx.example.com>",
        "Call-ID: 5f1c2a0e-ring-group@10.0.0.5",
        "CSeq: 20 INVITE",
    ]
    tx = cap.transaction("INVITE", dialog)
    cap.add(sip(t0, caller, proxy, "INVITE sip:600@pbx.example.com SIP/2.0",
                ["Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKf1", *common,
                 "Content-Type: application/sdp"], SDP_ALICE), tx)
    cap.add(sip(t0 + 2_100_000, proxy, caller, "SIP/2.0 100 Trying",
                ["Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKf1", *common]), tx)
    legs = []
    for i, phone in enumerate(phones):
        leg = cap.transaction("INVITE", dialog)
        legs.append(leg)
        cap.add(sip(t0 + 2_400_000 + i * 150_000, proxy, phone,
                    f"INVITE sip:600@{phone} SIP/2.0",
                    [f"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKleg{i}", *common],
                    SDP_ALICE), leg)
    for i, phone in enumerate(phones):
        cap.add(sip(t0 + 9_000_000 + i * 1_000_000, phone, proxy, "SIP/2.0 180 Ringing",
                    [f"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKleg{i}", *common]), legs[i])
    cap.add(sip(t0 + 3_200_000_000, phones[3], proxy, "SIP/2.0 200 OK",
                ["Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKleg3", *common,
                 "Content-Type: application/sdp"], SDP_BOB), legs[3])
    cap.add(sip(t0 + 3_201_000_000, proxy, caller, "SIP/2.0 200 OK",
                ["Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKf1", *common,
                 "Content-Type: application/sdp"], SDP_BOB), tx)
    for i in (0, 5):
        cancel = cap.transaction("CANCEL", dialog)
        cap.add(sip(t0 + 3_202_000_000 + i * 100_000, proxy, phones[i],
                    f"CANCEL sip:600@{phones[i]} SIP/2.0",
                    [f"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKleg{i}", *common[:3],
                     "CSeq: 20 CANCEL"]), cancel)
    return cap.dialog("IN CALL")


V6_CLIENT = Endpoint("2001:db8:85a3::8a2e:370:7334", 5060)
V6_PROXY = Endpoint("2001:db8:85a3::1", 5060)
V6_REGISTRAR = Endpoint("2001:db8:85a3::2", 5060)


def ipv6_register(cap: Capture, t0: int = T0 + 60 * S) -> Dialog:
    """A REGISTER through a proxy over IPv6: addresses too wide to stand over their lifelines."""
    dialog = len(cap.trace.dialogs) + 1
    common = [
        "From: <sip:300@example.com>;tag=v6",
        "To: <sip:300@example.com>",
        "Call-ID: 3c26f8e4-v6@2001:db8:85a3::8a2e:370:7334",
        "CSeq: 7 REGISTER",
    ]
    tx1 = cap.transaction("REGISTER", dialog)
    tx2 = cap.transaction("REGISTER", dialog)
    cap.add(sip(t0, V6_CLIENT, V6_PROXY, "REGISTER sip:example.com SIP/2.0",
                ["Via: SIP/2.0/UDP [2001:db8:85a3::8a2e:370:7334]:5060;branch=z9hG4bKv6",
                 *common, "User-Agent: Zoiper rv2.10.20.2"]), tx1)
    cap.add(sip(t0 + 812_000, V6_PROXY, V6_REGISTRAR, "REGISTER sip:example.com SIP/2.0",
                ["Via: SIP/2.0/UDP [2001:db8:85a3::1]:5060;branch=z9hG4bKv6p", *common]), tx2)
    cap.add(sip(t0 + 2_644_000, V6_REGISTRAR, V6_PROXY, "SIP/2.0 403 Forbidden",
                ["Via: SIP/2.0/UDP [2001:db8:85a3::1]:5060;branch=z9hG4bKv6p", *common,
                 "Server: FreeSWITCH-mod_sofia/1.10.11"]), tx2)
    cap.add(sip(t0 + 3_101_000, V6_PROXY, V6_CLIENT, "SIP/2.0 403 Forbidden",
                ["Via: SIP/2.0/UDP [2001:db8:85a3::8a2e:370:7334]:5060;branch=z9hG4bKv6",
                 *common]), tx1)
    return cap.dialog("REJECTED 403")


def nanosecond_register(cap: Capture, t0: int = T0 + 90 * S + 123_456_789) -> Dialog:
    """REGISTER and 200 over loopback, timestamps with nanoseconds (use Capture(resolution=9))."""
    dialog = len(cap.trace.dialogs) + 1
    common = ["From: <sip:400@127.0.0.1>;tag=ns", "To: <sip:400@127.0.0.1>",
              "Call-ID: ns-1@127.0.0.1", "CSeq: 1 REGISTER"]
    tx = cap.transaction("REGISTER", dialog)
    cap.add(sip(t0, CLIENT, SERVER, "REGISTER sip:127.0.0.1 SIP/2.0", common), tx)
    cap.add(sip(t0 + 17_042, SERVER, CLIENT, "SIP/2.0 200 OK", common), tx)
    cap.add(sip(t0 + 1_000_017_042, CLIENT, SERVER, "OPTIONS sip:127.0.0.1 SIP/2.0",
                [*common[:3], "CSeq: 2 OPTIONS"]), cap.transaction("OPTIONS", dialog))
    return cap.dialog("REGISTERED")


def cancelled_call(cap: Capture, t0: int = T0 + 75 * S) -> Dialog:
    """An INVITE with a long display name, cancelled while ringing."""
    dialog = len(cap.trace.dialogs) + 1
    caller, callee = Endpoint("192.168.1.114", 16938), Endpoint("192.168.1.132", 5060)
    common = [
        'From: "Dr. Bartholomew Featherstonehaugh-Smythe" <sip:bartholomew.featherstonehaugh'
        '@clinic.example.org>;tag=c1',
        "To: <sip:reception@clinic.example.org>",
        "Call-ID: 0d9a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60@192.168.1.114",
    ]
    tx = cap.transaction("INVITE", dialog)
    via = "Via: SIP/2.0/UDP 192.168.1.114:16938;branch=z9hG4bKc1"
    cap.add(sip(t0, caller, callee, "INVITE sip:reception@clinic.example.org SIP/2.0",
                [via, *common, "CSeq: 1 INVITE", "User-Agent: X-Lite release 4.1"]), tx)
    cap.add(sip(t0 + 1_200_000, callee, caller, "SIP/2.0 180 Ringing",
                [via, *common, "CSeq: 1 INVITE", "Server: miniSipServer V6.1.5"]), tx)
    cancel = cap.transaction("CANCEL", dialog)
    cap.add(sip(t0 + 6_000_000_000, caller, callee, "CANCEL sip:reception@clinic.example.org "
                "SIP/2.0", [via, *common, "CSeq: 1 CANCEL"]), cancel)
    cap.add(sip(t0 + 6_001_000_000, callee, caller, "SIP/2.0 200 OK",
                [via, *common, "CSeq: 1 CANCEL"]), cancel)
    cap.add(sip(t0 + 6_001_500_000, callee, caller, "SIP/2.0 487 Request Terminated",
                [via, *common, "CSeq: 1 INVITE"]), tx)
    return cap.dialog("CANCELLED")


def mixed_capture() -> Capture:
    """Five dialogs of every kind, plus skipped records and keep-alives, for the call list."""
    cap = Capture()
    register_flow(cap)
    proxy_call(cap)
    forked_call(cap)
    ipv6_register(cap)
    cancelled_call(cap)
    cap.trace.counts["keepalive"] = 12
    cap.trace.skipped.append(Skipped(frame=99, ts_ns=T0, reason="SIP start line without a Call-ID"))
    return cap
