"""Lazy header access: every header, canonical names, list splitting, name-addr and Via values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsniff.sip.headers import (
    COMPACT,
    Binding,
    NameAddr,
    Via,
    addr_fields,
    bindings,
    canonical_name,
    first_value,
    header_value,
    header_values,
    name_addr,
    parse_headers,
    parse_name_addr,
    parse_params,
    parse_via,
    split_head,
    split_list,
    via,
    via_fields,
)

MSG = (
    b"INVITE sip:bob@example.com SIP/2.0\r\n"
    b"v: SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/TCP b.example.com:5061"
    b";branch=z9hG4bK2\r\n"
    b"VIA  : SIP/2.0/UDP c.example.com;branch=z9hG4bK3\r\n"
    b'f: "Alice, the first" <sip:alice@example.com>;tag=a1\r\n'
    b"t: <sip:bob@example.com>\r\n"
    b"i: abc@host\r\n"
    b"cseq: 1 INVITE\r\n"
    b'm: "Bob, B." <sip:bob@192.0.2.4>;q=0.5, <sip:bob@192.0.2.5,x>;expires=60\r\n'
    b'WWW-Authenticate: Digest realm="a, b", nonce="n"\r\n'
    b'www-authenticate: Digest realm="c"\r\n'
    b"Date: Sat, 13 Nov 2010 23:29:00 GMT\r\n"
    b"Allow: INVITE, ACK,CANCEL ,, BYE\r\n"
    b"k: 100rel,\r\n timer\r\n"
    b"X-Call-ID: other@host\r\n"
    b"Subject:\r\n"
    b"l: 4\r\n"
    b"\r\n"
    b"body"
)


def test_parse_headers_every_header_in_order() -> None:
    assert parse_headers(MSG) == [
        ("Via", "SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/TCP b.example.com:5061;branch=z9hG4bK2"),
        ("Via", "SIP/2.0/UDP c.example.com;branch=z9hG4bK3"),
        ("From", '"Alice, the first" <sip:alice@example.com>;tag=a1'),
        ("To", "<sip:bob@example.com>"),
        ("Call-ID", "abc@host"),
        ("CSeq", "1 INVITE"),
        ("Contact", '"Bob, B." <sip:bob@192.0.2.4>;q=0.5, <sip:bob@192.0.2.5,x>;expires=60'),
        ("WWW-Authenticate", 'Digest realm="a, b", nonce="n"'),
        ("WWW-Authenticate", 'Digest realm="c"'),
        ("Date", "Sat, 13 Nov 2010 23:29:00 GMT"),
        ("Allow", "INVITE, ACK,CANCEL ,, BYE"),
        ("Supported", "100rel, timer"),
        ("X-Call-ID", "other@host"),
        ("Subject", ""),
        ("Content-Length", "4"),
    ]  # fmt: skip


def test_parse_headers_returns_a_fresh_list() -> None:
    first = parse_headers(MSG)
    first.clear()
    assert len(parse_headers(MSG)) == 15


def test_header_values_splits_lists_quote_aware() -> None:
    assert header_values(MSG, "Via") == [
        "SIP/2.0/UDP a.example.com;branch=z9hG4bK1",
        "SIP/2.0/TCP b.example.com:5061;branch=z9hG4bK2",
        "SIP/2.0/UDP c.example.com;branch=z9hG4bK3",
    ]
    assert header_values(MSG, "contact") == [
        '"Bob, B." <sip:bob@192.0.2.4>;q=0.5',
        "<sip:bob@192.0.2.5,x>;expires=60",
    ]
    assert header_values(MSG, "Allow") == ["INVITE", "ACK", "CANCEL", "BYE"]
    assert header_values(MSG, "k") == ["100rel", "timer"]


def test_header_values_does_not_split_single_valued_headers() -> None:
    assert header_values(MSG, "WWW-Authenticate") == [
        'Digest realm="a, b", nonce="n"',
        'Digest realm="c"',
    ]
    assert header_values(MSG, "date") == ["Sat, 13 Nov 2010 23:29:00 GMT"]
    assert header_values(MSG, "From") == ['"Alice, the first" <sip:alice@example.com>;tag=a1']
    assert header_values(MSG, "Subject") == [""]  # fmt: skip


def test_header_values_unknown_names_match_case_insensitively() -> None:
    assert header_values(MSG, "x-call-id") == ["other@host"]
    assert header_values(MSG, "X-CALL-ID") == ["other@host"]
    assert header_values(MSG, "Route") == []
    assert header_value(MSG, "i") == "abc@host"
    assert header_value(MSG, "Via") == (
        "SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/TCP b.example.com:5061;branch=z9hG4bK2"
    )
    assert header_value(MSG, "Record-Route") is None


def test_first_value_of_several_names() -> None:
    """The first header that has one of the names, as the message orders them (moved here with
    the terminal ladder's agent column, which had a copy of its own of header parsing)."""
    raw = (
        b"SIP/2.0 200 OK\r\nServer : Asterisk PBX 20.5\r\nuser-agent: later\r\n\r\n"
        b"User-Agent: in the body\r\n"
    )
    assert first_value(raw, ("User-Agent", "Server")) == "Asterisk PBX 20.5"
    assert first_value(raw, ("user-agent",)) == "later"
    assert first_value(b"OPTIONS sip:x SIP/2.0\r\n\r\n", ("Server",)) is None
    assert (
        first_value(b"SIP/2.0 200 OK\nSERVER:  bare LF\n\n", ("User-Agent", "Server")) == "bare LF"
    )
    assert first_value(
        b"INVITE sip:x SIP/2.0\r\nc: application/sdp\r\n\r\n", ("Content-Type",)
    ) == ("application/sdp")


def test_contact_star() -> None:
    raw = b"REGISTER sip:r SIP/2.0\r\nContact: *\r\nExpires: 0\r\n\r\n"
    assert header_values(raw, "m") == ["*"]


@pytest.mark.parametrize(
    ("letter", "name"),
    [
        ("a", "Accept-Contact"),
        ("b", "Referred-By"),
        ("c", "Content-Type"),
        ("d", "Request-Disposition"),
        ("e", "Content-Encoding"),
        ("f", "From"),
        ("i", "Call-ID"),
        ("j", "Reject-Contact"),
        ("k", "Supported"),
        ("l", "Content-Length"),
        ("m", "Contact"),
        ("n", "Identity-Info"),
        ("o", "Event"),
        ("r", "Refer-To"),
        ("s", "Subject"),
        ("t", "To"),
        ("u", "Allow-Events"),
        ("v", "Via"),
        ("x", "Session-Expires"),
        ("y", "Identity"),
    ],
)
def test_compact_forms(letter: str, name: str) -> None:
    assert COMPACT[letter] == name
    assert canonical_name(letter) == canonical_name(letter.upper()) == name
    raw = f"OPTIONS sip:a SIP/2.0\r\n{letter.upper()} : value\r\n\r\n".encode()
    assert parse_headers(raw) == [(name, "value")]


def test_compact_forms_are_exactly_the_iana_list() -> None:
    assert sorted(COMPACT) == list("abcdefijklmnorstuvxy")


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("call-id", "Call-ID"),
        ("CALL-ID", "Call-ID"),
        ("cseq", "CSeq"),
        ("www-authenticate", "WWW-Authenticate"),
        ("Rseq", "RSeq"),
        ("p-asserted-identity", "P-Asserted-Identity"),
        ("Via  ", "Via"),
        ("X-Unknown-Thing", "X-Unknown-Thing"),
        ("x-unknown-thing", "x-unknown-thing"),
    ],
)
def test_canonical_name(written: str, canonical: str) -> None:
    assert canonical_name(written) == canonical


