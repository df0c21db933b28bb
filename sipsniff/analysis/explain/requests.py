"""Requests explained: what each is, who sends it to whom, and why it is there in this dialog."""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from sipsniff.analysis.explain.model import Facts, Ref, Sentence, sip
from sipsniff.analysis.explain.scene import Scene, first_live, span
from sipsniff.analysis.explain.words import credentials_of, media_words, sdp_facts
from sipsniff.analysis.ladder import Row
from sipsniff.sip.headers import bindings, header_value, header_values
from sipsniff.sip.sdp import Sdp

OTHER_METHODS: Final[dict[str, tuple[str, tuple[Ref, ...]]]] = {
    "OPTIONS": (
        "asks what {dst} supports, or whether it is alive (many phones and proxies "
        "send OPTIONS as a keep-alive ping)",
        sip("11"),
    ),
    "PRACK": (
        "acknowledges a reliable provisional response (its RAck names the RSeq)",
        (Ref(3262, "4"),),
    ),
    "UPDATE": (
        "changes the session (a new offer, or a session-timer refresh) without a re-INVITE",
        (Ref(3311, "5.1"),),
    ),
    "INFO": ("carries application data inside the call (DTMF digits, for one)", (Ref(6086),)),
    "SUBSCRIBE": (
        "asks {dst} to report the state of something (the Event header says what)",
        (Ref(6665, "4.1"),),
    ),
    "NOTIFY": ("reports the state the subscription asked for", (Ref(6665, "4.2"),)),
    "REFER": (
        "asks {dst} to make a call itself, to the Refer-To target: a transfer",
        (Ref(3515, "2"),),
    ),
    "MESSAGE": ("carries an instant message in its body", (Ref(3428, "4"),)),
    "PUBLISH": ("publishes the sender's state (presence, for one) to {dst}", (Ref(3903),)),
}
"""Methods beyond RFC 3261's core: what a request of each does, and where it is defined."""


def explain_request(scene: Scene, k: int) -> tuple[list[Sentence], Facts]:
    row = scene.rows[k]
    method = (row.msg.method or "?").upper()
    facts = sdp_facts(scene.sdp(row), _offer_before(scene, k) if method == "ACK" else None)
    if method == "BYE":
        facts = replace(facts, ended_by=_ended_by(scene, row))
    found = credentials_of(row)
    if found is not None:
        creds = found[1]
        facts = replace(facts, username=creds.username, realm=creds.realm, nonce=creds.nonce)
    if k in scene.relay_of:
        return [_relayed(scene, k)], replace(facts, relayed_by=scene.address(row.src))
    if method == "REGISTER":
        sentences, more = _register(scene, k)
        return sentences, facts.merged(more)
    if method == "INVITE":
        return _invite(scene, k), facts
    if method == "ACK":
        return _ack(scene, k), facts
    if method == "BYE":
        return _bye(scene, k), facts
    if method == "CANCEL":
        return _cancel(scene, k), facts
    phrase, refs = OTHER_METHODS.get(
        method, ("is a request this explainer has no words for", sip("8.1"))
    )
    text = f"{scene.who(row.src)} sends {row.msg.method}: it " + phrase.format(
        dst=scene.who(row.dst)
    )
    out = [Sentence(text, refs)]
    retry = _retry(scene, k)
    if retry is not None:
        out.insert(0, retry)
    return out, facts


# -- REGISTER --------------------------------------------------------------------------------------


def _register(scene: Scene, k: int) -> tuple[list[Sentence], Facts]:
    row = scene.rows[k]
    msg = row.msg
    contacts, expires = bindings(msg.raw)
    client, registrar = scene.who(row.src), scene.who(row.dst)
    aor = msg.to_uri
    facts = Facts(aor=aor)
    if not contacts:
        text = (
            f"{client} asks {registrar} which Contacts are bound to {aor}: a REGISTER without a "
            "Contact is a query"
        )
        refs = sip("10.2.3")
    elif any(c.uri == "*" for c in contacts):
        text = f"{client} asks {registrar} to remove every binding of {aor} (Contact: *)"
        refs = sip("10.2.2")
        facts = Facts(aor=aor, contact="*", expires_asked=0)
    else:
        c = contacts[0]
        asked = c.expires if c.expires is not None else expires
        facts = Facts(aor=aor, contact=c.uri, expires_asked=asked)
        if asked == 0:
            text = (
                f"{client} asks {registrar} to remove the binding of {aor} to {c.uri} (expires 0)"
            )
            refs = sip("10.2.2")
        else:
            how_long = (
                f"for {asked} s"
                if asked is not None
                else "for as long as the registrar likes (no expiry asked; 3600 s is usual)"
            )
            text = (
                f"{client} asks {registrar} to bind the address-of-record {aor} to the Contact "
                f"{c.uri} {how_long}: calls for {aor} will then be sent to that address"
            )
            refs = sip("10.2", "10.2.1.1")
    out = [Sentence(text, refs)]
    retry = _retry(scene, k)
    if retry is not None:
        if _same_binding(scene, k):
            out = [Sentence("It asks for the same binding as before", refs)]
        out.insert(0, retry)
    elif _after_success(scene, k):
        out.insert(
            0,
            Sentence(
                f"A refresh: {scene.short(row.src)} registers again before the binding runs out, "
                f"with the same Call-ID and the next CSeq ({msg.cseq_num})",
                sip("10.2.4"),
            ),
        )
    return out, facts


