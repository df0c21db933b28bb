"""``sip.uri``: the one URI parser (RFC 3261 section 25.1, RFC 3966), on the forms packets use."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsniff.sip.uri import Uri, host_of, parse_uri, user_part


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sip:alice@atlanta.example.com", Uri("sip", "alice", "atlanta.example.com", None, "", "")),
        (
            "SIPS:bob:secret@[2001:db8::1]:5061;transport=tls?subject=x",
            Uri("sips", "bob", "[2001:db8::1]", 5061, "transport=tls", "subject=x"),
        ),
        ("<sip:100@127.0.0.1:5060;line=abc>", Uri("sip", "100", "127.0.0.1", 5060, "line=abc", "")),
        (
            "sip:+1234;phone-context=x@gw;user=phone",
            Uri("sip", "+1234;phone-context=x", "gw", None, "user=phone", ""),
        ),
        (
            "tel:+358-555-1234567;postd=pp22",
            Uri("tel", "+358-555-1234567", "", None, "postd=pp22", ""),
        ),
        ("sip:example.com", Uri("sip", "", "example.com", None, "", "")),
        ("alice@example.com", Uri("", "alice", "example.com", None, "", "")),
        ("sip:100@:5060", Uri("sip", "100", "", 5060, "", "")),
        # another scheme is not taken apart further than "scheme:rest" as a host[:port]
        ("urn:service:sos", Uri("urn", "", "service", None, "", "")),
        ("", Uri("", "", "", None, "", "")),
    ],
)
def test_parse_uri(text: str, expected: Uri) -> None:
    assert parse_uri(text) == expected


def test_helpers() -> None:
    assert parse_uri("sip:a@[::1]:5060").host == "[::1]"
    assert parse_uri("sip:a@[::1]:5060").address == "::1"
    assert host_of("[::1]:5060") == "::1"
    assert host_of("10.0.0.1:5060") == "10.0.0.1"
    assert host_of("pbx.example.com") == "pbx.example.com"
    assert user_part("sip:+1234;phone-context=x@gw") == "+1234"
    assert user_part("tel:+123;x=y") == "+123"
    assert user_part("sip:example.com") == ""


@given(st.text(max_size=80))
def test_never_raises(text: str) -> None:
    u = parse_uri(text)
    assert u.port is None or u.port >= 0
    assert u.scheme == u.scheme.lower()
