"""Digest authentication in a trace: every challenge, the request that answers it, the outcome, and
whether a known password fits.

How this works. ``analyze`` walks the messages in capture order (retransmissions folded into their
original). A 401 or 407 gives one ``Challenge`` per WWW-Authenticate / Proxy-Authenticate value; a
request gives one ``Attempt`` per Authorization / Proxy-Authorization value. An attempt is paired
with the challenge it answers:

1. the latest challenge of the same dialog with the same nonce (the normal case);
2. else the latest challenge of any dialog with that nonce (a server that reuses a nonce across
   Call-IDs, a client that carries it over);
3. else the latest challenge of the same dialog (the client did not use the nonce it was given:
   flagged ``nonce-mismatch``);
4. else none (``unchallenged``: preemptive credentials, or a challenge before the capture began).

Authorization answers WWW-Authenticate (401), Proxy-Authorization answers Proxy-Authenticate (407).
The *outcome* is the first final response to the request (same transaction, CSeq number and
method). With a password for the username (``passwords`` / ``default_password``), the response is
recomputed (``sip.digest``) and the attempt is ``verified`` True or False; without one, None.

Flags say what a person looking at a failing registration wants to know: wrong-password loops,
nonce reuse, stale nonces, credentials for another realm, MD5 without qop. Pure: no IO.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from sipsniff.model import Dialog, Endpoint, Entry, Trace
from sipsniff.sip.digest import (
    DigestChallenge,
    DigestCredentials,
    DigestError,
    DigestSteps,
    algorithm,
    matches,
    parse_challenge,
    parse_credentials,
    respond,
    userhash,
)
from sipsniff.sip.headers import header_values

CHALLENGE_HEADERS: Final = {401: "WWW-Authenticate", 407: "Proxy-Authenticate"}
CREDENTIAL_HEADERS: Final = {"Authorization": 401, "Proxy-Authorization": 407}
"""Credentials header -> the status whose challenge it answers."""

# Outcome labels (``Attempt.outcome_label``).
ACCEPTED: Final = "accepted"
CHALLENGED: Final = "challenged"
STALE: Final = "stale"
FORBIDDEN: Final = "forbidden"
FAILED: Final = "failed"
NO_ANSWER: Final = "none"

REJECTED: Final = frozenset({CHALLENGED, FORBIDDEN})
"""Outcomes that say the credentials were refused (a stale nonce is not a refusal)."""


@dataclass(frozen=True, slots=True)
class Flag:
    code: str
    """``wrong-password-loop``, ``nonce-reuse``, ``stale-nonce``, ``realm-mismatch``,
    ``md5-no-qop``, ``qop-ignored``, ``nonce-mismatch``, ``unchallenged``, ``malformed``."""
    text: str
    """One sentence for a person."""


@dataclass(slots=True)
class Challenge:
    """One challenge: a WWW-Authenticate or Proxy-Authenticate value of a 401 or 407."""

    entry: int
    """``Entry.id`` of the response."""
    frame: int
    ts_ns: int
    dialog: int
    status: int
    reason: str
    header: str
    method: str
    """CSeq method of the challenged request."""
    digest: DigestChallenge
    answered_by: list[int] = field(default_factory=list)
    """Indexes (in ``AuthReport.attempts``) of the attempts paired with it, first answer first."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One set of credentials in a request, what it answered, how it ended, and whether it fits."""

    entry: int
    """``Entry.id`` of the request."""
    frame: int
    ts_ns: int
    dialog: int
    method: str
    header: str
    credentials: DigestCredentials
    challenge: int | None
    """Index of the challenge it answers in ``AuthReport.challenges``; None when unchallenged."""
    first_answer: bool
    """True when it is the first attempt paired with its challenge (False: it reuses the nonce, or
    repeats an earlier attempt)."""
    repeats_frame: int | None
    """Frame of an earlier attempt whose credentials this one repeats word for word: the INVITE of
    an ACK (RFC 3261 13.2.2.4), or the same request forwarded by a proxy on another hop."""
    outcome: int | None
    """Status of the final response to the request; None when there is none (ACK, lost)."""
    outcome_reason: str | None
    outcome_frame: int | None
    outcome_label: str
    """``accepted`` (2xx), ``challenged`` (401/407), ``stale`` (a challenge with stale=true),
    ``forbidden`` (403), ``failed`` (another 3xx-6xx: the request got past authentication),
    ``none``."""
    retransmission_frames: tuple[int, ...]
    user: str | None
    """The username the password was looked up for (the real one behind a userhash)."""
    verified: bool | None
    """True: the password fits the response; False: it does not; None: no password, or not
    computable (see ``note``)."""
    note: str
    steps: DigestSteps | None
    """The computation with the known password (None when ``verified`` is None)."""
    flags: tuple[Flag, ...] = ()


