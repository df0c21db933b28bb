"""Tests of the terminal renderer: golden renders at fixed widths, layout properties, injection.

Traces are built by hand (``Capture`` below), so these tests depend on nothing but ``model`` and the
render package. Set ``SIPSNIFF_UPDATE_GOLDEN=1`` to rewrite the golden files, then read them.
"""

from __future__ import annotations

import datetime
import io
import os
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len, split_graphemes
from rich.console import Console
from rich.text import Text

from sipsniff.analysis.ladder import ladder_of
from sipsniff.errors import UsageError
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
from sipsniff.render.base import (
    RENDERERS,
    TIME_MODES,
    RenderOptions,
    TimeFormat,
    clock,
    duration,
    register,
    seconds,
    zone_name,
)
from sipsniff.render.safe import clean, one_line
from sipsniff.render.terminal import MAX_LINES, TerminalRenderer, ladder, outcome_style
from sipsniff.render.terminal.cells import WHOLE_LIMIT, user_host
from sipsniff.sip.sdp import has_sdp

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
    **fields: Any,
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
        index = len(self.trace.transactions) + 1
        self.trace.transactions[index] = Transaction(index, method, dialog)
        return index

    def add(self, msg: Message, tx: int, retransmission_of: int | None = None) -> int:
        index = len(self.trace.entries) + 1
        transaction = self.trace.transactions[tx]
        msg = msg._replace(pkt=msg.pkt._replace(frame=index))
        entry = Entry(index, msg, transaction.dialog, tx, retransmission_of)
        self.trace.entries[index] = entry
        transaction.messages.append(index)
        if msg.is_request and transaction.request is None:
            transaction.request = index
        if not msg.is_request and msg.status is not None and msg.status >= 200:
            transaction.final = transaction.final if transaction.final is not None else index
        return index

    def dialog(self, state: str) -> Dialog:
        """Close the dialog of the last transactions added, with ``state`` (and the outcome
        ``correlate.states`` gives that state)."""
        number = len(self.trace.dialogs) + 1
        mine = [e for e in self.trace.entries.values() if e.dialog == number]
        first = mine[0].msg
        dialog = Dialog(
            id=number,
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
            messages=[e.id for e in mine],
            transactions=sorted({e.transaction for e in mine}),
            state=state,
            outcome=OUTCOMES.get(state, ""),
            call=first.method == "INVITE",
            retransmissions=sum(1 for e in mine if e.retransmission),
        )
        self.trace.dialogs[number] = dialog
        return dialog


