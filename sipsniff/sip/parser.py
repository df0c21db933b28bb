"""SIP message parser (RFC 3261 sections 7 and 25): bytes in, ``Message`` or ``Skipped`` out.

How this works:

* ``looks_like_sip`` decides by content, cheaply (one byte for RTP): is the first line a SIP
  request line or status line? ``keepalive_kind`` names what is not SIP but expected on a SIP flow.
* ``parse_message`` parses the start line, then reads the header section line by line and picks
  out only the fields of ``model.Message`` (Call-ID, CSeq, the topmost Via, From, To,
  Content-Length); everything else is read lazily from ``Message.raw`` by ``sip.headers``.
* It is lenient and says so: anything a strict parser would reject but a person still wants to
  see becomes a ``Message`` whose ``problems`` name each flaw (RFC 4475's torture tests are the
  reference). Only data that has no usable start line is ``Skipped``: no request or status line
  at all, or a status code outside 100-699 (RFC 4475 3.1.2.19), since such a "response" cannot be
  matched to anything. A message whose header section has no closing empty line (fuzzed or cut
  datagrams, RFC 4475 baddn.dat) is kept: its headers run to the end of the data and it has no
  body. Missing mandatory headers (Call-ID, CSeq, From, To, Via) are problems, not reasons to
  skip: the fields are then "" / None.
* Header text is decoded as UTF-8 with ``errors="replace"`` (see ``sip.headers``): fields are
  always encodable ``str``; the exact octets stay in ``Message.raw``.
* A start line is looked for at the start of the data only (after any CR/LF run, RFC 3261 section
  7.5), not after leading junk. The corpus capture "sip-junk-before-request.pcap" turned out to
  have its junk in a datagram of its own (four NULs, a "null" keep-alive), not before the
  REGISTER, so nothing needs the search and it is not done.
"""

from __future__ import annotations

from collections.abc import Callable
from sys import intern as _intern
from typing import Final

from sipsniff import fast_module
from sipsniff.model import Endpoint, Entry, FiledMessage, Flows, Message, Payload, Skipped
from sipsniff.sip.grammar import (
    MAX_CSEQ,
    MAX_DIGITS,
    REQUEST_LINE,
    START_LINE_BYTES,
    STATUS_LINE,
    TOKEN,
)
from sipsniff.sip.headers import CANONICAL, addr_fields, split_head, split_list, via_fields

KNOWN_METHODS: Final = frozenset(
    [
        "INVITE",
        "ACK",
        "BYE",
        "CANCEL",
        "REGISTER",
        "OPTIONS",
        "PRACK",
        "SUBSCRIBE",
        "NOTIFY",
        "PUBLISH",
        "INFO",
        "REFER",
        "MESSAGE",
        "UPDATE",
    ]
)
"""RFC 3261 and the extensions in the IANA "Methods" registry."""

STUN_MAGIC_COOKIE: Final = b"\x21\x12\xa4\x42"
"""RFC 5389 section 6: bytes 4-7 of every STUN message."""


# -- content sniffing --------------------------------------------------------------------------


def _py_looks_like_sip(data: bytes) -> bool:
    """``looks_like_sip`` in Python alone: the reference of ``_fastsip.looks_like_sip``.

    True when the first line of ``data`` is a SIP request line or status line.

    Leading CR/LF are skipped (a keep-alive made only of CR/LF is not SIP). Lenient about the
    method (fuzzed tokens such as ``REGIStER`` or a long run of ``a``), but the first line must
    carry ``SIP/``: HTTP on port 5060, RTP, RTCP, STUN and DNS are not SIP.
    """
    if not data:
        return False
    first = data[0]
    if first < 0x21 or first > 0x7E:
        if first not in (0x0D, 0x0A):
            return False  # RTP, RTCP (0x80...), STUN (0x00/0x01), NUL keep-alives
        data = data.lstrip(b"\r\n")
        if not data or not 0x21 <= data[0] <= 0x7E:
            return False
    eol = data.find(b"\n")
    return START_LINE_BYTES.match(data, 0, len(data) if eol < 0 else eol) is not None


