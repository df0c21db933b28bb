"""The SIP message parser: content sniffing, keep-alives, parse_message, and real captures."""

from __future__ import annotations

import csv
import random
import struct
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipsniff.model import Endpoint, Message, Payload, Skipped
from sipsniff.sip.parser import keepalive_kind, looks_like_sip, parse_message
from tests.conftest import RFC4475

PKT = Payload(
    12,
    1_700_000_000_123_456_789,
    Endpoint("10.0.0.1", 5060),
    Endpoint("10.0.0.2", 5070),
    "udp",
    b"",
    file=2,
)

INVITE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP PC33.Atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport, "
    b"SIP/2.0/UDP proxy.example.com;branch=z9hG4bKold\r\n"
    b"Via: SIP/2.0/UDP third.example.com;branch=z9hG4bK3\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "Alice A." <sip:alice@atlanta.example.com>;tag=1928301774\r\n'
    b"To: Bob <sip:bob@biloxi.example.com>\r\n"
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@pc33.atlanta.example.com>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 10\r\n"
    b"\r\n"
    b"v=0\r\ns=-\r\n"
)

RESPONSE = (
    b"SIP/2.0 180 Ringing\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n"
    b"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


def parse(raw: bytes, *, framed: bool = False) -> Message:
    result = parse_message(raw, PKT, framed=framed)
    assert isinstance(result, Message), result
    return result


def skip_reason(raw: bytes) -> str:
    result = parse_message(raw, PKT)
    assert isinstance(result, Skipped), result
    return result.reason


def request(headers: bytes, body: bytes = b"", start: bytes = b"OPTIONS sip:a@b SIP/2.0") -> bytes:
    return start + b"\r\n" + headers + b"\r\n" + body


MINIMAL = b"Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\n"
MINIMAL += b"Call-ID: x@y\r\nCSeq: 1 OPTIONS\r\n"


# -- looks_like_sip ----------------------------------------------------------------------------

STUN_BINDING = struct.pack("!HHI12s", 0x0001, 0, 0x2112A442, b"transaction1")
STUN_SUCCESS = struct.pack("!HHI12s", 0x0101, 12, 0x2112A442, b"transaction2") + bytes(12)
RTP = bytes([0x80, 0x08, 0x12, 0x34]) + bytes(168)
RTCP = bytes([0x81, 0xC8, 0x00, 0x0C]) + bytes(48)
DNS = bytes.fromhex("1a2b01000001000000000000") + b"\x07example\x03com\x00\x00\x01\x00\x01"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (INVITE, True),
        (RESPONSE, True),
        (b"\r\n\r\n" + INVITE, True),
        (b"OPTIONS sip:a@b SIP/2.0", True),
        (b"REGIStER sip:registrar.example.com SIP/2.0\r\n\r\n", True),
        (b"a" * 5000 + b" sip:x SIP/2.0\r\n", True),
        (b"OPTIONS sip:a@b SIP/7.0\r\n", True),
        (b"INVITE sip:a@b SIP/a.0\x84\nVia: x\r\n", True),
        (b"SIP/2.0 4294967301 better not break the receiver\r\n", True),
        (b"SIP/2.0 100\r\n", True),
        (b"", False),
        (b"\r\n", False),
        (b"\r\n\r\n", False),
        (b"\x00\x00\x00\x00", False),
        (RTP, False),
        (RTCP, False),
        (STUN_BINDING, False),
        (DNS, False),
        (b"GET / HTTP/1.1\r\nHost: x\r\nVia: SIP/2.0/UDP h\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\n\r\n", False),
        (b"INVITE sip:a@b HTTP/1.1\r\n", False),
        (b"INVITE sip:alan@jasomi.com\r\nTO : alan@jasomi.com\r\n", False),
        (b"INVITE SIP/2.0\r\n", False),
        (b"SIP/2.0\r\n", False),
        (b"hello world SIP/", True),
        (b" INVITE sip:a@b SIP/2.0\r\n", False),
    ],
)
def test_looks_like_sip(data: bytes, expected: bool) -> None:
    assert looks_like_sip(data) is expected