OUTCOMES = {
    "REGISTERED": "registered",
    "COMPLETED": "answered",
    "IN CALL": "answered",
    "REJECTED 403": "rejected",
    "CANCELLED": "cancelled",
    "CALL SETUP": "in-progress",
}
"""The outcomes of the states the builders below give their dialogs (docs/states.md)."""

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
        sip(
            t0,
            CLIENT,
            SERVER,
            "REGISTER sip:127.0.0.1 SIP/2.0",
            [
                via1,
                "Max-Forwards: 70",
                *common,
                "CSeq: 1 REGISTER",
                "Expires: 3600",
                "User-Agent: SIPp",
            ],
        ),
        tx1,
    )
    cap.add(
        sip(
            t0 + 152_000,
            SERVER,
            CLIENT,
            "SIP/2.0 407 Proxy Authentication Required",
            [
                via1,
                *common[:1],
                common[1] + ";tag=4747SIPpTag011",
                common[2],
                "CSeq: 1 REGISTER",
                'Proxy-Authenticate: Digest realm="myvoipapp.com",algorithm=MD5,'
                'nonce="18bf67854ae23d6d2cd772af69535f91",stale=FALSE',
            ],
        ),
        tx1,
    )
    tx2 = cap.transaction("REGISTER", dialog)
    cap.add(
        sip(
            t0 + 219_000,
            CLIENT,
            SERVER,
            "REGISTER sip:127.0.0.1 SIP/2.0",
            [
                via2,
                "Max-Forwards: 70",
                *common,
                "CSeq: 2 REGISTER",
                "Expires: 3600",
                'Proxy-Authorization: Digest username="101",realm="myvoipapp.com",'
                'uri="sip:127.0.0.1:36139",nonce="18bf67854ae23d6d2cd772af69535f91",'
                'response="2bc80f0aef6ccfb8f2dba5d5f656a6b8",algorithm=MD5',
                "User-Agent: SIPp",
            ],
        ),
        tx2,
    )
    cap.add(
        sip(
            t0 + 249_000,
            SERVER,
            CLIENT,
            "SIP/2.0 200 OK",
            [
                via2,
                *common[:1],
                common[1] + ";tag=4747SIPpTag011",
                common[2],
                "CSeq: 2 REGISTER",
                "Contact: <sip:100@:5060>",
                "Expires: 120",
            ],
        ),
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
        "Max-Forwards: 70",
        to,
        frm,
        call_id,
        "CSeq: 314159 INVITE",
        "Contact: <sip:alice@10.0.0.5:5060>",
        ua,
        "Content-Type: application/sdp",
    ]
    invite_p = [
        "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK2d4790.1",
        *invite_a[:1],
        "Max-Forwards: 69",
        *invite_a[2:6],
        "Contact: <sip:alice@10.0.0.5:5060>",
        ua,
        "Content-Type: application/sdp",
    ]
    server = "Server: Kamailio (5.7.2 (x86_64/linux))"
    bob_ua = "User-Agent: Yealink SIP-T46U 108.86.0.45"

    def resp(status: str, via: list[str], *extra: str, tag: bool = True) -> list[str]:
        return [*via, frm, to_tagged if tag else to, call_id, "CSeq: 314159 INVITE", *extra]

    tx_a = cap.transaction("INVITE", dialog)
    first = cap.add(
        sip(t0, ALICE, PROXY, "INVITE sip:bob@biloxi.example.com SIP/2.0", invite_a, SDP_ALICE),
        tx_a,
    )
    cap.add(
        sip(
            t0 + 500_812_000,
            ALICE,
            PROXY,
            "INVITE sip:bob@biloxi.example.com SIP/2.0",
            invite_a,
            SDP_ALICE,
        ),
        tx_a,
        first,
    )
    cap.add(
        sip(
            t0 + 1_502_044_000,
            ALICE,
            PROXY,
            "INVITE sip:bob@biloxi.example.com SIP/2.0",
            invite_a,
            SDP_ALICE,
        ),
        tx_a,
        first,
    )
    cap.add(
        sip(
            t0 + 1_512_003_000,
            PROXY,
            ALICE,
            "SIP/2.0 100 Trying",
            resp("100", invite_a[:1], server, tag=False),
        ),
        tx_a,
    )
    tx_b = cap.transaction("INVITE", dialog)
    cap.add(
        sip(
            t0 + 1_513_090_000,
            PROXY,
            BOB,
            "INVITE sip:bob@10.0.0.9:5062 SIP/2.0",
            invite_p,
            SDP_ALICE,
        ),
        tx_b,
    )
    cap.add(
        sip(
            t0 + 1_530_411_000, BOB, PROXY, "SIP/2.0 180 Ringing", resp("180", invite_p[:2], bob_ua)
        ),
        tx_b,
    )
    cap.add(
        sip(
            t0 + 1_531_002_000,
            PROXY,
            ALICE,
            "SIP/2.0 180 Ringing",
            resp("180", invite_a[:1], bob_ua),
        ),
        tx_a,
    )
    ok_b = ["Contact: <sip:bob@10.0.0.9:5062>", bob_ua, "Content-Type: application/sdp"]
    cap.add(
        sip(
            t0 + 4_207_330_000,
            BOB,
            PROXY,
            "SIP/2.0 200 OK",
            resp("200", invite_p[:2], *ok_b),
            SDP_BOB,
        ),
        tx_b,
    )
    cap.add(
        sip(
            t0 + 4_208_100_000,
            PROXY,
            ALICE,
            "SIP/2.0 200 OK",
            resp("200", invite_a[:1], *ok_b),
            SDP_BOB,
        ),
        tx_a,
    )
    tx_ack = cap.transaction("ACK", dialog)
    cap.add(
        sip(
            t0 + 4_250_000_000,
            ALICE,
            BOB,
            "ACK sip:bob@10.0.0.9:5062 SIP/2.0",
            [
                "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKnashds9",
                "Max-Forwards: 70",
                to_tagged,
                frm,
                call_id,
                "CSeq: 314159 ACK",
            ],
        ),
        tx_ack,
    )
    tx_bye = cap.transaction("BYE", dialog)
    bye = [
        "Via: SIP/2.0/UDP 10.0.0.9:5062;branch=z9hG4bKnashds10",
        "Max-Forwards: 70",
        "From: <sip:bob@biloxi.example.com>;tag=a6c85cf",
        'To: "Alice Liddell" <sip:alice@atlanta.example.com>;tag=1928301774',
        call_id,
        "CSeq: 231 BYE",
    ]
    cap.add(
        sip(t0 + 16_620_500_000, BOB, ALICE, "BYE sip:alice@10.0.0.5:5060 SIP/2.0", [*bye, bob_ua]),
        tx_bye,
    )
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
    cap.add(
        sip(
            t0,
            caller,
            proxy,
            "INVITE sip:600@pbx.example.com SIP/2.0",
            [
                "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKf1",
                *common,
                "Content-Type: application/sdp",
            ],
            SDP_ALICE,
        ),
        tx,
    )
    cap.add(
        sip(
            t0 + 2_100_000,
            proxy,
            caller,
            "SIP/2.0 100 Trying",
            ["Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKf1", *common],
        ),
        tx,
    )
    legs = []
    for i, phone in enumerate(phones):
        leg = cap.transaction("INVITE", dialog)
        legs.append(leg)
        cap.add(
            sip(
                t0 + 2_400_000 + i * 150_000,
                proxy,
                phone,
                f"INVITE sip:600@{phone} SIP/2.0",
                [f"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKleg{i}", *common],
                SDP_ALICE,
            ),
            leg,
        )
    for i, phone in enumerate(phones):
        cap.add(
            sip(
                t0 + 9_000_000 + i * 1_000_000,
                phone,
                proxy,
                "SIP/2.0 180 Ringing",
                [f"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKleg{i}", *common],
            ),
            legs[i],
        )
    cap.add(
        sip(
            t0 + 3_200_000_000,
            phones[3],
            proxy,
            "SIP/2.0 200 OK",
            [
                "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKleg3",
                *common,
                "Content-Type: application/sdp",
            ],
            SDP_BOB,
        ),
        legs[3],
    )
    cap.add(
        sip(
            t0 + 3_201_000_000,
            proxy,
            caller,
            "SIP/2.0 200 OK",
            [
                "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKf1",
                *common,
                "Content-Type: application/sdp",
            ],
            SDP_BOB,
        ),
        tx,
    )
    for i in (0, 5):
        cancel = cap.transaction("CANCEL", dialog)
        cap.add(
            sip(
                t0 + 3_202_000_000 + i * 100_000,
                proxy,
                phones[i],
                f"CANCEL sip:600@{phones[i]} SIP/2.0",
                [
                    f"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKleg{i}",
                    *common[:3],
                    "CSeq: 20 CANCEL",
                ],
            ),
            cancel,
        )
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
    cap.add(
        sip(
            t0,
            V6_CLIENT,
            V6_PROXY,
            "REGISTER sip:example.com SIP/2.0",
            [
                "Via: SIP/2.0/UDP [2001:db8:85a3::8a2e:370:7334]:5060;branch=z9hG4bKv6",
                *common,
                "User-Agent: Zoiper rv2.10.20.2",
            ],
        ),
        tx1,
    )
    cap.add(
        sip(
            t0 + 812_000,
            V6_PROXY,
            V6_REGISTRAR,
            "REGISTER sip:example.com SIP/2.0",
            ["Via: SIP/2.0/UDP [2001:db8:85a3::1]:5060;branch=z9hG4bKv6p", *common],
        ),
        tx2,
    )
    cap.add(
        sip(
            t0 + 2_644_000,
            V6_REGISTRAR,
            V6_PROXY,
            "SIP/2.0 403 Forbidden",
            [
                "Via: SIP/2.0/UDP [2001:db8:85a3::1]:5060;branch=z9hG4bKv6p",
                *common,
                "Server: FreeSWITCH-mod_sofia/1.10.11",
            ],
        ),
        tx2,
    )
    cap.add(
        sip(
            t0 + 3_101_000,
            V6_PROXY,
            V6_CLIENT,
            "SIP/2.0 403 Forbidden",
            ["Via: SIP/2.0/UDP [2001:db8:85a3::8a2e:370:7334]:5060;branch=z9hG4bKv6", *common],
        ),
        tx1,
    )
    return cap.dialog("REJECTED 403")


