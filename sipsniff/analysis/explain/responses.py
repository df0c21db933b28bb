"""Responses explained: who answers what, and what the answer means in this dialog."""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from sipsniff.analysis.explain.model import Facts, Ref, Sentence, sip
from sipsniff.analysis.explain.scene import Scene, first_live, span
from sipsniff.analysis.explain.words import (
    challenge_words,
    chosen,
    digest_refs,
    media_words,
    sdp_facts,
)
from sipsniff.analysis.findings.causes import CAUSES
from sipsniff.analysis.ladder import Row
from sipsniff.sip.digest import parse_challenge
from sipsniff.sip.headers import bindings, header_value
from sipsniff.sip.sdp import Sdp

# RFC 3261 section 21: the section of each status code it defines.
SECTIONS: Final[dict[int, str]] = {
    100: "21.1.1", 180: "21.1.2", 181: "21.1.3", 182: "21.1.4", 183: "21.1.5",
    200: "21.2.1",
    300: "21.3.1", 301: "21.3.2", 302: "21.3.3", 305: "21.3.4", 380: "21.3.5",
    400: "21.4.1", 401: "21.4.2", 402: "21.4.3", 403: "21.4.4", 404: "21.4.5", 405: "21.4.6",
    406: "21.4.7", 407: "21.4.8", 408: "21.4.9", 410: "21.4.10", 413: "21.4.11",
    414: "21.4.12", 415: "21.4.13", 416: "21.4.14", 420: "21.4.15", 421: "21.4.16",
    423: "21.4.17", 480: "21.4.18", 481: "21.4.19", 482: "21.4.20", 483: "21.4.21",
    484: "21.4.22", 485: "21.4.23", 486: "21.4.24", 487: "21.4.25", 488: "21.4.26",
    491: "21.4.27", 493: "21.4.28",
    500: "21.5.1", 501: "21.5.2", 502: "21.5.3", 503: "21.5.4", 504: "21.5.5", 505: "21.5.6",
    513: "21.5.7",
    600: "21.6.1", 603: "21.6.2", 604: "21.6.3", 606: "21.6.4",
}  # fmt: skip
CLASSES: Final[dict[int, tuple[str, str]]] = {
    1: ("21.1", "a provisional response: the request goes on"),
    2: ("21.2", "a success"),
    3: ("21.3", "a redirection: the request should go elsewhere"),
    4: ("21.4", "a request failure"),
    5: ("21.5", "a server failure"),
    6: ("21.6", "a global failure: no other place will do better"),
}
"""Status class -> its section of RFC 3261 and what a response of that class is."""
OTHER_CODES: Final[dict[int, Ref]] = {
    199: Ref(6228),
    202: Ref(6665),
    204: Ref(5839),
    422: Ref(4028, "6"),
    429: Ref(3892),
    489: Ref(6665),
}
"""Codes other RFCs define."""