@given(st.binary(max_size=200))
def test_looks_like_sip_never_raises(data: bytes) -> None:
    assert looks_like_sip(data) in (True, False)


def test_looks_like_sip_is_linear_on_long_lines() -> None:
    # nested quantifiers over a long line of spaces would take minutes if they backtracked
    assert not looks_like_sip(b"A" + b" " * 200_000 + b"x")
    assert not looks_like_sip(b"SIP/2" + b" " * 200_000 + b"x")


# -- keepalive_kind ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"\r\n", "crlf"),
        (b"\r\n\r\n", "crlf"),
        (STUN_BINDING, "stun"),
        (STUN_SUCCESS, "stun"),
        (STUN_BINDING[:4] + b"\x00\x00\x00\x00" + STUN_BINDING[8:], None),  # no magic cookie
        (struct.pack("!HHI12s", 0x0003, 0, 0x2112A442, b"transaction3"), None),  # TURN Allocate
        (b"\x00\x00\x00\x00", "null"),
        (b"    ", "null"),
        (b"\x00\r\n", "null"),
        (b"", "null"),
        (INVITE, None),
        (RTP, None),
        (DNS, None),
    ],
)
def test_keepalive_kind(data: bytes, kind: str | None) -> None:
    assert keepalive_kind(data) == kind


# -- parse_message: well-formed messages ---------------------------------------------------------


def test_request() -> None:
    msg = parse(INVITE)
    assert msg == Message(
        pkt=PKT,
        raw=INVITE,
        method="INVITE",
        ruri="sip:bob@biloxi.example.com",
        status=None,
        reason=None,
        call_id="a84b4c76e66710@pc33.atlanta.example.com",
        cseq_num=314159,
        cseq_method="INVITE",
        branch="z9hG4bK776asdhds",
        sent_by="pc33.atlanta.example.com:5060",
        from_uri="sip:alice@atlanta.example.com",
        from_name="Alice A.",
        from_tag="1928301774",
        to_uri="sip:bob@biloxi.example.com",
        to_name="Bob",
        to_tag=None,
        content_length=10,
        body_start=len(INVITE) - 10,
        truncated=False,
        problems=(),
    )
    assert msg.raw is INVITE
    assert msg.body == b"v=0\r\ns=-\r\n"
    assert (msg.label, msg.cseq, msg.is_request) == ("INVITE", "314159 INVITE", True)


def test_response() -> None:
    msg = parse(RESPONSE)
    assert (msg.method, msg.ruri, msg.status, msg.reason) == (None, None, 180, "Ringing")
    assert (msg.from_tag, msg.to_tag, msg.to_name) == ("1928301774", "a6c85cf", "Bob")
    assert (msg.content_length, msg.body, msg.body_start) == (0, b"", len(RESPONSE))
    assert msg.label == "180 Ringing"
    assert msg.problems == ()


def test_messages_are_values() -> None:
    assert parse(INVITE) == parse(bytes(INVITE))
    assert parse(INVITE) != parse(RESPONSE)


def test_leading_line_breaks_are_ignored() -> None:
    data = b"\r\n\r\n" + RESPONSE
    msg = parse(data)
    assert msg.raw == RESPONSE
    assert (msg.body_start, msg.status, msg.problems) == (len(RESPONSE), 180, ())


def test_compact_forms_case_and_space_before_colon() -> None:
    raw = request(
        b"v : SIP/2.0/TCP Host.Example.com;branch=z9hG4bKc\r\n"
        b"F: <sip:a@b>;tag=f\r\nt\t: <sip:c@d>;tag=t\r\nI: cid\r\ncseq:   7    OPTIONS\r\nL: 2\r\n",
        b"ab",
    )
    msg = parse(raw)
    assert (msg.sent_by, msg.branch, msg.from_tag, msg.to_tag) == (
        "host.example.com",
        "z9hG4bKc",
        "f",
        "t",
    )
    assert (msg.call_id, msg.cseq_num, msg.cseq_method, msg.content_length, msg.body) == (
        "cid",
        7,
        "OPTIONS",
        2,
        b"ab",
    )
    assert msg.problems == ()