def nanosecond_register(cap: Capture, t0: int = T0 + 90 * S + 123_456_789) -> Dialog:
    """REGISTER and 200 over loopback, timestamps with nanoseconds (use Capture(resolution=9))."""
    dialog = len(cap.trace.dialogs) + 1
    common = [
        "From: <sip:400@127.0.0.1>;tag=ns",
        "To: <sip:400@127.0.0.1>",
        "Call-ID: ns-1@127.0.0.1",
        "CSeq: 1 REGISTER",
    ]
    tx = cap.transaction("REGISTER", dialog)
    cap.add(sip(t0, CLIENT, SERVER, "REGISTER sip:127.0.0.1 SIP/2.0", common), tx)
    cap.add(sip(t0 + 17_042, SERVER, CLIENT, "SIP/2.0 200 OK", common), tx)
    cap.add(
        sip(
            t0 + 1_000_017_042,
            CLIENT,
            SERVER,
            "OPTIONS sip:127.0.0.1 SIP/2.0",
            [*common[:3], "CSeq: 2 OPTIONS"],
        ),
        cap.transaction("OPTIONS", dialog),
    )
    return cap.dialog("REGISTERED")


def cancelled_call(cap: Capture, t0: int = T0 + 75 * S) -> Dialog:
    """An INVITE with a long display name, cancelled while ringing."""
    dialog = len(cap.trace.dialogs) + 1
    caller, callee = Endpoint("192.168.1.114", 16938), Endpoint("192.168.1.132", 5060)
    common = [
        'From: "Dr. Bartholomew Featherstonehaugh-Smythe" <sip:bartholomew.featherstonehaugh'
        "@clinic.example.org>;tag=c1",
        "To: <sip:reception@clinic.example.org>",
        "Call-ID: 0d9a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60@192.168.1.114",
    ]
    tx = cap.transaction("INVITE", dialog)
    via = "Via: SIP/2.0/UDP 192.168.1.114:16938;branch=z9hG4bKc1"
    cap.add(
        sip(
            t0,
            caller,
            callee,
            "INVITE sip:reception@clinic.example.org SIP/2.0",
            [via, *common, "CSeq: 1 INVITE", "User-Agent: X-Lite release 4.1"],
        ),
        tx,
    )
    cap.add(
        sip(
            t0 + 1_200_000,
            callee,
            caller,
            "SIP/2.0 180 Ringing",
            [via, *common, "CSeq: 1 INVITE", "Server: miniSipServer V6.1.5"],
        ),
        tx,
    )
    cancel = cap.transaction("CANCEL", dialog)
    cap.add(
        sip(
            t0 + 6_000_000_000,
            caller,
            callee,
            "CANCEL sip:reception@clinic.example.org SIP/2.0",
            [via, *common, "CSeq: 1 CANCEL"],
        ),
        cancel,
    )
    cap.add(
        sip(t0 + 6_001_000_000, callee, caller, "SIP/2.0 200 OK", [via, *common, "CSeq: 1 CANCEL"]),
        cancel,
    )
    cap.add(
        sip(
            t0 + 6_001_500_000,
            callee,
            caller,
            "SIP/2.0 487 Request Terminated",
            [via, *common, "CSeq: 1 INVITE"],
        ),
        tx,
    )
    return cap.dialog("CANCELLED")


def mixed_capture() -> Capture:
    """Five dialogs of every kind, plus skipped records and keep-alives, for the call list."""
    cap = Capture()
    register_flow(cap)
    proxy_call(cap)
    forked_call(cap)
    ipv6_register(cap)
    cancelled_call(cap)
    cap.trace.counts.keepalive = 12
    cap.trace.skipped.append(Skipped(frame=99, ts_ns=T0, reason="SIP start line without a Call-ID"))
    return cap


# -- rendering helpers -------------------------------------------------------------------------


def render(
    cap: Capture, width: int = 80, *, dialogs: Sequence[Dialog] | None = None, **options: Any
) -> str:
    """Render to plain text the way the tests' goldens hold it (trailing spaces dropped)."""
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    chosen = list(cap.trace.dialogs.values()) if dialogs is None else dialogs
    TerminalRenderer().render(cap.trace, chosen, RenderOptions(**options), console)
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.txt"
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run with SIPSNIFF_UPDATE_GOLDEN=1, then read it"
    assert text == path.read_text(encoding="utf-8")


def only(builder: Callable[[Capture], Dialog], resolution: int = 6) -> Capture:
    cap = Capture(resolution=resolution)
    builder(cap)
    return cap


def register_after_call() -> Capture:
    """A capture where the dialog of interest does not start it: ``rel`` differs from ``dialog``."""
    cap = Capture()
    register_flow(cap)
    proxy_call(cap)
    return cap


UTC = datetime.UTC
EST = datetime.timezone(datetime.timedelta(hours=-5))

GOLDENS: dict[str, tuple[Callable[[], Capture], int, dict[str, Any]]] = {
    # The README demo: REGISTER, 407, REGISTER, 200 between two endpoints, microseconds apart.
    "register_80": (lambda: only(register_flow), 80, {}),
    "register_120": (lambda: only(register_flow), 120, {}),
    "register_abs_utc_80": (lambda: only(register_flow), 80, {"time": "abs", "utc": True}),
    "register_abs_local_80": (lambda: only(register_flow), 80, {"time": "abs", "tz": EST}),
    "register_delta_80": (lambda: only(register_flow), 80, {"time": "delta", "view": "ladder"}),
    "register_by_host_80": (lambda: only(register_flow), 80, {"by_host": True, "view": "ladder"}),
    "register_full_80": (lambda: only(register_flow), 80, {"full": True, "view": "ladder"}),
    "call_80": (lambda: only(proxy_call), 80, {}),
    "call_120": (lambda: only(proxy_call), 120, {}),
    "call_rel_120": (register_after_call, 120, {"time": "rel"}),
    "forked_80": (lambda: only(forked_call), 80, {"view": "ladder"}),
    "forked_200": (lambda: only(forked_call), 200, {"view": "ladder"}),
    "ipv6_80": (lambda: only(ipv6_register), 80, {"view": "ladder"}),
    "nanoseconds_80": (lambda: only(nanosecond_register, 9), 80, {}),
    "cancelled_80": (lambda: only(cancelled_call), 80, {"view": "ladder"}),
    "list_80": (mixed_capture, 80, {"view": "list"}),
    "list_120": (mixed_capture, 120, {"view": "list"}),
    "list_abs_160": (mixed_capture, 160, {"view": "list", "time": "abs", "tz": UTC}),
}


@pytest.mark.parametrize("name", sorted(GOLDENS))
def test_golden(name: str) -> None:
    build, width, options = GOLDENS[name]
    text = render(build(), width, **options)
    assert all(cell_len(line) <= width for line in text.splitlines())
    check_golden(name, text)


