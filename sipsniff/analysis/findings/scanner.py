"""``scanner``: a source that scans for users, guesses passwords, or probes for toll fraud.

How this works. Across the parts of a capture, per source address, ``Scanners`` keeps what the
rules need (the users tried in a sliding window, the refusals of credentials, the probes), not the
messages; ``finish`` tells one finding per source, by the first rule that flags it:

1. a scanner's User-Agent (``SCANNER_AGENTS``) in the first request of one of its dialogs;
2. ``SCAN_USERS`` users or more tried (REGISTER, INVITE, OPTIONS) within ``SCAN_WINDOW_NS``, none
   successfully: an extension scan;
3. credentials of 2 users or more refused ``BURST_FAILURES`` times within ``BURST_WINDOW_NS``:
   faster than a person types (a challenge answered right is never counted, and a phone looping on
   its one wrong password is ``wrong-password``);
4. INVITEs from a public address to 10-digit-or-longer numbers at bare IP addresses, none
   answered: toll-fraud probes.

A scanner's own dialogs (its challenges nobody answered, the 404s to the users it tried, its
unanswered probes) are the scan, which its finding already tells: ``covers`` leaves them out.

Severity policy: always a warning, about the whole capture (citing the scanner's dialogs).
"""

from __future__ import annotations

import re
from array import array
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from sipsniff.analysis.auth import REJECTED
from sipsniff.analysis.findings.addresses import as_ip, is_public
from sipsniff.analysis.findings.context import Context, client_of, count, secs
from sipsniff.analysis.findings.detector import Detector
from sipsniff.analysis.findings.model import WARNING, Finding, new_finding
from sipsniff.model import Dialog, Trace
from sipsniff.sip.headers import header_value
from sipsniff.sip.uri import parse_uri

SCAN_USERS: Final = 5
"""Distinct users one source tries within ``SCAN_WINDOW_NS``, none successfully: a scan."""
SCAN_WINDOW_NS: Final = 60_000_000_000
BURST_FAILURES: Final = 3
"""Authentication failures from one source within ``BURST_WINDOW_NS``: faster than a person."""
BURST_WINDOW_NS: Final = 1_000_000_000

SCANNER_AGENTS: Final = (
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "vaxsipuseragent",
    "portsip voip sdk",
    "pplsip",
    "sipsak",
    "sip-scan",
    "iWar".lower(),
)
"""Lower-case pieces of User-Agent values sent by SIP scanners and brute-force tools."""
_SCANNER_NAMES = re.compile("|".join(re.escape(a) for a in SCANNER_AGENTS).encode())
"""Any of ``SCANNER_AGENTS``, in lower-case bytes: searched for in a header section lowered first
(bytes.lower is ASCII only, as re.IGNORECASE on bytes: the same matches, several times faster)."""

_BLOCK: Final = 1024
"""Dialogs whose first requests are searched together for a scanner's name."""
_LONG_NUMBER: Final = re.compile(r"^\+?\d{10,}$")
"""A number a toll-fraud probe calls: 10 digits or more."""
_SCAN_NOISE: Final = frozenset({"failure", "challenge-unanswered", "no-answer", "retransmissions"})
"""Kinds of findings about one dialog that, in a scanner's dialogs, are the scan itself."""


def _final(trace: Trace, d: Dialog) -> int | None:
    """The status of the last final response to the dialog's first method; None without one."""
    status = None
    method = d.first_method.upper()
    entries = trace.entries
    for i in d.messages:
        m = entries[i]
        code = m.status
        if code is not None and code >= 200 and m.cseq_method.upper() == method:
            status = code
    return status


class _Window:
    """The initial requests of one source within ``SCAN_WINDOW_NS`` of its latest, and the
    users they tried."""

    __slots__ = ("tries", "users")

    def __init__(self) -> None:
        self.tries: deque[tuple[int, str, int, int]] = deque()
        """(time, user, frame, dialog number), in time order."""
        self.users: Counter[str] = Counter()

    def add(self, t: int, user: str, frame: int, dialog: int) -> bool:
        """Take one try; whether the window now holds ``SCAN_USERS`` users."""
        tries = self.tries
        item = (t, user, frame, dialog)
        if tries and t < tries[-1][0]:  # a part of the capture given late: keep time order
            items = sorted([*tries, item])
            tries.clear()
            tries.extend(items)
        else:
            tries.append(item)
        self.users[user] += 1
        latest = tries[-1][0]
        while latest - tries[0][0] > SCAN_WINDOW_NS:
            gone = tries.popleft()[1]
            self.users[gone] -= 1
            if not self.users[gone]:
                del self.users[gone]
        return len(self.users) >= SCAN_USERS

    def extend(self, items: list[tuple[int, str, int, int]]) -> None:
        """``add`` each of ``items`` (in time order), when they cannot make ``SCAN_USERS``."""
        tries = self.tries
        merged = [*tries, *items]
        if tries and items and items[0][0] < tries[-1][0]:  # a part given late, as add sorts
            merged.sort()
        if not merged:
            return
        latest = merged[-1][0]
        kept = [item for item in merged if latest - item[0] <= SCAN_WINDOW_NS]
        tries.clear()
        tries.extend(kept)
        self.users = Counter(user for _, user, _, _ in kept)