def test_folded_headers() -> None:
    raw = request(
        b"Via: SIP/2.0/UDP h\r\n ;branch=z9hG4bKf\r\nFrom:\r\n\t<sip:a@b>\r\n ;tag=1\r\n"
        b"To: <sip:c@d>\r\nCall-ID:\r\n  folded@id\r\nCSeq: 2\r\n OPTIONS\r\n"
    )
    msg = parse(raw)
    assert (msg.branch, msg.sent_by, msg.from_uri, msg.from_tag) == (
        "z9hG4bKf",
        "h",
        "sip:a@b",
        "1",
    )
    assert (msg.call_id, msg.cseq) == ("folded@id", "2 OPTIONS")
    assert msg.problems == ()


def test_bare_lf_line_endings() -> None:
    raw = request(MINIMAL + b"Content-Length: 3\r\n", b"xyz").replace(b"\r\n", b"\n")
    msg = parse(raw)
    assert (msg.call_id, msg.cseq, msg.branch, msg.body) == ("x@y", "1 OPTIONS", "z9hG4bK1", b"xyz")
    assert msg.problems == ("bare LF line endings",)


def test_no_content_length_body_is_the_rest() -> None:
    msg = parse(request(MINIMAL, b"rest of the datagram"))
    assert (msg.content_length, msg.body, msg.problems) == (None, b"rest of the datagram", ())


def test_several_via_values_in_one_header() -> None:
    msg = parse(INVITE)
    assert (msg.branch, msg.sent_by) == ("z9hG4bK776asdhds", "pc33.atlanta.example.com:5060")


def test_empty_header_values() -> None:
    msg = parse(request(MINIMAL + b"Subject:\r\nX-Empty:   \r\n"))
    assert msg.problems == ()


# -- parse_message: framing -------------------------------------------------------------------


def test_trailing_bytes_after_content_length() -> None:
    message = request(MINIMAL + b"Content-Length: 4\r\n", b"body")
    data = message + b"\r\ngarbage"
    msg = parse(data)
    assert msg.raw == message
    assert msg.body == b"body"
    assert msg.problems == ("9 bytes after the message ignored",)
    framed = parse(data, framed=True)
    assert framed.raw is data
    assert framed.body == b"body\r\ngarbage"
    assert framed.problems == ("9 bytes after Content-Length",)


def test_content_length_larger_than_the_data() -> None:
    data = request(MINIMAL + b"Content-Length: 100\r\n", b"short")
    for framed in (False, True):
        msg = parse(data, framed=framed)
        assert (msg.raw, msg.body, msg.truncated, msg.content_length) == (data, b"short", True, 100)
        assert msg.problems == ("Content-Length 100 but only 5 bytes of body (truncated)",)


@pytest.mark.parametrize(
    ("values", "content_length", "problems"),
    [
        ([b"abc"], None, ("Content-Length 'abc' is not a number",)),
        ([b"-5"], None, ("negative Content-Length -5",)),
        ([b""], None, ("Content-Length '' is not a number",)),
        ([b"\xc2\xb2"], None, ("Content-Length '²' is not a number",)),
        ([b"9" * 60], None, (f"Content-Length {'9' * 40}... too large",)),
        ([b"3", b"3"], 3, ("more than one Content-Length header",)),
        ([b"3", b"5"], None, ("conflicting Content-Length values (3, 5): framing as if absent",)),
        ([b"0003"], 3, ()),
    ],
)
def test_odd_content_length(
    values: list[bytes], content_length: int | None, problems: tuple[str, ...]
) -> None:
    headers = MINIMAL + b"".join(b"Content-Length: " + v + b"\r\n" for v in values)
    msg = parse(request(headers, b"12345"))
    assert msg.content_length == content_length
    assert msg.body == (b"123" if content_length == 3 else b"12345")
    expected = problems + (("2 bytes after the message ignored",) if content_length == 3 else ())
    assert msg.problems == expected