def test_no_golden_file_is_orphaned() -> None:
    on_disk = {p.stem for p in GOLDEN.glob("*.txt")}
    assert on_disk == set(GOLDENS)


# -- layout ------------------------------------------------------------------------------------


def ladder_lines(text: str) -> tuple[list[int], list[str]]:
    """Lifeline cells (from the line just above the first arrow) and the lines after it."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "▶" in line or "◀" in line or "⟲" in line:
            title = lines[i - 1]
            # lifelines, or the letters standing for them when a legend lists the addresses
            xs = [m.start() for m in re.finditer(r"│|(?<= )[A-Z](?= |$)", title)]
            return xs, lines[i:]
    raise AssertionError("no arrow in the output")


@pytest.mark.parametrize(
    "name", [n for n in sorted(GOLDENS) if "list" not in n and "full" not in n]
)
def test_arrows_meet_their_lifelines(name: str) -> None:
    build, width, options = GOLDENS[name]
    text = render(build(), width, **{**options, "view": "ladder"})
    if "one line per message" in text:
        assert "▶" not in text and "◀" not in text
        return
    xs, rows = ladder_lines(text)
    assert xs, "the title line carries the lifelines"
    for line in rows:
        if not line.strip():
            break
        if "▶" in line:
            assert line.index("▶") + 2 in xs, line
        if "◀" in line:
            assert line.index("◀") - 2 in xs, line
        arrow = [k for k, c in enumerate(line) if c in "▶◀"]
        if "⟲" in line:
            arrow = [line.index("⟲") - 2, len(line)]
        lo = min(arrow, default=len(line)) - 2
        hi = max(arrow, default=-1) + 2
        for x in xs:
            if lo < x < hi:
                assert line[x] in "┼─" or line[x].isprintable(), line
            elif x < len(line):
                assert line[x] in "│┼", f"lifeline {x} broken in {line!r}"


def cells(line: str) -> list[str]:
    """A line as the terminal lays it out: one item per cell ("" for the second half of a wide
    character)."""
    spans, _ = split_graphemes(line)
    out: list[str] = []
    for start, end, width in spans:
        if width:
            out += [line[start:end], *[""] * (width - 1)]
    return out


def check_alignment(text: str, width: int) -> None:
    """Every line fits; arrowheads touch lifelines; lifelines run unbroken beside the arrows."""
    grid = [cells(line) for line in text.splitlines()]
    assert all(len(row) <= width for row in grid), max(len(row) for row in grid)
    first = next(i for i, row in enumerate(grid) if {"▶", "◀", "⟲"} & set(row))
    title = grid[first - 1]  # lifelines, or letters standing for them above a legend
    xs = [
        k
        for k, c in enumerate(title)
        if c == "│"
        or (c.isupper() and title[k - 1 : k] == [" "] and title[k + 1 : k + 2] in ([" "], []))
    ]
    for row in grid[first:]:
        if "▶" in row:
            assert row.index("▶") + 2 in xs, "".join(row)
        if "◀" in row:
            assert row.index("◀") - 2 in xs, "".join(row)
        drawn = [k for k, c in enumerate(row) if c in "─◀▶⟲"]
        lo, hi = (min(drawn) - 2, max(drawn) + 2) if drawn else (-1, -1)
        if "⟲" in row:
            hi = len(row)
        for x in xs:
            if not lo <= x <= hi and x < len(row):
                assert row[x] == "│", "".join(row)


# Any printable text but the ladder's own drawing characters (which would fool check_alignment).
printable = st.characters(categories=["L", "N", "P", "S", "Zs"], exclude_characters="│┼─▶◀⟲")


@settings(max_examples=150, deadline=None)
@given(
    reason=st.text(printable, max_size=90),
    agent=st.text(printable, min_size=1, max_size=90),
    width=st.integers(50, 220),
    mode=st.sampled_from(TIME_MODES),
    by_host=st.booleans(),
)
def test_any_text_keeps_the_ladder_aligned(
    reason: str, agent: str, width: int, mode: str, by_host: bool
) -> None:
    cap = only(proxy_call)
    for i, entry in list(cap.trace.entries.items()):
        msg = entry.msg
        raw = re.sub(
            rb"(User-Agent|Server): [^\r]*", lambda m: m.group(1) + b": " + agent.encode(), msg.raw
        )
        msg = msg._replace(raw=raw, reason=reason if msg.reason is not None else None)
        cap.trace.entries[i] = entry._replace(msg=msg)
    text = render(cap, width, view="ladder", time=mode, tz=UTC, by_host=by_host)
    if "do not fit in" not in text:
        check_alignment(text, width)
    assert all(len(cells(line)) <= width for line in text.splitlines())


def test_80_columns_register_ladder_is_clean() -> None:
    text = render(only(register_flow), 80, view="ladder")
    assert "│ ◀─── 407 Proxy Authentication Required ─── │  challenge" in text
    for time in ("0.000000", "0.000152", "0.000219", "0.000249"):
        assert f"\n{time} " in text
    assert "+152 µs" in text and "+67 µs" in text and "+30 µs" in text
    assert "SIPp" in text  # the client's User-Agent over its lifeline


def test_narrow_ladders_shorten_the_reason_phrase_never_the_times() -> None:
    text = render(only(register_flow), 56, view="ladder", time="abs", tz=UTC)
    assert re.search(r"◀─+ 407 Proxy Authentication [A-Za-z]*… ─", text)
    for time in ("19:50:07.032470", "19:50:07.032622", "19:50:07.032689", "19:50:07.032719"):
        assert f"\n{time} " in text
    assert "challenge" in text


def test_retransmissions_fold_into_the_original_row() -> None:
    cap = only(proxy_call)
    text = render(cap, 120, view="ladder")
    assert text.count("INVITE ×3") == 1
    assert "resent until +1.502 s" in text
    rows = [line for line in text.splitlines() if "▶" in line or "◀" in line]
    assert len(rows) == len(cap.trace.entries) - 2  # two retransmissions folded
    # the delta of the next row is counted from the original, not from its last copy
    assert " 1.512003  +1.512 s " in text


def test_response_time_is_measured_from_the_transactions_request() -> None:
    text = render(only(register_flow), 160, view="ladder", time="abs", tz=UTC)
    assert "challenge: Digest MD5, realm myvoipapp.com, 152 µs after the request" in text
    assert "30 µs after the request" in text
    # the 180 reaching Alice answers her first INVITE, sent 1.531 s before it
    assert "1.531 s after the request" in render(only(proxy_call), 160, view="ladder")


def test_response_time_is_left_out_where_the_delta_shows_it() -> None:
    for mode in ("dialog", "delta"):
        text = render(only(register_flow), 120, view="ladder", time=mode)
        assert "after" not in text
        assert "challenge" in text
    call = render(only(proxy_call), 160, view="ladder")
    assert "1.512 s after the request" not in call  # 100 Trying, right under its INVITE
    assert "4.208 s after the request" in call  # 200 OK to Alice, rows away from her INVITE


def test_sdp_bodies_are_marked() -> None:
    text = render(only(proxy_call), 160, view="ladder")
    assert "INVITE ×3 (CSeq 314159, SDP)" in text
    assert "PCMU PCMA" in text  # the codecs offered, beside the arrow
    assert "200 OK (SDP)" in text
    assert "180 Ringing (SDP)" not in text


def test_nonadjacent_arrows_cross_the_lifelines_between() -> None:
    text = render(only(proxy_call), 120, view="ladder")
    bye = next(line for line in text.splitlines() if "BYE" in line)
    assert bye.count("┼") == 1
    assert bye.index("◀") < bye.index("┼")


def test_too_many_endpoints_fall_back_to_a_list() -> None:
    text = render(only(forked_call), 80, view="ladder")
    assert "8 endpoints do not fit in 80 columns: one line per message." in text
    assert "10.0.0.1:5060  → 10.0.1.16:5060" in text
    wide = render(only(forked_call), 200, view="ladder")
    assert "one line per message" not in wide
    assert wide.count("┼") > 20


def test_by_host_suggested_only_when_it_would_merge_columns() -> None:
    cap = Capture()
    dialog = 1
    tx = cap.transaction("OPTIONS", dialog)
    host_ports = [Endpoint("10.0.0.1", 5060 + k) for k in range(6)]
    for k, ep in enumerate(host_ports):
        common = ["Call-ID: many-ports", f"CSeq: {k + 1} OPTIONS"]
        cap.add(
            sip(T0 + k * 1000, ep, host_ports[(k + 1) % 6], "OPTIONS sip:x SIP/2.0", common), tx
        )
    cap.dialog("COMPLETED")
    text = render(cap, 80, view="ladder")
    assert "6 endpoints (--by-host: 1) do not fit" in text
    merged = render(cap, 80, view="ladder", by_host=True)
    assert merged.count("⟲") == 6
    assert "one line per message" not in merged
    forked = render(only(forked_call), 80, view="ladder")
    assert "--by-host" not in forked


def test_by_host_merges_the_ports_of_an_address() -> None:
    cap = Capture()
    tx = cap.transaction("INVITE", 1)
    phone, pbx_in, pbx_out = (
        Endpoint("10.0.0.5", 5060),
        Endpoint("10.0.0.1", 5060),
        Endpoint("10.0.0.1", 5080),
    )
    common = ["Call-ID: two-ports", "CSeq: 1 INVITE"]
    cap.add(sip(T0, phone, pbx_in, "INVITE sip:x SIP/2.0", common), tx)
    cap.add(sip(T0 + 1000, pbx_out, phone, "SIP/2.0 100 Trying", common), tx)
    cap.dialog("CALL SETUP")
    split = render(cap, 100, view="ladder")
    assert "10.0.0.1:5060" in split and "10.0.0.1:5080" in split
    merged = render(cap, 100, view="ladder", by_host=True)
    assert "10.0.0.1:5060" not in merged and "10.0.0.1:5080" not in merged
    xs, _ = ladder_lines(merged)
    assert len(xs) == 2
    xs, _ = ladder_lines(split)
    assert len(xs) == 3


def test_long_addresses_give_way_to_a_legend() -> None:
    text = render(only(ipv6_register), 80, view="ladder")
    assert "  A  [2001:db8:85a3::8a2e:370:7334]:5060  Zoiper rv2.10.20.2" in text
    assert "  C  [2001:db8:85a3::2]:5060              FreeSWITCH-mod_sofia/1.10.11" in text
    wide = render(only(ipv6_register), 140, view="ladder")
    assert "  A  " not in wide
    assert "[2001:db8:85a3::8a2e:370:7334]:5060" in wide


def test_a_long_call_id_is_never_cut() -> None:
    """What --call-id and other tools are given: whole at every width, on the first line when it
    fits there, else on a line of its own, even wider than the terminal (which wraps it)."""
    call_id = "0d9a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60@192.168.1.114"
    alone = render(only(cancelled_call), 80, view="ladder")
    assert f"\nCall-ID {call_id}\n" in alone
    narrow = render(only(cancelled_call), 50, view="ladder")
    assert f"\nCall-ID {call_id}\n" in narrow  # 70 cells: the terminal wraps it, not sipsniff
    shared = render(only(cancelled_call), 240, view="ladder").splitlines()[0]
    assert shared.startswith("Dialog 1  INVITE  Dr. Bartholomew Featherstonehaugh-Smythe <")
    assert shared.endswith(f"  CANCELLED  Call-ID {call_id}")


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"time": "abs", "utc": True},
        {"time": "abs", "tz": UTC},
        {"time": "rel"},
        {"time": "delta"},
        {"by_host": True},
        {"full": True},
    ],
)
@pytest.mark.parametrize(
    "build",
    [
        lambda: only(register_flow),
        lambda: only(proxy_call),
        lambda: only(forked_call),
        lambda: only(ipv6_register),
        lambda: only(nanosecond_register, 9),
        lambda: only(cancelled_call),
        mixed_capture,
    ],
)
@pytest.mark.parametrize("width", [50, 64, 80, 97, 132, 250])
def test_every_line_fits_and_times_are_whole(
    build: Callable[[], Capture], options: dict[str, Any], width: int
) -> None:
    cap = build()
    opts = RenderOptions(**options)
    for dialog in cap.trace.dialogs.values():
        tf = TimeFormat.of(cap.trace, opts)
        lad = ladder_of(cap.trace, dialog, by_host=opts.by_host, media=True)
        renderables = ladder(lad, opts, width, tf)
        texts = [r for r in renderables if isinstance(r, Text)]
        assert len(texts) == len(renderables)
        for text in texts:
            if text.overflow == "ignore":  # never cut: the Call-ID, which the terminal wraps
                assert text.plain == f"Call-ID {dialog.call_id}"
            elif text.no_wrap:  # drawn lines; prose (the reason for a list) may wrap
                assert text.cell_len <= width, (width, text.plain)
        plain = "\n".join(t.plain for t in texts)
        prev = None
        for index in dialog.messages:
            entry = cap.trace.entries[index]
            if entry.retransmission_of is not None:
                continue
            stamp = tf.stamp(entry.msg.ts_ns, dialog.start_ns, prev)
            prev = entry.msg.ts_ns
            assert re.search(rf"(?m)^ *{re.escape(stamp)} ", plain), stamp
    listing = render(cap, width, **{**options, "view": "list"})
    lines = listing.splitlines()
    assert all(cell_len(line) <= width for line in lines)
    assert len(lines) >= len(cap.trace.dialogs) + 2  # header, one line per dialog, summary
    for dialog, line in zip(list(cap.trace.dialogs.values()), lines[1:], strict=False):
        assert line.lstrip().startswith(f"{dialog.id} "), "a call list row never wraps"


def test_full_mode_shows_the_message_under_its_arrow() -> None:
    text = render(only(register_flow), 80, view="ladder", full=True)
    lines = text.splitlines()
    arrow = next(i for i, line in enumerate(lines) if "407" in line and "◀" in line)
    assert lines[arrow + 1].strip() == "SIP/2.0 407 Proxy Authentication Required"
    indent = len(lines[arrow + 1]) - len(lines[arrow + 1].lstrip())
    assert indent == lines[arrow].index("│")
    # a folded line continues two cells further in
    auth = next(i for i, line in enumerate(lines) if "Proxy-Authenticate:" in line)
    assert lines[auth + 1].startswith(" " * (indent + 2))
    assert not lines[auth + 1].startswith(" " * (indent + 3))


def test_full_mode_highlights_header_names() -> None:
    console = Console(width=100, record=True, color_system="truecolor", file=io.StringIO())
    cap = only(register_flow)
    TerminalRenderer().render(
        cap.trace,
        list(cap.trace.dialogs.values()),
        RenderOptions(full=True, view="ladder"),
        console,
    )
    html = console.export_html(inline_styles=True)
    assert re.search(r'<span style="font-weight: bold">Call-ID</span>:', html)
    assert not re.search(r'font-weight: bold">1-4751@127.0.0.1', html)


def test_full_mode_limits_lines_per_message() -> None:
    cap = Capture()
    tx = cap.transaction("MESSAGE", 1)
    body = "".join(f"line {k}\r\n" for k in range(500)).encode()
    cap.add(
        sip(
            T0,
            CLIENT,
            SERVER,
            "MESSAGE sip:x SIP/2.0",
            ["Call-ID: long-body", "CSeq: 1 MESSAGE", "Content-Type: text/plain"],
            body,
        ),
        tx,
    )
    cap.dialog("COMPLETED")
    text = render(cap, 80, view="ladder", full=True)
    start_line, headers, blank = 1, 4, 1
    assert f"… {start_line + headers + blank + 500 - MAX_LINES} more lines" in text
    assert "line 190" in text and "line 300" not in text
    assert len(text.splitlines()) < MAX_LINES + 20


def test_full_mode_marks_truncated_messages_and_parser_problems() -> None:
    cap = Capture()
    tx = cap.transaction("INVITE", 1)
    msg = sip(
        T0, CLIENT, SERVER, "INVITE sip:x SIP/2.0", ["Call-ID: cut", "CSeq: 1 INVITE"], b"v=0\r\n"
    )
    cap.add(msg._replace(truncated=True, content_length=300, problems=("CSeq method differs",)), tx)
    cap.dialog("CALL SETUP")
    text = render(cap, 80, view="ladder", full=True)
    assert "… truncated: Content-Length 300, 5 bytes captured" in text
    assert "! CSeq method differs" in text


def test_empty_selection() -> None:
    text = render(only(register_flow), 80, dialogs=[])
    assert text.splitlines()[0].split()[:3] == ["Idx", "Start", "Method"]
    assert "4 messages, 1 dialog (0 shown), 0 retransmissions, 0 skipped, 0 keep-alives" in text
    assert "Dialog" not in text


def test_summary_counts() -> None:
    text = render(mixed_capture(), 120, view="list")
    assert text.splitlines()[-1] == (
        "43 messages, 5 dialogs, 2 retransmissions, 1 skipped, 12 keep-alives"
    )


@pytest.mark.parametrize("width", [20, 30, 45, 60])
def test_summary_counts_break_after_a_comma_in_a_narrow_terminal(width: int) -> None:
    """Never between a count and its word: each line of counts fits, and ends with a comma
    but the last."""
    whole = "43 messages, 5 dialogs, 2 retransmissions, 1 skipped, 12 keep-alives"
    lines = render(mixed_capture(), width, view="list").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("43 messages"))
    counts = lines[start:]
    assert len(counts) > 1
    assert " ".join(counts) == whole
    assert all(len(line) <= width for line in counts)
    assert all(line.endswith(",") for line in counts[:-1])


def test_summary_counts_skipped_records_not_kept() -> None:
    """A run keeps the first skipped records and counts the rest: the summary says how many
    there were, not how many were kept."""
    cap = mixed_capture()
    cap.trace.counts.skipped_not_kept = 4000
    last = render(cap, 120, view="list").splitlines()[-1]
    assert "4001 skipped" in last


def test_call_list_columns_give_way_in_order() -> None:
    cap = mixed_capture()
    heads = {w: render(cap, w, view="list").splitlines()[0].split() for w in (50, 80, 160)}
    assert "Src" in heads[160]
    assert "Src" not in heads[80] and "Duration" in heads[80]
    assert "Duration" not in heads[50] and "From" in heads[50] and "State" in heads[50]


def test_call_list_shows_display_names_where_there_is_room() -> None:
    cap = mixed_capture()
    assert "Alice Liddell <alice@atlanta.example.com>" in render(cap, 120, view="list")
    assert "Alice Liddell" not in render(cap, 80, view="list")


def test_state_colours() -> None:
    """Colours come from the outcome (correlate.states.TONES), never from the state's words."""
    assert outcome_style("registered") == outcome_style("unregistered") == "green"
    assert outcome_style("answered") == outcome_style("ok") == "green"
    assert outcome_style("auth-failed") == outcome_style("rejected") == "red"
    assert outcome_style("no-response") == outcome_style("failed") == "red"
    assert outcome_style("cancelled") == outcome_style("in-progress") == "yellow"
    assert outcome_style("busy") == outcome_style("no-answer") == "yellow"
    assert outcome_style("something new") == ""