def _same_binding(scene: Scene, k: int) -> bool:
    """Whether the latest REGISTER before row ``k`` from its sender asked for the same binding."""
    row = scene.rows[k]
    for r in reversed(scene.earlier(k)):
        if r.src == row.src and r.msg.method == row.msg.method:
            return bindings(r.msg.raw) == bindings(row.msg.raw)
    return False


def _after_success(scene: Scene, k: int) -> bool:
    method = scene.rows[k].msg.method
    return any(
        r.msg.status is not None and 200 <= r.msg.status < 300 and r.msg.cseq_method == method
        for r in scene.earlier(k)
    )


# -- credentials after a challenge -----------------------------------------------------------------


def _retry(scene: Scene, k: int) -> Sentence | None:
    """The request sent again after a 401/407: what stays, what changes, the credentials."""
    row = scene.rows[k]
    msg = row.msg
    found = credentials_of(row)
    before = None
    for j in range(k - 1, -1, -1):
        r = scene.rows[j]
        if r.msg.status in (401, 407) and r.dst == row.src and r.msg.cseq_method == msg.method:
            before = r
            break
    if found is None:
        if before is None:
            return None
        return Sentence(
            f"The {msg.method} again after the {before.msg.status}, but without credentials: "
            "the challenge goes unanswered",
            sip("22.2" if before.msg.status == 401 else "22.3"),
        )
    header, creds = found
    first = before is None
    status = 401 if header == "Authorization" else 407
    if first:
        lead = (
            f"It carries {header} before any challenge in this capture: a nonce kept from an "
            "earlier exchange"
        )
    else:
        assert before is not None
        status = before.msg.status or status
        request = scene.request_of(before)
        old_cseq = None if request is None else request.msg.cseq_num
        old_branch = None if request is None else request.msg.branch
        branch = (
            "a new Via branch, so a new transaction"
            if old_branch != msg.branch
            else "the same Via branch (a new transaction should have a new one)"
        )
        cseq = f"CSeq {msg.cseq_num}" + (f" (was {old_cseq})" if old_cseq is not None else "")
        lead = (
            f"The same {msg.method} again after the {status}: the same Call-ID, {cseq}, {branch}; "
            f"now with {header}"
        )
    qop = f", qop {creds.qop} with nc {creds.nc} and a client nonce" if creds.qop else ""
    text = (
        f'{lead}: a digest response for user {creds.username} in realm "{creds.realm}", '
        f"hashed from the password and the nonce{qop} (`sipsniff auth` shows it computed)"
    )
    refs = (*sip("22.2" if status == 401 else "22.3", "8.1.1.7"), Ref(7616, "3.4"))
    return Sentence(text, refs)


# -- INVITE and the requests of a call -------------------------------------------------------------


def _offer_words(scene: Scene, row: Row) -> str:
    sdp = scene.sdp(row)
    live = [] if sdp is None else [m for m in sdp.media if m.port != 0]
    return "; ".join(media_words(m) for m in live) or "no media"


def _invite(scene: Scene, k: int) -> list[Sentence]:
    row = scene.rows[k]
    msg = row.msg
    out: list[Sentence] = []
    retry = _retry(scene, k)
    if retry is not None:
        out.append(retry)
    sender, target = scene.who(row.src), scene.who(row.dst)
    if msg.to_tag:
        media = first_live(scene.sdp(row))
        hold = media is not None and media.direction in ("sendonly", "inactive")
        what = "puts the call on hold" if hold else "changes the session"
        text = f"{sender} sends a re-INVITE inside the established call: it {what}"
        refs = sip("14.1") + ((Ref(3264, "8.4"),) if hold else (Ref(3264, "8"),))
        if row.sdp:
            text += f"; its new offer: {_offer_words(scene, row)}"
        out.append(Sentence(text, refs))
        return out
    if retry is None:
        out.append(
            Sentence(
                f"{sender} invites {msg.to_uri} to a call, sending it to {target}",
                sip("13.2.1"),
            )
        )
    if row.sdp:
        same = _earlier_offer(scene, k)
        if same:
            out.append(Sentence("Its SDP offer is the same as before", (Ref(3264, "5"),)))
        else:
            out.append(
                Sentence(
                    f"Its SDP is the offer: {_offer_words(scene, row)}, codecs in order of "
                    "preference",
                    (Ref(3264, "5"),),
                )
            )
    else:
        out.append(
            Sentence(
                "It carries no SDP: the 2xx will carry the offer and the ACK the answer",
                sip("13.2.1"),
            )
        )
    return out