def code_ref(status: int) -> Ref:
    if status in SECTIONS:
        return Ref(3261, SECTIONS[status])
    if status in OTHER_CODES:
        return OTHER_CODES[status]
    return Ref(3261, CLASSES.get(status // 100, ("21", ""))[0])


def explain_response(scene: Scene, k: int) -> tuple[list[Sentence], Facts]:
    row = scene.rows[k]
    msg = row.msg
    status = msg.status or 0
    method = msg.cseq_method.upper()
    offer = _offer_of(scene, k)
    facts = sdp_facts(scene.sdp(row), offer)
    if k in scene.relay_of:
        origin = scene.rows[scene.origin(k)]
        text = (
            f"{scene.who(row.src)} passes {scene.short(origin.src)}'s {status} back to "
            f"{scene.who(row.dst)}, along the Vias of the request"
        )
        out = [Sentence(text, sip("16.7"))]
        if method == "REGISTER" and 200 <= status < 300:
            said, extra = _registered(scene, k)
            return out + said[:1], facts.merged(extra)
        return out, replace(facts, relayed_by=scene.address(row.src))
    if status in (401, 407):
        return _challenge(scene, k)
    if method == "REGISTER":
        if 200 <= status < 300:
            told, more = _registered(scene, k)
            return told, facts.merged(more)
        if status == 423:
            return _too_brief(scene, k)
    if method == "INVITE":
        return _invite_response(scene, k, offer), facts
    if method == "CANCEL" and 200 <= status < 300:
        return [
            Sentence(
                f"{scene.who(row.src)} accepts the CANCEL; the INVITE itself is ended by a 487 "
                "Request Terminated in its own transaction",
                sip("9.2"),
            )
        ], facts
    if method == "BYE" and 200 <= status < 300:
        return [
            Sentence(f"{scene.who(row.src)} confirms the end of the call", sip("15.1.2"))
        ], facts
    return [_generic(scene, row)], facts


def _generic(scene: Scene, row: Row) -> Sentence:
    msg = row.msg
    status = msg.status or 0
    kind = CLASSES.get(status // 100, ("21", "a response"))[1]
    cause = CAUSES.get(status, ("", ""))[0]
    what = f"{status} {msg.reason or ''}".rstrip()
    text = f"{scene.who(row.src)} answers the {msg.cseq_method} with {what}: {kind}"
    if cause:
        text += f" ({cause})"
    if 300 <= status < 400:
        contact = header_value(msg.raw, "Contact")
        if contact:
            text += f"; the Contact says where to try: {contact}"
            return Sentence(text, (code_ref(status), *sip("8.1.3.4")))
    return Sentence(text, (code_ref(status),))


# -- REGISTER --------------------------------------------------------------------------------------


def _registered(scene: Scene, k: int) -> tuple[list[Sentence], Facts]:
    row = scene.rows[k]
    request = scene.request_of(row)
    granted, default = bindings(row.msg.raw)
    asked_list, asked_default = ([], None) if request is None else bindings(request.raw)
    aor = row.msg.to_uri
    registrar = scene.who(row.src)
    mine = asked_list[0] if asked_list else None
    asked = None if mine is None else (mine.expires if mine.expires is not None else asked_default)
    facts = Facts(aor=aor, expires_asked=asked)
    if mine is None:
        listed = ", ".join(b.uri for b in granted) or "none"
        return [Sentence(f"{registrar} lists the bindings of {aor}: {listed}", sip("10.3"))], facts
    ours = next((b for b in granted if b.uri.lower() == mine.uri.lower()), None)
    if ours is None and len(granted) == 1 and mine.uri != "*":
        ours = granted[0]  # rewritten by the registrar (a NAT alias, say)
    if ours is None or asked == 0 or mine.uri == "*":
        return [
            Sentence(
                f"{registrar} accepts: the binding of {aor} is removed, so calls for it no longer "
                "reach this device",
                sip("10.3"),
            )
        ], replace(facts, expires_granted=0, contact=mine.uri)
    got = ours.expires if ours.expires is not None else default
    facts = replace(facts, contact=ours.uri, expires_granted=got)
    how_long = f"for {got} s" if got is not None else "with no expiry stated"
    contact = ours.uri
    if ours.uri.lower() != mine.uri.lower():
        contact = f"the Contact it lists as {ours.uri} (the REGISTER asked for {mine.uri})"
    text = f"{registrar} accepts the registration: {aor} is bound to {contact} {how_long}"
    refs = sip("10.3")
    if got is not None and asked is not None and got < asked:
        text += (
            f", less than the {asked} s asked for: a registrar may shorten the interval, and the "
            f"client must refresh within {got} s"
        )
        refs = sip("10.3", "10.2.4")
    elif got is not None:
        text += ", as asked; the client must refresh before it runs out"
        refs = sip("10.3", "10.2.4")
    others = len(granted) - 1
    if others > 0:
        text += (
            f". It lists {others} other binding{'s' * (others != 1)} of {aor} too: every "
            "device registered for it"
        )
    return [Sentence(text, refs)], facts


def _too_brief(scene: Scene, k: int) -> tuple[list[Sentence], Facts]:
    row = scene.rows[k]
    value = header_value(row.msg.raw, "Min-Expires")
    minimum = int(value) if value and value.strip().isdigit() else None
    at_least = f" at least {minimum} s" if minimum is not None else " longer"
    return [
        Sentence(
            f"{scene.who(row.src)} refuses so short a binding: the client must ask for{at_least} "
            "(Min-Expires) and register again",
            sip("10.2.8", "21.4.17"),
        )
    ], Facts(min_expires=minimum)


# -- challenges ------------------------------------------------------------------------------------


def _challenge(scene: Scene, k: int) -> tuple[list[Sentence], Facts]:
    row = scene.rows[k]
    msg = row.msg
    status = msg.status or 401
    header = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
    answer = "Authorization" if status == 401 else "Proxy-Authorization"
    value = header_value(msg.raw, header)
    server, client = scene.who(row.src), scene.who(row.dst)
    if value is None:
        return [
            Sentence(
                f"{server} wants credentials but sends no {header}: the client cannot answer",
                sip("22.2" if status == 401 else "22.3"),
            )
        ], Facts()
    ch = parse_challenge(value)
    facts = Facts(realm=ch.realm, nonce=ch.nonce, algorithm=ch.algorithm, qop=ch.qop)
    request = scene.request_of(row)
    refused = request is not None and request.id in scene.attempts and not ch.stale
    if ch.stale:
        lead = (
            f"{server} says the credentials were right but their nonce had expired (stale=true): "
            f"{client} should answer the new challenge"
        )
    elif refused:
        lead = (
            f"{server} refuses the credentials {client} sent and challenges again: a wrong "
            "password or user name (or a nonce it no longer accepts)"
        )
    else:
        lead = f"{server} wants credentials before it accepts the {msg.cseq_method}"
    text = (
        f"{lead}. {header}: {challenge_words(ch)}. The client must send the {msg.cseq_method} "
        f"again with {'an' if status == 401 else 'a'} {answer} header computed from its password"
    )
    return [Sentence(text, digest_refs(ch.algorithm, status))], facts


# -- INVITE ----------------------------------------------------------------------------------------


def _offer_of(scene: Scene, k: int) -> Sdp | None:
    """The offer a response's SDP answers: the SDP of its request."""
    row = scene.rows[k]
    if not row.sdp:
        return None
    request = scene.request_of(row)
    if request is None:
        return None
    for r in scene.rows:
        if r.entry.id == request.id:
            return scene.sdp(r)
    return None


def _invite_response(scene: Scene, k: int, offer: Sdp | None) -> list[Sentence]:
    row = scene.rows[k]
    msg = row.msg
    status = msg.status or 0
    sender = scene.who(row.src)
    client = scene.short(scene.client if scene.client is not None else row.dst)
    request = scene.request_of(row)
    after = "" if request is None else f" {span(msg.ts_ns - request.ts_ns)} after the INVITE"
    reinvite = request is not None and request.to_tag is not None
    out: list[Sentence] = []
    if status == 100:
        out.append(
            Sentence(
                f"{sender} got the INVITE and works on it: 100 Trying goes back one hop only, "
                f"stops {scene.short(row.dst)}'s retransmissions of the INVITE (Timer A), and "
                "says nothing about the callee",
                sip("17.2.1", "21.1.1"),
            )
        )
    elif status < 200:
        what = {
            180: "is ringing",
            183: "reports progress",
            181: "forwards the call",
            182: "queues the call",
        }.get(status, f"answers {status} {msg.reason or ''}".rstrip())
        tag = f" Its To tag ({msg.to_tag}) sets up an early dialog" if msg.to_tag else ""
        out.append(
            Sentence(
                f"{sender} {what}{after}.{tag}",
                (code_ref(status),) + (sip("12.1") if tag else ()),
            )
        )
    elif status < 300:
        if reinvite:
            out.append(
                Sentence(f"{sender} accepts the re-INVITE: the session changes", sip("14.2"))
            )
        else:
            out.append(
                Sentence(
                    f"{sender} answers the call{after}. {client} must ACK this 2xx; until the "
                    "ACK comes, the 2xx is sent again",
                    sip("13.3.1.4", "13.2.2.4"),
                )
            )
    elif status == 487:
        out.append(
            Sentence(
                f"{sender} ends the cancelled INVITE with 487 Request Terminated; "
                f"{scene.short(row.dst)} acknowledges it with an ACK",
                sip("9.2", "21.4.25"),
            )
        )
    else:
        out.append(_generic(scene, row))
    if row.sdp:
        media = first_live(scene.sdp(row))
        if media is None:
            out.append(Sentence("Its SDP rejects every stream (port 0)", (Ref(3264, "6"),)))
        elif offer is not None:
            pick = chosen(media, first_live(offer))
            early = " early media: sound can flow before the call is answered (a ringback tone, "
            early += "an announcement)" if status < 200 else ""
            codec = f"; the codec chosen is {pick}" if pick else ""
            text = f"Its SDP is the answer to the INVITE's offer: {media_words(media)}{codec}"
            if status < 200:
                text += ";" + early
            refs: tuple[Ref, ...] = (Ref(3264, "6"),)
            if status < 200:
                refs += (Ref(3960),)
            out.append(Sentence(text, refs))
        else:
            out.append(
                Sentence(
                    f"Its SDP is an offer (the INVITE had none): {media_words(media)}; the ACK "
                    "carries the answer",
                    (Ref(3264, "5"), *sip("13.2.1")),
                )
            )
    return out