def test_colours_reach_a_terminal() -> None:
    out = io.StringIO()
    console = Console(width=100, force_terminal=True, color_system="truecolor", file=out)
    cap = only(register_flow)
    TerminalRenderer().render(cap.trace, list(cap.trace.dialogs.values()), RenderOptions(), console)
    ansi = out.getvalue()
    assert "\x1b[32mREGISTERED" in ansi or "\x1b[1;32mREGISTERED" in ansi
    assert re.search(r"\x1b\[31m[─◀ ]*407", ansi)


def test_renders_to_a_plain_stream() -> None:
    out = io.StringIO()
    cap = only(register_flow)
    TerminalRenderer().render(
        cap.trace, list(cap.trace.dialogs.values()), RenderOptions(width=120), out
    )
    text = out.getvalue()
    assert "\x1b" not in text  # not a terminal: no colours
    assert "127.0.0.1:36140 → 127.0.0.1:36139" in text  # 120 columns as asked: room for it
    assert max(cell_len(line) for line in text.splitlines()) <= 120


# -- safety ------------------------------------------------------------------------------------

EVIL = [
    "[bold red]x[/]",
    "\x1b[2J",
    "\x1b]8;;http://evil\x07link\x1b]8;;\x07",
    "\x07",
    "\x08",
    "\r",
    "\u202e",
    "\x00",
    "\x9b31m",
    ":warning:",
]
EVIL_TEXT = "".join(EVIL)
MEGABYTE = "A" * 1_000_000
FORBIDDEN = ["\x1b", "\x07", "\x08", "\r", "\x00", "\x9b", "\u202e"]


