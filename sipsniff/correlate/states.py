"""Dialog states: what the call list shows for a dialog, as two transition tables.

How this works: the correlator turns each message of a dialog that is not a retransmission into an
*event* (an INVITE, a CANCEL, a 2xx, a 401/407 challenge...) and looks ``(phase, event)`` up in the
dialog's table; a missing row means "no change". A dialog is a *call* from its first INVITE on
(``CALL``; from its first message when the capture began mid-call, ``CALL_START``); any other
dialog follows ``OTHER``, driven by the method that opened it (REGISTER,
OPTIONS, SUBSCRIBE...). ``label`` turns a phase into the words of the call list, in the manner of
sngrep's call states (CALL SETUP, IN CALL, COMPLETED...) with the status code where it helps
(REJECTED 486, SUBSCRIBE 489).

Retransmissions make no event (a re-sent 2xx after the BYE must not bring a call back); neither do
100 Trying (RFC 3261 section 21.1.1: hop by hop, says nothing of the callee) nor, in a call,
responses to anything but INVITE (the 200 to a CANCEL, the answer to a BYE).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

# -- phases ------------------------------------------------------------------------------------
# Of a call.
SETUP: Final = "setup"
"""INVITE sent; nothing back, or 100 Trying only."""
AUTH_SENT: Final = "auth-sent"
"""INVITE (or other request) sent again with credentials after a challenge; no answer yet."""
RINGING: Final = "ringing"
"""A 101-199 came back: 180 Ringing, 183 Session Progress..."""
IN_CALL: Final = "in-call"
COMPLETED: Final = "completed"
CANCELLED: Final = "cancelled"
REJECTED: Final = "rejected"
CHALLENGED: Final = "challenged"
"""401/407 came back: the sender is expected to retry with credentials."""
AUTH_FAILED: Final = "auth-failed"
# Of other dialogs (CHALLENGED, AUTH_SENT and AUTH_FAILED too).
PENDING: Final = "pending"
"""Request sent, no final response yet."""
DONE: Final = "done"
"""2xx."""
FAILED: Final = "failed"
"""A 3xx-6xx final response."""

# -- events ------------------------------------------------------------------------------------
INVITE: Final = "INVITE"
CANCEL: Final = "CANCEL"
BYE: Final = "BYE"
REQUEST: Final = "request"
"""A request of the method that opened a non-call dialog (a REGISTER refresh, the next OPTIONS)."""
PROVISIONAL: Final = "1xx"
"""101-199 (100 Trying makes no event)."""
SUCCESS: Final = "2xx"
CHALLENGE: Final = "401/407"
FORBIDDEN: Final = "403"
TERMINATED: Final = "487"
FAILURE: Final = "3xx-6xx"
"""Any other final response from 300 on."""

CALL_REQUESTS: Final[dict[str, str]] = {"INVITE": INVITE, "CANCEL": CANCEL, "BYE": BYE}
"""The requests that move a call. ACK, PRACK, UPDATE, INFO... change nothing a person sees."""

_FINAL_EVENTS: Final[dict[int, str]] = {
    401: CHALLENGE,  # RFC 3261 section 21.4.2 Unauthorized, from a UAS or registrar (section 22.2)
    407: CHALLENGE,  # section 21.4.8 Proxy Authentication Required, from a proxy (section 22.3)
    403: FORBIDDEN,  # section 21.4.4 Forbidden: "Authorization will not help"
    487: TERMINATED,  # section 21.4.25 Request Terminated, the answer to a cancelled INVITE (9.2)
}


def response_event(status: int) -> str | None:
    """The event a response of this status makes (RFC 3261 section 21 classes); None for none."""
    if status < 200:
        return PROVISIONAL if status > 100 else None
    if status < 300:
        return SUCCESS
    return _FINAL_EVENTS.get(status, FAILURE)


# -- the call table ----------------------------------------------------------------------------
# A dialog becomes a call at its first INVITE, in SETUP (RFC 3261 section 13.2.1), or from its
# first message on when that is one of these, in this phase: the capture began during a call.
CALL_START: Final[dict[str, str]] = {
    "INVITE": SETUP,
    "CANCEL": SETUP,  # 9.1, the INVITE was missed; the CANCEL makes it CANCELLED
    "PRACK": RINGING,  # RFC 3262: acknowledges a reliable 1xx
    "UPDATE": IN_CALL,  # RFC 3311, mostly in confirmed dialogs
    "ACK": IN_CALL,
    "BYE": IN_CALL,  # 15: the BYE makes it COMPLETED
}
CALL: Final[dict[tuple[str, str], str]] = {
    # New attempts in the same Call-ID.
    (CHALLENGED, INVITE): AUTH_SENT,  # 22.2/22.3: re-sent with credentials (new CSeq, same Call-ID)
    (AUTH_FAILED, INVITE): AUTH_SENT,  # 22.2: another try, other credentials (a 407 then a 401...)
    (REJECTED, INVITE): SETUP,  # 8.1.3.4 a 3xx's new target, RFC 4028 422, 21.4.26 488: a retry
    (CANCELLED, INVITE): SETUP,  # a new attempt after giving up
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
    # Challenges: 22.2 (401) and 22.3 (407); the caller should retry with credentials.
    (SETUP, CHALLENGE): CHALLENGED,
    (RINGING, CHALLENGE): CHALLENGED,
    (AUTH_SENT, CHALLENGE): AUTH_FAILED,  # challenged again though credentials were sent: refused
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
    # BYE (15): ends a confirmed dialog, or an early one (15: "MAY send a BYE for ... early
    # dialogs"). The BYE itself is enough: its 200 is often lost or not captured. A BYE after a
    # rejection or a cancel (a confused peer, 481 back) changes nothing; in a re-INVITE's
    # failure (14.1) the call goes on: IN_CALL has no other row.
    (SETUP, BYE): COMPLETED,
    (AUTH_SENT, BYE): COMPLETED,
    (RINGING, BYE): COMPLETED,
    (IN_CALL, BYE): COMPLETED,
}

# -- the table of other dialogs ----------------------------------------------------------------
# Driven by the method that opened the dialog (REGISTER, OPTIONS, SUBSCRIBE, MESSAGE...); starts
# in PENDING. Requests and responses of other methods in the dialog (a NOTIFY in a SUBSCRIBE's
# dialog) make no event.
_ANY_OTHER = (PENDING, AUTH_SENT, CHALLENGED, AUTH_FAILED, DONE, FAILED)
OTHER: Final[dict[tuple[str, str], str]] = {
    # Requests. A refresh (a REGISTER before its binding expires, 10.2.1; the next OPTIONS
    # ping) keeps the last outcome on show until it is answered: DONE and PENDING have no row.
    (CHALLENGED, REQUEST): AUTH_SENT,  # 22.2/22.3: re-sent with credentials
    (AUTH_FAILED, REQUEST): AUTH_SENT,  # another try, other credentials
    (FAILED, REQUEST): PENDING,  # a new attempt, e.g. after 423 Interval Too Brief (10.2.8)
    # 2xx from any phase: 10.3 (the registrar stored the binding), 21.2.1 200 OK.
    **dict.fromkeys(((p, SUCCESS) for p in _ANY_OTHER), DONE),
    # Challenges: 22.2 (401, e.g. a registrar), 22.3 (407).
    (PENDING, CHALLENGE): CHALLENGED,
    (DONE, CHALLENGE): CHALLENGED,
    (FAILED, CHALLENGE): CHALLENGED,
    (CHALLENGED, CHALLENGE): CHALLENGED,
    (AUTH_SENT, CHALLENGE): AUTH_FAILED,  # challenged again though credentials were sent
    (AUTH_FAILED, CHALLENGE): AUTH_FAILED,
    # 403 Forbidden (21.4.4): after credentials it is the account that is refused.
    (AUTH_SENT, FORBIDDEN): AUTH_FAILED,
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
CALL_LABELS: Final[dict[str, str]] = {
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
REGISTER_LABELS: Final[dict[str, str]] = {
    PENDING: "REGISTERING",
    AUTH_SENT: "REGISTERING",
    DONE: "REGISTERED",  # "UNREGISTERED" when the binding's expires is 0 (10.2.2)
    FAILED: "REGISTER FAILED {code}",
    CHALLENGED: "REGISTER FAILED {code}",
    AUTH_FAILED: "AUTH FAILED",
}
OTHER_LABELS: Final[dict[str, str]] = {
    PENDING: "{method} SENT",
    AUTH_SENT: "{method} SENT",
    DONE: "{method} {code}",
    FAILED: "{method} {code}",
    CHALLENGED: "{method} {code}",
    AUTH_FAILED: "AUTH FAILED",
}
NO_RESPONSE: Final = "NO RESPONSE"
"""At the end of the capture, a non-call dialog whose request got no final response."""
RESPONSE_ONLY: Final = "RESPONSE ONLY {code}"
"""A dialog of which no request was captured; the code is that of its latest response."""


@lru_cache(maxsize=4096)  # few distinct answers; called at every change of phase
def label(
    call: bool,
    phase: str,
    method: str,
    code: int,
    expires: int | None = None,
    requested: bool = True,
    last_status: int = 0,
    ended: bool = False,
) -> str:
    """The state shown in the call list.

    Args:
        call: whether the dialog follows ``CALL`` (else ``OTHER``).
        phase: its phase.
        method: the method that opened it (non-call dialogs).
        code: status of the response that made the latest transition.
        expires: for a REGISTER answered with a 2xx, the expiry of the binding (0: unregistered).
        requested: whether any request of the dialog was captured.
        last_status: status of its latest response.
        ended: the capture is over: a request still unanswered will not be.
    """
    if not requested:
        return RESPONSE_ONLY.format(code=last_status)
    if call:
        template = CALL_LABELS[phase]
    elif ended and phase in (PENDING, AUTH_SENT):
        return NO_RESPONSE
    elif method == "REGISTER":
        if phase == DONE and expires == 0:
            return "UNREGISTERED"
        template = REGISTER_LABELS[phase]
    else:
        template = OTHER_LABELS[phase]
    return template.format(method=method or "?", code=code)
