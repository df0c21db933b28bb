"""Findings: what went wrong in a trace, with the evidence and what to do, ranked by severity.

How this works. ``findings`` reads the correlated trace (and reuses ``analysis.auth`` for digest
attempts) and emits ``Finding`` values of these kinds, each one line of evidence and one of advice:

* ``failure``: a final response 3xx-6xx (401/407 aside), explained from ``CAUSES``, with the Q.850
  cause of a ``Reason`` header, the ``Warning`` text and, for 488, the codecs offered and answered.
  The same status relayed by proxies in one dialog is one finding, told from the hop that made it.
* ``challenge-unanswered``: a 401/407 that no request answered with credentials.
* ``no-answer``: requests to one destination that got no response at all (retransmitted or not);
  ``dead-hop`` (whole capture): a destination that was sent requests again and again and never sent
  a single message back: the hop that stopped answering.
* ``retransmissions``: requests or responses sent again (loss, a slow hop, a lost answer).
* ``no-ack``: a 2xx to INVITE that no ACK followed.
* ``slow-pdd``: INVITE to the first 18x over ``SLOW_PDD_NS``.
* ``wrong-password``: one user's credentials refused again and again (401/407/403) without a
  success in between; ``guessed-password``: a success after ``GUESS_AFTER`` refusals or more.
* ``scanner``: a source with a scanner's User-Agent, one that tries many users quickly, one whose
  authentication failures come faster than a person types, or INVITEs to long numbers at bare IP
  addresses (toll-fraud probes).
* ``forged``: a request whose Via names the destination itself or a loopback address.
* ``nat``: a Via ``received`` that differs from the sent-by (a NAT between client and server),
  private addresses in Contact, Via or SDP c= from a public source, SDP that offers a private
  address to a public peer.

``peers`` gives a table per destination ip:port: requests, replies, call attempts, ASR, reply and
post-dial delays, failure codes. Pure: no IO.
"""

from __future__ import annotations

import re
from array import array
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Final, NamedTuple

from sipsniff.analysis.auth import ACCEPTED, FORBIDDEN, REJECTED, STALE, analyze
from sipsniff.analysis.findings.addresses import as_ip as _ip
from sipsniff.analysis.findings.addresses import is_private as _private
from sipsniff.analysis.findings.addresses import is_public as _public
from sipsniff.analysis.findings.causes import CAUSES, Q850, WARNING_TEXT_MAX
from sipsniff.analysis.findings.causes import q850 as _q850
from sipsniff.analysis.findings.causes import warning_text as _warning
from sipsniff.analysis.findings.context import responses as _responses
from sipsniff.analysis.findings.model import ERROR, INFO, SEVERITIES, WARNING, Finding, Findings
from sipsniff.analysis.findings.model import RANK as _RANK
from sipsniff.analysis.findings.model import lower as _lower
from sipsniff.analysis.findings.model import new_finding as _finding
from sipsniff.analysis.findings.peers import PeerRow, peer_table, peers
from sipsniff.analysis.findings.serialise import finding_dict, peer_dict
from sipsniff.analysis.stats import call_timing
from sipsniff.model import Dialog, Endpoint, Entry, Trace
from sipsniff.sip.headers import header_value, header_values, parse_name_addr, parse_via
from sipsniff.sip.sdp import Sdp, sdp_of
from sipsniff.sip.uri import host_of, parse_uri

SLOW_PDD_NS: Final = 3_000_000_000
"""Post-dial delay (INVITE to first 18x) above which a call is reported slow."""
GUESS_AFTER: Final = 3
GUESS_WINDOW_NS: Final = 60_000_000_000
"""Refusals of one user, then a success, all within ``GUESS_WINDOW_NS``: a guessed password."""
SCAN_USERS: Final = 5
"""Distinct users one source tries within ``SCAN_WINDOW_NS``, none successfully: a scan."""
SCAN_WINDOW_NS: Final = 60_000_000_000
BURST_FAILURES: Final = 3
"""Authentication failures from one source within ``BURST_WINDOW_NS``: faster than a person."""
BURST_WINDOW_NS: Final = 1_000_000_000
SLOW_ANSWER_NS: Final = 2_000_000_000
"""A request answered this late after its first copy (lost copies, a slow hop): a warning."""
TIMER_B_NS: Final = 32_000_000_000
"""RFC 3261 Timer B / F (64 × T1): a client transaction with no response times out after it. A
request sent once and unanswered is a warning only when the capture went on this long after it."""

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
_SCANNER_NAMES = re.compile("|".join(re.escape(a) for a in SCANNER_AGENTS).encode(), re.I)

