"""Pieces of sentences the request and response explanations share: media in words, the offer an
answer answers, credentials in words, retransmissions and their timers (RFC 3261 section 17)."""

from __future__ import annotations

from typing import Final

from sipsniff.analysis.explain.model import Facts, Ref, Sentence, sip
from sipsniff.analysis.explain.scene import Scene, first_live, span
from sipsniff.analysis.ladder import Row
from sipsniff.sip.digest import DigestChallenge, DigestCredentials, parse_credentials
from sipsniff.sip.headers import header_value, header_values, parse_via
from sipsniff.sip.sdp import Media, Sdp

EVENTS: Final = frozenset({"telephone-event", "cn", "red", "ulpfec", "rtx", "comfort-noise"})
"""Payload types that carry no voice of their own: never "the codec chosen"."""

RELIABLE: Final = frozenset({"tcp", "tls", "sctp", "ws", "wss"})

CREDENTIALS: Final = ("Authorization", "Proxy-Authorization")


def codec_names(media: Media) -> tuple[str, ...]:
    if media.kind.lower() == "image" and "t38" in (f.lower() for f in media.formats):
        return ("T.38",)
    if not media.codecs:
        return media.formats
    return tuple(dict.fromkeys(c.name or str(c.pt) for c in media.codecs))


def where(media: Media) -> str:
    address = media.address or "?"
    return f"[{address}]:{media.port}" if ":" in address else f"{address}:{media.port}"


def media_words(media: Media) -> str:
    """``audio to 10.0.0.5:4000 in PCMU, PCMA, telephone-event, sendonly, SRTP``."""
    text = f"{media.kind} to {where(media)} in {', '.join(codec_names(media)) or 'no codec'}"
    if media.direction != "sendrecv":
        text += f", {media.direction}"
    if media.secure:
        text += ", SRTP"
    return text


def chosen(answer: Media, offer: Media | None) -> str | None:
    """The codec an answer chose: its first voice codec the offer had too (RFC 3264 section 6.1:
    the answerer lists the offered formats it will use, its preferred first)."""
    offered = None if offer is None else {n.lower() for n in codec_names(offer)}
    for name in codec_names(answer):
        if name.lower() in EVENTS:
            continue
        if offered is None or name.lower() in offered:
            return name
    return None


def sdp_facts(sdp: Sdp | None, offer: Sdp | None = None) -> Facts:
    media = first_live(sdp)
    if media is None:
        return Facts()
    codec = None if offer is None else chosen(media, first_live(offer))
    return Facts(
        codecs=codec_names(media), codec=codec, media=where(media), direction=media.direction
    )


def credentials_of(row: Row) -> tuple[str, DigestCredentials] | None:
    """The header name and the first credentials a request carries; None for none."""
    for name in CREDENTIALS:
        value = header_value(row.msg.raw, name)
        if value is not None:
            return name, parse_credentials(value)
    return None


def challenge_words(ch: DigestChallenge) -> str:
    """``Digest with realm "pbx.test", nonce 5f3a…, algorithm MD5, qop auth``."""
    parts = [f'realm "{ch.realm}"' if ch.realm is not None else "no realm"]
    if ch.nonce:
        parts.append(f"nonce {ch.nonce[:12]}{'…' if len(ch.nonce) > 12 else ''}")
    parts.append(f"algorithm {ch.algorithm}" if ch.algorithm else "no algorithm named (so MD5)")
    parts.append(f"qop {'/'.join(ch.qop)}" if ch.qop else "no qop (the RFC 2069 way)")
    return f"{ch.scheme} with " + ", ".join(parts)


def digest_refs(algorithm: str | None, status: int) -> tuple[Ref, ...]:
    refs = (*sip("22.2" if status == 401 else "22.3"), Ref(7616, "3.3"))
    if algorithm and not algorithm.upper().startswith("MD5"):
        refs += (Ref(8760),)
    return refs


# -- retransmissions -----------------------------------------------------------------------------