def test_header_section_without_an_empty_line() -> None:
    data = request(MINIMAL)[:-2]  # the datagram ends after the last header line
    msg = parse(data)
    assert (msg.call_id, msg.body, msg.body_start, msg.raw) == ("x@y", b"", len(data), data)
    assert msg.problems == ("header section not terminated by an empty line",)
    cut = parse(request(MINIMAL + b"Content-Length: 10\r\n")[:-2])
    assert cut.truncated
    assert cut.problems == (
        "header section not terminated by an empty line",
        "Content-Length 10 but only 0 bytes of body (truncated)",
    )


# -- parse_message: tolerated problems ----------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "problems"),
    [
        (b"", ("no Call-ID header", "no CSeq header", "no Via header", "no From header", "no To header")),
        (MINIMAL + b"Call-ID: other\r\n", ("more than one Call-ID header (the first is used)",)),
        (MINIMAL.replace(b"x@y", b""), ("empty Call-ID",)),
        (MINIMAL.replace(b"1 OPTIONS", b"OPTIONS"), ("malformed CSeq 'OPTIONS'",)),
        (MINIMAL.replace(b"1 OPTIONS", b"1"), ("malformed CSeq '1'",)),
        (MINIMAL.replace(b"1 OPTIONS", b"1 OPTIONS extra"), ("malformed CSeq '1 OPTIONS extra'",)),
        (MINIMAL.replace(b"1 OPTIONS", b"1 INVITE"), ("CSeq method INVITE does not match the request method OPTIONS",)),
        (MINIMAL.replace(b"1 OPTIONS", b"4294967296 OPTIONS"), ("CSeq number 4294967296 out of range (0-4294967295)",)),
        (MINIMAL.replace(b"1 OPTIONS", b"9" * 5000 + b" OPTIONS"), (f"CSeq number {'9' * 40} out of range (0-4294967295)", f"malformed CSeq '{'9' * 40}...'")),
        (MINIMAL.replace(b"branch=z9hG4bK1", b"branch=z9hG4bK"), ("Via branch is the bare magic cookie z9hG4bK",)),
        (MINIMAL.replace(b"SIP/2.0/UDP h;", b"h;"), ("malformed Via (no SIP/2.0/transport)",)),
        (MINIMAL + b"Date: Fri, 01 Jan 2010 16:00:00 EST\r\n", ("Date not in GMT: 'Fri, 01 Jan 2010 16:00:00 EST'",)),
        (MINIMAL + b"Contact: sip:u@h?Route=x\r\n", ("Contact URI with headers (?...) not enclosed in < >",)),
        (MINIMAL + b"Not a header line\r\n", ("header line without a colon: 'Not a header line'",)),
        (MINIMAL.replace(b"<sip:c@d>", b'"Bob <sip:c@d>'), ("To: unterminated quoted display name",)),
    ],
)  # fmt: skip
def test_tolerated_problems(headers: bytes, problems: tuple[str, ...]) -> None:
    assert parse(request(headers)).problems == problems


def test_repeated_problems_are_noted_once() -> None:
    junk = b"junk line one\r\n" + b"more junk\r\n" * 500
    contacts = b"Contact: sip:u@h?a=1\r\nm: sip:v@h?b=2\r\n"
    dates = b"Date: today\r\nDate: tomorrow\r\n"
    msg = parse(request(MINIMAL + junk + contacts + dates))
    assert msg.problems == (
        "header line without a colon: 'junk line one'",
        "Contact URI with headers (?...) not enclosed in < >",
        "Date not in GMT: 'today'",
        "500 more header lines without a colon",
    )


def test_missing_headers_give_empty_fields() -> None:
    msg = parse(b"REGISTER sip:1.1.1.1:5060 SIP/2.0\r\nExpires: 3600\r\n\r\n")
    assert (msg.call_id, msg.cseq_num, msg.cseq_method, msg.branch, msg.sent_by) == (
        "",
        None,
        "",
        None,
        "",
    )
    assert (msg.from_uri, msg.from_tag, msg.to_uri, msg.to_tag) == ("", None, "", None)


