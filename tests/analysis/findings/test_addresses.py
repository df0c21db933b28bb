"""``findings.addresses``: documentation ranges stand for public addresses, shared space is
private, loopback and link-local are neither."""

from __future__ import annotations

import pytest

from sipsniff.analysis.findings.addresses import as_ip, is_private, is_public


@pytest.mark.parametrize(
    ("text", "private", "public"),
    [
        ("192.168.1.2", True, False),
        ("10.0.0.1", True, False),
        ("100.64.0.1", True, False),  # RFC 6598 shared address space (carrier-grade NAT)
        ("fd00::1", True, False),
        ("203.0.113.9", False, True),  # RFC 5737: stands for a public address
        ("[2001:db8::1]", False, True),  # RFC 3849, in the brackets of a SIP host
        ("212.242.33.35", False, True),
        ("127.0.0.1", False, False),
        ("169.254.1.1", False, False),
        ("pbx.example.com", False, False),
    ],
)
def test_private_and_public(text: str, private: bool, public: bool) -> None:
    assert (is_private(text), is_public(text)) == (private, public)


def test_as_ip() -> None:
    assert str(as_ip("[::1]")) == "::1"
    assert as_ip("host") is None
