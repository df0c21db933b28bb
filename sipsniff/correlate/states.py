"""Dialog states: what the call list shows for a dialog, as two transition tables, and the one
definition of each state's words (``label``) and outcome (``outcome``), used by every output.

How this works: the correlator turns each message of a dialog that is not a retransmission into an
*event* (an INVITE, a CANCEL, a 2xx, a 401/407 challenge...) and looks ``(phase, event)`` up in the
dialog's table; a missing row means "no change". A dialog is a *call* from its first INVITE on
(``CALL``; from its first message when the capture began mid-call, ``CALL_START``); any other
dialog follows ``OTHER``, driven by the method that opened it (REGISTER,
OPTIONS, SUBSCRIBE...). ``label`` turns a phase into the words of the call list, in the manner of
sngrep's call states (CALL SETUP, IN CALL, COMPLETED...) with the status code where it helps
(REJECTED 486, SUBSCRIBE 489).

Retransmissions make no event (a re-sent 2xx after the BYE must not bring a call back); neither
do, in a call, responses to anything but INVITE (the 200 to a CANCEL, the answer to a BYE). 100
Trying (RFC 3261 section 21.1.1: hop by hop, says nothing of the callee) only tells that the INVITE
was received: a call that got nothing else is still CALL SETUP, one that got nothing at all is NO
RESPONSE when the capture is over.

A *call* is a dialog that follows ``CALL``: it carried an INVITE request, or its capture began in
the middle of a call (``CALL_START``). ``read --calls``, ``stats`` and the HTML page count the
same dialogs (docs/states.md).
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from typing import Final, NamedTuple


# -- phases ------------------------------------------------------------------------------------
class Phase(StrEnum):
    """Where a dialog is (``Dialog.phase``): the rows of the tables below."""

    # Of a call.
    SETUP = "setup"
    """INVITE sent without credentials; nothing back yet but 100 Trying."""
    AUTH_SENT = "auth-sent"
    """INVITE (or other request) sent with credentials (after a challenge, or preemptively);
    nothing back yet but 100 Trying."""
    RINGING = "ringing"
    """A 101-199 came back: 180 Ringing, 183 Session Progress..."""
    IN_CALL = "in-call"
    """A 2xx to the INVITE came back."""
    COMPLETED = "completed"
    """Answered, then a BYE."""
    CANCELLED = "cancelled"
    """The caller gave up before an answer."""
    REJECTED = "rejected"
    """A 3xx-6xx ended the attempt."""
    CHALLENGED = "challenged"
    """401/407 came back to a request without credentials (or a stale nonce, 22.4 / RFC 7616
    3.5): the sender is expected to retry with credentials."""
    AUTH_FAILED = "auth-failed"
    """Credentials were sent and refused: 401/407 again, or 403."""
    # Of other dialogs (CHALLENGED, AUTH_SENT and AUTH_FAILED too).
    PENDING = "pending"
    """Request sent, no final response yet."""
    DONE = "done"
    """2xx."""
    REFRESHING = "refreshing"
    """After a 2xx, the request sent again with credentials (a REGISTER refresh reusing its
    nonce, RFC 7616 section 3.4): shown as the 2xx until it is answered, refused like
    AUTH_SENT."""
    FAILED = "failed"
    """A 3xx-6xx final response."""


# The tables read better without the class name.
SETUP, AUTH_SENT, RINGING = Phase.SETUP, Phase.AUTH_SENT, Phase.RINGING
IN_CALL, COMPLETED, CANCELLED = Phase.IN_CALL, Phase.COMPLETED, Phase.CANCELLED
REJECTED, CHALLENGED, AUTH_FAILED = Phase.REJECTED, Phase.CHALLENGED, Phase.AUTH_FAILED
PENDING, DONE, REFRESHING, FAILED = Phase.PENDING, Phase.DONE, Phase.REFRESHING, Phase.FAILED

# -- events ------------------------------------------------------------------------------------
INVITE: Final = "INVITE"
INVITE_AUTH: Final = "INVITE+credentials"
"""An INVITE with Authorization or Proxy-Authorization (22.2, 22.3)."""
RELAYED: Final = "INVITE relayed"
"""An INVITE sent on by another element than the caller (a proxy's next hop, 16.6): after the
caller's credentials, the proxy accepted them."""
CANCEL: Final = "CANCEL"
BYE: Final = "BYE"
REQUEST: Final = "request"
"""A request of the method that opened a non-call dialog (a REGISTER refresh, the next OPTIONS)."""
REQUEST_AUTH: Final = "request+credentials"
"""The same with Authorization or Proxy-Authorization."""
PROVISIONAL: Final = "1xx"
"""101-199 (100 Trying makes no event)."""
SUCCESS: Final = "2xx"
CHALLENGE: Final = "401/407"
STALE: Final = "401/407 stale"
"""A challenge that says the credentials were right but their nonce too old (stale=true, RFC
2617 / RFC 7616 section 3.3): a retry with the new nonce is expected, nothing was refused."""
FORBIDDEN: Final = "403"
TERMINATED: Final = "487"
FAILURE: Final = "3xx-6xx"
"""Any other final response from 300 on."""

CALL_REQUESTS: Final[dict[str, str]] = {"INVITE": INVITE, "CANCEL": CANCEL, "BYE": BYE}
"""The requests that move a call (an INVITE with credentials makes ``INVITE_AUTH``). ACK, PRACK,
UPDATE, INFO... change nothing a person sees."""

_FINAL_EVENTS: Final[dict[int, str]] = {
    401: CHALLENGE,  # RFC 3261 section 21.4.2 Unauthorized, from a UAS or registrar (section 22.2)
    407: CHALLENGE,  # section 21.4.8 Proxy Authentication Required, from a proxy (section 22.3)
    403: FORBIDDEN,  # section 21.4.4 Forbidden: "Authorization will not help"
    487: TERMINATED,  # section 21.4.25 Request Terminated, the answer to a cancelled INVITE (9.2)
}


def response_event(status: int) -> str | None:
    """The event a response of this status makes (RFC 3261 section 21 classes); None for none.
    A 401/407 with stale=true makes ``STALE`` instead of ``CHALLENGE`` (the correlator tells)."""
    if status < 200:
        return PROVISIONAL if status > 100 else None
    if status < 300:
        return SUCCESS
    return _FINAL_EVENTS.get(status, FAILURE)


# -- the call table ----------------------------------------------------------------------------
# A dialog becomes a call at its first INVITE, in SETUP (RFC 3261 section 13.2.1), or from its
# first message on when that is one of these, in this phase: the capture began during a call.
CALL_START: Final[dict[str, Phase]] = {
    "INVITE": SETUP,
    "CANCEL": SETUP,  # 9.1, the INVITE was missed; the CANCEL makes it CANCELLED
    "PRACK": RINGING,  # RFC 3262: acknowledges a reliable 1xx
    "UPDATE": IN_CALL,  # RFC 3311, mostly in confirmed dialogs
    "ACK": IN_CALL,
    "BYE": IN_CALL,  # 15: the BYE makes it COMPLETED
}
CALL: Final[dict[tuple[Phase, str], Phase]] = {
    # New attempts in the same Call-ID: 22.2/22.3 the INVITE again with credentials after a
    # challenge (new CSeq, same Call-ID); 8.1.3.4 a 3xx's new target, RFC 4028 422, 21.4.26 488:
    # a retry; a new attempt after giving up. With credentials, refusals are AUTH FAILED.
    **{(p, INVITE): SETUP for p in (CHALLENGED, AUTH_FAILED, REJECTED, CANCELLED)},
    **{(p, INVITE_AUTH): AUTH_SENT for p in (SETUP, CHALLENGED, AUTH_FAILED, REJECTED, CANCELLED)},
    # The proxy sent the INVITE with credentials on (16.6): they were accepted, what comes back
    # now is the callee's (a 403 from the callee is a rejection, not refused credentials).
    (AUTH_SENT, RELAYED): SETUP,
    # Provisional responses: 21.1.2 180 Ringing, 21.1.5 183 Session Progress (early media)...
    (SETUP, PROVISIONAL): RINGING,
    (AUTH_SENT, PROVISIONAL): RINGING,
    (REJECTED, PROVISIONAL): RINGING,  # 16.7 forking: one branch said no, another still rings
    # 2xx: 13.2.2.4, the call is answered; also when a CANCEL lost the race with the 2xx (9.1).
    (SETUP, SUCCESS): IN_CALL,
    (AUTH_SENT, SUCCESS): IN_CALL,
    (RINGING, SUCCESS): IN_CALL,
    (CHALLENGED, SUCCESS): IN_CALL,  # 16.7 forking: another branch answered
    (AUTH_FAILED, SUCCESS): IN_CALL,
    (REJECTED, SUCCESS): IN_CALL,  # 16.7 forking: another branch answered
    (CANCELLED, SUCCESS): IN_CALL,  # 9.1: answered before the CANCEL arrived; a BYE follows
    # Challenges: 22.2 (401) and 22.3 (407); the caller should retry with credentials. To
    # credentials, a challenge refuses them, unless it says their nonce was stale (22.4).
    (SETUP, CHALLENGE): CHALLENGED,
    (RINGING, CHALLENGE): CHALLENGED,
    (AUTH_SENT, CHALLENGE): AUTH_FAILED,
    (SETUP, STALE): CHALLENGED,
    (RINGING, STALE): CHALLENGED,
    (AUTH_SENT, STALE): CHALLENGED,
    # 403 Forbidden (21.4.4): after credentials it is the account that is refused.
    (AUTH_SENT, FORBIDDEN): AUTH_FAILED,
    (SETUP, FORBIDDEN): REJECTED,
    (RINGING, FORBIDDEN): REJECTED,
    (REJECTED, FORBIDDEN): REJECTED,
    # 487 Request Terminated (21.4.25): the INVITE was cancelled (9.2).
    (SETUP, TERMINATED): CANCELLED,
    (AUTH_SENT, TERMINATED): CANCELLED,
    (RINGING, TERMINATED): CANCELLED,
    # Any other final response, 3xx-6xx (13.2.2.3): the attempt failed. REJECTED again keeps
    # the latest code: behind a forking proxy, the final the caller got comes last.
    (SETUP, FAILURE): REJECTED,
    (AUTH_SENT, FAILURE): REJECTED,
    (RINGING, FAILURE): REJECTED,
    (REJECTED, FAILURE): REJECTED,
    # CANCEL (9.1): the caller gives up before the answer.
    (SETUP, CANCEL): CANCELLED,
    (AUTH_SENT, CANCEL): CANCELLED,
    (RINGING, CANCEL): CANCELLED,
    # BYE (15) ends a confirmed dialog: COMPLETED, an answered call that ended. The BYE itself is
    # enough: its 200 is often lost or not captured. Before any 2xx there is no confirmed dialog:
    # the caller may end an early one by BYE (15: "MAY send a BYE for ... early dialogs"), which
    # gives up the attempt as a CANCEL does; a call never answered is never COMPLETED. A BYE
    # after a rejection or a cancel (a confused peer, 481 back) changes nothing; in a
    # re-INVITE's failure (14.1) the call goes on: IN_CALL has no other row.
    (SETUP, BYE): CANCELLED,
    (AUTH_SENT, BYE): CANCELLED,
    (RINGING, BYE): CANCELLED,
    (IN_CALL, BYE): COMPLETED,
}

# -- the table of other dialogs ----------------------------------------------------------------
# Driven by the method that opened the dialog (REGISTER, OPTIONS, SUBSCRIBE, MESSAGE...); starts
# in PENDING. Requests and responses of other methods in the dialog (a NOTIFY in a SUBSCRIBE's
# dialog) make no event.
_ANY_OTHER = (PENDING, AUTH_SENT, CHALLENGED, AUTH_FAILED, DONE, REFRESHING, FAILED)
OTHER: Final[dict[tuple[Phase, str], Phase]] = {
    # Requests. A refresh (a REGISTER before its binding expires, 10.2.1; the next OPTIONS
    # ping) keeps the last outcome on show until it is answered: DONE has no row for a plain
    # one, and one with credentials (a reused nonce) is REFRESHING, shown as DONE.
    (PENDING, REQUEST_AUTH): AUTH_SENT,  # credentials from the start (a nonce known before)
    (CHALLENGED, REQUEST_AUTH): AUTH_SENT,  # 22.2/22.3: re-sent with credentials
    (AUTH_FAILED, REQUEST_AUTH): AUTH_SENT,  # another try, other credentials
    (FAILED, REQUEST_AUTH): AUTH_SENT,
    (DONE, REQUEST_AUTH): REFRESHING,
    (CHALLENGED, REQUEST): PENDING,  # sent again without credentials
    (AUTH_FAILED, REQUEST): PENDING,
    (FAILED, REQUEST): PENDING,  # a new attempt, e.g. after 423 Interval Too Brief (10.2.8)
    # 2xx from any phase: 10.3 (the registrar stored the binding), 21.2.1 200 OK.
    **dict.fromkeys(((p, SUCCESS) for p in _ANY_OTHER), DONE),
    # Challenges: 22.2 (401, e.g. a registrar), 22.3 (407). To credentials they refuse them,
    # unless they say the nonce was stale (RFC 7616 section 3.3): then a retry is expected.
    (PENDING, CHALLENGE): CHALLENGED,
    (DONE, CHALLENGE): CHALLENGED,
    (FAILED, CHALLENGE): CHALLENGED,
    (CHALLENGED, CHALLENGE): CHALLENGED,
    (AUTH_SENT, CHALLENGE): AUTH_FAILED,
    (REFRESHING, CHALLENGE): AUTH_FAILED,
    (AUTH_FAILED, CHALLENGE): AUTH_FAILED,
    **dict.fromkeys(((p, STALE) for p in _ANY_OTHER), CHALLENGED),
    # 403 Forbidden (21.4.4): after credentials it is the account that is refused.
    (AUTH_SENT, FORBIDDEN): AUTH_FAILED,
    (REFRESHING, FORBIDDEN): AUTH_FAILED,
    (AUTH_FAILED, FORBIDDEN): AUTH_FAILED,
    (PENDING, FORBIDDEN): FAILED,
    (DONE, FORBIDDEN): FAILED,
    (FAILED, FORBIDDEN): FAILED,
    (CHALLENGED, FORBIDDEN): FAILED,
    # Any other final, 3xx-6xx (21.3 to 21.6), 487 included: the request failed.
    **dict.fromkeys(((p, FAILURE) for p in _ANY_OTHER), FAILED),
    **dict.fromkeys(((p, TERMINATED) for p in _ANY_OTHER), FAILED),
}

# -- words -------------------------------------------------------------------------------------
CALL_LABELS: Final[dict[Phase, str]] = {
    SETUP: "CALL SETUP",
    AUTH_SENT: "CALL SETUP",
    RINGING: "RINGING",
    IN_CALL: "IN CALL",
    COMPLETED: "COMPLETED",
    CANCELLED: "CANCELLED",
    REJECTED: "REJECTED {code}",
    CHALLENGED: "REJECTED {code}",  # a challenge nobody answered; a retry moves on
    AUTH_FAILED: "AUTH FAILED",
}
REGISTER_LABELS: Final[dict[Phase, str]] = {
    PENDING: "REGISTERING",
    AUTH_SENT: "REGISTERING",
    DONE: "REGISTERED",  # "UNREGISTERED" when the binding's expires is 0 (10.2.2)
    REFRESHING: "REGISTERED",
    FAILED: "REGISTER FAILED {code}",
    CHALLENGED: "REGISTER FAILED {code}",
    AUTH_FAILED: "AUTH FAILED",
}
OTHER_LABELS: Final[dict[Phase, str]] = {
    PENDING: "{method} SENT",
    AUTH_SENT: "{method} SENT",
    DONE: "{method} {code}",
    REFRESHING: "{method} {code}",
    FAILED: "{method} {code}",
    CHALLENGED: "{method} {code}",
    AUTH_FAILED: "AUTH FAILED",
}
CHALLENGED_LABEL: Final = "CHALLENGED {code}"
"""While the capture goes on: a 401/407 not answered yet (at the end, with none, the labels above)."""
NO_RESPONSE: Final = "NO RESPONSE"
"""At the end of the capture: a call whose INVITE got no response at all (not even 100 Trying),
or another dialog whose request got no final response."""
RESPONSE_ONLY: Final = "RESPONSE ONLY {code}"
"""A dialog of which no request was captured; the code is that of its latest response."""


UNREGISTERED_LABEL: Final = "UNREGISTERED"
"""A REGISTER answered with a 2xx whose binding of ours is gone (10.2.2)."""


def _names() -> frozenset[str]:
    templates = [*CALL_LABELS.values(), *REGISTER_LABELS.values(), CHALLENGED_LABEL]
    templates += [NO_RESPONSE, RESPONSE_ONLY, UNREGISTERED_LABEL]
    return frozenset(t.replace("{code}", "").strip() for t in templates)


STATE_NAMES: Final = _names()
"""The states of calls and registrations by name: their labels without the status code
(``REJECTED``, ``IN CALL``, ``REGISTER FAILED``...). Other methods' labels are the method and
``SENT`` or a code (``OPTIONS SENT``, ``OPTIONS 200``)."""


def is_state(label: str, name: str) -> bool:
    """Whether ``label`` (a dialog's state, as ``verdict`` words it) is the state ``name``:
    the label itself, or a label of a template above without its status code (``REJECTED``
    is ``REJECTED 486``; ``OPTIONS`` is not ``OPTIONS 200``, which only its whole label is).
    Upper case and single spaces, as the templates are."""
    if label == name:
        return True
    if name not in STATE_NAMES or not label.startswith(name):
        return False
    code = label[len(name) :]
    return code[:1] == " " and code[1:].isdigit()


# -- outcomes ----------------------------------------------------------------------------------
class Outcome(StrEnum):
    """What a state means for the person who made the call or the request: one word per state,
    the same in the call list's colours, JSON, stats and the HTML page (docs/states.md)."""

    ANSWERED = "answered"
    """A 2xx to the INVITE came (IN CALL, COMPLETED)."""
    CANCELLED = "cancelled"
    """The caller gave up before an answer (CANCEL, 487, or BYE on an early dialog)."""
    BUSY = "busy"
    """486 Busy Here or 600 Busy Everywhere (21.4.24, 21.6.1)."""
    NO_ANSWER = "no-answer"
    """480 Temporarily Unavailable or 408 Request Timeout (21.4.18, 21.4.9): nobody answered."""
    REDIRECTED = "redirected"
    """A 3xx (21.3) ended the attempt: the caller was sent elsewhere."""
    REJECTED = "rejected"
    """Any other 4xx-6xx ended the attempt (403, 404, 488, 503, 603...)."""
    CHALLENGED = "challenged"
    """A 401/407 never answered with credentials."""
    AUTH_FAILED = "auth-failed"
    """Credentials were sent and refused (401/407 again, or 403)."""
    NO_RESPONSE = "no-response"
    """The capture ended and the request never got a (final) response."""
    IN_PROGRESS = "in-progress"
    """Nothing final yet (the capture ended, or goes on, before it)."""
    REGISTERED = "registered"
    """The latest REGISTER got a 2xx with a binding."""
    UNREGISTERED = "unregistered"
    """The latest REGISTER got a 2xx and no binding of ours is left."""
    OK = "ok"
    """Another method's request got a 2xx."""
    FAILED = "failed"
    """Another method's request, or a REGISTER not to credentials, got a 3xx-6xx."""


ANSWERED, CANCELLED_OUTCOME, BUSY = Outcome.ANSWERED, Outcome.CANCELLED, Outcome.BUSY
NO_ANSWER, REDIRECTED, REJECTED_OUTCOME = Outcome.NO_ANSWER, Outcome.REDIRECTED, Outcome.REJECTED
CHALLENGED_OUTCOME, AUTH_FAILED_OUTCOME = Outcome.CHALLENGED, Outcome.AUTH_FAILED
NO_RESPONSE_OUTCOME, IN_PROGRESS = Outcome.NO_RESPONSE, Outcome.IN_PROGRESS
REGISTERED, UNREGISTERED, OK = Outcome.REGISTERED, Outcome.UNREGISTERED, Outcome.OK
FAILED_OUTCOME = Outcome.FAILED

OUTCOMES: Final = tuple(Outcome)
"""Every outcome, in the order docs/states.md lists them."""

TONES: Final[dict[str, str]] = {
    ANSWERED: "good",
    REGISTERED: "good",
    UNREGISTERED: "good",
    OK: "good",
    IN_PROGRESS: "mid",
    CANCELLED_OUTCOME: "mid",
    BUSY: "mid",
    NO_ANSWER: "mid",
    REDIRECTED: "mid",
    CHALLENGED_OUTCOME: "mid",
    REJECTED_OUTCOME: "bad",
    AUTH_FAILED_OUTCOME: "bad",
    NO_RESPONSE_OUTCOME: "bad",
    FAILED_OUTCOME: "bad",
}
"""How an outcome is coloured: ``good`` (green), ``mid`` (yellow: under way, or the callee's
choice), ``bad`` (red: something refused or failed)."""

_CALL_OUTCOMES: Final[dict[Phase, Outcome]] = {
    SETUP: IN_PROGRESS,
    AUTH_SENT: IN_PROGRESS,
    RINGING: IN_PROGRESS,
    IN_CALL: ANSWERED,
    COMPLETED: ANSWERED,
    CANCELLED: CANCELLED_OUTCOME,
    CHALLENGED: CHALLENGED_OUTCOME,
    AUTH_FAILED: AUTH_FAILED_OUTCOME,
}
_OTHER_OUTCOMES: Final[dict[Phase, Outcome]] = {
    PENDING: IN_PROGRESS,
    AUTH_SENT: IN_PROGRESS,
    DONE: OK,
    REFRESHING: OK,
    FAILED: FAILED_OUTCOME,
    CHALLENGED: CHALLENGED_OUTCOME,
    AUTH_FAILED: AUTH_FAILED_OUTCOME,
}


def rejection(code: int) -> Outcome:
    """The outcome of a call that a final ``code`` (3xx-6xx, not 401/407/487) ended."""
    if code in (486, 600):
        return BUSY
    if code in (480, 408):
        return NO_ANSWER
    if 300 <= code < 400:
        return REDIRECTED
    return REJECTED_OUTCOME


class Verdict(NamedTuple):
    """A dialog's state in words (the call list's) and its outcome."""

    label: str
    outcome: Outcome


@lru_cache(maxsize=4096)  # few distinct answers; called at every change of phase
def verdict(
    call: bool,
    phase: Phase,
    method: str,
    code: int,
    expires: int | None = None,
    requested: bool = True,
    last_status: int = 0,
    ended: bool = False,
    responded: bool = True,
) -> Verdict:
    """The state shown in the call list, and its outcome.

    Args:
        call: whether the dialog follows ``CALL`` (else ``OTHER``).
        phase: its phase.
        method: the method that opened it (non-call dialogs).
        code: status of the response that made the latest transition.
        expires: for a REGISTER answered with a 2xx, the expiry of the binding (0: unregistered).
        requested: whether any request of the dialog was captured.
        last_status: status of its latest response.
        ended: the capture is over: a request still unanswered will not be.
        responded: for a call, whether its latest INVITE got any response (100 Trying too).
    """
    if not requested:
        if 200 <= last_status < 300:
            outcome = ANSWERED if call else OK
        elif last_status >= 300:
            outcome = rejection(last_status) if call else FAILED_OUTCOME
        else:
            outcome = IN_PROGRESS
        return Verdict(RESPONSE_ONLY.format(code=last_status), outcome)
    if phase == CHALLENGED and not ended:
        # 22.2/22.3: a challenge is a step of a request that goes on; while the capture runs
        # (live, hep) the retry with credentials is expected, not a failure to show in red.
        return Verdict(CHALLENGED_LABEL.format(code=code), IN_PROGRESS)
    if call:
        if ended and not responded and phase in (SETUP, AUTH_SENT):
            return Verdict(NO_RESPONSE, NO_RESPONSE_OUTCOME)
        outcome = rejection(code) if phase == REJECTED else _CALL_OUTCOMES[phase]
        return Verdict(CALL_LABELS[phase].format(code=code), outcome)
    if ended and phase in (PENDING, AUTH_SENT):
        return Verdict(NO_RESPONSE, NO_RESPONSE_OUTCOME)
    outcome = _OTHER_OUTCOMES[phase]
    if method == "REGISTER":
        if phase in (DONE, REFRESHING):
            if expires == 0:
                return Verdict(UNREGISTERED_LABEL, UNREGISTERED)
            return Verdict("REGISTERED", REGISTERED)
        template = REGISTER_LABELS[phase]
    else:
        template = OTHER_LABELS[phase]
    return Verdict(template.format(method=method or "?", code=code), outcome)
