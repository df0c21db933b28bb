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

from typing import TYPE_CHECKING

from sipsniff.analysis.explain.model import (
    DialogExplanation,
    Facts,
    HeaderNote,
    Ref,
    RowExplanation,
    Sentence,
)

if TYPE_CHECKING:
    from sipsniff.analysis.auth import AuthReport
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
    # Loaded when first asked (read --explain, the browser's explanations): the rest of the
    # package is a tenth of the start-up time of every command otherwise.
    from sipsniff.analysis.explain.dialog import explain_dialog

    return explain_dialog(trace, ladder, auth, full=full)


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
