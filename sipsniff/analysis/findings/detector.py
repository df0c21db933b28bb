"""What a detector is: one rule of docs/findings.md, fed the parts of a capture one at a time.

How this works. ``FindingsBuilder`` makes one of each detector of ``registry.DETECTORS`` per
capture, and gives each part of the capture (a trace of dialogs that are over) to every detector's
``add``, then calls every detector's ``finish`` once, after the last part:

* a rule about one dialog overrides ``check``: ``add`` calls it for each dialog of the part, and it
  tells its findings with ``Context.add``;
* a rule across dialogs (passwords, scanners, dead hops, NAT) overrides ``add`` and keeps, per
  source or destination, what it needs to decide (not the messages), and tells its findings in
  ``finish``: only then is the capture over;
* a detector whose finding already tells others' findings (a scanner's, the failures of the users
  it tried) says which in ``covers``: they are left out of the result.

A check of one dialog starts from ``Context.shape`` (one pass over the dialog's messages, shared
by the checks) and returns at once when the dialog has nothing for it: most dialogs of a big
capture have nothing for any check, and a new check should keep it so, with a flag of ``Shape``
that is exactly its own first condition.
"""

from __future__ import annotations

from typing import ClassVar

from sipsniff.analysis.findings.context import Context
from sipsniff.analysis.findings.model import Finding
from sipsniff.model import Dialog


class Detector:
    """One rule; subclasses override ``check``, or ``add`` and ``finish``."""

    kinds: ClassVar[tuple[str, ...]] = ()
    """The kinds of finding it reports, in the order docs/findings.md lists them; a kind comes
    from one detector only."""

    def add(self, ctx: Context) -> None:
        """Take one part of the capture: ``check`` each of its dialogs."""
        for d in ctx.trace.dialogs.values():
            self.check(ctx, d)

    def check(self, ctx: Context, d: Dialog) -> None:
        """Tell the findings of one dialog (``ctx.add``)."""

    def finish(self, out: list[Finding]) -> None:
        """After the last part: add to ``out`` what waited for the end of the capture."""

    def covers(self, f: Finding, client: str | None) -> bool:
        """Whether another detector's ``f`` is already told by a finding of this one (``client``:
        the source address of ``f``'s dialog's requests; None for a finding about the capture)."""
        return False