@pytest.mark.parametrize(
    ("start", "method", "ruri", "problems"),
    [
        (b"OPTIONS  sip:a@b  SIP/2.0", "OPTIONS", "sip:a@b", ("extra whitespace between the request-line elements",)),
        (b"OPTIONS\tsip:a@b SIP/2.0", "OPTIONS", "sip:a@b", ("extra whitespace between the request-line elements",)),
        (b"OPTIONS sip:a@b SIP/2.0 ", "OPTIONS", "sip:a@b", ("whitespace after the SIP version",)),
        (b"OPTIONS sip:a@b; lr SIP/2.0", "OPTIONS", "sip:a@b; lr", ("whitespace inside the Request-URI 'sip:a@b; lr'",)),
        (b"OPTIONS <sip:a@b> SIP/2.0", "OPTIONS", "<sip:a@b>", ("Request-URI enclosed in < >",)),
        (b"OPTIONS sip:a@b?Route=x SIP/2.0", "OPTIONS", "sip:a@b?Route=x", ("Request-URI with headers (?...), not allowed in a Request-URI",)),
        (b"OPTIONS sip:a?b@c SIP/2.0", "OPTIONS", "sip:a?b@c", ()),
        (b"OPTIONS sip:a@b SIP/3.0", "OPTIONS", "sip:a@b", ("SIP version 'SIP/3.0' is not SIP/2.0",)),
        (b"OPTIONS sip:a@b sip/2.0", "OPTIONS", "sip:a@b", ("SIP version 'sip/2.0' is not SIP/2.0",)),
        (b"OPTIONS SIP/2.0", "OPTIONS", "", ("no Request-URI",)),
        (b"OPT(IONS sip:a@b SIP/2.0", "OPT(IONS", "sip:a@b", ("method 'OPT(IONS' is not a token", "CSeq method OPTIONS does not match the request method OPT(IONS")),
        (b"OPTIONS sip:a@b SIP/2.0\r7Via: x", "OPTIONS", "sip:a@b", ("bare CR in the start line",)),
        (b"OPTIONS sip:a\x00b@c SIP/2.0", "OPTIONS", "sip:a\x00b@c", ("NUL in the start line",)),
    ],
)  # fmt: skip
def test_lenient_request_lines(
    start: bytes, method: str, ruri: str, problems: tuple[str, ...]
) -> None:
    msg = parse(request(MINIMAL, start=start))
    assert (msg.method, msg.ruri, msg.problems) == (method, ruri, problems)


@pytest.mark.parametrize(
    ("start", "status", "reason", "problems"),
    [
        (b"SIP/2.0 200 OK", 200, "OK", ()),
        (b"SIP/2.0 100 ", 100, "", ()),
        (b"SIP/2.0 100", 100, "", ("no space after the status code",)),
        (b"SIP/2.0  486  Busy Here ", 486, "Busy Here", ()),
        (b"SIP/2.0 0200 OK", 200, "OK", ("status code 0200 is not 3 digits",)),
        (b"SIP/2.0 699 x", 699, "x", ()),
        (b"sip/2.0 200 OK", 200, "OK", ("SIP version 'sip/2.0' is not SIP/2.0",)),
        (b"SIP/2.0 200 \xd0\x9e\xd0\x9a \xff", 200, "ОК \ufffd", ()),
    ],
)
def test_status_lines(start: bytes, status: int, reason: str, problems: tuple[str, ...]) -> None:
    msg = parse(request(MINIMAL, start=start))
    assert (msg.status, msg.reason, msg.method, msg.ruri, msg.problems) == (
        status,
        reason,
        None,
        None,
        problems,
    )


# -- parse_message: skipped --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "reason"),
    [
        (b"SIP/2.0 4294967301 better not", "status code 4294967301 out of range (100-699)"),
        (b"SIP/2.0 700 Too High", "status code 700 out of range (100-699)"),
        (b"SIP/2.0 099 Too Low", "status code 099 out of range (100-699)"),
        (b"SIP/2.0 2000 OK", "status code 2000 out of range (100-699)"),
        (b"SIP/2.0 " + b"1" * 100 + b" OK", f"status code {'1' * 40} out of range (100-699)"),
        (b"SIP/2.0 OK", "malformed status line 'SIP/2.0 OK'"),
        (
            b"INVITE sip:alan@jasomi.com",
            "no SIP start line (no SIP version): 'INVITE sip:alan@jasomi.com'",
        ),
        (b"INVITE", "no SIP start line: 'INVITE'"),
        (b"GET / HTTP/1.1", "no SIP start line (no SIP version): 'GET / HTTP/1.1'"),
        (b" ", "no SIP start line: ' '"),
    ],
)
def test_skipped(start: bytes, reason: str) -> None:
    assert skip_reason(request(MINIMAL, start=start)) == reason