@dataclass(slots=True)
class AuthReport:
    """Everything ``analyze`` found. ``challenges`` and ``attempts`` are the whole trace's (the
    indexes in ``Attempt.challenge`` and ``Challenge.answered_by`` point into them); ``dialogs``
    narrows what is shown (``shown_attempts``, ``shown_challenges``)."""

    challenges: list[Challenge] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    dialogs: frozenset[int] | None = None
    """``Dialog.id`` of the dialogs to show; None for all."""

    def of_dialogs(self, dialogs: Sequence[Dialog]) -> AuthReport:
        """The same report, showing only ``dialogs``."""
        return AuthReport(self.challenges, self.attempts, frozenset(d.id for d in dialogs))

    @property
    def shown_attempts(self) -> list[Attempt]:
        keep = self.dialogs
        return [a for a in self.attempts if keep is None or a.dialog in keep]

    @property
    def shown_challenges(self) -> list[Challenge]:
        keep = self.dialogs
        return [c for c in self.challenges if keep is None or c.dialog in keep]


def parse_credentials_file(text: str) -> dict[str, str]:
    """``user:password`` lines (the password is everything after the first colon, kept exactly).
    Blank lines and lines starting with ``#`` are skipped.

    Raises:
        ValueError: a line without a colon, or with an empty username (its number says which).
    """
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not user:
            raise ValueError(f"line {number}: expected user:password")
        out[user] = password
    return out


# -- analysis ----------------------------------------------------------------------------------


def _outcome(trace: Trace, entry: Entry) -> tuple[Entry | None, str]:
    """The first final response to the request of ``entry``, and its label."""
    msg = entry
    if msg.method is None or msg.method.upper() == "ACK":
        return None, NO_ANSWER
    tx = trace.transactions[entry.transaction]
    method = msg.cseq_method.upper()
    for i in tx.messages:
        if i <= entry.id:
            continue
        e = trace.entries[i]
        m = e
        if (
            m.status is not None
            and m.status >= 200
            and m.cseq_num == msg.cseq_num
            and m.cseq_method.upper() == method
        ):
            label = _label(trace, e)
            if label == FORBIDDEN and _got_past(trace, entry, e):
                label = FAILED
            return e, label
    return None, NO_ANSWER


def _got_past(trace: Trace, request: Entry, response: Entry) -> bool:
    """Whether the credentials of ``request`` were accepted before ``response`` came: the callee
    rang (a 101-199 in its transaction), or the request went on to the next hop (the same
    method sent from another address in the dialog, in between). A 403 then is the callee's
    refusal, not the credentials' (as ``correlate.states`` tells it)."""
    msg = request
    for i in trace.dialogs[request.dialog].messages:
        if i <= request.id:
            continue
        if i >= response.id:
            return False
        e = trace.entries[i]
        m = e
        if m.status is not None:
            if 100 < m.status < 200 and e.transaction == request.transaction:
                return True
        elif (
            e.retransmission_of is None
            and m.method == msg.method
            and (m.src.ip, m.src.port) != (msg.src.ip, msg.src.port)
        ):
            return True
    return False


