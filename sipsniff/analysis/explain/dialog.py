"""The explanation of one dialog (``analysis.explain.explain``, which imports this module when it
is first asked: the commands that explain nothing do not load it)."""

from __future__ import annotations

from dataclasses import replace

from sipsniff.analysis.auth import AuthReport
from sipsniff.analysis.explain import headers
from sipsniff.analysis.explain.model import DialogExplanation, RowExplanation, Sentence
from sipsniff.analysis.explain.requests import explain_request
from sipsniff.analysis.explain.responses import explain_response
from sipsniff.analysis.explain.scene import Scene
from sipsniff.analysis.explain.story import story
from sipsniff.analysis.explain.words import resent, via_nat
from sipsniff.analysis.ladder import Ladder
from sipsniff.model import Trace


def explain_dialog(
    trace: Trace, ladder: Ladder, auth: AuthReport, *, full: bool = False
) -> DialogExplanation:
    """``analysis.explain.explain``, which says what the arguments are."""
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
