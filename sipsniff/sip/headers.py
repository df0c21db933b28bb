"""Header access for SIP messages: every header, on demand, from a message's raw bytes.

How this works: ``parser`` parses only the few fields correlation needs. Everything else is read
here, lazily, from ``Message.raw``: ``split_head`` finds the header section (RFC 3261 section 7:
the start line, header lines, an empty line), decodes it and unfolds continuation lines;
``parse_headers`` and ``header_values`` keep the last few results in a small cache, so that asking
a message for several headers costs one parse. Names come back canonical (compact forms expanded,
known names in their usual spelling, unknown ones as written), values stripped.

Header text is decoded as UTF-8 with ``errors="replace"``: SIP allows UTF-8 in many places
(RFC 4475 3.1.1.12), the JSON and terminal renderers need ``str`` that can always be encoded, and
fuzzed octets show as U+FFFD as they do in Wireshark. The exact octets stay in ``Message.raw``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Final, NamedTuple

from sipsniff.sip.grammar import (
    BLANK_LINE_BYTES,
    FOLD,
    LINE_BREAK,
    LIST_ITEM,
    NAME_ADDR_SIMPLE,
    ODD_LINE_BREAK,
    QUOTED_PAIR,
    QUOTED_STRING,
    TOKENS_AND_SPACES,
    VIA_PARM,
)


class NameAddr(NamedTuple):
    """A From, To, Contact, Route... value (RFC 3261 section 20.10, 25.1)."""

    display: str
    """Display name, unquoted and unescaped; "" when none."""
    uri: str
    """The URI, without the ``<>``; "" when there is none."""
    params: dict[str, str | None]
    """Header parameters (``tag``, ``expires``, ``q``...): names lower-cased, quoted values
    unquoted, None for a parameter without ``=``. For an addr-spec without ``<>`` every ``;param``
    is a header parameter, not a URI parameter (RFC 3261 section 20.10, RFC 4475 3.3.12)."""


class Via(NamedTuple):
    """One Via value (RFC 3261 section 20.42)."""

    protocol: str
    """``SIP/2.0`` (whitespace around the slashes removed)."""
    transport: str
    """``UDP``, ``TCP``, ``TLS``, ``SCTP``, ``WS``... upper-cased."""
    sent_by: str
    """host[:port], lower-cased, whitespace removed; "" when missing."""
    params: dict[str, str | None]
    """``branch``, ``received``, ``rport``...: names lower-cased, None for no ``=``."""

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")


# RFC 3261 section 7.3.3 and the IANA "Header Fields" registry (column "Compact"): one-letter
# forms, matched case-insensitively.
COMPACT: Final[dict[str, str]] = {
    "a": "Accept-Contact",  # RFC 3841
    "b": "Referred-By",  # RFC 3892
    "c": "Content-Type",
    "d": "Request-Disposition",  # RFC 3841
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",  # RFC 3841
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",  # RFC 4474 (obsoleted by RFC 8224)
    "o": "Event",  # RFC 6665
    "r": "Refer-To",  # RFC 3515
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",  # RFC 6665
    "v": "Via",
    "x": "Session-Expires",  # RFC 4028
    "y": "Identity",  # RFC 8224
}

# Header names in their usual spelling (IANA registry and common extensions). Matching is
# case-insensitive; a name not listed is kept as written.
KNOWN_NAMES: Final = [
    "Accept",
    "Accept-Contact",
    "Accept-Encoding",
    "Accept-Language",
    "Accept-Resource-Priority",
    "Alert-Info",
    "Allow",
    "Allow-Events",
    "Answer-Mode",
    "Authentication-Info",
    "Authorization",
    "Call-ID",
    "Call-Info",
    "Contact",
    "Content-Disposition",
    "Content-Encoding",
    "Content-ID",
    "Content-Language",
    "Content-Length",
    "Content-Transfer-Encoding",
    "Content-Type",
    "CSeq",
    "Date",
    "Diversion",
    "Error-Info",
    "Event",
    "Expires",
    "Feature-Caps",
    "Flow-Timer",
    "From",
    "Geolocation",
    "Geolocation-Error",
    "Geolocation-Routing",
    "History-Info",
    "Identity",
    "Identity-Info",
    "In-Reply-To",
    "Info-Package",
    "Join",
    "Max-Breadth",
    "Max-Forwards",
    "MIME-Version",
    "Min-Expires",
    "Min-SE",
    "Organization",
    "P-Access-Network-Info",
    "P-Asserted-Identity",
    "P-Asserted-Service",
    "P-Associated-URI",
    "P-Called-Party-ID",
    "P-Charging-Function-Addresses",
    "P-Charging-Vector",
    "P-Early-Media",
    "P-Media-Authorization",
    "P-Preferred-Identity",
    "P-Preferred-Service",
    "P-Profile-Key",
    "P-Served-User",
    "P-User-Database",
    "P-Visited-Network-ID",
    "Path",
    "Permission-Missing",
    "Policy-Contact",
    "Policy-ID",
    "Priority",
    "Priv-Answer-Mode",
    "Privacy",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "RAck",
    "Reason",
    "Record-Route",
    "Recv-Info",
    "Refer-Sub",
    "Refer-To",
    "Referred-By",
    "Reject-Contact",
    "Remote-Party-ID",
    "Replaces",
    "Reply-To",
    "Request-Disposition",
    "Require",
    "Resource-Priority",
    "Retry-After",
    "Route",
    "RSeq",
    "Security-Client",
    "Security-Server",
    "Security-Verify",
    "Server",
    "Service-Route",
    "Session-Expires",
    "Session-ID",
    "SIP-ETag",
    "SIP-If-Match",
    "Subject",
    "Subscription-State",
    "Supported",
    "Suppress-If-Match",
    "Target-Dialog",
    "Timestamp",
    "To",
    "Trigger-Consent",
    "Unsupported",
    "User-Agent",
    "User-to-User",
    "Via",
    "Warning",
    "WWW-Authenticate",
]

CANONICAL: Final[dict[str, str]] = {n.lower(): n for n in KNOWN_NAMES} | COMPACT
"""Lower-case name (or compact form) -> canonical spelling."""

# Headers whose grammar is a comma-separated list, so that several values may share one header
# line (RFC 3261 section 7.3.1). Not listed, hence never split: WWW-Authenticate, Authorization,
# Proxy-Authenticate, Proxy-Authorization, Authentication-Info (commas separate auth params),
# Date (its commas are part of the date), Call-ID, CSeq, From, To, Subject, User-Agent, Server...
COMMA_LISTS: Final = frozenset(
    [
        "Accept",
        "Accept-Contact",
        "Accept-Encoding",
        "Accept-Language",
        "Accept-Resource-Priority",
        "Alert-Info",
        "Allow",
        "Allow-Events",
        "Call-Info",
        "Contact",
        "Content-Encoding",
        "Content-Language",
        "Diversion",
        "Error-Info",
        "Feature-Caps",
        "Geolocation",
        "History-Info",
        "In-Reply-To",
        "P-Access-Network-Info",
        "P-Asserted-Identity",
        "P-Associated-URI",
        "P-Early-Media",
        "P-Media-Authorization",
        "P-Preferred-Identity",
        "P-Visited-Network-ID",
        "Path",
        "Permission-Missing",
        "Proxy-Require",
        "Reason",
        "Record-Route",
        "Recv-Info",
        "Reject-Contact",
        "Request-Disposition",
        "Require",
        "Resource-Priority",
        "Route",
        "Security-Client",
        "Security-Server",
        "Security-Verify",
        "Service-Route",
        "Supported",
        "Trigger-Consent",
        "Unsupported",
        "User-to-User",
        "Via",
        "Warning",
    ]
)


def canonical_name(name: str) -> str:
    """The canonical spelling of a header name: ``"i"`` -> ``"Call-ID"``, ``"cseq"`` -> ``"CSeq"``,
    an unknown name as written (whitespace stripped)."""
    name = name.strip(" \t")
    return CANONICAL.get(name.lower(), name)


# -- the header section ------------------------------------------------------------------------


def split_head(raw: bytes, start: int = 0) -> tuple[list[str], int, bool, list[str]]:
    """Find, decode and unfold the header section of the message that starts at ``raw[start]``.

    Returns the lines (start line first, continuation lines joined to theirs with one SP), the
    offset of the body in ``raw`` (``len(raw)`` when no empty line ends the headers), whether an
    empty line was found, and the problems seen (bare LF line endings, no empty line).
    """
    end = raw.find(b"\r\n\r\n", start)
    if end >= 0:
        head = raw[start:end].decode("utf-8", "replace")
        if ODD_LINE_BREAK.search(head) is None:
            return head.split("\r\n"), end + 4, True, []
    return _split_head_lenient(raw, start)


def _split_head_lenient(raw: bytes, start: int) -> tuple[list[str], int, bool, list[str]]:
    """``split_head`` for folded lines, bare LFs and header sections without an empty line."""
    problems: list[str] = []
    m = BLANK_LINE_BYTES.search(raw, start)
    if m is not None:
        end, body = m.start(), m.end()
        ended = True
    else:
        end = start + len(raw[start:].rstrip(b"\r\n"))
        body = len(raw)
        ended = False
        problems.append("header section not terminated by an empty line")
    head = raw[start:end].decode("utf-8", "replace")
    if head.count("\n") != head.count("\r\n"):
        problems.append("bare LF line endings")
    return LINE_BREAK.split(FOLD.sub(" ", head)), body, ended, problems


def _start_offset(raw: bytes) -> int:
    """Length of the CR/LF run before the start line (RFC 3261 section 7.5 lets it be ignored)."""
    if raw.startswith((b"\r", b"\n")):
        return len(raw) - len(raw.lstrip(b"\r\n"))
    return 0


@lru_cache(maxsize=256)
def _parsed(raw: bytes) -> tuple[tuple[tuple[str, str], ...], dict[str, list[str]]]:
    """Every (name, value) in order, and the values by lower-case canonical name."""
    lines = split_head(raw, _start_offset(raw))[0]
    pairs: list[tuple[str, str]] = []
    index: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            continue  # not a header line; the parser notes it as a problem
        name = canonical_name(name)
        if not name:
            continue
        value = value.strip(" \t")
        pairs.append((name, value))
        index.setdefault(name.lower(), []).append(value)
    return tuple(pairs), index


def parse_headers(raw: bytes) -> list[tuple[str, str]]:
    """Every header of a message, in order.

    Args:
        raw: the message (start line, headers, optionally the body), e.g. ``Message.raw``.

    Returns:
        ``(name, value)`` pairs: names canonical (``i`` -> ``Call-ID``, ``cseq`` -> ``CSeq``, an
        unknown name as written), folded lines unfolded, values stripped (possibly ""). A line
        without a colon is left out.
    """
    return list(_parsed(raw)[0])


def header_values(raw: bytes, name: str) -> list[str]:
    """All values of one header, in order, matched case-insensitively (compact forms included).

    Headers whose grammar is a list (``COMMA_LISTS``: Via, Contact, Route, Allow...) are split at
    the commas that are outside quoted strings and ``<>``, and empty elements dropped; the others
    (WWW-Authenticate, Authorization, Date...) are returned whole, one value per header line.
    """
    canon = canonical_name(name)
    values = _parsed(raw)[1].get(canon.lower())
    if not values:
        return []
    if canon not in COMMA_LISTS:
        return list(values)
    out: list[str] = []
    for value in values:
        out += split_list(value)
    return out


def header_value(raw: bytes, name: str) -> str | None:
    """The first value of a header (the whole line, not split), or None when it is absent."""
    values = _parsed(raw)[1].get(canonical_name(name).lower())
    return values[0] if values else None


def first_value(raw: bytes, names: Sequence[str]) -> str | None:
    """The value of the first header named one of ``names`` (whichever the message carries first:
    ``("User-Agent", "Server")`` finds a Server header above a User-Agent), or None when none is."""
    wanted = {canonical_name(n).lower() for n in names}
    if not _COMPACT_NAMES.intersection(wanted):
        # Most messages carry none of the names: a look at the bytes spares parsing them.
        head = raw[: raw.find(b"\r\n\r\n") % (len(raw) + 1)].lower()
        if not any(w.encode() in head for w in wanted):
            return None
    for name, value in _parsed(raw)[0]:
        if name.lower() in wanted:
            return value
    return None


_COMPACT_NAMES: Final = frozenset(n.lower() for n in COMPACT.values())
"""Names that a compact form may stand for (``first_value`` parses a message to look for those)."""


# -- values ------------------------------------------------------------------------------------


def split_list(value: str) -> list[str]:
    """Split a list-valued header at its commas (not those inside quotes or ``<>``); strip the
    elements and drop the empty ones (RFC 3261 section 7.3.1)."""
    simple = '"' not in value and "<" not in value
    parts = value.split(",") if simple else LIST_ITEM.findall(value)
    return [s for p in parts if (s := p.strip(" \t"))]


def _split_quoted(text: str, sep: str) -> list[str]:
    """``text.split(sep)``, except inside quoted strings (with their quoted-pairs)."""
    out: list[str] = []
    begin = 0
    i = 0
    quoted = False
    n = len(text)
    while i < n:
        c = text[i]
        if quoted:
            if c == "\\":
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c == sep:
            out.append(text[begin:i])
            begin = i + 1
        i += 1
    out.append(text[begin:])
    return out


def unquote(text: str) -> str:
    """The content of a quoted-string, quoted-pairs resolved; other text stripped, unchanged."""
    text = text.strip(" \t")
    m = QUOTED_STRING.match(text)
    if m is None:
        return text
    inner = m.group(1)
    return QUOTED_PAIR.sub(r"\1", inner) if "\\" in inner else inner


def parse_params(text: str) -> tuple[dict[str, str | None], str, bool]:
    """Parse ``;name=value;flag...`` (generic-param, RFC 3261 section 25.1).

    Returns the parameters (names lower-cased, the first of a repeated name kept, quoted values
    unquoted, None for no ``=``), the text before the first ``;`` stripped (normally ""), and
    whether an empty parameter (``;;``) was seen.
    """
    if not text:
        return {}, "", False
    pieces = _split_quoted(text, ";") if '"' in text else text.split(";")
    params: dict[str, str | None] = {}
    empty = False
    for piece in pieces[1:]:
        pname, eq, pvalue = piece.partition("=")
        pname = pname.strip(" \t").lower()
        if not pname:
            empty = True
            continue
        if pname not in params:
            if not eq:
                params[pname] = None
            else:
                pvalue = pvalue.strip(" \t")
                params[pname] = unquote(pvalue) if pvalue[:1] == '"' else pvalue
    return params, pieces[0].strip(" \t"), empty


# name-addr      =  [ display-name ] LAQUOT addr-spec RAQUOT
# addr-spec      =  SIP-URI / SIPS-URI / absoluteURI
# display-name   =  *(token LWS)/ quoted-string
# from-spec      =  ( name-addr / addr-spec ) *( SEMI from-param )
# contact-param  =  (name-addr / addr-spec) *(SEMI contact-params)
def name_addr(value: str) -> tuple[NameAddr, str | None]:
    """``parse_name_addr``, and the first syntax problem seen (None when there is none)."""
    v = value.strip(" \t")
    problem: str | None = None
    display = ""
    if v[:1] == '"':
        m = QUOTED_STRING.match(v)
        if m is not None:
            display = m.group(1)
            if "\\" in display:
                display = QUOTED_PAIR.sub(r"\1", display)
            rest = v[m.end() :]
            lt = rest.find("<")
            if lt < 0:
                problem = "quoted display name without a <URI>"
                rest = rest.strip(" \t")
            elif rest[:lt].strip(" \t"):
                problem = "text between the display name and the <URI>"
        else:
            problem = "unterminated quoted display name"
            lt = v.find("<")
            display = (v[1:lt] if lt >= 0 else v[1:]).strip(" \t")
            rest = v[lt:] if lt >= 0 else ""
            lt = 0 if lt >= 0 else -1
    else:
        lt = v.find("<")
        if lt >= 0:
            display = v[:lt].strip(" \t")
            if display and TOKENS_AND_SPACES.fullmatch(display) is None:
                problem = "unquoted display name with characters that need quotes"
        rest = v
    if lt >= 0:
        gt = rest.find(">", lt)
        if gt < 0:
            problem = problem or "no closing > after the URI"
            inner, tail = rest[lt + 1 :], ""
        else:
            inner, tail = rest[lt + 1 : gt], rest[gt + 1 :]
        uri = inner.strip(" \t")
        if len(uri) != len(inner):
            problem = problem or "whitespace inside the < > around the URI"
    else:
        # addr-spec: every ";" starts a header parameter (RFC 3261 section 20.10)
        uri, sep, tail = rest.partition(";")
        uri = uri.strip(" \t")
        tail = sep + tail
        if problem is None and ("?" in uri or "," in uri):
            problem = "URI with ? or , not enclosed in < >"
    params, junk, empty = parse_params(tail) if tail else ({}, "", False)
    if problem is None:
        if junk:
            problem = f"unexpected text after the URI: {junk[:40]!r}"
        elif empty:
            problem = "empty parameter"
    return NameAddr(display, uri, params), problem


def _param_value(params: str, key: str) -> str | None:
    """The value of the parameter ``key`` (``";tag="``) in a parameter list without quotes or
    whitespace: found with ``str.find`` when it is the first parameter or its name occurs once,
    by the general ``parse_params`` otherwise (the first of a repeated name counts)."""
    i = params.find(key)
    if i != 0:
        low = params.lower()
        count = low.count(key[:-1])
        if not count:
            return None
        i = low.find(key)
        if count != 1 or i < 0:
            return parse_params(params)[0].get(key[1:-1])
    i += len(key)
    j = params.find(";", i)
    return params[i:j] if j >= 0 else params[i:]


def addr_fields(value: str) -> tuple[str, str, str | None, str | None]:
    """The parser's fast path for From / To: ``(uri, display, tag, problem)``.

    The common shapes are matched by one pattern (``NAME_ADDR_SIMPLE``); anything else goes
    through ``name_addr``. The result is the same either way.
    """
    m = NAME_ADDR_SIMPLE.match(value)
    if m is None:
        na, problem = name_addr(value)
        return na.uri, na.display, na.params.get("tag"), problem
    quoted, tokens, uri, params, spec, spec_params = m.groups()
    if uri is None:
        return spec, "", _param_value(spec_params, ";tag=") if spec_params else None, None
    display = quoted if quoted is not None else (tokens or "")
    return uri, display, _param_value(params, ";tag=") if params else None, None


def via_fields(value: str) -> tuple[str, str | None, str | None]:
    """The parser's fast path for the topmost Via: ``(sent_by, branch, problem)``.

    The common shape ``SIP/2.0/UDP host:port;param...`` (no other whitespace, no quotes, no
    empty parameter) is cut with string methods; anything else goes through ``via``. The result
    is the same either way.
    """
    if value[:8] == "SIP/2.0/" and "\t" not in value and '"' not in value:
        sp = value.find(" ", 8)
        semi = value.find(";", sp)
        if semi < 0:
            semi = len(value)
        sent_by = value[sp + 1 : semi]
        params = value[semi:]
        if (
            sp > 8
            and sent_by
            and " " not in sent_by
            and " " not in params
            and ";;" not in params
            and params[-1:] != ";"
        ):
            return sent_by.lower(), _param_value(params, ";branch=") if params else None, None
    v, problem = via(value)
    return v.sent_by, v.params.get("branch"), problem


def parse_name_addr(value: str) -> NameAddr:
    """Parse a From, To, Contact, Route... value, leniently (never raises).

    Handles ``"quoted \\"escaped\\" name" <uri>;p=1``, unquoted display names (``Bob <uri>``,
    ``caller<uri>``) and an addr-spec without ``<>``, whose ``;params`` are header parameters.
    """
    return name_addr(value)[0]


def via(value: str) -> tuple[Via, str | None]:
    """``parse_via``, and the first syntax problem seen (None when there is none)."""
    m = VIA_PARM.match(value)
    if m is None:
        return Via("", "", "", {}), "malformed Via (no SIP/2.0/transport)"
    pname, pversion, transport, sent_by, rest = m.groups()
    sent_by = sent_by.strip(" \t")
    if " " in sent_by or "\t" in sent_by:
        sent_by = "".join(sent_by.split())
    params, _, empty = parse_params(rest) if rest else ({}, "", False)
    problem = None
    if not sent_by:
        problem = "Via without a sent-by"
    elif empty:
        problem = "empty parameter in Via"
    return Via(f"{pname}/{pversion}", transport.upper(), sent_by.lower(), params), problem


def parse_via(value: str) -> Via:
    """Parse one Via value (one element of a comma-separated Via header), leniently.

    ``"SIP / 2.0 / UDP host.example.com : 5060 ;branch=z9hG4bK1"`` ->
    ``Via("SIP/2.0", "UDP", "host.example.com:5060", {"branch": "z9hG4bK1"})``.
    """
    return via(value)[0]


# -- registrations -------------------------------------------------------------------------------


class Binding(NamedTuple):
    """One Contact of a REGISTER or of its 2xx (RFC 3261 sections 10.2, 10.3, 20.10)."""

    uri: str
    """The contact address, ``*`` for "every binding" (10.2.2)."""
    expires: int | None
    """Its ``expires`` parameter in seconds; None when it has none (or not a number)."""


def bindings(raw: bytes) -> tuple[list[Binding], int | None]:
    """The Contacts of a message with their ``expires`` parameters, and its Expires header."""
    out: list[Binding] = []
    for value in header_values(raw, "Contact"):
        if value.strip(" \t") == "*":
            out.append(Binding("*", None))
            continue
        na = parse_name_addr(value)
        out.append(Binding(na.uri, _seconds(na.params.get("expires"))))
    return out, _seconds(header_value(raw, "Expires"))


def _seconds(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip(" \t")
    return int(text) if text.isdigit() and text.isascii() else None