def _label(trace: Trace, response: Entry) -> str:
    status = response.status
    assert status is not None
    if 200 <= status < 300:
        return ACCEPTED
    if status in CHALLENGE_HEADERS:
        values = header_values(response.raw, CHALLENGE_HEADERS[status])
        if any(parse_challenge(v).stale for v in values):
            return STALE
        return CHALLENGED
    if status == 403:
        return FORBIDDEN
    return FAILED


class _Passwords:
    def __init__(self, passwords: Mapping[str, str], default: str | None) -> None:
        self.passwords = passwords
        self.default = default

    def lookup(self, creds: DigestCredentials) -> tuple[str | None, str | None]:
        """(real username, password) for the credentials; the password None when unknown."""
        name = creds.username
        if name is None:
            return None, None
        if not creds.userhash:
            return name, self.passwords.get(name, self.default)
        # RFC 7616 3.4.4: the username is H(username:realm); find whose it is.
        for user, password in self.passwords.items():
            try:
                if userhash(creds.algorithm, user, creds.realm or "") == name.lower():
                    return user, password
            except DigestError:
                return None, None
        return None, None


def _verify(
    entry: Entry, creds: DigestCredentials, passwords: _Passwords, method: str
) -> tuple[str | None, bool | None, str, DigestSteps | None]:
    """Verify ``creds`` of the request ``entry``; ``method`` is the one hashed (an ACK that
    repeats its INVITE's credentials carries a response computed for INVITE)."""
    if not creds.is_digest:
        return creds.username, None, f"the {creds.scheme or 'unnamed'} scheme is not Digest", None
    algo = algorithm(creds.algorithm)
    if algo is None:
        name = creds.algorithm or ""
        if name.upper().startswith("AKA"):
            note = f"{name}: the password comes from the SIM's key (RFC 3310), it cannot be checked"
        else:
            note = f"unsupported algorithm {name!r}"
        return creds.username, None, note, None
    user, password = passwords.lookup(creds)
    if password is None:
        if creds.userhash:
            return None, None, "userhash: no known user hashes to this username", None
        return user, None, f"no password for user {creds.username!r}", None
    try:
        steps = respond(creds, method=method, password=password, body=entry.body, username=user)
    except DigestError as exc:
        return user, None, f"cannot compute the response: {exc}", None
    if matches(steps, creds):
        return user, True, "the password fits", steps
    return user, False, "the password does not fit", steps


_AUTHORIZATION = b"authorization"
"""Found in the header section, lowered, of every request with Authorization or
Proxy-Authorization (bytes.lower is ASCII only, as a case-insensitive bytes pattern would be)."""