@dataclass(slots=True)
class _Failures:
    """The credentials of one source refused (401/407 to credentials, or 403), in time order."""

    frames: array[int] = field(default_factory=lambda: array("q"))
    dialogs: set[int] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    """The usernames refused."""
    recent: deque[tuple[int, str]] = field(default_factory=lambda: deque(maxlen=BURST_FAILURES))
    """Times and usernames of the latest ones."""
    burst_ns: int | None = None
    """How long the first ``BURST_FAILURES`` in a row within ``BURST_WINDOW_NS``, of two users or
    more, took (one user refused again and again is a phone looping on its wrong password)."""


@dataclass(slots=True)
class _Probes:
    """Rule 4: the INVITEs of one source to long numbers at bare IP addresses, none answered."""

    frames: set[int] = field(default_factory=set)
    numbers: list[str] = field(default_factory=list)
    dialogs: set[int] = field(default_factory=set)


@dataclass(slots=True)
class _Agent:
    """Rule 1: the dialogs of one source that sent a scanner's User-Agent."""

    ua: str
    """The User-Agent of the first of them."""
    frames: set[int] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    dialogs: set[int] = field(default_factory=set)


@dataclass(slots=True)
class _Scan:
    """Rule 2: the first window of one source that held ``SCAN_USERS`` users."""

    frames: list[int]
    dialogs: set[int]
    users: int
    """How many users it tried in that window."""
    span_ns: int
    """From the first try of the window to its last."""