def evil_capture(value: str) -> Capture:
    """A dialog whose every packet-borne string is ``value``: names, reason, agents, Call-ID..."""
    cap = Capture()
    raw_value = value.replace("\n", "")
    tx = cap.transaction("INVITE", 1)
    headers = [
        f"Call-ID: {raw_value}",
        "CSeq: 1 INVITE",
        f"User-Agent: {raw_value}",
        f"X-Note: {raw_value}",
    ]
    fields: dict[str, Any] = {
        "from_name": value,
        "from_uri": f"sip:{value}@{value}",
        "to_name": value,
        "to_uri": f"sip:{value}@example.com",
        "call_id": value,
    }
    cap.add(
        sip(
            T0,
            ALICE,
            BOB,
            f"INVITE sip:{raw_value} SIP/2.0",
            headers,
            raw_value.encode("utf-8", "surrogateescape"),
            **fields,
        ),
        tx,
    )
    cap.add(
        sip(
            T0 + 1000,
            BOB,
            ALICE,
            f"SIP/2.0 407 {raw_value}",
            [*headers[:2], f"Server: {raw_value}"],
            reason=value,
            **fields,
        ),
        tx,
    )
    cap.add(
        sip(
            T0 + 2000,
            BOB,
            ALICE,
            f"SIP/2.0 407 {raw_value}",
            headers[:2],
            reason=value,
            method=None,
            **fields,
        ),
        tx,
        1,
    )
    cap.dialog(value)
    return cap


