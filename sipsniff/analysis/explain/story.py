"""The "what happened" paragraph above a dialog's ladder: its verdict (``Dialog.state`` and
``outcome``, from ``correlate.states``: the call list's own) told with the facts of its messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sipsniff.analysis.explain.model import Facts, RowExplanation, Sentence, sip
from sipsniff.analysis.explain.scene import Scene, span
from sipsniff.correlate import states


def story(scene: Scene, rows: Sequence[RowExplanation]) -> tuple[Sentence, Facts]:
    """The paragraph, and the dialog's facts gathered from its rows."""
    facts = Facts()
    for r in rows:
        facts = facts.merged(r.facts)
    facts = _dialog_facts(scene, rows, facts)
    if scene.client is None:
        return Sentence(
            "The capture holds only responses of this dialog: its request was not captured",
            sip("8.2.6"),
        ), facts
    if scene.register:
        return _registration(scene, facts), facts
    if scene.dialog.call:
        return _call(scene, facts), facts
    return _other(scene), facts


def _dialog_facts(scene: Scene, rows: Sequence[RowExplanation], facts: Facts) -> Facts:
    """The facts that describe the dialog as a whole: the last granted expiry, the answer's codec,
    the first BYE's sender."""
    granted = [r.facts.expires_granted for r in rows if r.facts.expires_granted is not None]
    codec = next((r.facts.codec for r in rows if r.facts.codec), None)
    ended = scene.timing.ended_by if scene.dialog.call else None
    return replace(
        facts,
        expires_granted=granted[-1] if granted else None,
        codec=codec,
        ended_by=ended,
        relayed_by=None,
        timer=None,
    )


ORDINALS = ("", "first", "second", "third", "fourth", "fifth", "sixth")


def _count(rows: Scene, method: str, src: int) -> int:
    return sum(
        1
        for k, r in enumerate(rows.rows)
        if r.msg.method == method and r.src == src and k not in rows.relay_of
    )


def _challenges(scene: Scene) -> list[int]:
    return [r.msg.status or 0 for r in scene.rows if r.msg.status in (401, 407)]


def _registration(scene: Scene, facts: Facts) -> Sentence:
    assert scene.client is not None
    d = scene.dialog
    client = scene.who(scene.client)
    server = scene.who(scene.server if scene.server is not None else scene.rows[0].dst)
    aor = facts.aor or d.to_uri
    tries = _count(scene, scene.rows[0].msg.method or "REGISTER", scene.client)
    challenged = _challenges(scene)
    parts = [f"{client} registered {aor} with {server}"]
    if d.outcome == states.UNREGISTERED:
        parts = [f"{client} removed its registration of {aor} from {server}"]
    elif d.outcome in (states.REGISTERED,):
        if challenged and tries > 1:
            nth = ORDINALS[tries] if tries < len(ORDINALS) else f"number {tries}"
            parts.append(
                f"{scene.short(scene.server if scene.server is not None else 0)} challenged the "
                f"first attempt ({challenged[0]}) and accepted the {nth}"
            )
        if facts.expires_granted is not None:
            lasts = f"the binding lasts {facts.expires_granted} s"
            if facts.expires_asked is not None and facts.expires_granted < facts.expires_asked:
                lasts += f", not the {facts.expires_asked} s asked for"
            parts.append(lasts)
    else:
        parts = [f"{client} tried to register {aor} with {server}"]
        parts.append(_ending(scene))
    return Sentence("; ".join(parts), sip("10"))


def _ending(scene: Scene) -> str:
    """How a dialog that did not succeed ended, in words: its outcome and last response."""
    last = next((r for r in reversed(scene.rows) if r.msg.status is not None), None)
    code = "" if last is None else f" ({last.msg.status} {last.msg.reason or ''}".rstrip() + ")"
    endings: dict[str, str] = {
        states.AUTH_FAILED_OUTCOME: f"the credentials were refused{code}",
        states.CHALLENGED_OUTCOME: f"it was challenged{code} and never answered with credentials",
        states.NO_RESPONSE_OUTCOME: "no final response came",
        states.IN_PROGRESS: "the capture ends before a final response",
        states.FAILED_OUTCOME: f"it was refused{code}",
    }
    return endings.get(scene.dialog.outcome, f"it ended {scene.dialog.state}{code}")


def _call(scene: Scene, facts: Facts) -> Sentence:
    d = scene.dialog
    t = scene.timing
    assert scene.client is not None
    caller = scene.who(scene.client)
    callee = scene.who(scene.server) if scene.server is not None else d.to_uri
    parts = [f"{caller} called {callee}"]
    if scene.proxies:
        parts[0] += " through " + ", ".join(scene.who(p) for p in sorted(scene.proxies))
    challenged = _challenges(scene)
    if challenged:
        parts.append(
            f"the first INVITE was challenged ({challenged[0]}) and sent again with credentials"
        )
    if t.rang is not None:
        parts.append(f"it rang after {span(t.rang[1].msg.ts_ns - t.rang[0].msg.ts_ns)}")
    outcome = d.outcome
    short_callee = callee.split(" (")[0]
    if t.answered is not None:
        parts.append(
            f"{short_callee} answered {span(t.answered[1].msg.ts_ns - t.answered[0].msg.ts_ns)} "
            "after the INVITE" + (f" with {facts.codec}" if facts.codec else "")
        )
        if t.bye is not None:
            lasted = span(t.bye.msg.ts_ns - t.answered[1].msg.ts_ns)
            who = caller.split(" (")[0] if t.ended_by == "caller" else short_callee
            parts.append(f"after {lasted} {who} (the {t.ended_by}) hung up")
        else:
            parts.append("the capture ends during the call (no BYE)")
    elif outcome == states.CANCELLED_OUTCOME:
        parts.append(f"{caller.split(' (')[0]} gave up before an answer (CANCEL, then 487)")
    elif outcome == states.BUSY:
        parts.append(f"{short_callee} was busy ({t.status})")
    elif outcome == states.NO_ANSWER:
        parts.append(f"nobody answered ({t.status})")
    elif outcome in (states.REJECTED_OUTCOME, states.REDIRECTED):
        parts.append(
            f"the call was {'redirected' if outcome == states.REDIRECTED else 'refused'} ({t.status})"
        )
    else:
        parts.append(_ending(scene))
    return Sentence("; ".join(parts), sip("13", "15"))


def _other(scene: Scene) -> Sentence:
    assert scene.client is not None
    first = scene.rows[0].msg
    method = first.method or "?"
    sender = scene.who(scene.client)
    target = scene.who(scene.server) if scene.server is not None else str(first.dst)
    final = next(
        (
            r
            for r in scene.rows
            if r.msg.status is not None and r.msg.status >= 200 and r.msg.cseq_method == method
        ),
        None,
    )
    said = (
        "no final response came"
        if final is None
        else f"it was answered {final.msg.status} {final.msg.reason or ''}".rstrip()
    )
    return Sentence(f"{sender} sent {method} to {target}; {said}", sip("8"))