class Scanners(Detector):
    """Scanners, across the parts of a capture: per source, what ``finish`` needs to decide."""

    kinds = ("scanner",)

    def __init__(self) -> None:
        self.agents: dict[str, _Agent] = {}
        self.successes: set[str] = set()
        self.windows: dict[str, _Window] = {}
        self.scans: dict[str, _Scan] = {}
        """Source -> its first window of ``SCAN_USERS`` users."""
        self.failures: dict[str, _Failures] = {}
        self.probes: dict[str, _Probes] = {}
        self.flagged: dict[str, Finding] = {}
        """Sources found to be scanners (by ``finish``), with the finding that says so."""

    def add(self, ctx: Context) -> None:
        trace = ctx.trace
        tries: dict[str, list[tuple[int, str, int, int]]] = {}
        successes = self.successes
        shown = [(d, ctx.shape(d).first) for d in trace.dialogs.values() if d.messages]
        named_any = False
        for at, (d, first) in enumerate(shown):
            if at % _BLOCK == 0:
                # A scanner's name in the first requests of a block of dialogs, lowered together
                # first: most blocks have none, and spare each request its own look.
                heads = [f.raw[: f.body_start] for _, f in shown[at : at + _BLOCK] if f is not None]
                blob = b"\n".join(heads).lower()
                named_any = b"user-agent" in blob and _SCANNER_NAMES.search(blob) is not None
            src = client_of(trace, first, d)
            method = d.first_method.upper()
            # The final status tells a success, and a probe unanswered: a source known to have
            # succeeded, calling no probe's number, needs no look for it.
            final = None
            if method in ("REGISTER", "INVITE") and (
                src not in successes or (method == "INVITE" and is_public(src))
            ):
                final = _final(trace, d)
                if final is not None and 200 <= final < 300:
                    successes.add(src)
            if first is not None:
                e = first
                # A User-Agent and a scanner's name somewhere in the headers first: a cheap
                # search spares most requests the header parse.
                named = False
                if named_any:
                    head = e.raw[: e.body_start].lower()
                    named = b"user-agent" in head and _SCANNER_NAMES.search(head) is not None
                ua = (header_value(e.raw, "User-Agent") or "").strip() if named else ""
                low = ua.lower()
                if named and any(s in low for s in SCANNER_AGENTS):
                    agent = self.agents.setdefault(src, _Agent(ua))
                    agent.frames.add(e.frame)
                    agent.users.add(parse_uri(d.to_uri).user)
                    agent.dialogs.add(d.id)
                if method in ("REGISTER", "INVITE", "OPTIONS") and src not in self.scans:
                    tries.setdefault(src, []).append(
                        (e.ts_ns, parse_uri(d.to_uri).user, e.frame, d.id)
                    )
            if (
                method == "INVITE"
                and is_public(src)
                and _LONG_NUMBER.match(parse_uri(d.to_uri).user)
                and as_ip(parse_uri(d.to_uri).address) is not None
                and as_ip(parse_uri(d.from_uri).address) is not None
                and (final is None or final >= 300)
            ):
                probe = self.probes.setdefault(src, _Probes())
                probe.frames.update(trace.entries[i].frame for i in d.messages)
                probe.numbers.append(parse_uri(d.to_uri).user)
                probe.dialogs.add(d.id)
        # Credentials refused: a challenge to a request without credentials is the normal first
        # step of digest authentication (RFC 3261 section 22), not a failure.
        fails: dict[str, list[tuple[int, int, int, str]]] = {}
        for a in ctx.auth.attempts:
            if a.outcome_label in REJECTED and a.first_answer and a.repeats_frame is None:
                src = trace.entries[a.entry].src.ip
                number = trace.dialogs[a.dialog].id
                user = a.credentials.username or ""
                fails.setdefault(src, []).append(
                    (a.ts_ns, a.outcome_frame or a.frame, number, user)
                )
        for src, items in fails.items():
            items.sort()
            self._failed(src, items)
        for src, found in tries.items():
            found.sort()
            window = self.windows.get(src)
            if window is None:
                window = self.windows[src] = _Window()
            if len(window.users.keys() | {user for _, user, _, _ in found}) < SCAN_USERS:
                # Too few users to scan, whatever the times: the window is what adding them one
                # by one leaves, the tries within SCAN_WINDOW_NS of the latest.
                window.extend(found)
                continue
            for t, user, frame, number in found:
                if window.add(t, user, frame, number):
                    span = window.tries[-1][0] - window.tries[0][0]
                    self.scans[src] = _Scan(
                        [f for _, _, f, _ in window.tries],
                        {n for _, _, _, n in window.tries},
                        len(window.users),
                        span,
                    )
                    del self.windows[src]
                    break

    def _failed(self, src: str, fails: list[tuple[int, int, int, str]]) -> None:
        f = self.failures.get(src)
        if f is None:
            f = self.failures[src] = _Failures()
        for t, frame, number, user in fails:
            f.frames.append(frame)
            f.dialogs.add(number)
            f.users.add(user)
            if f.burst_ns is None:
                f.recent.append((t, user))
                if len(f.recent) == BURST_FAILURES:
                    span = f.recent[-1][0] - f.recent[0][0]
                    several = len({u for _, u in f.recent}) > 1
                    if 0 <= span <= BURST_WINDOW_NS and several:
                        f.burst_ns = span

    def finish(self, out: list[Finding]) -> None:
        """One finding per source, by the first rule that flags it (in the order below)."""
        flagged = self.flagged

        def scanner(
            src: str, frames: Iterable[int], dialogs: Iterable[int], summary: str, advice: str
        ) -> None:
            f = new_finding(WARNING, "scanner", None, frames, summary, advice, dialogs)
            flagged[src] = f
            out.append(f)

        for src, agent in self.agents.items():
            scanner(
                src,
                agent.frames,
                agent.dialogs,
                f"{src} sends User-Agent {agent.ua!r}: a SIP scanner "
                f"({count(len(agent.dialogs), 'dialog')}, {count(len(agent.users), 'user')})",
                "Block the source; make sure every account has a strong password.",
            )
        for src, scan in self.scans.items():
            if src not in flagged and src not in self.successes:
                scanner(
                    src,
                    scan.frames,
                    scan.dialogs,
                    f"{src} tried {scan.users} users in {secs(scan.span_ns)} without success: "
                    "an extension scan",
                    "Block the source; answer unknown users like known ones (no 404 leak).",
                )
        for src, f in self.failures.items():
            # One user refused again and again is a phone looping on a wrong password (told by
            # wrong-password); guessing tries several accounts (or names itself, above).
            if src not in flagged and f.burst_ns is not None:
                scanner(
                    src,
                    f.frames,
                    f.dialogs,
                    f"{src}: credentials of {len(f.users)} users refused {len(f.frames)}×, "
                    f"{BURST_FAILURES} within {secs(f.burst_ns)}: faster than a person types, "
                    "password guessing",
                    "Block the source (fail2ban or the SBC's rate limit); use strong passwords.",
                )
        for src, probe in self.probes.items():
            if src not in flagged:
                shown = ", ".join(dict.fromkeys(probe.numbers))
                scanner(
                    src,
                    probe.frames,
                    probe.dialogs,
                    f"{src} calls {shown} at bare IP addresses ({len(probe.numbers)} INVITEs, "
                    "none answered): a toll-fraud probe",
                    "Block the source; accept INVITEs only from registered users and trunks.",
                )

    def covers(self, f: Finding, client: str | None) -> bool:
        """A scanner's own dialogs (its challenges nobody answered, the 404s to the users it
        tried, its unanswered probes) are the scan, which its ``scanner`` finding already tells:
        they are not said again one by one."""
        return f.dialog is not None and f.kind in _SCAN_NOISE and client in self.flagged
