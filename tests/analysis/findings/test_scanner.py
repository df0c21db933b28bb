"""``findings.scanner``: a toll-fraud probe, its own dialogs folded into its finding."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from sipsniff.analysis.findings import findings
from sipsniff.analysis.findings.scanner import _Window
from sipsniff.pipeline import read_trace


def test_scanner_like(corpus: Path) -> None:
    found = findings(read_trace([str(corpus / "ipip0.pcap")]))
    # The prober's own dialogs (its unanswered INVITE, the 403 to the other) are the probe: told
    # once, by the scanner finding. 5.148.125.101 got one challenge (f4, the normal first step)
    # and had its credentials refused twice: a wrong password, not yet a burst of guesses.
    assert [(f.severity, f.kind, f.dialog, f.frames) for f in found] == [
        ("error", "wrong-password", 3, (5, 6, 7, 8)),
        ("warning", "scanner", None, (1, 2)),  # toll-fraud probe
    ]
    (probe,) = found.capture
    assert probe.summary == (
        "179.43.150.26 calls +3908351673002 at bare IP addresses (2 INVITEs, none answered): "
        "a toll-fraud probe"
    )
    assert probe.dialogs == (1, 2)


_TRIES = st.lists(
    st.tuples(
        st.integers(0, 200).map(lambda s: s * 1_000_000_000),
        st.sampled_from("abcd"),  # 4 users: never a scan, the fast path's case
        st.integers(1, 10_000),
        st.integers(1, 100),
    ),
    max_size=30,
)


@given(st.lists(_TRIES, min_size=1, max_size=4))
def test_window_extend_is_add_one_by_one(parts: list[list[tuple[int, str, int, int]]]) -> None:
    """Tries of fewer users than a scan, given a part of the capture at a time (parts late ones
    too): ``_Window.extend`` leaves the window as ``add`` of each, and ``add`` never said scan."""
    one, many = _Window(), _Window()
    for part in parts:
        part = sorted(part)
        assert not any(one.add(*item) for item in part)
        many.extend(part)
        assert sorted(many.tries) == sorted(one.tries)
        assert +many.users == +one.users
