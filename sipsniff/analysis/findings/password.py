"""``wrong-password`` and ``guessed-password``: one user's credentials refused again and again.

How this works. For one username, realm and source address, the attempts of ``analysis.auth`` are
read in capture order, across the parts of a capture: credentials refused (a 401/407 to credentials
that answered the latest challenge with its nonce, or a 403 to credentials that got no further)
make a run; a challenge with ``stale=true`` is no refusal; credentials accepted, or an attempt
with any other outcome, close it. A run is told at the dialog of its refusals (capture-wide when
they span dialogs).

Severity policy: ``wrong-password`` is an error, a warning when credentials of that user were
accepted afterwards (a typo, then the right password); ``guessed-password`` (accepted after
``GUESS_AFTER`` refusals or more, all within ``GUESS_WINDOW_NS``) is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from sipsniff.analysis.auth import ACCEPTED, REJECTED, STALE
from sipsniff.analysis.findings.context import Context
from sipsniff.analysis.findings.detector import Detector
from sipsniff.analysis.findings.model import ERROR, WARNING, Finding, new_finding

GUESS_AFTER: Final = 3
GUESS_WINDOW_NS: Final = 60_000_000_000
"""Refusals of one user, then a success, all within ``GUESS_WINDOW_NS``: a guessed password."""


@dataclass(slots=True)
class _Run:
    """Refusals in a row of one user, realm and source."""

    first_ts_ns: int
    dialog: int
    """``Dialog.id`` of the first refusal."""
    several: bool = False
    """Refusals in more than one dialog."""
    refusals: int = 0
    codes: dict[str, None] = field(default_factory=dict)
    frames: set[int] = field(default_factory=set)
    dialogs: set[int] = field(default_factory=set)
    """``Dialog.id`` of every dialog with a refusal of the run."""


@dataclass(frozen=True, slots=True)
class _Accepted:
    """Credentials of a run's user accepted: what ends the run."""

    frame: int
    outcome_frame: int | None
    ts_ns: int
    dialog: int
    """Its ``Dialog.id``."""


class Passwords(Detector):
    """Wrong-password loops and successes after many refusals, per user, realm and source,
    across the parts of a capture (attempts in capture order within each part)."""

    kinds = ("wrong-password", "guessed-password")

    def __init__(self) -> None:
        self.runs: dict[tuple[str, str, str], _Run] = {}

    def add(self, ctx: Context) -> None:
        trace = ctx.trace
        for a in ctx.auth.attempts:
            if a.repeats_frame is not None:
                continue
            c = a.credentials
            src = trace.entries[a.entry].src.ip
            key = (c.username or "", c.realm or "", src)
            number = trace.dialogs[a.dialog].id
            if a.outcome_label == ACCEPTED:
                self.close(key, _Accepted(a.frame, a.outcome_frame, a.ts_ns, number), ctx.out)
            elif a.outcome_label in REJECTED and a.first_answer:
                run = self.runs.get(key)
                if run is None:
                    run = self.runs[key] = _Run(a.ts_ns, number)
                elif run.dialog != number:
                    run.several = True
                run.refusals += 1
                run.codes[str(a.outcome)] = None
                run.dialogs.add(number)
                run.frames.add(a.frame)
                if a.outcome_frame is not None:
                    run.frames.add(a.outcome_frame)
            elif a.outcome_label == STALE:
                continue
            elif a.outcome_label not in REJECTED and key in self.runs:
                self.close(key, None, ctx.out)

    def finish(self, out: list[Finding]) -> None:
        for key in list(self.runs):
            self.close(key, None, out)

    def close(self, key: tuple[str, str, str], ok: _Accepted | None, out: list[Finding]) -> None:
        """End the run of ``key`` (if any) and tell it; ``ok``: the acceptance that ended it."""
        run = self.runs.pop(key, None)
        if run is None:
            return
        n = run.refusals
        user, realm, src = key
        frames = set(run.frames)
        dialogs = set(run.dialogs)
        if ok is not None:
            dialogs.add(ok.dialog)  # cited, but the finding is where the refusals were
        where = None if run.several else run.dialog
        if ok is not None and n >= GUESS_AFTER and ok.ts_ns - run.first_ts_ns <= GUESS_WINDOW_NS:
            frames.update({ok.frame} | ({ok.outcome_frame} if ok.outcome_frame else set()))
            out.append(
                new_finding(
                    ERROR,
                    "guessed-password",
                    where,
                    frames,
                    f"{user}@{realm} from {src} accepted (f{ok.frame}) after {n} refusals",
                    "Assume the password was guessed: change it and block the source.",
                    dialogs,
                )
            )
            return
        codes = "/".join(run.codes)
        times = "once" if n == 1 else f"{n}× in a row"
        out.append(
            new_finding(
                WARNING if ok is not None else ERROR,
                "wrong-password",
                where,
                frames,
                f"{user}@{realm} from {src}: credentials refused {times} ({codes})"
                + (f", then accepted (f{ok.frame})" if ok is not None else ""),
                "Fix the password (or username / realm) on the client; check for a locked account.",
                dialogs,
            )
        )