def test_split_head_lf_only_and_folding() -> None:
    raw = b"OPTIONS sip:a SIP/2.0\nVia: SIP/2.0/UDP h\n ;branch=z9hG4bKx\nl: 2\n\nab"
    lines, body, ended, problems = split_head(raw)
    assert lines == ["OPTIONS sip:a SIP/2.0", "Via: SIP/2.0/UDP h ;branch=z9hG4bKx", "l: 2"]
    assert (raw[body:], ended, problems) == (b"ab", True, ["bare LF line endings"])


def test_split_head_without_an_empty_line() -> None:
    raw = b"OPTIONS sip:a SIP/2.0\r\nCall-ID: x\r\n"
    assert split_head(raw) == (
        ["OPTIONS sip:a SIP/2.0", "Call-ID: x"],
        len(raw),
        False,
        ["header section not terminated by an empty line"],
    )


def test_split_head_decodes_invalid_utf8_as_replacement() -> None:
    raw = b"OPTIONS sip:a SIP/2.0\r\nSubject: caf\xe9 \xd0\xb4\r\n\r\n"
    assert split_head(raw)[0][1] == "Subject: caf\ufffd д"


@pytest.mark.parametrize(
    ("value", "items"),
    [
        ("a, b ,c", ["a", "b", "c"]),
        (",, a,,", ["a"]),
        ('"x, y" <sip:a>, <sip:b>', ['"x, y" <sip:a>', "<sip:b>"]),
        ('"x \\", y" <sip:a>, b', ['"x \\", y" <sip:a>', "b"]),
        ("<sip:a,b>;p=1, <sip:c>", ["<sip:a,b>;p=1", "<sip:c>"]),
        ('"unterminated, a', ['"unterminated, a']),
        ("<sip:unterminated, a", ["<sip:unterminated, a"]),
        ("", []),
    ],
)
def test_split_list(value: str, items: list[str]) -> None:
    assert split_list(value) == items


