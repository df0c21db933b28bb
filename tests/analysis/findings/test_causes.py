"""``findings.causes``: the table of causes stays short enough for one line."""

from __future__ import annotations

import pytest

from sipsniff.analysis.findings import CAUSES


@pytest.mark.parametrize("code", [401, 403, 404, 407, 408, 480, 486, 487, 488, 500, 503, 603])
def test_causes_short(code: int) -> None:
    if code in (401, 407):
        assert code not in CAUSES  # told by the auth kinds
        return
    cause, advice = CAUSES[code]
    assert len(cause) <= 70 and len(advice) <= 100