_USER_OUTCOMES: Final = frozenset({480, 486, 600, 603, 607})
"""Failures that are the callee's own state or answer, not a fault (info): unavailable (not logged
in, do not disturb: RFC 3261 21.4.18 says its end system was reached), busy, declined, unwanted."""
_NOBODY_ANSWERED: Final = frozenset({408})
"""Request Timeout: after the callee rang, nobody answered (info); without any ringing, the next
hop or the callee never answered in time (warning)."""
_WRONG_TARGET: Final = frozenset({404, 410, 484, 604})
"""Failures that say the target does not exist: a wrong number, or a missing account (warning)."""
_LONG_NUMBER: Final = re.compile(r"^\+?\d{10,}$")


# -- helpers -----------------------------------------------------------------------------------


def _secs(ns: int) -> str:
    return f"{ns / 1e9:.1f} s"


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def _codecs(sdp: Sdp | None) -> str:
    if sdp is None:
        return "no SDP"
    parts = []
    for md in sdp.media:
        names = " ".join(dict.fromkeys(c.name or str(c.pt) for c in md.codecs)) or " ".join(
            md.formats
        )
        part = f"{md.kind} {names}".strip()
        if md.port == 0:
            part += " (port 0: disabled)"
        parts.append(part)
    return ", ".join(parts) or "no media"


# -- per dialog --------------------------------------------------------------------------------


class _Ctx:
    """What every check needs: the trace, retransmission counts, the auth analysis."""

    def __init__(self, trace: Trace, out: list[Finding]) -> None:
        self.trace = trace
        self.retrans: dict[int, list[Entry]] = {}
        for e in trace.entries.values():
            if e.retransmission_of is not None:
                self.retrans.setdefault(e.retransmission_of, []).append(e)
        self.auth = analyze(trace)
        self.credentials: set[int] = {a.entry for a in self.auth.attempts}
        """Indexes of requests that carried credentials."""
        self.forbidden: dict[int, bool] = {
            a.entry: a.outcome_label == FORBIDDEN for a in self.auth.attempts
        }
        """Requests that carried credentials -> whether a 403 refused them (not the callee's 403
        after they were accepted)."""
        self.out = out

    def add(
        self,
        severity: str,
        kind: str,
        dialog: int,
        frames: set[int] | list[int] | tuple[int, ...],
        summary: str,
        advice: str,
    ) -> Finding:
        """A finding about ``dialog`` (its index in this trace: told by its ``Dialog.id``)."""
        number = self.trace.dialogs[dialog].id
        f = _finding(severity, kind, number, frames, summary, advice)
        self.out.append(f)
        return f


def _succeeded(trace: Trace, d: Dialog, method: str, after: int) -> bool:
    """Whether a 2xx to ``method`` came later in the dialog than message index ``after``."""
    for i in d.messages:
        m = trace.entries[i].msg
        if (
            i > after
            and m.status is not None
            and 200 <= m.status < 300
            and m.cseq_method.upper() == method
        ):
            return True
    return False


def _rang(trace: Trace, d: Dialog, method: str, before: int) -> bool:
    """Whether a 180-189 to ``method`` came in the dialog before message index ``before``."""
    for i in d.messages:
        if i >= before:
            return False
        m = trace.entries[i].msg
        if m.status is not None and 180 <= m.status < 190 and m.cseq_method.upper() == method:
            return True
    return False


