"""Headers explained: what each header of a message does, with its values in the words.

``brief`` picks the headers a learner meets, each once per dialog, at the message where it first
matters (Via, From, To, Call-ID, CSeq, Max-Forwards and Contact at the first request; the To tag
at the first response that carries one; Record-Route, Route and Expires where they first appear);
``every`` explains every header of a message (``read --explain=full``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from sipsniff.analysis.explain.model import HeaderNote, Ref, sip
from sipsniff.model import Message
from sipsniff.sip.headers import parse_headers, parse_name_addr, parse_via, split_list

PLAIN: Final[dict[str, tuple[str, tuple[Ref, ...]]]] = {
    "Accept": ("the body types the sender accepts", sip("20.1")),
    "Accept-Encoding": ("the content codings the sender accepts", sip("20.2")),
    "Accept-Language": ("the languages the sender prefers for reason phrases and bodies",
                        sip("20.3")),
    "Alert-Info": ("another ring tone for the callee to play", sip("20.4")),
    "Allow": ("the methods the sender accepts", sip("20.5")),
    "Authentication-Info": ("the server's side of a mutual digest authentication", sip("20.6")),
    "Authorization": ("the digest credentials answering a 401's WWW-Authenticate",
                      sip("20.7", "22.2")),
    "Call-Info": ("more about the caller or callee (a picture, a web page)", sip("20.9")),
    "Content-Disposition": ("how the body is to be used (session, render, alert...)",
                            sip("20.11")),
    "Content-Encoding": ("how the body is compressed", sip("20.12")),
    "Content-Language": ("the language of the body", sip("20.13")),
    "Date": ("when the message was sent", sip("20.17")),
    "Error-Info": ("where more about the error is", sip("20.18")),
    "In-Reply-To": ("the Call-IDs this call answers", sip("20.21")),
    "Min-Expires": ("the shortest registration the registrar accepts", sip("20.23", "10.3")),
    "MIME-Version": ("the MIME version of the body", sip("20.24")),
    "Organization": ("the sender's organisation", sip("20.25")),
    "Priority": ("how urgent the caller says the call is", sip("20.26")),
    "Proxy-Authenticate": ("a proxy's digest challenge", sip("20.27", "22.3")),
    "Proxy-Authorization": ("the digest credentials answering a 407's Proxy-Authenticate",
                            sip("20.28", "22.3")),
    "Proxy-Require": ("extensions every proxy on the path must support", sip("20.29")),
    "Reply-To": ("where to reply, if not to From", sip("20.31")),
    "Require": ("extensions the receiver must support to handle the request", sip("20.32")),
    "Retry-After": ("when to try again", sip("20.33")),
    "Server": ("the software of the server that answered", sip("20.35")),
    "Subject": ("what the call is about", sip("20.36")),
    "Supported": ("extensions the sender supports", sip("20.37")),
    "Timestamp": ("when the request was sent, to measure round trips", sip("20.38")),
    "Unsupported": ("extensions the server does not support", sip("20.40")),
    "User-Agent": ("the software of the client", sip("20.41")),
    "Warning": ("more about a problem with the response", sip("20.43")),
    "WWW-Authenticate": ("a registrar's or server's digest challenge", sip("20.44", "22.2")),
    "Allow-Events": ("the event packages the sender supports", (Ref(6665, "8.2.2"),)),
    "Event": ("the event package of a subscription", (Ref(6665, "8.2.1"),)),
    "Subscription-State": ("whether the subscription is active, pending or over",
                           (Ref(6665, "8.2.3"),)),
    "Session-Expires": ("the session timer: refresh the session before it runs out",
                        (Ref(4028, "4"),)),
    "Min-SE": ("the shortest session timer accepted", (Ref(4028, "5"),)),
    "RSeq": ("the number of a reliable provisional response", (Ref(3262, "7.1"),)),
    "RAck": ("the reliable provisional response a PRACK acknowledges", (Ref(3262, "7.2"),)),
    "P-Asserted-Identity": ("who the caller is, as a trusted network asserts it",
                            (Ref(3325, "9.1"),)),
    "P-Preferred-Identity": ("which of its identities the caller would like asserted",
                             (Ref(3325, "9.2"),)),
    "Privacy": ("what the caller wants hidden", (Ref(3323, "4.2"),)),
    "Reason": ("why the request was sent (a Q.850 cause, a SIP code)", (Ref(3326, "2"),)),
    "Refer-To": ("the target a REFER asks to call", (Ref(3515, "2.1"),)),
    "Referred-By": ("who asked for the transfer", (Ref(3892),)),
    "Replaces": ("the call this INVITE replaces (attended transfer)", (Ref(3891),)),
    "Path": ("proxies on the registration's path, for calls back to the device", (Ref(3327),)),
    "Diversion": ("where the call was forwarded from", (Ref(5806),)),
    "History-Info": ("the targets the request went through", (Ref(7044),)),
    "Identity": ("a signature of the caller's identity (STIR)", (Ref(8224),)),
}  # fmt: skip
"""Headers told in general words (and the value), by canonical name."""


def _via(value: str, msg: Message, top: bool) -> tuple[str, tuple[Ref, ...]]:
    v = parse_via(value)
    branch = v.branch or "none"
    magic = " (z9hG4bK: an RFC 3261 branch)" if branch.startswith("z9hG4bK") else ""
    where = "" if top else "added by an earlier hop: "
    text = (
        f"{where}responses go back to {v.sent_by} over {v.transport}; branch {branch}{magic} "
        "names the transaction"
    )
    if msg.status is not None and top:
        text += "; a response carries the request's Vias back, each hop removing its own"
    return text, sip("8.1.1.7", "20.42")


def _from(value: str, msg: Message, top: bool) -> tuple[str, tuple[Ref, ...]]:
    na = parse_name_addr(value)
    tag = na.params.get("tag")
    text = f"who sends the request: {na.uri}"
    if tag:
        text += f"; its tag {tag} is the sender's half of the dialog's identity"
    return text, sip("8.1.1.3", "20.20")


def _to(value: str, msg: Message, top: bool) -> tuple[str, tuple[Ref, ...]]:
    na = parse_name_addr(value)
    tag = na.params.get("tag")
    if tag:
        return (
            f"the request's target {na.uri}, with the tag {tag} the answering side added: with "
            "the From tag and the Call-ID it names the dialog",
            sip("8.2.6.2", "12.1", "20.39"),
        )
    return (
        f"whom the request is for: {na.uri}; no tag yet, the answering side adds one",
        sip("8.1.1.2", "20.39"),
    )


def _call_id(value: str, msg: Message, top: bool) -> tuple[str, tuple[Ref, ...]]:
    return (
        f"{value}: the same in every message of this dialog (and of a client's registrations)",
        sip("8.1.1.4", "20.8"),
    )


def _cseq(value: str, msg: Message, top: bool) -> tuple[str, tuple[Ref, ...]]:
    if msg.status is not None:
        return f"{value}: copied from the request this response answers", sip("8.2.6.2", "20.16")
    return (
        f"{value}: orders the requests of the dialog; each new request takes the next number, "
        "its retransmissions, ACK to a failure and CANCEL keep it",
        sip("8.1.1.5", "20.16"),
    )


def _max_forwards(value: str, msg: Message, top: bool) -> tuple[str, tuple[Ref, ...]]:
    return (
        f"{value} more hops at most: each proxy lowers it, and at 0 the request is refused with "
        "483, which stops loops",
        sip("8.1.1.6", "20.22"),
    )


def _contact(value: str, msg: Message, top: bool) -> tuple[str, tuple[Ref, ...]]:
    if value.strip() == "*":
        return "every binding (used to remove them all)", sip("10.2.2", "20.10")
    na = parse_name_addr(value)
    expires = na.params.get("expires")
    if msg.cseq_method.upper() == "REGISTER":
        text = f"the address to bind, {na.uri}" + (f", for {expires} s" if expires else "")
        return text, sip("10.2.1", "20.10")
    return (
        f"where the other side sends its later requests in this dialog: {na.uri}",
        sip("8.1.1.8", "12.1.1", "20.10"),
    )


def _expires(value: str, msg: Message, top: bool) -> tuple[str, tuple[Ref, ...]]:
    if msg.cseq_method.upper() == "REGISTER":
        side = "asked for" if msg.status is None else "granted"
        return (
            f"{value} s {side}, for Contacts without their own expires parameter",
            sip("10.2.1.1", "20.19"),
        )
    return f"the request is valid for {value} s", sip("20.19")


def _record_route(value: str, msg: Message, top: bool) -> tuple[str, tuple[Ref, ...]]:
    uri = parse_name_addr(value).uri
    loose = "; lr: loose routing" if ";lr" in uri else ""
    return (
        f"{uri}: a proxy asks to stay on the path of the dialog's later requests{loose}",
        sip("16.6", "12.1.1", "20.30"),
    )


def _route(value: str, msg: Message, top: bool) -> tuple[str, tuple[Ref, ...]]:
    uri = parse_name_addr(value).uri
    return (
        f"{uri}: the request goes through it first (a route set: an outbound proxy, or the "
        "Record-Routes of the dialog)",
        sip("12.2.1.1", "20.34"),
    )


def _content_type(value: str, msg: Message, top: bool) -> tuple[str, tuple[Ref, ...]]:
    if value.lower().startswith("application/sdp"):
        return "the body is an SDP session description", (*sip("20.15"), Ref(4566))
    return f"the body is {value}", sip("20.15")


def _content_length(value: str, msg: Message, top: bool) -> tuple[str, tuple[Ref, ...]]:
    return f"{value} bytes of body follow the headers", sip("20.14")


SPECIAL: Final[dict[str, Callable[[str, Message, bool], tuple[str, tuple[Ref, ...]]]]] = {
    "Via": _via,
    "From": _from,
    "To": _to,
    "Call-ID": _call_id,
    "CSeq": _cseq,
    "Max-Forwards": _max_forwards,
    "Contact": _contact,
    "Expires": _expires,
    "Record-Route": _record_route,
    "Route": _route,
    "Content-Type": _content_type,
    "Content-Length": _content_length,
}
"""Headers whose explanation depends on their value and the message."""

LISTS: Final = frozenset({"Via", "Contact", "Record-Route", "Route"})
"""Headers explained value by value."""


def note(name: str, value: str, msg: Message, top: bool = True) -> HeaderNote:
    """What the header ``name: value`` of ``msg`` does (``top``: it is the first of its name)."""
    special = SPECIAL.get(name)
    if special is not None:
        text, refs = special(value, msg, top)
        return HeaderNote(name, value, text, refs)
    plain = PLAIN.get(name)
    if plain is not None:
        meaning, refs = plain
    elif name.lower().startswith("x-"):
        meaning, refs = "not a standard header: an extension of the sender", ()
    else:
        meaning, refs = "a header RFC 3261 does not define", ()
    return HeaderNote(name, value, f"{value} — {meaning}" if value else meaning, refs)


def every(msg: Message) -> list[HeaderNote]:
    """A note for every header of ``msg`` (each value of a list header), in order."""
    out: list[HeaderNote] = []
    seen: set[str] = set()
    for name, value in parse_headers(msg.raw):
        values = split_list(value) if name in LISTS else [value]
        for v in values:
            out.append(note(name, v, msg, name not in seen))
            seen.add(name)
    return out


FIRST_REQUEST: Final = ("Via", "Max-Forwards", "From", "To", "Call-ID", "CSeq", "Contact")
"""Headers told at the dialog's first request, in this order."""
WHERE_SEEN: Final = ("Record-Route", "Route", "Expires")
"""Headers told at the first message that carries them."""


def brief(msg: Message, taught: set[str]) -> list[HeaderNote]:
    """The headers of ``msg`` a learner meets here first; ``taught`` (the topics told so far in
    the dialog) is updated."""
    heads: dict[str, str] = {}
    for name, value in parse_headers(msg.raw):
        heads.setdefault(name, value)
    out: list[HeaderNote] = []

    def tell(topic: str, name: str) -> None:
        value = heads.get(name)
        if value is None or topic in taught:
            return
        taught.add(topic)
        first = split_list(value)[0] if name in LISTS and split_list(value) else value
        out.append(note(name, first, msg))

    if msg.status is None:
        for name in FIRST_REQUEST:
            if name == "To" and msg.to_tag:
                continue
            tell(name, name)
    elif msg.to_tag:
        tell("To tag", "To")
    for name in WHERE_SEEN:
        if name == "Route" and msg.status is not None:
            continue
        tell(name, name)
    return out