def keepalive_kind(data: bytes) -> str | None:
    """Name the keep-alive that ``data`` is, or None when it is none.

    Returns:
        ``"crlf"`` for CRLF / double-CRLF keep-alives (RFC 5626 section 3.5.1), ``"stun"`` for a
        STUN Binding message (RFC 5389: the first two bits 0, the magic cookie at offset 4),
        ``"null"`` for an empty datagram or one of only NULs and whitespace (some phones send
        ``"\\0\\0\\0\\0"``), None otherwise.
    """
    if not data:
        return "null"
    if not data.strip(b"\r\n"):
        return "crlf"
    if (
        len(data) >= 20
        and data[0] < 0x40
        and data[4:8] == STUN_MAGIC_COOKIE
        and (int.from_bytes(data[0:2], "big") & 0x3EEF) == 0x0001  # method bits: Binding
        and int.from_bytes(data[2:4], "big") % 4 == 0
    ):
        return "stun"
    if not data.strip(b"\x00 \t\r\n"):
        return "null"
    return None


# -- the parser --------------------------------------------------------------------------------

# What the header loop does with each header: the eager ones by kind, others (0) skipped.
_VIA, _CALL_ID, _CSEQ, _FROM, _TO, _CLEN, _CONTACT, _DATE = range(1, 9)
_EAGER: Final[dict[str, int]] = {
    "Call-ID": _CALL_ID,
    "CSeq": _CSEQ,
    "Via": _VIA,
    "From": _FROM,
    "To": _TO,
    "Content-Length": _CLEN,
    "Contact": _CONTACT,
    "Date": _DATE,
}
_KIND: Final[dict[str, int]] = {low: _EAGER.get(canon, 0) for low, canon in CANONICAL.items()}
"""Lower-case header name -> kind (0: not parsed eagerly)."""
_FAST: Final[dict[str, int]] = (
    {canon: _KIND[low] for low, canon in CANONICAL.items()}
    | {low: kind for low, kind in _KIND.items() if len(low) == 1}
    | {low.upper(): kind for low, kind in _KIND.items() if len(low) == 1}
)
"""Names as usually written -> kind, to spare most lines a ``lower()``."""
_NAMES: Final = {kind: name for name, kind in _EAGER.items()}
_CONTACT_HEADERS: Final = "Contact URI with headers (?...) not enclosed in < >"


def _skip(pkt: Payload, raw: bytes, reason: str) -> Skipped:
    return Skipped(pkt.frame, pkt.ts_ns, reason, pkt.file, pkt.src, pkt.dst, pkt.transport, raw)


