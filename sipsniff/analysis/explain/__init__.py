"""Learn mode (``read --explain``): each message of a dialog told in plain words, why it is there in
this capture, with the RFC sections it rests on, and a paragraph of what happened above the ladder.

How this works. ``explain`` takes a dialog's ``Ladder`` (so that its explanations match the arrows
one for one) and names the parties once (``scene.Scene``: client, proxies, callee or registrar).
Each row is then told from what the capture holds, not from a text per method: the request of a
response, the challenge a retry answers, the offer an answer answers, the expiry asked and granted,
the Via a registrar annotated, the copies of a message and the timer that sent them
(``requests``, ``responses``, ``words``). The headers a learner meets are told once per dialog
where they first matter, or every header of every message with ``full`` (``headers``). The
paragraph (``story``) tells the dialog's verdict, the same state and outcome as the call list
(``correlate.states``), with the facts of its rows; the credentials come from ``analysis.auth``,
the call's timing from ``analysis.stats.call_timing``, the meaning of a failure code from the
findings' ``causes``: explanations and findings say the same things.

Every sentence comes with its facts as values (``Facts``): the tests read them back and compare
them with the capture (and tshark).
"""

from __future__ import annotations

from dataclasses import replace

from sipsniff.analysis.auth import AuthReport
from sipsniff.analysis.explain import headers
from sipsniff.analysis.explain.model import (
    DialogExplanation,
    Facts,
    HeaderNote,
    Ref,
    RowExplanation,
    Sentence,
)
from sipsniff.analysis.explain.requests import explain_request
from sipsniff.analysis.explain.responses import explain_response
from sipsniff.analysis.explain.scene import Scene
from sipsniff.analysis.explain.story import story
from sipsniff.analysis.explain.words import resent, via_nat
from sipsniff.analysis.ladder import Ladder
from sipsniff.model import Trace

LEVELS = ("brief", "full")
"""``read --explain`` levels: ``brief`` tells the headers a learner meets once per dialog, ``full``
every header of every message."""


def explain(
    trace: Trace, ladder: Ladder, auth: AuthReport, *, full: bool = False
) -> DialogExplanation:
    """The explanation of ``ladder``'s dialog, a row for each of its rows.

    Args:
        auth: the digest analysis of ``trace`` (``analysis.auth.analyze``).
        full: explain every header of every message (else the headers a learner meets, once).
    """
    scene = Scene(trace, ladder, auth)
    taught: set[str] = set()
    nat_row = _nat_row(scene)
    rows: list[RowExplanation] = []
    for k, row in enumerate(scene.rows):
        if row.msg.status is None:
            sentences, facts = explain_request(scene, k)
        else:
            sentences, facts = explain_response(scene, k)
        again = resent(scene, row)
        if again is not None:
            sentences.append(again[0])
            facts = replace(facts, timer=again[1])
        if k == nat_row:
            nat = via_nat(scene, row)
            if nat is not None:
                sentences.append(nat[0])
                facts = replace(facts, received=nat[1], rport=nat[2])
        sentences = [_capital(s) for s in sentences]
        notes = headers.every(row.msg) if full else headers.brief(row.msg, taught)
        rows.append(RowExplanation(row.entry.id, tuple(sentences), tuple(notes), facts))
    summary, facts = story(scene, rows)
    return DialogExplanation(ladder.dialog.id, _capital(summary), tuple(rows), facts)


def _capital(sentence: Sentence) -> Sentence:
    """A sentence that starts with words of ours starts with a capital (packet text, a user
    name, is left as it is)."""
    if sentence.text.startswith(("the ", "a ")):
        return replace(sentence, text=sentence.text[0].upper() + sentence.text[1:])
    return sentence


def _nat_row(scene: Scene) -> int | None:
    """The row whose Via ``received``/``rport`` is told: the 2xx to a REGISTER when it has them,
    else the first response that has them."""
    first = None
    for k, row in enumerate(scene.rows):
        if row.msg.status is None or k in scene.relay_of or via_nat(scene, row) is None:
            continue
        if row.msg.cseq_method.upper() == "REGISTER" and 200 <= row.msg.status < 300:
            return k
        if first is None:
            first = k
    return first


__all__ = [
    "LEVELS",
    "DialogExplanation",
    "Facts",
    "HeaderNote",
    "Ref",
    "RowExplanation",
    "Sentence",
    "explain",
]
