"""The values the selection criteria take, read once for the command line and the filter box:
status codes and classes, state names, durations, points in time, endpoints and networks, phone
numbers.

Each ``parse_*`` function takes the text a person typed and returns the value ``select`` works
with, or raises ``ValueError`` with a sentence that says what was expected (the command line makes
it a usage error naming the option, ``analysis.query`` an error shown in the box).
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Final

from sipsniff.correlate.states import OUTCOMES, STATE_NAMES
from sipsniff.model import Endpoint

# -- status ------------------------------------------------------------------------------------
FAILED: Final = "failed"
"""``--status failed``: a final response of 400 or more, 401 and 407 challenges left out."""

_STATUS: Final = re.compile(r"[1-6](?:\d\d|xx)", re.IGNORECASE)


def parse_status(text: str) -> str:
    """``486``, ``4xx`` (any case) or ``failed``; returned as ``486``, ``4xx``, ``failed``."""
    t = text.strip().lower()
    if t == FAILED or _STATUS.fullmatch(t):
        return t
    raise ValueError(f"not a status: {text!r} (a code like 486, a class like 4xx, or failed)")


# -- state -------------------------------------------------------------------------------------
_OUTCOME_WORDS: Final = {o.upper().replace("-", " "): o for o in OUTCOMES}
"""Outcomes in the form ``parse_state`` gives (``NO ANSWER``), to the outcome (``no-answer``)."""
_OTHER_LABEL: Final = re.compile(r"[A-Z]+ (?:SENT|[1-6]\d\d)")
"""The label of a dialog of another method: ``OPTIONS SENT``, ``SUBSCRIBE 489``."""


def state_words(text: str) -> str:
    """A state or an outcome as the call list words it: upper case, ``-`` and ``_`` as spaces,
    single spaces (``in-call`` and ``In Call`` are ``IN CALL``)."""
    return " ".join(text.upper().replace("-", " ").replace("_", " ").split())


def parse_state(text: str) -> str:
    """A state of the call list (``IN CALL``, ``REJECTED``, ``REJECTED 486``, ``OPTIONS 200``)
    or an outcome (``busy``, ``no-answer``), in any case, with spaces, ``-`` or ``_``; returned
    as ``state_words`` gives it.
    """
    words = state_words(text)
    name, _, code = words.rpartition(" ")
    if (
        words in STATE_NAMES
        or words in _OUTCOME_WORDS
        or (name in STATE_NAMES and code.isdigit() and len(code) == 3)
        or _OTHER_LABEL.fullmatch(words)
    ):
        return words
    states = ", ".join(sorted(n.lower() for n in STATE_NAMES))
    raise ValueError(
        f"not a state: {text!r} (states: {states}; outcomes: {', '.join(sorted(OUTCOMES))})"
    )


def outcome_of(words: str) -> str | None:
    """The outcome ``words`` (as ``parse_state`` gives them) name, if they name one."""
    return _OUTCOME_WORDS.get(words)


# -- durations and times -----------------------------------------------------------------------
_UNITS: Final = {
    "": 10**9,
    "s": 10**9,
    "ms": 10**6,
    "us": 10**3,
    "µs": 10**3,
    "ns": 1,
    "m": 60 * 10**9,
    "min": 60 * 10**9,
    "h": 3600 * 10**9,
}
_DURATION: Final = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ns|us|µs|ms|s|min|m|h)?", re.IGNORECASE)


def parse_duration(text: str) -> int:
    """``1.5`` (seconds), ``2s``, ``500ms``, ``250us``, ``2m``, ``1h``: nanoseconds."""
    m = _DURATION.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"not a duration: {text!r} (seconds, e.g. 1.5, 2s, 500ms, 2m)")
    try:
        number = Decimal(m.group(1))
    except InvalidOperation:  # pragma: no cover  (the pattern admits decimals only)
        raise ValueError(f"not a duration: {text!r}") from None
    return int(number * _UNITS[(m.group(2) or "").lower()])


_TIME_OF_DAY: Final = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?")
_ISO_FRACTION: Final = re.compile(r"([.,])(\d{1,9})")
DAY_NS: Final = 86_400 * 10**9


@dataclass(frozen=True, slots=True)
class TimeBound:
    """A point in time as a person wrote it (``--since``, ``--until``): found on the capture's
    time line by ``at``, once its start is known."""

    text: str
    """As written (the filter box shows it back)."""
    kind: str
    """``after``: ``ns`` after the capture's start (``+30s``); ``day``: ``ns`` into a day
    (``10:00:00``), the day nearest the capture's start; ``date``: ``ns`` into ``date``
    (``2024-05-01T10:00``); ``epoch``: ``ns`` since the epoch (an ISO time with its zone)."""
    ns: int
    tz: datetime.tzinfo | None = None
    """The zone of ``day`` and ``date`` times (the zone the capture is shown in); None: local."""
    date: datetime.date | None = None

    def at(self, origin_ns: int) -> int:
        """Nanoseconds since the epoch, for a capture that started at ``origin_ns``."""
        if self.kind == "after":
            return origin_ns + self.ns
        if self.kind == "epoch":
            return self.ns
        if self.kind == "date":
            assert self.date is not None
            return _wall(self.date, self.ns, self.tz)
        start = datetime.datetime.fromtimestamp(origin_ns // 10**9, self.tz).date()
        days = (start + datetime.timedelta(days=k) for k in (-1, 0, 1))
        return min((_wall(d, self.ns, self.tz) for d in days), key=lambda t: abs(t - origin_ns))


def _wall(day: datetime.date, ns: int, tz: datetime.tzinfo | None) -> int:
    """Nanoseconds since the epoch of ``ns`` into ``day`` on the clocks of ``tz`` (None: local)."""
    seconds, rest = divmod(ns, 10**9)
    # Wall-clock arithmetic: the zone's offset is the one at that time, not at midnight (DST).
    wall = datetime.datetime.combine(day, datetime.time(), tzinfo=tz)
    wall += datetime.timedelta(seconds=seconds)
    return int(wall.timestamp()) * 10**9 + rest


def parse_time(text: str, tz: datetime.tzinfo | None = None) -> TimeBound:
    """``+30s`` (after the capture's start: any ``parse_duration``), ``10:00:00[.frac]`` or
    ``10:00`` (a time of day), or an ISO date and time (``2024-05-01T10:00:00``, with a zone or in
    ``tz``; None: the local zone)."""
    t = text.strip()
    if t.startswith("+"):
        try:
            return TimeBound(t, "after", parse_duration(t[1:]))
        except ValueError:
            pass
    elif m := _TIME_OF_DAY.fullmatch(t):
        h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        if h < 24 and mi < 60 and s < 60:
            frac = int((m.group(4) or "").ljust(9, "0"))
            return TimeBound(t, "day", ((h * 60 + mi) * 60 + s) * 10**9 + frac, tz)
    else:
        frac = 0
        iso = t
        if fm := _ISO_FRACTION.search(t):
            frac = int(fm.group(2).ljust(9, "0"))
            iso = t[: fm.start()] + t[fm.end() :]
        try:
            when = datetime.datetime.fromisoformat(iso)
        except ValueError:
            pass
        else:
            if when.tzinfo is not None:
                return TimeBound(t, "epoch", int(when.timestamp()) * 10**9 + frac)
            into = (when.hour * 60 + when.minute) * 60 + when.second
            return TimeBound(t, "date", into * 10**9 + frac, tz, when.date())
    raise ValueError(
        f"not a time: {text!r} (10:00:00, 2024-05-01T10:00:00, or +30s after the capture's start)"
    )


# -- endpoints ---------------------------------------------------------------------------------
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
HostTerm = str | Endpoint | Network
"""What ``--host`` takes: an address (``str``, as ``Endpoint.ip`` writes it), an address and a
port, or a network."""


def parse_host(text: str) -> HostTerm:
    """``10.0.0.1``, ``10.0.0.1:5060``, ``2001:db8::1``, ``[2001:db8::1]:5060``, ``10.0.0.0/8``,
    ``2001:db8::/32``: addresses written as packets are (compressed IPv6, lower case)."""
    t = text.strip()
    try:
        if "/" in t:
            return ipaddress.ip_network(t, strict=False)
        if t.startswith("["):
            inner, _, after = t[1:].partition("]")
            ip = str(ipaddress.IPv6Address(inner))
            return Endpoint(ip, _port(after[1:])) if after.startswith(":") else ip
        if t.count(":") == 1:
            ip, _, port = t.partition(":")
            return Endpoint(str(ipaddress.IPv4Address(ip)), _port(port))
        return str(ipaddress.ip_address(t))
    except ValueError:
        raise ValueError(
            f"not an address, address:port or network: {text!r} "
            "(e.g. 10.0.0.1, 10.0.0.1:5060, [2001:db8::1]:5060, 172.16.0.0/12)"
        ) from None


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise ValueError(text)
    return int(text)


# -- users -------------------------------------------------------------------------------------
_SEPARATORS: Final = str.maketrans("", "", "-() ")
"""Visual separators in a written number (RFC 3966 section 5.1.1), ``.`` left out: a user of
``10.0.0.1`` is no number."""


@lru_cache(maxsize=65536)
def user_key(user: str) -> str:
    """What users are compared by: a number's digits without ``+``, an international ``00`` or
    a trunk ``0`` (``+97239287044``, ``0097239287044`` and ``97239287044`` are the same); any
    other user as it is."""
    digits = user.translate(_SEPARATORS)
    plus = digits.startswith("+")
    if plus:
        digits = digits[1:]
    if not digits.isascii() or not digits.isdigit():
        return user
    if plus:
        return digits
    for prefix in ("00", "0"):
        if digits.startswith(prefix) and len(digits) > len(prefix):
            return digits[len(prefix) :]
    return digits
