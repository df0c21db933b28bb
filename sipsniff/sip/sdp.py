"""SDP bodies (RFC 4566, RFC 8866) as SIP's offer/answer uses them (RFC 3264): where the media go
and in which codecs.

How this works. ``sdp_of`` finds the SDP of a message (a body of type application/sdp, or that
part of a multipart body, RFC 5621) and ``parse_sdp`` reads it line by line, leniently: a line it
cannot read is noted in ``problems`` and skipped. Only what a call analyst looks at is kept: the
connection address (session- and media-level ``c=``), each ``m=`` line with its payload types
named by ``a=rtpmap`` or by the static table of RFC 3551, ``a=fmtp``, ``a=ptime``, the direction
attributes (media-level overriding session-level, sendrecv by default, RFC 3264 section 5.1),
and whether keys are offered (``a=crypto``, RFC 4568) or a DTLS fingerprint (RFC 8122).

``media_summary`` makes the one-line label the ladder shows beside an arrow. No IO.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Final

from sipsniff.model import Message
from sipsniff.sip.headers import header_value, parse_params, split_head

# RFC 3551 section 6, tables 4 and 5: the static payload types (encoding, clock rate, channels).
STATIC_PAYLOADS: Final[dict[int, tuple[str, int, int | None]]] = {
    0: ("PCMU", 8000, 1),
    3: ("GSM", 8000, 1),
    4: ("G723", 8000, 1),
    5: ("DVI4", 8000, 1),
    6: ("DVI4", 16000, 1),
    7: ("LPC", 8000, 1),
    8: ("PCMA", 8000, 1),
    9: ("G722", 8000, 1),
    10: ("L16", 44100, 2),
    11: ("L16", 44100, 1),
    12: ("QCELP", 8000, 1),
    13: ("CN", 8000, 1),
    14: ("MPA", 90000, None),
    15: ("G728", 8000, 1),
    16: ("DVI4", 11025, 1),
    17: ("DVI4", 22050, 1),
    18: ("G729", 8000, 1),
    25: ("CelB", 90000, None),
    26: ("JPEG", 90000, None),
    28: ("nv", 90000, None),
    31: ("H261", 90000, None),
    32: ("MPV", 90000, None),
    33: ("MP2T", 90000, None),
    34: ("H263", 90000, None),
}

DIRECTIONS: Final = ("sendrecv", "sendonly", "recvonly", "inactive")

_LINE: Final = re.compile(r"([a-zA-Z])[ \t]*=(.*)")


@dataclass(frozen=True, slots=True)
class Codec:
    """One payload type of an ``m=`` line."""

    pt: int
    name: str
    """Encoding name as written in a=rtpmap (``PCMU``, ``telephone-event``, ``opus``...), or the
    RFC 3551 name of a static type; "" for a dynamic type without rtpmap."""
    clock: int | None
    """RTP clock rate in Hz."""
    channels: int | None = None
    fmtp: str | None = None


@dataclass(frozen=True, slots=True)
class Media:
    """One ``m=`` line (a media description) with its attributes."""

    kind: str
    """``audio``, ``video``, ``image``, ``application``, ``text``..."""
    port: int
    """0 rejects or disables the stream (RFC 3264 section 6)."""
    proto: str
    """``RTP/AVP``, ``RTP/SAVP``, ``UDP/TLS/RTP/SAVPF``, ``udptl``..."""
    formats: tuple[str, ...]
    """The fmt list as written (payload type numbers for RTP, ``t38`` for udptl)."""
    codecs: tuple[Codec, ...]
    """The RTP payload types in the order of the m= line (the offerer's preference)."""
    address: str | None
    """Connection address: the media-level c= or else the session-level one (no TTL)."""
    direction: str
    """sendrecv, sendonly, recvonly or inactive."""
    crypto: bool
    """SDES keys offered (a=crypto, RFC 4568)."""
    fingerprint: bool
    """A DTLS certificate fingerprint (a=fingerprint, RFC 8122): keys by DTLS-SRTP."""
    ptime: int | None = None
    port_count: int = 1
    rtcp_port: int | None = None
    """a=rtcp (RFC 3605): where RTCP goes when not to port + 1."""

    @property
    def secure(self) -> bool:
        """SRTP by profile (SAVP, SAVPF) or by the keys offered."""
        return "SAVP" in self.proto.upper() or self.crypto or self.fingerprint

    def codec(self, pt: int) -> Codec | None:
        for c in self.codecs:
            if c.pt == pt:
                return c
        return None


@dataclass(frozen=True, slots=True)
class Sdp:
    """A session description."""

    origin: str | None
    """``o=`` as written."""
    session_name: str | None
    address: str | None
    """Session-level connection address."""
    direction: str
    """Session-level direction attribute (sendrecv when absent)."""
    media: tuple[Media, ...]
    problems: tuple[str, ...] = ()


def _address(value: str, problems: list[str]) -> str | None:
    """``IN IP4 192.0.2.1/127/2`` -> ``192.0.2.1`` (the TTL and count dropped)."""
    parts = value.split()
    if len(parts) < 3:
        problems.append(f"malformed c= line {value[:40]!r}")
        return None
    return parts[2].split("/", 1)[0]


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and len(text) < 10 else None


class _MediaBuilder:
    def __init__(self, value: str, problems: list[str]) -> None:
        parts = value.split()
        self.kind = parts[0] if parts else ""
        port_text = parts[1] if len(parts) > 1 else ""
        port, _, count = port_text.partition("/")
        self.port = _int(port) or 0
        self.port_count = _int(count) or 1
        if _int(port) is None:
            problems.append(f"malformed m= line {value[:40]!r}")
        self.proto = parts[2] if len(parts) > 2 else ""
        self.formats = tuple(parts[3:])
        self.address: str | None = None
        self.direction: str | None = None
        self.rtpmap: dict[int, tuple[str, int | None, int | None]] = {}
        self.fmtp: dict[int, str] = {}
        self.crypto = False
        self.fingerprint = False
        self.ptime: int | None = None
        self.rtcp_port: int | None = None

    def attribute(self, name: str, value: str | None, problems: list[str]) -> None:
        if name in DIRECTIONS:
            self.direction = name
        elif name == "rtpmap" and value is not None:
            pt_text, _, enc = value.strip().partition(" ")
            pt = _int(pt_text)
            bits = enc.strip().split("/")
            if pt is None or not bits[0]:
                problems.append(f"malformed a=rtpmap {value[:40]!r}")
                return
            clock = _int(bits[1]) if len(bits) > 1 else None
            channels = _int(bits[2]) if len(bits) > 2 else None
            self.rtpmap[pt] = (bits[0], clock, channels)
        elif name == "fmtp" and value is not None:
            pt_text, _, params = value.strip().partition(" ")
            pt = _int(pt_text)
            if pt is not None:
                self.fmtp[pt] = params.strip()
        elif name == "crypto":
            self.crypto = True
        elif name == "fingerprint":
            self.fingerprint = True
        elif name == "ptime" and value is not None:
            self.ptime = _int(value.split(".")[0])
        elif name == "rtcp" and value is not None:
            self.rtcp_port = _int(value.split()[0]) if value.split() else None

    def build(self, session_address: str | None, session_direction: str | None) -> Media:
        codecs: list[Codec] = []
        if "RTP" in self.proto.upper():
            for fmt in self.formats:
                pt = _int(fmt)
                if pt is None or pt > 127:
                    continue
                mapped = self.rtpmap.get(pt)
                if mapped is not None:
                    name, clock, channels = mapped
                elif pt in STATIC_PAYLOADS:
                    name, clock, channels = STATIC_PAYLOADS[pt]
                else:
                    name, clock, channels = "", None, None
                codecs.append(Codec(pt, name, clock, channels, self.fmtp.get(pt)))
        return Media(
            kind=self.kind,
            port=self.port,
            proto=self.proto,
            formats=self.formats,
            codecs=tuple(codecs),
            address=self.address if self.address is not None else session_address,
            direction=self.direction or session_direction or "sendrecv",
            crypto=self.crypto,
            fingerprint=self.fingerprint,
            ptime=self.ptime,
            port_count=self.port_count,
            rtcp_port=self.rtcp_port,
        )


def parse_sdp(body: bytes | str) -> Sdp | None:
    """Parse a session description, leniently (never raises).

    Returns:
        None when the text does not start like SDP (no ``v=`` line first); else the ``Sdp``,
        with the lines it could not read in ``problems``.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    lines = [ln for ln in re.split(r"\r\n|\n|\r", text) if ln.strip()]
    if not lines or not lines[0].strip().startswith("v="):
        return None
    problems: list[str] = []
    origin = name = address = None
    direction: str | None = None
    media: list[_MediaBuilder] = []
    for line in lines:
        m = _LINE.match(line.strip())
        if m is None:
            problems.append(f"not a type=value line: {line[:40]!r}")
            continue
        kind, value = m.group(1), m.group(2).strip()
        current = media[-1] if media else None
        if kind == "m":
            media.append(_MediaBuilder(value, problems))
        elif kind == "c":
            addr = _address(value, problems)
            if current is None:
                address = addr
            else:
                current.address = addr
        elif kind == "a":
            attr, sep, val = value.partition(":")
            attr = attr.strip().lower()
            if current is None:
                if attr in DIRECTIONS:
                    direction = attr
            else:
                current.attribute(attr, val if sep else None, problems)
        elif kind == "o" and current is None:
            origin = value
        elif kind == "s" and current is None:
            name = value
    return Sdp(
        origin=origin,
        session_name=name,
        address=address,
        direction=direction or "sendrecv",
        media=tuple(b.build(address, direction) for b in media),
        problems=tuple(problems),
    )


def _content_type(value: str | None) -> tuple[str, dict[str, str | None]]:
    if value is None:
        return "", {}
    mtype, _, rest = value.partition(";")
    params = parse_params(";" + rest)[0] if rest else {}
    return mtype.strip().lower(), params


def _multipart_sdp(body: bytes, boundary: str) -> bytes | None:
    """The first application/sdp part of a multipart body (RFC 2046 section 5.1)."""
    delimiter = b"--" + boundary.encode("utf-8", "replace")
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        part = part.removeprefix(b"\r\n").removeprefix(b"\n")
        lines, start, ended, _ = split_head(b"X\r\n" + part)
        if not ended:
            continue
        headers = {n.lower(): v for n, _, v in (ln.partition(":") for ln in lines[1:])}
        ctype, _ = _content_type(headers.get("content-type"))
        if ctype == "application/sdp":
            return (b"X\r\n" + part)[start:]
    return None


_SDP_TYPE: Final = re.compile(rb"(?im)^(?:content-type|c)[ \t]*:[ \t]*application/sdp\b")


def has_sdp(msg: Message) -> bool:
    """Whether the message has a body and a Content-Type (or its compact form ``c``) of
    application/sdp: the cheap look the ladders take for their "SDP" flag (``sdp_of`` parses)."""
    if msg.body_start >= msg.size:
        return False
    return _SDP_TYPE.search(msg.raw, 0, msg.body_start) is not None


_SDP_LINE: Final = re.compile(rb"\n(?:content-type|c)[ \t]*:[ \t]*application/sdp\b")
"""``_SDP_TYPE`` for text lowered first, each line found by the line break before it."""


def _sdp_lines(low: bytes) -> Iterator[re.Match[bytes]]:
    """``_SDP_LINE.finditer(low)``: each line it matches holds ``application/sdp``, so the lines
    tried are those that hold it (found by ``bytes.find``), not every line (the pattern starts
    with a line break: the search tried it at each of them, a tenth of a big page's time)."""
    find, rfind, match = low.find, low.rfind, _SDP_LINE.match
    tried = -1
    at = find(b"application/sdp")
    while at >= 0:
        line = rfind(b"\n", 0, at)
        if line > tried:
            tried = line
            found = match(low, line)
            if found is not None:
                yield found
        at = find(b"application/sdp", at + 1)


def sdp_flags(msgs: Sequence[Message], low: bytes) -> list[bool]:
    """``has_sdp`` of each of ``msgs``, given ``low``: ``b"\\n"`` and their ``raw`` bytes joined by
    ``b"\\n"``, lowered (``bytes.lower``, ASCII only, as ``re.IGNORECASE`` on bytes). One search
    of it all for the lines that say application/sdp (most messages of a big capture are asked
    none of their own), then for each, the message it is in: a line of its header section, and
    a message with a body."""
    flags = [False] * len(msgs)
    if b"application/sdp" not in low:
        return flags
    starts = list(accumulate((m.size + 1 for m in msgs), initial=1))
    for match in _sdp_lines(low):
        line = match.start() + 1
        at = bisect_right(starts, line) - 1
        msg = msgs[at]
        end = msg.body_start
        if match.end() - starts[at] <= end < msg.size:
            flags[at] = True
    return flags


def sdp_of(msg: Message) -> Sdp | None:
    """The SDP a message carries (its body, or the SDP part of a multipart body); None when none."""
    body = msg.body
    if not body.strip():
        return None
    ctype, params = _content_type(header_value(msg.raw, "Content-Type"))
    if ctype.startswith("multipart/"):
        boundary = params.get("boundary")
        if not boundary:
            return None
        part = _multipart_sdp(body, boundary)
        return None if part is None else parse_sdp(part)
    if ctype == "application/sdp" or (not ctype and body.lstrip().startswith(b"v=")):
        return parse_sdp(body)
    return None


def _codec_label(c: Codec) -> str:
    return c.name or str(c.pt)


def _media_label(m: Media) -> str:
    if m.kind.lower() == "image" and "t38" in (f.lower() for f in m.formats):
        names = "T.38"
    elif m.codecs:
        names = " ".join(dict.fromkeys(_codec_label(c) for c in m.codecs))
    else:
        names = " ".join(m.formats) or m.kind
    where = m.address or "?"
    if ":" in where:
        where = f"[{where}]"
    label = f"{names} · {where}:{m.port}"
    extras = []
    if m.kind.lower() not in ("audio", "image"):
        extras.append(m.kind)
    if m.direction != "sendrecv":
        extras.append(m.direction)
    if m.secure:
        extras.append("SRTP")
    if extras:
        label += f" ({', '.join(extras)})"
    return label


def media_summary(msg: Message) -> str | None:
    """A one-line label of the media a message offers or answers, for the ladder:
    ``"PCMU PCMA telephone-event · 10.0.0.5:4000"`` (each codec name once, in the offer's order,
    then the direction when not sendrecv and SRTP when keyed); streams joined by ``" + "``; a stream whose
    port is 0 (rejected) is left out, and ``"media rejected"`` is all when every one is.

    Returns None when the message has no SDP. The text comes from the packet: pass it through
    ``render.safe.clean`` before it reaches a terminal.
    """
    sdp = sdp_of(msg)
    if sdp is None:
        return None
    live = [m for m in sdp.media if m.port != 0]
    if not live:
        return "media rejected" if sdp.media else "no media"
    return " + ".join(_media_label(m) for m in live)