def test_parse_params() -> None:
    assert parse_params(' ; tag = a1 ;lr; X="q;\\"v" ;tag=second') == (
        {"tag": "a1", "lr": None, "x": 'q;"v'},
        "",
        False,
    )
    assert parse_params("junk;;a=1;") == ({"a": "1"}, "junk", True)
    assert parse_params("") == ({}, "", False)


@pytest.mark.parametrize(
    ("value", "expected", "problem"),
    [
        ('"Alice" <sip:alice@example.com>;tag=1', NameAddr("Alice", "sip:alice@example.com", {"tag": "1"}), None),
        ('"J Rosenberg \\\\\\"" <sip:j@example.com>', NameAddr('J Rosenberg \\"', "sip:j@example.com", {}), None),
        ("Bob Smith <sip:bob@example.com>", NameAddr("Bob Smith", "sip:bob@example.com", {}), None),
        ("caller<sip:caller@example.com>;tag=323", NameAddr("caller", "sip:caller@example.com", {"tag": "323"}), None),
        ("<sip:a@b;transport=tcp>;expires=60", NameAddr("", "sip:a@b;transport=tcp", {"expires": "60"}), None),
        ("sip:a@b;transport=tcp;tag=x", NameAddr("", "sip:a@b", {"transport": "tcp", "tag": "x"}), None),
        ("  sip:a@b ;  tag  = x  ", NameAddr("", "sip:a@b", {"tag": "x"}), None),
        ("<sip:a@b>;+sip.instance=\"<urn:uuid:1>\"", NameAddr("", "sip:a@b", {"+sip.instance": "<urn:uuid:1>"}), None),
        ("*", NameAddr("", "*", {}), None),
        ("", NameAddr("", "", {}), None),
        ('"Mr. J. User <sip:j@example.com>', NameAddr("Mr. J. User", "sip:j@example.com", {}), "unterminated quoted display name"),
        ("Watson, Thomas <sip:t@example.org>", NameAddr("Watson, Thomas", "sip:t@example.org", {}), "unquoted display name with characters that need quotes"),
        ("< sip:t@example.org >", NameAddr("", "sip:t@example.org", {}), "whitespace inside the < > around the URI"),
        ("<sip:a@b", NameAddr("", "sip:a@b", {}), "no closing > after the URI"),
        ('"x" sip:a@b', NameAddr("x", "sip:a@b", {}), "quoted display name without a <URI>"),
        ("sip:u@h?Route=x", NameAddr("", "sip:u@h?Route=x", {}), "URI with ? or , not enclosed in < >"),
        ("<sip:a@b> junk;tag=1", NameAddr("", "sip:a@b", {"tag": "1"}), "unexpected text after the URI: 'junk'"),
        ("<sip:a@b>;;tag=1", NameAddr("", "sip:a@b", {"tag": "1"}), "empty parameter"),
    ],
)  # fmt: skip
def test_name_addr(value: str, expected: NameAddr, problem: str | None) -> None:
    assert parse_name_addr(value) == expected
    assert name_addr(value) == (expected, problem)
    assert addr_fields(value) == (
        expected.uri,
        expected.display,
        expected.params.get("tag"),
        problem,
    )


