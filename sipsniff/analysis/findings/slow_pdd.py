"""``slow-pdd``: a call whose post-dial delay is over ``SLOW_PDD_NS``.

How this works. The delay is measured as ``stats`` measures it (``analysis.stats.call_timing``):
from the INVITE that went through (the caller's INVITE whose transaction got the first 18x, from
its first copy: after a challenge, the one with credentials) to that 18x. The caller's own pause
before answering a challenge is not the network's delay.

Severity policy: always a warning.
"""

from __future__ import annotations

from typing import Final

from sipsniff.analysis.findings.context import Context, secs
from sipsniff.analysis.findings.detector import Detector
from sipsniff.analysis.findings.model import WARNING
from sipsniff.analysis.stats import timing
from sipsniff.model import Dialog

SLOW_PDD_NS: Final = 3_000_000_000
"""Post-dial delay (INVITE to first 18x) above which a call is reported slow."""


class SlowPdd(Detector):
    """Calls that rang late."""

    kinds = ("slow-pdd",)

    def check(self, ctx: Context, d: Dialog) -> None:
        # The INVITE and its 18x are both within the dialog's span: a dialog that lasted no
        # longer than the bound rang in time (and its timing need not be worked out).
        if not d.call or d.end_ns - d.start_ns <= SLOW_PDD_NS:
            return
        rang = timing(ctx.part, d).rang
        if rang is None:
            return
        invite, ringing = rang[0], rang[1]
        pdd = ringing.ts_ns - invite.ts_ns
        if pdd > SLOW_PDD_NS:
            ctx.add(
                WARNING,
                "slow-pdd",
                d,
                {invite.frame, ringing.frame},
                f"post-dial delay {secs(pdd)}: from the INVITE that went through "
                f"(f{invite.frame}) to {ringing.status} (f{ringing.frame})",
                "Look for slow DNS, routing retries or a slow trunk on the way.",
            )