def analyze(
    trace: Trace,
    *,
    passwords: Mapping[str, str] | None = None,
    default_password: str | None = None,
) -> AuthReport:
    """Find every challenge and every set of credentials in ``trace``, pair them, and verify.

    Args:
        passwords: password by username (``--credentials``).
        default_password: the password of every user not in ``passwords`` (``--password``).
    """
    known = _Passwords(passwords or {}, default_password)
    report = AuthReport()
    by_nonce: dict[tuple[int, str], int] = {}
    """(status 401/407, nonce) -> latest challenge with it, any dialog."""
    by_dialog_nonce: dict[tuple[int, int, str], int] = {}
    latest_in_dialog: dict[tuple[int, int], int] = {}
    retrans: dict[int, list[int]] | None = None
    """Entry id of a first copy -> the frames of its retransmissions (once an attempt needs
    them: most captures have none)."""
    nc_seen: dict[tuple[str, str], int] = {}
    """(nonce, cnonce) -> highest nonce-count used with it."""
    said: dict[tuple[int, str, str], list[tuple[int, str, Endpoint, Endpoint]]] = {}
    """(dialog, header, credentials text) -> (frame, method, src, dst) of the requests with them."""

    for e in trace.entries.values():
        if e.retransmission_of is not None:
            continue
        m = e
        if m.status is not None:
            header = CHALLENGE_HEADERS.get(m.status)
            if header is None:
                continue
            for value in header_values(m.raw, header):
                ch = Challenge(
                    entry=e.id,
                    frame=m.frame,
                    ts_ns=m.ts_ns,
                    dialog=e.dialog,
                    status=m.status,
                    reason=m.reason or "",
                    header=header,
                    method=m.cseq_method,
                    digest=parse_challenge(value),
                )
                ci = len(report.challenges)
                report.challenges.append(ch)
                if ch.digest.nonce is not None:
                    by_nonce[(m.status, ch.digest.nonce)] = ci
                    by_dialog_nonce[(e.dialog, m.status, ch.digest.nonce)] = ci
                latest_in_dialog[(e.dialog, m.status)] = ci
            continue
        if _AUTHORIZATION not in m.raw[: m.body_start].lower():
            continue  # no credentials: spare the header parse (most requests of a big capture)
        for header, status in CREDENTIAL_HEADERS.items():
            for value in header_values(m.raw, header):
                creds = parse_credentials(value)
                flags: list[Flag] = []
                nonce = creds.nonce
                ci_found: int | None = None
                if nonce is not None:
                    ci_found = by_dialog_nonce.get((e.dialog, status, nonce))
                    if ci_found is None:
                        ci_found = by_nonce.get((status, nonce))
                if ci_found is None:
                    ci_found = latest_in_dialog.get((e.dialog, status))
                    if ci_found is not None:
                        ch = report.challenges[ci_found]
                        flags.append(
                            Flag(
                                "nonce-mismatch",
                                f"the nonce is not the one the challenge in frame {ch.frame} gave",
                            )
                        )
                # 3GPP TS 24.229 5.1.1.2: an initial REGISTER carries the private identity in an
                # Authorization with empty nonce and response; it answers nothing.
                placeholder = not creds.response or not creds.nonce
                if ci_found is None and not placeholder:
                    flags.append(
                        Flag(
                            "unchallenged",
                            "no challenge with this nonce in the capture: preemptive "
                            "credentials, or the challenge came before the capture began",
                        )
                    )
                repeated = _repeats(said.setdefault((e.dialog, header, value), []), e)
                repeats = None if repeated is None else repeated[0]
                hashed_method = (m.method or "") if repeated is None else repeated[1]
                first = False
                if ci_found is not None:
                    ch = report.challenges[ci_found]
                    first = repeats is None and not any(
                        report.attempts[j].repeats_frame is None for j in ch.answered_by
                    )
                    ch.answered_by.append(len(report.attempts))
                    if (
                        creds.realm is not None
                        and ch.digest.realm is not None
                        and creds.realm != ch.digest.realm
                    ):
                        flags.append(
                            Flag(
                                "realm-mismatch",
                                f"credentials for realm {creds.realm!r}, challenge for "
                                f"{ch.digest.realm!r}",
                            )
                        )
                    if ch.digest.qop and creds.qop is None:
                        flags.append(
                            Flag(
                                "qop-ignored",
                                f"the challenge offered qop={','.join(ch.digest.qop)}, the "
                                "credentials use none",
                            )
                        )
                if nonce is not None and repeats is None:
                    key = (nonce, creds.cnonce or "")
                    count = _nc(creds.nc)
                    previous = nc_seen.get(key)
                    if (
                        previous is not None
                        and not first
                        and (creds.qop is None or count <= previous)
                    ):
                        how = (
                            "without qop, so the server cannot tell a replay"
                            if creds.qop is None
                            else f"with nonce-count {creds.nc} again"
                        )
                        flags.append(Flag("nonce-reuse", f"nonce already used, {how}"))
                    nc_seen[key] = max(count, previous or 0)
                if (
                    repeats is None
                    and not placeholder
                    and (creds.algorithm is None or creds.algorithm.upper() == "MD5")
                    and creds.qop is None
                    and creds.is_digest
                ):
                    flags.append(
                        Flag(
                            "md5-no-qop",
                            "MD5 without qop (RFC 2069 compatibility): no client nonce, a "
                            "captured response can be replayed while the nonce lives",
                        )
                    )
                if creds.problems:
                    flags.append(Flag("malformed", "; ".join(creds.problems)))
                response, label = _outcome(trace, e)
                if label == STALE:
                    flags.append(
                        Flag(
                            "stale-nonce",
                            "the server answered stale=true: the response was right but its "
                            "nonce had expired",
                        )
                    )
                if placeholder:
                    user, verified, steps = creds.username, None, None
                    note = (
                        "no nonce or no response: an identity, not an answer (IMS initial REGISTER)"
                    )
                else:
                    user, verified, note, steps = _verify(e, creds, known, hashed_method)
                if retrans is None:
                    retrans = {}
                    for r in trace.entries.values():
                        if r.retransmission_of is not None:
                            retrans.setdefault(r.retransmission_of, []).append(r.frame)
                report.attempts.append(
                    Attempt(
                        entry=e.id,
                        frame=m.frame,
                        ts_ns=m.ts_ns,
                        dialog=e.dialog,
                        method=m.method or "",
                        header=header,
                        credentials=creds,
                        challenge=ci_found,
                        first_answer=first,
                        repeats_frame=repeats,
                        outcome=None if response is None else response.status,
                        outcome_reason=None if response is None else response.reason,
                        outcome_frame=None if response is None else response.frame,
                        outcome_label=label,
                        retransmission_frames=tuple(retrans.get(e.id, ())),
                        user=user,
                        verified=verified,
                        note=note,
                        steps=steps,
                        flags=tuple(flags),
                    )
                )
    _flag_loops(report)
    return report


