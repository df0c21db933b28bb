"""The values every detector makes: a ``Finding``, the ranked ``Findings`` of a trace, severities."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final

ERROR: Final = "error"
WARNING: Final = "warning"
INFO: Final = "info"
SEVERITIES: Final = (ERROR, WARNING, INFO)
"""Most severe first: the order findings are ranked in."""
RANK: Final = {s: i for i, s in enumerate(SEVERITIES)}
"""Severity -> its place in ``SEVERITIES`` (0: the most severe)."""


def lower(severity: str) -> str:
    """The next severity down (info stays info)."""
    return SEVERITIES[min(RANK[severity] + 1, len(SEVERITIES) - 1)]


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing that went wrong (or is worth knowing), with its evidence."""

    severity: str
    """``error``, ``warning`` or ``info``."""
    kind: str
    """``failure``, ``no-answer``, ``wrong-password``... (see the package's docstring)."""
    dialog: int | None
    """The dialog it is about; None for a finding about the whole capture."""
    frames: tuple[int, ...]
    """The frames that show it, ascending (numbers in the input file)."""
    summary: str
    """One short line with the evidence. Text from packets: clean it before a terminal."""
    advice: str
    """One line of what to do."""
    dialogs: tuple[int, ...] = ()
    """Every dialog it concerns, ascending: ``(dialog,)`` for a finding about one dialog; for one
    about the whole capture, the dialogs whose messages it cites (a selection shows it when it
    concerns a selected dialog)."""


def new_finding(
    severity: str,
    kind: str,
    dialog: int | None,
    frames: Iterable[int],
    summary: str,
    advice: str,
    dialogs: Iterable[int] = (),
) -> Finding:
    """A finding about ``dialog`` (a ``Dialog.id``), or about the capture (None) citing
    ``dialogs``."""
    about = (dialog,) if dialog is not None else tuple(sorted(set(dialogs)))
    return Finding(severity, kind, dialog, tuple(sorted(set(frames))), summary, advice, about)


@dataclass(slots=True)
class Findings:
    """Every finding of a trace, most severe first (then capture-wide, then by dialog)."""

    items: list[Finding] = field(default_factory=list)

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def of_dialog(self, index: int) -> list[Finding]:
        """The findings about one dialog, ranked."""
        return [f for f in self.items if f.dialog == index]

    @property
    def capture(self) -> list[Finding]:
        """The findings about the capture as a whole (dialog None), ranked."""
        return [f for f in self.items if f.dialog is None]

    @property
    def by_dialog(self) -> dict[int, list[Finding]]:
        out: dict[int, list[Finding]] = {}
        for f in self.items:
            if f.dialog is not None:
                out.setdefault(f.dialog, []).append(f)
        return out

    def counts(self) -> dict[str, int]:
        """Findings by severity, every severity present (0 when none)."""
        c = Counter(f.severity for f in self.items)
        return {s: c[s] for s in SEVERITIES}

    def about(self, dialogs: Iterable[int] | None) -> list[Finding]:
        """The findings that concern any of ``dialogs`` (all of them when None), ranked: those of
        these dialogs and those about the capture that cite one of them."""
        if dialogs is None:
            return list(self.items)
        chosen = set(dialogs)
        return [f for f in self.items if not chosen.isdisjoint(f.dialogs)]