def _short(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


_new = tuple.__new__  # skips NamedTuple's Python-level __new__: fields are given in order


def _fast_path() -> Callable[..., Message | None] | None:
    """The C fast path (``sip/_fastsip.c``): the flawless common message, parsed to the same
    ``Message`` as below, else None (then this module parses it). ``FAST_PARSE(raw, pkt)``, or
    ``FAST_PARSE(raw, pkt, filed_type, offset, filed_type.flows)`` for a ``FiledMessage``
    (``Pipeline.filed``).
    None when it was not built (no C compiler at install time), when it was built from an older
    ``_fastsip.c`` that knows no filed messages or flows (a checkout updated without a rebuild: the
    results are the same, in Python), or when ``SIPSNIFF_PURE_PYTHON`` is set."""
    _fastsip = fast_module("sip._fastsip")
    if _fastsip is None:
        return None
    _fastsip.setup(Message, {low: kind for low, kind in _KIND.items() if kind}, KNOWN_METHODS)
    try:
        _fastsip.parse(b"", _PROBE, Message, -1, {})
    except TypeError:  # built from an older _fastsip.c: no filed messages or flows
        return None
    parse: Callable[..., Message | None] = _fastsip.parse
    return parse


def _fast_looks_like_sip() -> Callable[[bytes], bool]:
    """``_fastsip.looks_like_sip``, or the Python one with an older build that lacks it."""
    from sipsniff.sip import _fastsip

    fast: Callable[[bytes], bool] = getattr(_fastsip, "looks_like_sip", _py_looks_like_sip)
    return fast


def _entry_maker() -> Callable[[int, Message, int, int, int | None], Entry]:
    """``Entry``, or the same in C (``_fastsip.entry``: one tuple made, not three) when the fast
    path is there and knows it."""
    if FAST_PARSE is None:
        return Entry
    from sipsniff.sip import _fastsip

    return getattr(_fastsip, "entry", Entry)  # an older build: Python's


_PROBE: Final = Payload(0, 0, Endpoint("0.0.0.0", 0), Endpoint("0.0.0.0", 0), "udp", b"")
"""A payload for the probe of ``_fast_path`` (no message in it)."""


FAST_PARSE: Final = _fast_path()
"""The C fast path, or None: parsing is then Python's alone (same results, ~5x the time)."""
looks_like_sip: Final[Callable[[bytes], bool]] = (
    _py_looks_like_sip if FAST_PARSE is None else _fast_looks_like_sip()
)
"""True when the first line of ``data`` is a SIP request line or status line (leading CR/LF
skipped); in C with the fast path, where the pattern's backtracking over a request line took a
microsecond or two of every datagram and every message cut from a stream."""
MAKE_ENTRY: Final = _entry_maker()
"""``Entry(id, msg, dialog, transaction, retransmission_of)``, in C with the fast path."""


def parse_message(
    raw: bytes,
    pkt: Payload,
    *,
    framed: bool = False,
    filed: tuple[type[FiledMessage], int, Flows] | None = None,
) -> Message | Skipped:
    """Parse one SIP message.

    Args:
        raw: the bytes from the start line on (for UDP, ``pkt.data``). CR/LF before the start
            line are ignored.
        pkt: where the bytes were seen; carried into the result.
        framed: False for a datagram: Content-Length decides where the message ends (absent:
            the rest of the data; larger than the data: all of it, ``truncated``; bytes after
            the message are ignored and noted). True when the caller (stream framing) already
            cut the message exactly: all of ``raw`` is the message.

        filed: ``(FiledMessage class, offset of raw in its file, its flows)``: the C fast
            path makes the message of that class, holding the place of its bytes and its flow
            (``FiledMessage.flow(pkt)``) in the place of ``pkt`` (``model.FiledMessage``);
            what the Python parser makes holds its bytes (the caller files it,
            ``Pipeline.filed``).

    Returns:
        A ``Message`` (``raw`` exactly the message bytes, ``problems`` each tolerated flaw), or a
        ``Skipped`` with the reason when there is no usable start line. Never raises.
    """
    if FAST_PARSE is not None:
        fast = FAST_PARSE(raw, pkt) if filed is None else FAST_PARSE(raw, pkt, *filed)
        if fast is not None:
            return fast
    return parse_python(raw, pkt, framed=framed)


def parse_python(raw: bytes, pkt: Payload, *, framed: bool = False) -> Message | Skipped:
    """``parse_message`` in Python alone: the reference the C fast path must equal."""
    start = 0
    if raw[:1] in (b"\r", b"\n"):
        start = len(raw) - len(raw.lstrip(b"\r\n"))
    if start >= len(raw):
        return _skip(pkt, raw, "no SIP start line (empty or only line breaks)")
    lines, body_start, _, problems = split_head(raw, start)
    first = lines[0]
    if "\r" in first or "\x00" in first:
        first = _odd_start_line(lines, problems)

    # -- start line ----------------------------------------------------------------------
    method: str | None = None
    ruri: str | None = None
    status: int | None = None
    reason: str | None = None
    code = first[8:11]
    if first[:8] == "SIP/2.0 " and code.isdigit() and code.isascii() and first[11:12] == " ":
        # Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF  (the common shape)
        version = "SIP/2.0"
        status = int(code)
        if not 100 <= status <= 699:
            return _skip(pkt, raw, f"status code {code} out of range (100-699)")
        reason = first[12:].strip(" \t")
    elif first[:4].upper() == "SIP/":
        # Status-Line, leniently
        sm = STATUS_LINE.match(first)
        if sm is None:
            return _skip(pkt, raw, f"malformed status line {_short(first)}")
        version, code, space, reason = sm.groups()
        if len(code) > MAX_DIGITS or not 100 <= int(code) <= 699:
            return _skip(pkt, raw, f"status code {code[:MAX_DIGITS]} out of range (100-699)")
        status = int(code)
        if len(code) != 3:
            problems.append(f"status code {code} is not 3 digits")
        if space is None:
            problems.append("no space after the status code")
        reason = (reason or "").strip(" \t")
    else:
        # Request-Line = Method SP Request-URI SP SIP-Version CRLF
        parts = first.split(" ")
        if (
            len(parts) == 3
            and parts[2] == "SIP/2.0"
            and parts[0]
            and parts[1]
            and "\t" not in first
        ):
            method, ruri = parts[0], parts[1]
            version = "SIP/2.0"
        else:
            rm = REQUEST_LINE.match(first)
            if rm is None:
                return _skip(pkt, raw, f"no SIP start line: {_short(first)}")
            method, space, rest = rm.groups()
            trimmed = rest.rstrip(" \t")
            cut = max(trimmed.rfind(" "), trimmed.rfind("\t"))
            version = trimmed[cut + 1 :]
            if version[:4].upper() != "SIP/":
                return _skip(pkt, raw, f"no SIP start line (no SIP version): {_short(first)}")
            ruri = trimmed[: max(cut, 0)].rstrip(" \t")
            if space != " " or (cut >= 0 and cut != len(ruri)):
                problems.append("extra whitespace between the request-line elements")
            if len(trimmed) != len(rest):
                problems.append("whitespace after the SIP version")
            if not ruri:
                problems.append("no Request-URI")
            elif " " in ruri or "\t" in ruri:
                problems.append(f"whitespace inside the Request-URI {_short(ruri)}")
        if method not in KNOWN_METHODS and TOKEN.fullmatch(method) is None:
            problems.append(f"method {_short(method)} is not a token")
        if ruri[:1] == "<":
            problems.append("Request-URI enclosed in < >")
        elif "?" in ruri[ruri.rfind("@") :] and ruri[:4].lower() in ("sip:", "sips"):
            problems.append("Request-URI with headers (?...), not allowed in a Request-URI")
    if version != "SIP/2.0":
        problems.append(f"SIP version {_short(version, 12)} is not SIP/2.0")

    # -- headers: only the eager ones --------------------------------------------------------
    call_id: str | None = None
    cseq: str | None = None
    top_via: str | None = None
    from_v: str | None = None
    to_v: str | None = None
    clens: list[str] | None = None
    repeated: list[int] | None = None
    colonless = 0
    date_noted = False
    fast_kind = _FAST.get
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        kind = fast_kind(name)
        if not kind:
            if kind is not None:
                continue  # a header not parsed eagerly, in its usual spelling
            if not sep:
                if not colonless:
                    problems.append(f"header line without a colon: {_short(line)}")
                colonless += 1
                continue
            kind = _KIND.get(name.rstrip(" \t").lower(), 0)
            if not kind:
                continue
        elif not sep:
            if not colonless:
                problems.append(f"header line without a colon: {_short(line)}")
            colonless += 1
            continue
        if kind == _VIA:
            if top_via is None:
                top_via = value.strip()
        elif kind == _CALL_ID:
            if call_id is None:
                call_id = value.strip()
            else:
                repeated = [*(repeated or ()), kind]
        elif kind == _CSEQ:
            if cseq is None:
                cseq = value.strip()
            else:
                repeated = [*(repeated or ()), kind]
        elif kind == _FROM:
            if from_v is None:
                from_v = value.strip()
            else:
                repeated = [*(repeated or ()), kind]
        elif kind == _TO:
            if to_v is None:
                to_v = value.strip()
            else:
                repeated = [*(repeated or ()), kind]
        elif kind == _CLEN:
            clens = [*(clens or ()), value.strip()]
        elif kind == _CONTACT:
            if "?" in value and "<" not in value and _CONTACT_HEADERS not in problems:
                problems.append(_CONTACT_HEADERS)
        elif not value.rstrip().endswith("GMT") and not date_noted:  # rfc1123-date (20.17)
            problems.append(f"Date not in GMT: {_short(value.strip())}")
            date_noted = True
    if colonless > 1:
        problems.append(f"{colonless - 1} more header lines without a colon")
    if repeated:
        for kind in dict.fromkeys(repeated):
            problems.append(f"more than one {_NAMES[kind]} header (the first is used)")

    # Call-ID = ( "Call-ID" / "i" ) HCOLON callid
    if call_id is None:
        problems.append("no Call-ID header")
        call_id = ""
    elif not call_id:
        problems.append("empty Call-ID")

    # CSeq = "CSeq" HCOLON 1*DIGIT LWS Method
    cseq_num: int | None = None
    cseq_method = ""
    if cseq is None:
        problems.append("no CSeq header")
    else:
        words = cseq.split()
        number = words[0] if words else ""
        if number.isascii() and number.isdigit():
            if len(number) <= MAX_DIGITS:
                cseq_num = int(number)
            if cseq_num is None or cseq_num > MAX_CSEQ:
                problems.append(f"CSeq number {number[:MAX_DIGITS]} out of range (0-{MAX_CSEQ})")
            if len(words) > 1:
                cseq_method = words[1]
        elif len(words) == 1:
            cseq_method = number
        elif words:
            cseq_method = words[1]
        if len(words) != 2 or cseq_num is None:
            problems.append(f"malformed CSeq {_short(cseq)}")
        if method is not None and cseq_method and cseq_method != method:
            problems.append(f"CSeq method {cseq_method} does not match the request method {method}")

    # Via = ( "Via" / "v" ) HCOLON via-parm *(COMMA via-parm): the first one only
    branch: str | None = None
    sent_by = ""
    if top_via is None:
        problems.append("no Via header")
    else:
        if '"' in top_via:
            elements = split_list(top_via)
            top_via = elements[0] if elements else ""
        else:
            top_via = top_via.partition(",")[0]
        sent_by, branch, problem = via_fields(top_via)
        if problem is not None:
            problems.append(problem)
        if branch == "z9hG4bK":
            problems.append("Via branch is the bare magic cookie z9hG4bK")

    # From = ( "From" / "f" ) HCOLON from-spec
    # To   = ( "To" / "t" ) HCOLON ( name-addr / addr-spec ) *( SEMI to-param )
    from_uri = from_name = to_uri = to_name = ""
    from_tag: str | None = None
    to_tag: str | None = None
    if from_v is None:
        problems.append("no From header")
    else:
        from_uri, from_name, from_tag, problem = addr_fields(from_v)
        if problem is not None:
            problems.append(f"From: {problem}")
    if to_v is None:
        problems.append("no To header")
    else:
        to_uri, to_name, to_tag, problem = addr_fields(to_v)
        if problem is not None:
            problems.append(f"To: {problem}")

    # Content-Length = ( "Content-Length" / "l" ) HCOLON 1*DIGIT
    content_length: int | None = None
    if clens is not None:
        if len(clens) == 1 and clens[0].isdigit() and clens[0].isascii() and len(clens[0]) < 10:
            content_length = int(clens[0])
        else:
            content_length = _content_length(clens, problems)

    # -- where the message ends ----------------------------------------------------------------
    total = len(raw)
    end = total
    truncated = False
    if content_length is not None:
        available = total - body_start
        if content_length > available:
            truncated = True
            problems.append(
                f"Content-Length {content_length} but only {available} bytes of body (truncated)"
            )
        elif content_length < available:
            if framed:
                problems.append(f"{available - content_length} bytes after Content-Length")
            else:
                end = body_start + content_length
                problems.append(f"{total - end} bytes after the message ignored")
    message_raw = raw if start == 0 and end == total else raw[start:end]
    # The fields a dialog repeats in every message (Call-ID, From, To, tags) are interned: a
    # capture holds one copy of each instead of one per message.
    return _new(
        Message,
        (
            pkt,
            message_raw,
            method and _intern(method),
            ruri,
            status,
            reason and _intern(reason),
            _intern(call_id),
            cseq_num,
            _intern(cseq_method),
            branch,
            _intern(sent_by),
            _intern(from_uri),
            _intern(from_name),
            from_tag and _intern(from_tag),
            _intern(to_uri),
            _intern(to_name),
            to_tag and _intern(to_tag),
            content_length,
            body_start - start,
            truncated,
            tuple(problems),
        ),
    )


def _odd_start_line(lines: list[str], problems: list[str]) -> str:
    """Note NULs in the start line; end it at a bare CR (whose LF was lost, as in fuzzed
    captures), the rest becoming the next header line. Returns the start line."""
    first = lines[0]
    if "\x00" in first:
        problems.append("NUL in the start line")
    if "\r" in first:
        first, _, rest = first.partition("\r")
        problems.append("bare CR in the start line")
        lines[0:1] = [first, rest] if rest else [first]
    return first


def _content_length(values: list[str], problems: list[str]) -> int | None:
    """The Content-Length to frame with, or None (framing as if absent) when it is unusable."""
    numbers: set[int] = set()
    usable = True
    for value in values:
        if value.isascii() and value.isdigit():
            if len(value) <= MAX_DIGITS:
                numbers.add(int(value))
                continue
            problems.append(f"Content-Length {value[:MAX_DIGITS]}... too large")
        elif value[:1] == "-" and value[1:].isascii() and value[1:].isdigit():
            problems.append(f"negative Content-Length {value[: MAX_DIGITS + 1]}")
        else:
            problems.append(f"Content-Length {_short(value)} is not a number")
        usable = False
    if len(values) > 1:
        if len(numbers) > 1:
            shown = ", ".join(str(n) for n in sorted(numbers))
            problems.append(f"conflicting Content-Length values ({shown}): framing as if absent")
            usable = False
        else:
            problems.append("more than one Content-Length header")
    if usable and numbers:
        return numbers.pop()
    return None