def _repeats(
    earlier: list[tuple[int, str, Endpoint, Endpoint]], entry: Entry
) -> tuple[int, str] | None:
    """The frame and method of an earlier request whose credentials ``entry`` repeats
    legitimately: an ACK repeating its INVITE's, or the same request on another hop (a proxy
    forwarding it). The same request again on the same hop is not one: that reuses the nonce."""
    m = entry
    method = m.method or ""
    upper = method.upper()
    found = None
    for frame, other, src, dst in earlier:
        if (upper == "ACK" and other.upper() == "INVITE") or (
            other.upper() == upper and (src, dst) != (m.src, m.dst)
        ):
            found = (frame, other)
            break
    earlier.append((m.frame, method, m.src, m.dst))
    return found


def _nc(text: str | None) -> int:
    try:
        return int(text or "0", 16)
    except ValueError:
        return 0


def _flag_loops(report: AuthReport) -> None:
    """Flag wrong-password loops: the same user, realm and client refused again and again.

    Only attempts that answer a fresh challenge count (a re-registration that reuses an old nonce
    and is challenged again is how nonces expire, not a wrong password); an accepted attempt or a
    stale nonce ends a run.
    """
    runs: dict[tuple[str, str, str], tuple[int, int]] = {}
    """(username, realm, header) -> (refusals in a row, frame of the first)."""
    for i, a in enumerate(report.attempts):
        c = a.credentials
        key = (c.username or "", c.realm or "", a.header)
        if a.outcome_label in (ACCEPTED, STALE, FAILED):
            runs.pop(key, None)
            continue
        if a.outcome_label not in REJECTED or not a.first_answer or a.repeats_frame:
            continue
        count, since = runs.get(key, (0, a.frame))
        count += 1
        runs[key] = (count, since)
        if count >= 2:
            text = (
                f"refused {count} times in a row for {c.username}@{c.realm} since frame {since}: "
                "a wrong password, or a locked account"
            )
            report.attempts[i] = _with_flag(a, Flag("wrong-password-loop", text))


def _with_flag(a: Attempt, flag: Flag) -> Attempt:
    return replace(a, flags=(*a.flags, flag))


def summary(report: AuthReport) -> dict[str, int]:
    """Counts for a closing line: attempts, by outcome label and by verification."""
    attempts = report.shown_attempts
    challenges = report.shown_challenges
    out = {"challenges": len(challenges), "attempts": len(attempts)}
    for a in attempts:
        out[a.outcome_label] = out.get(a.outcome_label, 0) + 1
        key = {True: "fits", False: "does_not_fit", None: "unverified"}[a.verified]
        out[key] = out.get(key, 0) + 1
    out["unanswered"] = sum(1 for c in challenges if not c.answered_by)
    return out