def resent(scene: Scene, row: Row) -> tuple[Sentence, str] | None:
    """Why a message was seen more than once, with the timer that resent it."""
    if not row.copies:
        return None
    msg = row.msg
    times = [c.ts_ns - msg.ts_ns for c in row.copies]
    when = ", ".join("+" + span(t) for t in times)
    sender = scene.who(row.src)
    count = f"{row.count} times (again at {when})"
    if msg.transport in RELIABLE:
        return (
            Sentence(
                f"{sender} sent it {count} over {msg.transport.upper()}: on a reliable transport "
                "SIP starts no retransmission timer, so the copies come from the application or "
                "a new connection",
                sip("17.1.1.2", "18.1.1"),
            ),
            "none",
        )
    if msg.status is None:
        method = (msg.method or "").upper()
        if method == "ACK":
            return (
                Sentence(
                    f"{sender} sent the ACK {count}: once for each copy of the response it got, "
                    "which means the first ACK did not reach the other end in time",
                    sip("13.2.2.4", "17.1.1.3"),
                ),
                "ACK",
            )
        timer, section = ("A", "17.1.1.2") if method == "INVITE" else ("E", "17.1.2.2")
        return (
            Sentence(
                f"{sender} sent it {count}: no response came within T1 (500 ms), so Timer {timer} "
                "resent it, doubling the wait each time: the first copy or its answer was lost, or "
                "the answer was slow",
                sip(section),
            ),
            timer,
        )
    status = msg.status
    if msg.cseq_method.upper() == "INVITE" and 200 <= status < 300:
        return (
            Sentence(
                f"{sender} sent the {status} {count}: it resends a 2xx, from T1 (500 ms) doubling "
                "up to T2 (4 s), until the ACK arrives: the ACK was late or lost",
                sip("13.3.1.4"),
            ),
            "2xx",
        )
    if msg.cseq_method.upper() == "INVITE" and status >= 300:
        return (
            Sentence(
                f"{sender} sent the {status} {count}: Timer G resends a failure response to an "
                "INVITE until the ACK arrives",
                sip("17.2.1"),
            ),
            "G",
        )
    return (
        Sentence(
            f"{sender} sent the {status} {count}: a server answers each copy of the request "
            "it receives with its latest response",
            sip("17.2.2" if msg.cseq_method.upper() != "INVITE" else "17.2.1"),
        ),
        "request",
    )


# -- NAT -----------------------------------------------------------------------------------------


def via_nat(scene: Scene, row: Row) -> tuple[Sentence, str | None, int | None] | None:
    """What ``received`` and ``rport`` in a response's top Via say about NAT (RFC 3581)."""
    values = header_values(row.msg.raw, "Via")
    if not values or (b"received" not in row.msg.raw and b"rport=" not in row.msg.raw):
        return None
    via = parse_via(values[0])
    received = via.params.get("received")
    rport_text = via.params.get("rport")
    rport = int(rport_text) if rport_text and rport_text.isdigit() else None
    if received is None and rport is None:
        return None
    seen = ", ".join(
        p
        for p in (f"received={received}" if received else "", f"rport={rport}" if rport else "")
        if p
    )
    sent_by = via.sent_by
    host, _, port = sent_by.rpartition(":") if sent_by.count(":") == 1 else (sent_by, "", "")
    same = (received is None or received == host) and (rport is None or str(rport) == port)
    if same:
        verdict = f"the same as the sent-by {sent_by} the client wrote: no NAT in between"
    else:
        verdict = (
            f"the client wrote sent-by {sent_by}, so a NAT changed the address on the way; the "
            "response goes back to where the request came from, and the NAT lets it in"
        )
    server = scene.who(row.src)
    refs = sip("18.2.1") + ((Ref(3581, "4"),) if rport is not None else ())
    return (
        Sentence(
            f"{server} wrote into the top Via where the request really came from ({seen}): "
            + verdict,
            refs,
        ),
        received,
        rport,
    )