def test_skipped_carries_where_it_was_seen() -> None:
    data = b"SIP/2.0 999 Nope\r\n\r\n"
    assert parse_message(data, PKT) == Skipped(
        12,
        1_700_000_000_123_456_789,
        "status code 999 out of range (100-699)",
        2,
        Endpoint("10.0.0.1", 5060),
        Endpoint("10.0.0.2", 5070),
        "udp",
        data,
    )


@pytest.mark.parametrize("data", [b"", b"\r\n", b"\r\n\r\n", b"\n"])
def test_only_line_breaks(data: bytes) -> None:
    assert skip_reason(data) == "no SIP start line (empty or only line breaks)"


# -- never raises ------------------------------------------------------------------------------


def check(result: Message | Skipped, data: bytes) -> None:
    """The invariants of any result of parse_message(data)."""
    if isinstance(result, Skipped):
        assert result.reason
        assert result.data is data
        return
    assert isinstance(result, Message)
    start = len(data) - len(data.lstrip(b"\r\n"))
    assert result.raw == data[start : start + len(result.raw)]
    assert 0 <= result.body_start <= len(result.raw)
    assert (result.method is None) != (result.status is None)
    assert result.status is None or 100 <= result.status <= 699
    assert all(isinstance(p, str) and p for p in result.problems)


@given(st.binary(max_size=600), st.booleans())
def test_arbitrary_bytes(data: bytes, framed: bool) -> None:
    check(parse_message(data, PKT, framed=framed), data)


_PIECES = st.sampled_from(
    [
        *(bytes([c]) for c in b'\r\n \t:;,"<>\\=\x00\xff'),
        *(b"SIP/2.0", b"SIP/2.0 ", b"INVITE ", b"sip:a@b ", b"200 ", b"\r\n\r\n", b"\r\n "),
        *(b"Via: ", b"v:", b"Call-ID: ", b"i:", b"CSeq: ", b"1 INVITE", b"From: ", b"t:", b"To: "),
        *(b"l: ", b"Content-Length: ", b"-1", b"99", b"0", b";tag=", b";branch=", b"Contact: "),
        b"Date: ",
    ]
)


@given(st.lists(_PIECES, max_size=40).map(b"".join), st.booleans())
def test_sip_shaped_bytes(data: bytes, framed: bool) -> None:
    check(parse_message(data, PKT, framed=framed), data)


@cache
def torture_messages() -> tuple[bytes, ...]:
    return tuple(p.read_bytes() for p in sorted(RFC4475.glob("*.dat")))


@pytest.mark.skipif(not RFC4475.exists(), reason="the shared corpus is absent (../shared)")
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_torture_messages(data: st.DataObject) -> None:
    raw = bytearray(data.draw(st.sampled_from(torture_messages())))
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(raw)))
        action = data.draw(st.sampled_from(["set", "insert", "delete"]))
        byte = data.draw(st.integers(0, 255))
        if action == "set" and at < len(raw):
            raw[at] = byte
        elif action == "insert":
            raw.insert(at, byte)
        elif at < len(raw):
            del raw[at]
    mutated = bytes(raw)
    check(parse_message(mutated, PKT), mutated)
    check(parse_message(mutated, PKT, framed=True), mutated)


# Well-formed messages written in every allowed spelling parse to the fields put in them.
_TOKEN = st.text("abcXYZ0123456789-.!%*_+`'~", min_size=1, max_size=12)