@pytest.mark.parametrize(
    ("value", "expected", "problem"),
    [
        ("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport", Via("SIP/2.0", "UDP", "192.0.2.1:5060", {"branch": "z9hG4bK1", "rport": None}), None),
        ("SIP  /   2.0 /udp  Host.Example.COM : 5070 ; Branch = z9hG4bK2", Via("SIP/2.0", "UDP", "host.example.com:5070", {"branch": "z9hG4bK2"}), None),
        ("SIP/2.0/TLS [2001:DB8::1]:5061;branch=z9hG4bK3", Via("SIP/2.0", "TLS", "[2001:db8::1]:5061", {"branch": "z9hG4bK3"}), None),
        ("SIP/2.0/WSS abc.invalid;branch=z9hG4bK4;received=\"1.2.3.4\"", Via("SIP/2.0", "WSS", "abc.invalid", {"branch": "z9hG4bK4", "received": "1.2.3.4"}), None),
        ("SIP/2.0/UDP iftgw.example.com", Via("SIP/2.0", "UDP", "iftgw.example.com", {}), None),
        ("SIP/2.0/UDP 192.0.2.15;;", Via("SIP/2.0", "UDP", "192.0.2.15", {}), "empty parameter in Via"),
        ("SIP/2.0/UDP ;branch=z9hG4bK5", Via("SIP/2.0", "UDP", "", {"branch": "z9hG4bK5"}), "Via without a sent-by"),
        ("192.0.2.1:5060", Via("", "", "", {}), "malformed Via (no SIP/2.0/transport)"),
    ],
)  # fmt: skip
def test_via(value: str, expected: Via, problem: str | None) -> None:
    assert parse_via(value) == expected
    assert via(value) == (expected, problem)
    assert via_fields(value) == (expected.sent_by, expected.branch, problem)


def test_via_branch_property() -> None:
    assert parse_via("SIP/2.0/UDP h;branch=z9hG4bKabc").branch == "z9hG4bKabc"
    assert parse_via("SIP/2.0/UDP h").branch is None


# The parser's fast paths must give what the general, lenient functions give, on any input.
_ALPHABET = st.sampled_from(
    [*'ab<>";=, \t\\:@/SIP2.0UDPtagbranch', "SIP/2.0/UDP ", ";tag=", ";branch="]
)
_TEXT = st.lists(_ALPHABET, max_size=30).map("".join)


@given(_TEXT)
def test_addr_fields_agrees_with_name_addr(value: str) -> None:
    na, problem = name_addr(value)
    assert addr_fields(value) == (na.uri, na.display, na.params.get("tag"), problem)


@given(_TEXT)
def test_via_fields_agrees_with_via(value: str) -> None:
    v, problem = via(value)
    assert via_fields(value) == (v.sent_by, v.params.get("branch"), problem)


@given(st.text(max_size=80))
def test_value_parsers_never_raise(value: str) -> None:
    assert isinstance(parse_name_addr(value), NameAddr)
    assert isinstance(parse_via(value), Via)
    assert all(item for item in split_list(value))


@given(st.binary(max_size=300))
def test_header_access_never_raises(raw: bytes) -> None:
    for name, value in parse_headers(raw):
        assert name
        assert value == value.strip(" \t")
    assert isinstance(header_values(raw, "Via"), list)


def test_bindings_of_a_register() -> None:
    """RFC 3261 10.2: Contacts with their expires parameters (quoted too, compact ``m`` too),
    ``*``, and the Expires header; a value that is no number is None."""
    raw = (
        b"REGISTER sip:h SIP/2.0\r\nm: <sip:a@h>;expires=5, <sip:b@h;transport=tcp>;q=0.5\r\n"
        b'Contact: sip:c@h;expires="0"\r\nContact: *\r\nExpires: 3600\r\n'
        b"Subject: one\r\n two\r\nContent-Length: 0\r\n\r\n"
    )
    found, expires = bindings(raw)
    assert found == [
        Binding("sip:a@h", 5),
        Binding("sip:b@h;transport=tcp", None),
        Binding("sip:c@h", 0),
        Binding("*", None),
    ]
    assert expires == 3600
    assert bindings(b"REGISTER sip:h SIP/2.0\r\nExpires: soon\r\n\r\n") == ([], None)
