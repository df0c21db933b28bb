"""Which addresses are public and which private, as the NAT, forged and scanner rules read them."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Final


@lru_cache(maxsize=4096)
def as_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``text`` as an IP address (brackets of an IPv6 host stripped); None for a host name."""
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def is_private(text: str) -> bool:
    """An RFC 1918 / RFC 4193 / shared (RFC 6598) address (not a documentation one: those stand
    for public addresses, ``is_public``)."""
    ip = as_ip(text)
    if ip is None:
        return False
    if ip.version == 4 and ip in ipaddress.ip_network("100.64.0.0/10"):
        return True
    if any(ip in net for net in _DOCUMENTATION if net.version == ip.version):
        return False
    return ip.is_private and not ip.is_loopback and not ip.is_link_local and not ip.is_unspecified


_DOCUMENTATION: Final = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
"""RFC 5737 / RFC 3849 documentation ranges: they stand for public addresses in examples, labs
and tests (the scenarios' "Internet"), so they count as public here."""


@lru_cache(maxsize=4096)
def is_public(text: str) -> bool:
    """A global address (or a documentation address, which stands for one)."""
    ip = as_ip(text)
    if ip is None:
        return False
    return ip.is_global or any(ip in net for net in _DOCUMENTATION if net.version == ip.version)
