"""What a failure response usually means and what to do about it: ``CAUSES`` by status code, the
Q.850 cause of a ``Reason`` header (RFC 3326) and the text of a ``Warning`` header, as the
``failure`` rule quotes them."""

from __future__ import annotations

import re
from typing import Final

from sipsniff.sip.headers import header_value, header_values

WARNING_TEXT_MAX: Final = 60
"""Characters of a ``Warning`` header's text quoted in a summary (longer: cut, with an ellipsis)."""

# Status code -> (usual cause, what to do). RFC 3261 section 21 and the field experience behind
# every SIP troubleshooting guide; 401/407 have their own kinds.
CAUSES: Final[dict[int, tuple[str, str]]] = {
    300: ("several targets offered", "Pick one of the Contacts, or let the proxy recurse."),
    301: ("moved permanently", "Use the Contact of the response from now on."),
    302: ("redirected", "Follow the Contact (call forwarding), or let the proxy recurse."),
    400: (
        "malformed request",
        "Fix the sender's SIP stack; the Warning header often names the field.",
    ),
    402: ("payment required", "Top up or enable the account."),
    403: (
        "forbidden: wrong credentials, or not allowed",
        "Check user, password and what the account may do (ACL, dial plan, IP allow-list).",
    ),
    404: ("unknown user or number", "Check the dialled number, the user part and the domain."),
    405: ("method not allowed here", "Use a method the Allow header lists."),
    406: ("not acceptable", "Relax the Accept headers."),
    408: (
        "no final answer in time from the next hop",
        "Check the next hop is up and reachable (firewall, DNS, a dead trunk).",
    ),
    410: ("user gone", "Remove the number or user from the routing."),
    413: ("request too large", "Use TCP for large messages, or trim headers and SDP."),
    414: ("Request-URI too long", "Shorten the Request-URI."),
    415: ("unsupported body type", "Send a body type the Accept header lists."),
    416: ("unsupported URI scheme", "Use a sip: or sips: URI."),
    420: ("unsupported extension required", "Drop the option from Require / Proxy-Require."),
    421: ("extension required", "Enable the extension the Require header names."),
    422: ("session timer too small", "Raise Session-Expires to the Min-SE asked for."),
    423: ("registration interval too brief", "Raise Expires to the Min-Expires asked for."),
    480: (
        "callee unavailable: not registered, do not disturb, or no answer",
        "Check the callee is registered and reachable; try again later.",
    ),
    481: ("dialog or transaction unknown to the peer", "Check for a restart or a lost dialog."),
    482: ("loop detected", "Fix the routing: the request came back to a proxy."),
    483: (
        "too many hops: a routing loop",
        "Fix the routing loop between proxies (Max-Forwards ran out).",
    ),
    484: ("address incomplete", "Dial the whole number; check the dial plan."),
    485: ("ambiguous address", "Dial a more specific address."),
    486: ("callee busy", "Nothing wrong in the network; try again later or forward on busy."),
    487: ("cancelled before answer", "Nothing wrong if the caller hung up."),
    488: (
        "no common codec or media the callee accepts",
        "Enable a common codec (or SRTP/DTLS mode) on both ends.",
    ),
    489: ("event package not supported", "Subscribe only to events the peer allows."),
    491: ("request pending (glare)", "Retry after a random delay, as RFC 3261 14.1 says."),
    500: ("server internal error", "Check the server's log at that time."),
    501: ("method not implemented", "Don't send this method to that server, or enable it."),
    502: ("bad gateway: the next hop answered wrongly", "Check the trunk or gateway behind it."),
    503: (
        "server overloaded, down or without a route",
        "Check the server and its trunks; honour Retry-After.",
    ),
    504: ("upstream server time-out", "Check the server behind it (DNS, trunk)."),
    505: ("SIP version not supported", "Send SIP/2.0."),
    513: ("message too large", "Use TCP, or trim the message."),
    600: ("busy everywhere", "Try again later."),
    603: ("callee declined", "Nothing wrong in the network: the callee rejected the call."),
    604: ("number does not exist anywhere", "Check the number."),
    606: ("session not acceptable", "Offer other media or codecs."),
    607: ("unwanted call", "The callee marked the caller unwanted."),
    608: (
        "rejected by an intermediary (call blocking)",
        "Check the caller's identity and reputation.",
    ),
}

Q850: Final[dict[int, str]] = {
    1: "unallocated number",
    3: "no route to destination",
    16: "normal clearing",
    17: "user busy",
    18: "no user responding",
    19: "no answer",
    20: "subscriber absent",
    21: "call rejected",
    22: "number changed",
    27: "destination out of order",
    28: "invalid number format",
    29: "facility rejected",
    31: "normal, unspecified",
    34: "no circuit available",
    38: "network out of order",
    41: "temporary failure",
    42: "switching equipment congestion",
    44: "requested circuit not available",
    47: "resource unavailable",
    50: "facility not subscribed",
    55: "incoming calls barred",
    57: "bearer capability not authorised",
    58: "bearer capability not available",
    65: "bearer capability not implemented",
    79: "service not implemented",
    88: "incompatible destination",
    95: "invalid message",
    102: "recovery on timer expiry",
    111: "protocol error",
    127: "interworking, unspecified",
}
"""ITU-T Q.850 cause values most seen in a SIP ``Reason`` header (RFC 3326)."""


_Q850_RE: Final = re.compile(r"^\s*q\.850\s*;.*?\bcause\s*=\s*(\d+)", re.IGNORECASE)


def q850(raw: bytes) -> str | None:
    """The Q.850 cause of a response's ``Reason`` header, with its name when known."""
    for value in header_values(raw, "Reason"):
        m = _Q850_RE.match(value)
        if m is not None:
            cause = int(m.group(1))
            text = f"Q.850 cause {cause}"
            name = Q850.get(cause)
            return f"{text} ({name})" if name else text
    return None


def warning_text(raw: bytes) -> str | None:
    """A response's ``Warning`` header, its white space folded, cut at ``WARNING_TEXT_MAX``."""
    value = header_value(raw, "Warning")
    if value is None:
        return None
    text = " ".join(value.split())
    if len(text) > WARNING_TEXT_MAX:
        text = text[: WARNING_TEXT_MAX - 1] + "…"
    return f"Warning {text}"