def _failures(ctx: _Ctx, d: Dialog) -> None:
    trace = ctx.trace
    groups: dict[tuple[int, str], list[Entry]] = {}
    for i in d.messages:
        e = trace.entries[i]
        m = e.msg
        if e.retransmission_of is not None or m.status is None or m.status < 300:
            continue
        if m.status in (401, 407):
            continue
        groups.setdefault((m.status, m.cseq_method.upper()), []).append(e)
    cancelled = any((trace.entries[i].msg.method or "").upper() == "CANCEL" for i in d.messages)
    for (status, method), responses in groups.items():
        first = responses[0]
        m = first.msg
        frames: set[int] = set()
        requests: list[Entry] = []
        for r in responses:
            frames.add(r.msg.frame)
            req_index = trace.transactions[r.transaction].request
            if req_index is not None:
                req = trace.entries[req_index]
                requests.append(req)
                frames.add(req.msg.frame)
        cause, advice = CAUSES.get(
            status, ("", "Look up the status code; the Warning header may say more.")
        )
        offers = method in ("INVITE", "UPDATE", "PRACK")
        if status in (488, 606) and not offers:
            # no session was offered (a REFER, a NOTIFY): what it carried was not acceptable
            cause, advice = (
                "not acceptable here",
                "Check what the request carried (body, Refer-To).",
            )
        # credentials refused: a 403 to a request whose credentials got no further (auth's label)
        with_creds = any(ctx.forbidden.get(r.id, False) for r in requests)
        if status == 487:
            severity = INFO
            if not cancelled:
                cause = "request terminated (cancelled upstream, or another branch answered)"
        elif (
            status < 400
            or status in _USER_OUTCOMES
            or (status in (405, 489, 501) and method not in ("INVITE", "REGISTER"))
        ):
            severity = INFO
        elif status in _NOBODY_ANSWERED:
            severity = INFO if _rang(trace, d, method, first.id) else WARNING
        elif status in _WRONG_TARGET or (status == 403 and not with_creds):
            severity = WARNING
        else:
            severity = ERROR
        if status == 403 and with_creds:
            severity = ERROR
            cause = "credentials refused (a wrong password, or an account locked or not allowed)"
            user = next(
                (a.credentials.username for a in ctx.auth.attempts if a.entry == requests[0].id),
                None,
            )
            advice = f"Check the password of {user!r} and whether that account is locked."
        if _succeeded(trace, d, method, first.id):
            # retried and done (423 then a longer Expires, 491 then again...); refused
            # credentials then accepted ones: a warning, as wrong-password says it
            severity = WARNING if status == 403 and with_creds else INFO
        text = f"{method} → {status} {m.reason or ''}".rstrip()
        text += f" from {m.src}"
        if cause:
            text += f": {cause}"
        if status in (488, 606) and offers:
            offer = next((sdp_of(r.msg) for r in requests if sdp_of(r.msg) is not None), None)
            text += f"; offered {_codecs(offer)}, answered {_codecs(sdp_of(m))}"
        extras = [x for x in (_q850(m.raw), _warning(m.raw)) if x]
        if extras:
            text += "; " + "; ".join(extras)
        ctx.add(severity, "failure", d.id, frames, text, advice)


def _challenges(ctx: _Ctx, d: Dialog) -> None:
    for ch in ctx.auth.challenges:
        if ch.dialog != d.id or ch.answered_by:
            continue
        trace = ctx.trace
        e = trace.entries[ch.entry]
        method = ch.method.upper()
        # answered later by anything of the same method (credentials read by auth), or a success
        if _succeeded(trace, d, method, ch.entry):
            continue
        later = any(
            i > ch.entry and (trace.entries[i].msg.method or "").upper() == method
            for i in d.messages
        )
        if later:
            continue
        frames = {ch.frame}
        req_index = trace.transactions[e.transaction].request
        if req_index is not None:
            if req_index in ctx.credentials:
                continue  # credentials refused: a wrong password, told by ``_auth_runs``
            frames.add(trace.entries[req_index].msg.frame)
        realm = f" realm {ch.digest.realm!r}" if ch.digest.realm else ""
        ctx.add(
            WARNING,
            "challenge-unanswered",
            d.id,
            frames,
            f"{ch.method} challenged {ch.status}{realm} (frame {ch.frame}), never retried "
            "with credentials",
            "Configure the username and password for that realm on the client.",
        )


def _retransmissions(ctx: _Ctx, d: Dialog) -> list[tuple[Entry, int]]:
    """Report retransmissions and answered-late requests; return unanswered requests (with how
    many times each was sent) for ``_no_answer``."""
    trace = ctx.trace
    parts: list[str] = []
    frames: set[int] = set()
    unanswered: list[tuple[Entry, int]] = []
    slow = False
    """A message sent 3 times or more, or a request answered after 2 s or more: loss that hurts."""
    for i in d.messages:
        e = trace.entries[i]
        m = e.msg
        if e.retransmission_of is not None:
            continue
        again = ctx.retrans.get(e.id, [])
        if m.status is None:
            if (m.method or "").upper() == "ACK":
                continue
            responses = _responses(trace, e)
            if not responses:
                unanswered.append((e, 1 + len(again)))
                continue
            if not again:
                continue
            first = responses[0].msg
            lost = [r for r in again if r.msg.ts_ns > first.ts_ns]
            delay = first.ts_ns - m.ts_ns
            frames.update(r.msg.frame for r in again)
            frames.add(m.frame)
            if lost and len(lost) == len(again):
                parts.append(f"{m.method} f{m.frame} sent again though answered (f{first.frame})")
            else:
                parts.append(
                    f"{m.method} f{m.frame} sent {1 + len(again)}×, answered after {_secs(delay)}"
                )
                slow = slow or delay >= SLOW_ANSWER_NS
            slow = slow or len(again) >= 2
        elif again and m.status >= 200:
            frames.add(m.frame)
            frames.update(r.msg.frame for r in again)
            parts.append(f"{m.status} to {m.cseq_method} f{m.frame} sent {1 + len(again)}×")
            slow = slow or len(again) >= 2
    if parts:
        shown = "; ".join(parts[:3]) + ("; …" if len(parts) > 3 else "")
        ctx.add(
            WARNING if slow else INFO,
            "retransmissions",
            d.id,
            frames,
            shown,
            "Packet loss or a slow hop on the path: check it (SIP over UDP resends after 0.5 s).",
        )
    return unanswered