SGR = re.compile(r"\x1b\[[0-9;]*m")


@pytest.mark.parametrize(
    "value",
    [*EVIL, EVIL_TEXT, MEGABYTE + EVIL_TEXT, EVIL_TEXT + MEGABYTE],
    ids=[*(ascii(e) for e in EVIL), "all", "1MB+all", "all+1MB"],
)
@pytest.mark.parametrize("full", [False, True])
def test_packet_text_cannot_reach_the_terminal(value: str, full: bool) -> None:
    cap = evil_capture(value)
    for width in (80, 200):
        text = render(cap, width, full=full)
        for char in FORBIDDEN:
            assert char not in text, (repr(char), width)
        assert all(cell_len(line) <= width for line in _drawn(text))
        assert len(text.splitlines()) < 200
        if value.startswith("[bold red]"):
            assert "[bold red]x[/]" in text  # shown as typed, not interpreted
        if value.startswith(":warning:"):
            assert ":warning:" in text and "⚠" not in text

        out = io.StringIO()
        console = Console(width=width, force_terminal=True, color_system="truecolor", file=out)
        TerminalRenderer().render(
            cap.trace, list(cap.trace.dialogs.values()), RenderOptions(full=full), console
        )
        ansi = out.getvalue()
        plain = SGR.sub("", ansi)  # rich's own colours are the only escapes allowed
        for char in FORBIDDEN:
            assert char not in plain, (repr(char), width)
        assert all(cell_len(line) <= width for line in _drawn(plain))


def test_escapes_stay_visible() -> None:
    text = render(evil_capture(EVIL_TEXT), 200, full=True)
    assert "\\x1b[2J" in text
    assert "\\x07" in text and "\\x08" in text and "\\r" in text and "\\x00" in text
    assert "\\u202e" in text and "\\x9b31m" in text


def _drawn(text: str) -> list[str]:
    """The lines of ``text`` laid out to the width: all but the Call-ID's, which is never cut
    (up to ``WHOLE_LIMIT`` characters) and which the terminal wraps."""
    return [line for line in text.splitlines() if not line.startswith("Call-ID ")]


def test_long_values_are_capped_with_a_visible_marker() -> None:
    text = render(evil_capture(MEGABYTE), 200, full=True)
    assert "AAAA…" in text
    assert max(len(line) for line in _drawn(text)) <= 200
    (call_id,) = [line for line in text.splitlines() if line.startswith("Call-ID ")]
    assert call_id.endswith("A…") and len(call_id) == len("Call-ID ") + WHOLE_LIMIT
    assert len(text) < 40_000


# -- safe.clean --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain text", "plain text"),
        ("tab\tkept", "tab\tkept"),
        ("\x1b[2J", "\\x1b[2J"),
        ("bell\x07", "bell\\x07"),
        ("a\rb\nc", "a\\rb\\nc"),
        ("\x00\x7f\x85\x9b", "\\x00\\x7f\\x85\\x9b"),
        ("\u202eevil\u202c", "\\u202eevil\\u202c"),
        ("\u2066\u2069\u200e\u200f\u061c", "\\u2066\\u2069\\u200e\\u200f\\u061c"),
        ("line\u2028sep", "line\\u2028sep"),
        ("lone \udcff", "lone \\udcff"),
        ("[bold]markup[/] stays", "[bold]markup[/] stays"),
        ("héllo ☎ 日本", "héllo ☎ 日本"),
    ],
)
def test_clean(raw: str, shown: str) -> None:
    assert clean(raw) == shown


def test_clean_limit() -> None:
    assert clean("abcdef", 6) == "abcdef"
    assert clean("abcdefg", 6) == "abcde…"
    assert clean("ab\x1bcdef", 6) == "ab…"  # an escape is never cut in half
    assert clean("ab\x1b", 7) == "ab\\x1b"
    assert clean("x" * 10_000_000, 200) == "x" * 199 + "…"
    with pytest.raises(ValueError, match="positive"):
        clean("x", 0)


