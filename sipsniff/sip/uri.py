"""URIs of SIP messages, taken apart once: the one parser every stage uses.

RFC 3261 section 25.1 (and RFC 3966 for ``tel:``)::

    SIP-URI      = "sip:" [ userinfo ] hostport uri-parameters [ headers ]
    SIPS-URI     = "sips:" [ userinfo ] hostport uri-parameters [ headers ]
    userinfo     = ( user / telephone-subscriber ) [ ":" password ] "@"
    hostport     = host [ ":" port ]
    host         = hostname / IPv4address / IPv6reference      ; IPv6reference = "[" IPv6address "]"
    uri-parameters = *( ";" uri-parameter )
    headers      = "?" header *( "&" header )
    telephone-uri = "tel:" telephone-subscriber                 ; RFC 3966: the number, then ;params

Lenient where packets are: a value in ``<...>`` (a name-addr) is unwrapped, a missing scheme is
taken as none, a bare IPv6 address without brackets is kept whole, and ``user`` keeps what RFC 3261
allows in it (``;`` included: ``user_part`` gives the part before it, as people compare numbers).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple


class Uri(NamedTuple):
    """A URI taken apart (every field "" or None when absent)."""

    scheme: str
    """Lower-cased: ``sip``, ``sips``, ``tel``, ``urn``...; "" when there is none."""
    user: str
    """The user (or the number of a ``tel:`` URI), without the password; "" when none."""
    host: str
    """Host name or address as written (an IPv6 reference in its brackets, as written)."""
    port: int | None
    params: str
    """What follows the host (and port) after ``;``, up to ``?``, without the leading ``;``."""
    headers: str
    """What follows ``?``."""

    @property
    def address(self) -> str:
        """The host without the brackets of an IPv6 reference (what ``ipaddress`` reads)."""
        return self.host[1:-1] if self.host[:1] == "[" and self.host[-1:] == "]" else self.host


_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.")


@lru_cache(maxsize=8192)
def parse_uri(text: str) -> Uri:
    """Take a URI apart (section 25.1); never fails: what is not there is empty."""
    text = text.strip()
    if text.startswith("<"):
        text = text[1:].partition(">")[0].strip()
    scheme, colon, rest = text.partition(":")
    if not colon or not scheme or not set(scheme) <= _SCHEME_CHARS:
        scheme, rest = "", text
    scheme = scheme.lower()
    if scheme == "tel":
        number, _, params = rest.partition(";")
        return Uri(scheme, number, "", None, params, "")
    user = ""
    at = rest.find("@")
    if at >= 0:
        user = rest[:at].partition(":")[0]
        rest = rest[at + 1 :]
    rest, _, headers = rest.partition("?")
    hostport, _, params = rest.partition(";")
    host, port = _hostport(hostport)
    return Uri(scheme, user, host, port, params, headers)


def _hostport(text: str) -> tuple[str, int | None]:
    text = text.strip()
    port_text = ""
    if text.startswith("["):
        inner, bracket, after = text[1:].partition("]")
        host = f"[{inner}{bracket}"
        if after.startswith(":"):
            port_text = after[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host = text  # a name, an IPv4 address, or an IPv6 address without brackets
    port = int(port_text) if port_text.isdigit() and port_text.isascii() else None
    return host, port


def host_of(hostport: str) -> str:
    """The host of ``host[:port]`` or ``[v6]:port`` (a Via sent-by, an endpoint), no brackets."""
    host = _hostport(hostport)[0]
    return host[1:].removesuffix("]") if host[:1] == "[" else host


def user_part(uri: str) -> str:
    """The user of a URI up to its parameters, as people compare numbers and names:
    ``sip:alice@example.com`` -> ``alice``, ``tel:+123;phone-context=x`` -> ``+123``; "" when
    there is none."""
    return parse_uri(uri).user.partition(";")[0]