class _Pending(NamedTuple):
    """A finding whose severity waits for the end of the capture: it depends on how long the
    capture went on after ``since_ns``."""

    finding: Finding
    since_ns: int
    wait_ns: int
    """How long after ``since_ns`` the capture must go on for ``finding`` to stand as it is."""
    otherwise: Finding | None
    """What stands when the capture ended sooner; None for nothing."""


def _no_answer(
    ctx: _Ctx, d: Dialog, unanswered: list[tuple[Entry, int]], pending: list[_Pending]
) -> None:
    by_dst: dict[Endpoint, list[tuple[Entry, int]]] = {}
    for e, sent in unanswered:
        by_dst.setdefault(e.msg.dst, []).append((e, sent))
    for dst, items in by_dst.items():
        frames: set[int] = set()
        for e, _ in items:
            frames.add(e.msg.frame)
            frames.update(r.msg.frame for r in ctx.retrans.get(e.id, []))
        methods = " ".join(dict.fromkeys(e.msg.method or "?" for e, _ in items))
        total = sum(n for _, n in items)
        resent = total > len(items)
        severity = ERROR if resent else WARNING
        if any(_succeeded(ctx.trace, d, (e.msg.method or "").upper(), e.id) for e, _ in items):
            severity = _lower(severity)
        what = f"{len(items)} requests ({methods})" if len(items) > 1 else methods
        summary = f"{what} to {dst}: no response (sent {total}×)"
        f = ctx.add(
            severity,
            "no-answer",
            d.id,
            frames,
            summary,
            "Check that the host is up and reachable (routing, firewall, port, transport).",
        )
        if resent:
            continue
        # Sent once: a dead host, or a capture that ended before the answer could come.
        ctx.out.remove(f)
        last = max(e.msg.ts_ns for e, _ in items)
        early = replace(
            f,
            severity=INFO,
            summary=summary + ": the capture ended before the transaction timed out",
            advice="No response captured: the host, the path, or the capture's end.",
        )
        pending.append(_Pending(f, last, TIMER_B_NS, early))


def _no_ack(ctx: _Ctx, d: Dialog) -> None:
    """A 2xx to INVITE that no ACK in the capture answers (one with its CSeq number from its
    receiver to its sender, whatever the ports). A warning when its sender resent it (RFC 3261
    13.3.1.4: until the ACK comes, for 32 s): the ACK did not reach it. Info when it was not
    resent but the dialog went on in the capture (a BYE on the same path): an ACK lost after the
    capture point, or not captured. Nothing else: without either, the ACK may have gone by another
    path (no Record-Route) or after the capture's end."""
    trace = ctx.trace
    for i in d.messages:
        e = trace.entries[i]
        m = e.msg
        if (
            e.retransmission_of is not None
            or m.status is None
            or not 200 <= m.status < 300
            or m.cseq_method.upper() != "INVITE"
        ):
            continue
        again = ctx.retrans.get(e.id, [])
        acked = False
        bye: Entry | None = None
        for j in d.messages:
            if j <= i:
                continue
            later = trace.entries[j]
            lm = later.msg
            method = (lm.method or "").upper()
            if (
                method == "ACK"
                and lm.cseq_num == m.cseq_num
                and lm.src.ip == m.dst.ip
                and lm.dst.ip == m.src.ip
            ):
                acked = True
                break
            if bye is None and method == "BYE" and {lm.src.ip, lm.dst.ip} == {m.src.ip, m.dst.ip}:
                bye = later
        if acked or not (again or bye):
            continue
        frames = {m.frame, *(r.msg.frame for r in again)}
        if not again:
            assert bye is not None
            ctx.add(
                INFO,
                "no-ack",
                d.id,
                {m.frame, bye.msg.frame},
                f"{m.status} to INVITE (f{m.frame}) from {m.src}: no ACK captured before the "
                f"BYE (f{bye.msg.frame})",
                "Check the ACK's route (Record-Route, Contact reachable through NAT).",
            )
            return
        text = (
            f"{m.status} to INVITE (f{m.frame}) from {m.src} sent {1 + len(again)}×, "
            "never ACKed: the ACK does not reach the callee"
        )
        if bye is not None and bye.msg.src.ip == m.src.ip:
            frames.add(bye.msg.frame)
            text += f", which hung up (BYE f{bye.msg.frame})"
        ctx.add(
            WARNING,
            "no-ack",
            d.id,
            frames,
            text,
            "Check the ACK's route (Record-Route, Contact reachable through NAT).",
        )
        return