@given(
    call_id=st.tuples(_TOKEN, _TOKEN).map("@".join),
    number=st.integers(0, 2**32 - 1),
    method=st.sampled_from(["INVITE", "REGISTER", "OPTIONS", "BYE", "NEWMETHOD"]),
    tag=_TOKEN,
    branch=_TOKEN.map("z9hG4bK".__add__),
    host=st.sampled_from(["example.com", "192.0.2.1:5060", "[2001:db8::1]:5061"]),
    body=st.binary(max_size=30),
    spelling=st.tuples(*[st.booleans()] * 5),
    extra=st.lists(st.tuples(st.sampled_from(["X-A", "Max-Forwards", "s", "k", "Route"]), _TOKEN), max_size=4),
    order=st.randoms(use_true_random=False),
)  # fmt: skip
def test_generated_messages(
    call_id: str,
    number: int,
    method: str,
    tag: str,
    branch: str,
    host: str,
    body: bytes,
    spelling: tuple[bool, ...],
    extra: list[tuple[str, str]],
    order: random.Random,
) -> None:
    compact, spaced, folded, lower, lf = spelling
    lines = [
        f"{'v' if compact else 'Via'}: SIP/2.0/UDP {host};branch={branch}",
        f'{"f" if compact else "From"}: "A, B" <sip:a@example.com>;tag={tag}',
        f"{'t' if compact else 'To'}: sip:b@example.com",
        f"{'i' if compact else 'Call-ID'}: {call_id}",
        f"CSeq: {number} {method}",
        f"{'l' if compact else 'Content-Length'}: {len(body)}",
        *(f"{name}: {value}" for name, value in extra),
    ]
    order.shuffle(lines)
    if spaced:
        lines = [line.replace(":", " \t:  ", 1) for line in lines]
    if lower:
        lines = [line.split(":", 1)[0].lower() + ":" + line.split(":", 1)[1] for line in lines]
    eol = "\n" if lf else "\r\n"
    fold = eol + " " if folded else " "
    text = eol.join(line.replace(": ", ":" + fold, 1) for line in lines)
    raw = f"{method} sip:b@example.com SIP/2.0{eol}{text}{eol}{eol}".encode() + body
    msg = parse(raw)
    assert (msg.method, msg.ruri, msg.call_id, msg.cseq_num, msg.cseq_method) == (
        method,
        "sip:b@example.com",
        call_id,
        number,
        method,
    )
    assert (msg.branch, msg.sent_by, msg.from_tag, msg.from_name, msg.to_tag) == (
        branch,
        host.lower(),
        tag,
        "A, B",
        None,
    )
    assert (msg.content_length, msg.body, msg.raw) == (len(body), body, raw)
    assert msg.problems == (("bare LF line endings",) if lf else ())


# -- real captures, compared with tshark ---------------------------------------------------------


def udp_payloads(path: Path) -> Iterator[tuple[int, str, bytes]]:
    """(frame number, "udp"/"tcp", payload) of the IPv4 packets of an Ethernet capture: enough
    for these tests (no IPv6, no reassembly: fragments are left out)."""
    from scapy.utils import RawPcapReader

    with RawPcapReader(str(path)) as reader:
        records = [data for data, _meta in reader]
    for number, data in enumerate(records, 1):
        if len(data) < 14:
            continue
        offset = 14
        ethertype = struct.unpack_from("!H", data, 12)[0]
        while ethertype == 0x8100 and len(data) >= offset + 4:
            ethertype = struct.unpack_from("!H", data, offset + 2)[0]
            offset += 4
        if ethertype != 0x0800 or len(data) < offset + 20:
            continue
        ihl = (data[offset] & 0x0F) * 4
        total = struct.unpack_from("!H", data, offset + 2)[0]
        frag = struct.unpack_from("!H", data, offset + 6)[0]
        if frag & 0x3FFF:  # a fragment (more-fragments flag or an offset)
            continue
        end = min(len(data), offset + total)
        l4 = offset + ihl
        if data[offset + 9] == 17 and end >= l4 + 8:
            yield number, "udp", data[l4 + 8 : end]
        elif data[offset + 9] == 6 and end >= l4 + 20:
            yield number, "tcp", data[l4 + (data[l4 + 12] >> 4) * 4 : end]


def oracle_rows(oracle: Path, name: str) -> dict[int, tuple[str, str, str, str]]:
    """frame -> (method, status, Call-ID, CSeq) of the frames where tshark found a start line."""
    with (oracle / f"{name}.tsv").open(encoding="utf-8", newline="") as f:
        return {
            int(row["frame"]): (row["method"], row["status"], row["call_id"], row["cseq"])
            for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            if row["method"] or row["status"]
        }