def _earlier_offer(scene: Scene, k: int) -> bool:
    """Whether an earlier INVITE of the same sender carried the same SDP media."""
    row = scene.rows[k]
    for r in scene.earlier(k):
        if r.src == row.src and r.msg.method == row.msg.method and r.sdp:
            return _offer_words(scene, r) == _offer_words(scene, row)
    return False


def _offer_before(scene: Scene, k: int) -> Sdp | None:
    """The SDP an ACK answers: the latest SDP before it from the other side."""
    row = scene.rows[k]
    for r in reversed(scene.earlier(k)):
        if r.sdp and r.src != row.src:
            return scene.sdp(r)
    return None


def _ack(scene: Scene, k: int) -> list[Sentence]:
    row = scene.rows[k]
    trace = scene.trace
    tx = trace.transactions.get(row.entry.transaction)
    final = None if tx is None or tx.final is None else trace.entries.get(tx.final)
    sender = scene.who(row.src)
    if final is not None and final.msg.status is not None and final.msg.status >= 300:
        return [
            Sentence(
                f"{sender} acknowledges the {final.msg.status} {final.msg.reason or ''}".rstrip()
                + ": the ACK of a failure response belongs to the INVITE's transaction (the same "
                "branch) and stops its retransmissions",
                sip("17.1.1.3"),
            )
        ]
    answer = None
    for r in reversed(scene.earlier(k)):
        if (
            r.msg.status is not None
            and 200 <= r.msg.status < 300
            and r.msg.cseq_num == row.msg.cseq_num
        ):
            answer = r
            break
    after = f", {span(row.ts_ns - answer.ts_ns)} after it" if answer is not None else ""
    out = [
        Sentence(
            f"{sender} confirms it got the 2xx{after}: INVITE, 200 OK, ACK is the three-way "
            "handshake that sets the call up. This ACK is a transaction of its own (a new "
            "branch), sent end to end",
            sip("13.2.2.4", "17.1.1.3"),
        )
    ]
    if row.sdp:
        out.append(
            Sentence(
                f"It carries the SDP answer (the INVITE had no offer): {_offer_words(scene, row)}",
                (Ref(3264, "6"), *sip("13.2.1")),
            )
        )
    return out


def _ended_by(scene: Scene, row: Row) -> str:
    tag = scene.caller_tag()
    return "caller" if tag is not None and row.msg.from_tag == tag else "callee"


def _bye(scene: Scene, k: int) -> list[Sentence]:
    row = scene.rows[k]
    timing = scene.timing
    side = _ended_by(scene, row)
    sender = scene.who(row.src)
    if timing.answered is None:
        return [
            Sentence(
                f"{sender} ({'the caller' if side == 'caller' else 'the callee'}) sends BYE before "
                "any 2xx: it ends an early dialog and gives the call up, as a CANCEL would",
                sip("15"),
            )
        ]
    lasted = row.ts_ns - timing.answered[1].msg.ts_ns
    return [
        Sentence(
            f"{sender}, the {side}, hangs up: BYE ends the call, {span(lasted)} after the 2xx "
            "answered it",
            sip("15.1.1"),
        )
    ]


def _cancel(scene: Scene, k: int) -> list[Sentence]:
    row = scene.rows[k]
    msg = row.msg
    rang = scene.timing.rang
    ringing = f" after {span(row.ts_ns - rang[1].msg.ts_ns)} of ringing" if rang else ""
    return [
        Sentence(
            f"{scene.who(row.src)} gives up before an answer{ringing}: the CANCEL asks "
            f"{scene.who(row.dst)} to stop the pending INVITE. It has the INVITE's Call-ID, CSeq "
            f"number ({msg.cseq_num}) and Via branch, so it matches that INVITE's transaction",
            sip("9.1"),
        )
    ]


# -- a proxy passes a request on -------------------------------------------------------------------


def _relayed(scene: Scene, k: int) -> Sentence:
    row = scene.rows[k]
    origin = scene.rows[scene.origin(k)]
    before = scene.rows[scene.relay_of[k]]
    msg = row.msg
    method = msg.method or "?"
    vias = len(header_values(msg.raw, "Via"))
    changes = [f"puts its own Via on top ({vias} Via now)"]
    old_mf, new_mf = (
        header_value(before.msg.raw, "Max-Forwards"),
        header_value(msg.raw, "Max-Forwards"),
    )
    if old_mf and new_mf and old_mf != new_mf:
        changes.append(f"lowers Max-Forwards from {old_mf} to {new_mf}")
    if header_value(msg.raw, "Record-Route") and not header_value(before.msg.raw, "Record-Route"):
        changes.append("adds a Record-Route to stay on the path of the call's later requests")
    refs = sip("16.10") if method.upper() == "CANCEL" else sip("16.6")
    whose = "" if origin.src == row.src else f"{scene.short(origin.src)}'s "
    return Sentence(
        f"{scene.who(row.src)} passes {whose}{method} on to {scene.who(row.dst)}: it "
        + ", ".join(changes),
        refs,
    )