def _slow_pdd(ctx: _Ctx, d: Dialog) -> None:
    if not d.call:
        return
    rang = call_timing(ctx.trace, d).rang
    if rang is None:
        return
    invite, ringing = rang[0].msg, rang[1].msg
    pdd = ringing.ts_ns - invite.ts_ns
    if pdd > SLOW_PDD_NS:
        ctx.add(
            WARNING,
            "slow-pdd",
            d.id,
            {invite.frame, ringing.frame},
            f"post-dial delay {_secs(pdd)}: from the INVITE that went through (f{invite.frame}) "
            f"to {ringing.status} (f{ringing.frame})",
            "Look for slow DNS, routing retries or a slow trunk on the way.",
        )


def _forged(ctx: _Ctx, d: Dialog) -> None:
    """A request from another host whose top Via names a loopback address or the destination
    itself: no real client on another host says that. A sender on the same host (a loopback
    source: a softphone beside its PBX, 127.0.1.1 as Debian names the host) is left alone."""
    for i in d.messages:
        e = ctx.trace.entries[i]
        m = e.msg
        if e.retransmission_of is not None or m.status is not None:
            continue
        host = host_of(m.sent_by)
        if host == m.src.ip:
            continue
        ip = _ip(host)
        src = _ip(m.src.ip)
        if ip is None or src is None or src.is_loopback or m.src.ip == m.dst.ip:
            continue
        if host == m.dst.ip or ip.is_loopback:
            what = "the destination itself" if host == m.dst.ip else "a loopback address"
            ctx.add(
                WARNING,
                "forged",
                d.id,
                {m.frame},
                f"{m.method} from {m.src.ip} has Via {host} ({what}): crafted by a tool, "
                "caller ID likely spoofed",
                "Accept requests only from known peers; don't trust the caller ID.",
            )
            return


# -- whole capture -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Run:
    """Refusals in a row of one user, realm and source."""

    first_ts_ns: int
    dialog: int
    """``Dialog.id`` of the first refusal."""
    several: bool = False
    """Refusals in more than one dialog."""
    refusals: int = 0
    codes: dict[str, None] = field(default_factory=dict)
    frames: set[int] = field(default_factory=set)
    dialogs: set[int] = field(default_factory=set)
    """``Dialog.id`` of every dialog with a refusal of the run."""


@dataclass(frozen=True, slots=True)
class _Accepted:
    frame: int
    outcome_frame: int | None
    ts_ns: int
    dialog: int
    """Its ``Dialog.id``."""


class _AuthRuns:
    """Wrong-password loops and successes after many refusals, per user, realm and source,
    across the parts of a capture (attempts in capture order within each part)."""

    def __init__(self, out: list[Finding]) -> None:
        self.out = out
        self.runs: dict[tuple[str, str, str], _Run] = {}

    def add(self, ctx: _Ctx) -> None:
        trace = ctx.trace
        for a in ctx.auth.attempts:
            if a.repeats_frame is not None:
                continue
            c = a.credentials
            src = trace.entries[a.entry].msg.src.ip
            key = (c.username or "", c.realm or "", src)
            number = trace.dialogs[a.dialog].id
            if a.outcome_label == ACCEPTED:
                self.close(key, _Accepted(a.frame, a.outcome_frame, a.ts_ns, number))
            elif a.outcome_label in REJECTED and a.first_answer:
                run = self.runs.get(key)
                if run is None:
                    run = self.runs[key] = _Run(a.ts_ns, number)
                elif run.dialog != number:
                    run.several = True
                run.refusals += 1
                run.codes[str(a.outcome)] = None
                run.dialogs.add(number)
                run.frames.add(a.frame)
                if a.outcome_frame is not None:
                    run.frames.add(a.outcome_frame)
            elif a.outcome_label == STALE:
                continue
            elif a.outcome_label not in REJECTED and key in self.runs:
                self.close(key, None)

    def finish(self) -> None:
        for key in list(self.runs):
            self.close(key, None)

    def close(self, key: tuple[str, str, str], ok: _Accepted | None) -> None:
        run = self.runs.pop(key, None)
        if run is None:
            return
        n = run.refusals
        user, realm, src = key
        frames = set(run.frames)
        dialogs = set(run.dialogs)
        if ok is not None:
            dialogs.add(ok.dialog)  # cited, but the finding is where the refusals were
        where = None if run.several else run.dialog
        if ok is not None and n >= GUESS_AFTER and ok.ts_ns - run.first_ts_ns <= GUESS_WINDOW_NS:
            frames.update({ok.frame} | ({ok.outcome_frame} if ok.outcome_frame else set()))
            self.out.append(
                _finding(
                    ERROR,
                    "guessed-password",
                    where,
                    frames,
                    f"{user}@{realm} from {src} accepted (f{ok.frame}) after {n} refusals",
                    "Assume the password was guessed: change it and block the source.",
                    dialogs,
                )
            )
            return
        codes = "/".join(run.codes)
        times = "once" if n == 1 else f"{n}× in a row"
        self.out.append(
            _finding(
                WARNING if ok is not None else ERROR,
                "wrong-password",
                where,
                frames,
                f"{user}@{realm} from {src}: credentials refused {times} ({codes})"
                + (f", then accepted (f{ok.frame})" if ok is not None else ""),
                "Fix the password (or username / realm) on the client; check for a locked account.",
                dialogs,
            )
        )