def parse_capture(path: Path) -> tuple[dict[int, Message], dict[int, Skipped]]:
    messages: dict[int, Message] = {}
    skipped: dict[int, Skipped] = {}
    for number, transport, payload in udp_payloads(path):
        if transport == "udp" and looks_like_sip(payload):
            result = parse_message(payload, PKT._replace(frame=number, data=payload))
            if isinstance(result, Message):
                messages[number] = result
            else:
                skipped[number] = result
    return messages, skipped


def fields(msg: Message) -> tuple[str, str, str, str]:
    return (msg.method or "", str(msg.status or ""), msg.call_id, msg.cseq)


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("aaa.pcap", 81),
        ("sip_compact_form.pcap", 1),
        ("sip_header_multi_val.pcap", 1),
        ("invalid-content-length.pcap", 2),
        ("sip-junk-before-request.pcap", 1),
    ],
)
def test_capture_agrees_with_tshark(corpus: Path, oracle: Path, name: str, count: int) -> None:
    messages, skipped = parse_capture(corpus / name)
    expected = oracle_rows(oracle, name)
    assert len(expected) == count
    assert skipped == {}
    assert {n: fields(m) for n, m in messages.items()} == expected


def test_capture_problems(corpus: Path) -> None:
    assert all(not m.problems for m in parse_capture(corpus / "aaa.pcap")[0].values())
    [bad_invite, bad_ok] = parse_capture(corpus / "invalid-content-length.pcap")[0].values()
    assert bad_invite.problems == ("Content-Length 'bad' is not a number",)
    assert bad_ok.problems == ("Content-Length 'xyz' is not a number",)
    # the "junk" of this zeek trace is a datagram of its own (four NULs), then a bare REGISTER
    frames = {n: p for n, _, p in udp_payloads(corpus / "sip-junk-before-request.pcap")}
    assert keepalive_kind(frames[1]) == "null"
    [register] = parse_capture(corpus / "sip-junk-before-request.pcap")[0].values()
    assert (register.method, register.ruri, register.call_id) == (
        "REGISTER",
        "sip:1.1.1.1:5060",
        "",
    )
    assert "no Call-ID header" in register.problems


def test_http_on_the_sip_port_is_not_sip(corpus: Path) -> None:
    payloads = [p for _, _, p in udp_payloads(corpus / "http_on_sip_port.pcap") if p]
    assert len(payloads) == 2
    assert payloads[0].startswith(b"GET ")
    assert not any(looks_like_sip(p) for p in payloads)


def test_fuzzed_capture(corpus: Path, oracle: Path) -> None:
    path = corpus / "fuzz-2006-06-26-2594.pcap"
    # nothing raises, whatever the payload
    for number, _, payload in udp_payloads(path):
        result = parse_message(payload, PKT._replace(frame=number))
        check(result, payload)
    messages, skipped = parse_capture(path)
    expected = oracle_rows(oracle, "fuzz-2006-06-26-2594.pcap")
    assert len(expected) == 52
    # every message tshark found is a Message here, with the same method or status code
    assert {n: fields(messages[n])[:2] for n in expected} == {n: f[:2] for n, f in expected.items()}
    # and the same Call-ID and CSeq, except where tshark stopped at a NUL in the Call-ID (182,
    # 247), joined two CSeq headers with "|" (527) or kept a mangled CSeq number (155, 550)
    differ = {n for n, f in expected.items() if fields(messages[n]) != f}
    assert differ == {155, 182, 247, 527, 550}
    assert messages[247].call_id == "105090259-446faf7a@192.168.%s\x00"
    assert expected[247][2] == "105090259-446faf7a@192.168.%s"
    # more than tshark: six start lines it refused (a NUL in them, a mangled version), and
    # one status code out of range
    assert sorted(set(messages) - set(expected)) == [108, 154, 223, 346, 348, 441]
    assert {n: s.reason for n, s in skipped.items()} == {
        274: "status code 40 out of range (100-699)"
    }