def test_one_line_turns_tabs_into_spaces() -> None:
    assert one_line("a\tb\nc") == "a b\\nc"


@given(st.text(), st.one_of(st.none(), st.integers(1, 50)))
def test_clean_leaves_nothing_a_terminal_acts_on(text: str, limit: int | None) -> None:
    shown = clean(text, limit)
    assert not any(unicodedata.category(c) in ("Cc", "Cs") and c != "\t" for c in shown), repr(
        shown
    )
    assert not any(c in shown for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    whole = clean(text)
    if limit is None or len(whole) <= limit:
        assert shown == whole
    else:
        assert len(shown) <= limit
        assert shown.endswith("…")
        assert whole.startswith(shown[:-1])


# -- base: options, registry, time formatting --------------------------------------------------


def test_registry() -> None:
    assert RENDERERS["text"] is TerminalRenderer

    class Other:
        name = "text"

        def render(self, *args: object) -> None: ...

    with pytest.raises(ValueError, match="already registered"):
        register(Other)
    assert register(TerminalRenderer) is TerminalRenderer  # registering again is harmless


@pytest.mark.parametrize(
    "options", [{"time": "wall"}, {"view": "tree"}, {"width": 5}], ids=["time", "view", "width"]
)
def test_bad_options(options: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        RenderOptions(**options)  # type: ignore[arg-type]


def test_clock() -> None:
    ts = T0 + 32_470_123
    assert clock(ts, 6, UTC) == "19:50:07.032470"
    assert clock(ts, 9, UTC) == "19:50:07.032470123"
    assert clock(ts, 0, UTC) == "19:50:07"
    assert clock(ts, 6, EST, date=True) == "2026-11-25 14:50:07.032470"
    assert clock(T0 - 1, 9, UTC) == "19:50:06.999999999"  # truncated, never rounded up
    assert zone_name(ts, UTC) == "UTC"
    assert zone_name(ts, EST) == "UTC-05:00"
    india = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    assert zone_name(ts, india) == "UTC+05:30"


@pytest.mark.parametrize(
    ("ns", "resolution", "sign", "text"),
    [
        (3_412_000, 6, False, "0.003412"),
        (3_412_999, 6, False, "0.003412"),
        (12_000_100_000, 6, True, "+12.000100"),
        (-10_000, 6, True, "-0.000010"),
        (17_042, 9, False, "0.000017042"),
        (0, 6, True, "+0.000000"),
    ],
)
def test_seconds(ns: int, resolution: int, sign: bool, text: str) -> None:
    assert seconds(ns, resolution, sign=sign) == text


@pytest.mark.parametrize(
    ("ns", "resolution", "text"),
    [
        (0, 6, "0 s"),
        (152_000, 6, "152 µs"),
        (152_345, 9, "152.3 µs"),
        (17_042, 9, "17.04 µs"),
        (999, 9, "999 ns"),
        (3_412_000, 6, "3.412 ms"),
        (41_900_000, 6, "41.90 ms"),
        (500_812_000, 6, "500.8 ms"),
        (999_999_999, 9, "999.9 ms"),
        (1_011_000_000, 6, "1.011 s"),
        (12_400_000_000, 6, "12.40 s"),
        (999_000_000_000, 6, "999.0 s"),
        (1_000 * S, 6, "16m40s"),
        (3723 * S, 6, "1h02m03s"),
        (-3_412_000, 6, "-3.412 ms"),
    ],
)
def test_duration(ns: int, resolution: int, text: str) -> None:
    assert duration(ns, resolution) == text


def test_time_format_modes() -> None:
    cap = register_after_call()
    call = cap.trace.dialogs[2]
    second = cap.trace.entries[call.messages[3]].msg.ts_ns  # 100 Trying, 1.512003 s in
    first = call.start_ns
    fmt = {mode: TimeFormat.of(cap.trace, RenderOptions(time=mode, tz=UTC)) for mode in TIME_MODES}
    assert fmt["abs"].stamp(second, first, first) == "19:50:13.512003"
    assert fmt["rel"].stamp(second, first, first) == "6.479533"
    assert fmt["dialog"].stamp(second, first, first) == "1.512003"
    assert fmt["delta"].stamp(second, first, first) == "+1.512003"
    assert fmt["delta"].stamp(first, first, None) == "0.000000"
    assert fmt["dialog"].delta(second, first) == "+1.512 s"
    assert fmt["dialog"].delta(first, None) == ""
    assert [m for m, f in fmt.items() if f.has_delta] == ["dialog"]
    assert TimeFormat.of(cap.trace, RenderOptions(time="abs", utc=True)).title(first) == "time UTC"
    assert fmt["abs"].start(first, date=True) == "2026-11-25 19:50:12.000000"
    assert fmt["rel"].start(first) == "4.967530"


# -- small helpers of the terminal renderer ----------------------------------------------------


def test_has_sdp() -> None:
    base = ["Call-ID: x", "CSeq: 1 INVITE"]
    assert has_sdp(
        sip(
            T0,
            ALICE,
            BOB,
            "INVITE sip:x SIP/2.0",
            [*base, "Content-Type: application/sdp"],
            SDP_ALICE,
        )
    )
    assert has_sdp(
        sip(T0, ALICE, BOB, "INVITE sip:x SIP/2.0", [*base, "c :  Application/SDP"], SDP_ALICE)
    )
    assert not has_sdp(
        sip(T0, ALICE, BOB, "INVITE sip:x SIP/2.0", [*base, "Content-Type: application/sdp"])
    )  # no body
    assert not has_sdp(
        sip(
            T0,
            ALICE,
            BOB,
            "MESSAGE sip:x SIP/2.0",
            [*base, "Content-Type: text/plain"],
            b"Content-Type: application/sdp\r\n",
        )
    )  # only in the body
    assert not has_sdp(
        sip(
            T0,
            ALICE,
            BOB,
            "INVITE sip:x SIP/2.0",
            [*base, "Content-Type: application/sdpx"],
            SDP_ALICE,
        )
    )


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("sip:alice@atlanta.example.com", "alice@atlanta.example.com"),
        ("sips:bob@biloxi.example.com:5061;transport=tls", "bob@biloxi.example.com"),
        ("<sip:100@127.0.0.1>", "100@127.0.0.1"),
        ("sip:100;phone-context=x@[2001:db8::1]:5060", "100@[2001:db8::1]"),
        ("tel:+15551234567", "+15551234567"),
        ("sip:example.com", "example.com"),
        ("SIP:Carol@Chicago.example.com?subject=x", "Carol@Chicago.example.com"),
    ],
)
def test_user_host(uri: str, shown: str) -> None:
    assert user_host(uri) == shown