def _client(trace: Trace, d: Dialog) -> tuple[str, list[Entry]]:
    """The client address of a dialog (source of its requests; for a dialog of responses only,
    their destination) and its original requests."""
    requests = [
        trace.entries[i]
        for i in d.messages
        if trace.entries[i].msg.status is None and trace.entries[i].retransmission_of is None
    ]
    if requests:
        return requests[0].msg.src.ip, requests
    return trace.entries[d.messages[0]].msg.dst.ip, []


def _final(trace: Trace, d: Dialog) -> int | None:
    status = None
    for i in d.messages:
        m = trace.entries[i].msg
        if (
            m.status is not None
            and m.status >= 200
            and m.cseq_method.upper() == d.first_method.upper()
        ):
            status = m.status
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
    frames: set[int] = field(default_factory=set)
    numbers: list[str] = field(default_factory=list)
    dialogs: set[int] = field(default_factory=set)


@dataclass(slots=True)
class _Agent:
    ua: str
    frames: set[int] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    dialogs: set[int] = field(default_factory=set)


@dataclass(slots=True)
class _Scan:
    frames: list[int]
    dialogs: set[int]
    users: int
    span_ns: int


class _Scans:
    """Scanners, across the parts of a capture: per source, what ``finish`` needs to decide."""

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

    def add(self, ctx: _Ctx) -> None:
        trace = ctx.trace
        tries: dict[str, list[tuple[int, str, int, int]]] = {}
        for d in trace.dialogs.values():
            src, requests = _client(trace, d)
            if not d.messages:
                continue
            method = d.first_method.upper()
            final = _final(trace, d)
            if final is not None and 200 <= final < 300 and method in ("REGISTER", "INVITE"):
                self.successes.add(src)
            for e in requests[:1]:
                # A scanner's name somewhere in the headers first: a cheap search spares most
                # requests the header parse.
                named = _SCANNER_NAMES.search(e.msg.raw, 0, e.msg.body_start) is not None
                ua = (header_value(e.msg.raw, "User-Agent") or "").strip() if named else ""
                low = ua.lower()
                if named and any(s in low for s in SCANNER_AGENTS):
                    agent = self.agents.setdefault(src, _Agent(ua))
                    agent.frames.add(e.msg.frame)
                    agent.users.add(parse_uri(d.to_uri).user)
                    agent.dialogs.add(d.id)
                if method in ("REGISTER", "INVITE", "OPTIONS") and src not in self.scans:
                    tries.setdefault(src, []).append(
                        (e.msg.ts_ns, parse_uri(d.to_uri).user, e.msg.frame, d.id)
                    )
            if (
                method == "INVITE"
                and _public(src)
                and _LONG_NUMBER.match(parse_uri(d.to_uri).user)
                and _ip(parse_uri(d.to_uri).address) is not None
                and _ip(parse_uri(d.from_uri).address) is not None
                and (final is None or final >= 300)
            ):
                probe = self.probes.setdefault(src, _Probes())
                probe.frames.update(trace.entries[i].msg.frame for i in d.messages)
                probe.numbers.append(parse_uri(d.to_uri).user)
                probe.dialogs.add(d.id)
        # Credentials refused: a challenge to a request without credentials is the normal first
        # step of digest authentication (RFC 3261 section 22), not a failure.
        fails: dict[str, list[tuple[int, int, int, str]]] = {}
        for a in ctx.auth.attempts:
            if a.outcome_label in REJECTED and a.first_answer and a.repeats_frame is None:
                src = trace.entries[a.entry].msg.src.ip
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
            f = _finding(WARNING, "scanner", None, frames, summary, advice, dialogs)
            flagged[src] = f
            out.append(f)

        for src, agent in self.agents.items():
            scanner(
                src,
                agent.frames,
                agent.dialogs,
                f"{src} sends User-Agent {agent.ua!r}: a SIP scanner "
                f"({_count(len(agent.dialogs), 'dialog')}, {_count(len(agent.users), 'user')})",
                "Block the source; make sure every account has a strong password.",
            )
        for src, scan in self.scans.items():
            if src not in flagged and src not in self.successes:
                scanner(
                    src,
                    scan.frames,
                    scan.dialogs,
                    f"{src} tried {scan.users} users in {_secs(scan.span_ns)} without success: "
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
                    f"{BURST_FAILURES} within {_secs(f.burst_ns)}: faster than a person types, "
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


class _Unanswered(NamedTuple):
    """A request that got no response at all, and how many times it was sent."""

    dst: Endpoint
    src: Endpoint
    method: str
    frame: int
    sent: int
    dialog: int
    """Its ``Dialog.id``."""


def _dead_hops(out: list[Finding], unanswered: list[_Unanswered], senders: set[Endpoint]) -> None:
    by_dst: dict[Endpoint, list[_Unanswered]] = {}
    for u in unanswered:
        by_dst.setdefault(u.dst, []).append(u)
    for dst, items in by_dst.items():
        total = sum(u.sent for u in items)
        if dst in senders or total <= len(items) or len(items) < 2:
            continue
        methods = ", ".join(dict.fromkeys(u.method for u in items))
        sources = ", ".join(dict.fromkeys(str(u.src) for u in items))
        out.append(
            _finding(
                ERROR,
                "dead-hop",
                None,
                [u.frame for u in items],
                f"{dst} answered nothing: {len(items)} requests ({methods}) from {sources} "
                f"sent {total}×",
                f"Check {dst}: host down, wrong port or transport, or a firewall dropping SIP.",
                [u.dialog for u in items],
            )
        )


def _nat(ctx: _Ctx, seen: dict[tuple[str, str, str], tuple[int, Finding]]) -> None:
    """NAT findings, each kind and address once, from its first message: ``seen`` keeps them
    across the parts of a capture, with the time of that message."""
    trace = ctx.trace

    def later(key: tuple[str, str, str], ts_ns: int) -> bool:
        old = seen.get(key)
        return old is not None and old[0] <= ts_ns

    def keep(
        key: tuple[str, str, str],
        ts_ns: int,
        dialog: int,
        severity: str,
        frames: set[int],
        summary: str,
        advice: str,
    ) -> None:
        number = trace.dialogs[dialog].id
        seen[key] = (ts_ns, _finding(severity, "nat", number, frames, summary, advice))

    for e in trace.entries.values():
        if e.retransmission_of is not None:
            continue
        m = e.msg
        # Every rule below needs a public address on the packet: LAN and loopback traffic (most of
        # a big capture, often) is passed over without parsing its headers.
        src_public = _public(m.src.ip)
        if m.status is not None:
            if not src_public or b"received" not in m.raw:
                continue
            values = header_values(m.raw, "Via")
            if not values:
                continue
            v = parse_via(values[0])
            received = v.params.get("received")
            host = host_of(v.sent_by)
            if (
                received
                and received != host
                and _private(host)
                and _public(received)
                and _public(m.src.ip)
            ):
                key = ("received", host, received)
                if not later(key, m.ts_ns):
                    req_index = trace.transactions[e.transaction].request
                    frames = {m.frame}
                    if req_index is not None:
                        frames.add(trace.entries[req_index].msg.frame)
                    keep(
                        key,
                        m.ts_ns,
                        e.dialog,
                        INFO,
                        frames,
                        f"{host} reaches {m.src} from {received}: a NAT in between (Via received"
                        + (", rport" if "rport" in v.params else "")
                        + ")",
                        "Keep NAT bindings alive (rport, keep-alives) or register through an SBC.",
                    )
            continue
        src, dst = m.src.ip, m.dst.ip
        if not src_public and not _public(dst):
            continue
        places: list[tuple[str, str]] = []
        if m.sent_by:
            places.append(("Via", host_of(m.sent_by)))
        for c in header_values(m.raw, "Contact"):
            uri = parse_name_addr(c).uri
            if uri:
                places.append(("Contact", parse_uri(uri).address))
        sdp = sdp_of(m)
        if sdp is not None:
            for md in sdp.media:
                if md.address and md.port:
                    places.append(("SDP c=", md.address))
        for where, host in places:
            if host == src or not _private(host):
                continue
            if _public(src):
                key = ("hidden", where, host)
                text = (
                    f"{m.method} from public {src} carries private {host} in {where}: "
                    "a NAT the client does not know about"
                )
                advice = "Enable STUN/ICE or rport on the client, or let the SBC fix up Contact and SDP; turn SIP ALG off."
            elif where == "SDP c=" and _public(dst):
                key = ("sdp", where, host)
                text = f"{m.method} offers media at private {host} to public {m.dst}"
                advice = "Media will not come back unless the far end latches (comedia): use STUN/ICE or a media relay."
            else:
                continue
            if not later(key, m.ts_ns):
                keep(key, m.ts_ns, e.dialog, INFO, {m.frame}, text, advice)


class FindingsBuilder:
    """``findings`` over a capture given a part at a time: traces of dialogs that are over
    (``Correlator.expire_trace``), in capture order as far as they go. Checks of one dialog run on
    its part; checks across dialogs (passwords, scanners, dead hops, NAT) keep per source and per
    destination what they need, not the messages. Findings name dialogs by ``Dialog.id``."""

    def __init__(self) -> None:
        self.out: list[Finding] = []
        self._auth = _AuthRuns(self.out)
        self._scans = _Scans()
        self._unanswered: list[_Unanswered] = []
        self._senders: set[Endpoint] = set()
        self._nat: dict[tuple[str, str, str], tuple[int, Finding]] = {}
        self._pending: list[_Pending] = []
        self._clients: dict[int, str] = {}
        """``Dialog.id`` -> the source address of its requests, for dialogs with findings."""
        self._last_ns = 0
        """Time of the latest message seen: how long the capture went on."""

    def add(self, trace: Trace) -> None:
        ctx = _Ctx(trace, self.out)
        before = len(self.out) + len(self._pending)
        for d in trace.dialogs.values():
            _failures(ctx, d)
            _challenges(ctx, d)
            late = _retransmissions(ctx, d)
            _no_answer(ctx, d, late, self._pending)
            self._unanswered += [
                _Unanswered(e.msg.dst, e.msg.src, e.msg.method or "?", e.msg.frame, n, d.id)
                for e, n in late
            ]
            _no_ack(ctx, d)
            _slow_pdd(ctx, d)
            _forged(ctx, d)
            if len(self.out) + len(self._pending) != before:
                self._clients[d.id] = _client(trace, d)[0]
                before = len(self.out) + len(self._pending)
        self._auth.add(ctx)
        self._scans.add(ctx)
        self._senders.update(e.msg.src for e in trace.entries.values())
        for e in trace.entries.values():
            self._last_ns = max(self._last_ns, e.msg.ts_ns)
        _nat(ctx, self._nat)

    def result(self) -> Findings:
        """Every finding, ranked; call it once, after the last part."""
        for p in self._pending:
            if self._last_ns - p.since_ns >= p.wait_ns:
                self.out.append(p.finding)
            elif p.otherwise is not None:
                self.out.append(p.otherwise)
        self._auth.finish()
        self._scans.finish(self.out)
        self.out += [f for _, f in self._nat.values()]
        _dead_hops(self.out, self._unanswered, self._senders)
        self._fold_scanners()
        self.out.sort(
            key=lambda f: (
                _RANK[f.severity],
                f.dialog is not None,
                f.dialog or 0,
                f.frames[:1],
                f.kind,
            )
        )
        return Findings(self.out)

    def _fold_scanners(self) -> None:
        """A scanner's own dialogs (its challenges nobody answered, the 404s to the users it
        tried, its unanswered probes) are the scan, which its ``scanner`` finding already tells:
        they are not said again one by one."""
        flagged = self._scans.flagged
        if not flagged:
            return
        self.out[:] = [
            f
            for f in self.out
            if f.dialog is None
            or f.kind not in _SCAN_NOISE
            or self._clients.get(f.dialog) not in flagged
        ]


_SCAN_NOISE: Final = frozenset({"failure", "challenge-unanswered", "no-answer", "retransmissions"})
"""Kinds of findings about one dialog that, in a scanner's dialogs, are the scan itself."""


def findings(trace: Trace) -> Findings:
    """Everything worth telling about ``trace``, most severe first.

    Ranking: severity (error, warning, info), then capture-wide findings before those of dialogs,
    then dialog id, then first frame.
    """
    builder = FindingsBuilder()
    builder.add(trace)
    return builder.result()


__all__ = [
    "CAUSES",
    "ERROR",
    "INFO",
    "Q850",
    "SEVERITIES",
    "WARNING",
    "WARNING_TEXT_MAX",
    "Finding",
    "Findings",
    "FindingsBuilder",
    "PeerRow",
    "finding_dict",
    "findings",
    "peer_dict",
    "peer_table",
    "peers",
]
