"""The call list written without rich (a console without colour) against the same list printed by
rich: the same characters at every width, for real captures and for names that are wide, of no
width, or hostile."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from sipsniff.analysis.report import TraceReport
from sipsniff.model import Trace
from sipsniff.render.base import UNBOUNDED, RenderOptions
from sipsniff.render.terminal import TerminalRenderer, calllist
from tests.builders import T0, UA_A, UA_B, S, capture, evil_packets, sip_text, write_pcap

CAPTURES = Path(__file__).parents[2] / "captures"

NAMES = (
    "山田太郎 and 鈴木花子 of 株式会社",
    "e\u0301\u0301\u0301\u0301\u0301\u0301\u0301\u0301\u0301\u0301\u0301\u0301\u0301\u0301 ",
    "🎉🎉🎉Zoë the party phone",
    "x" * 90,
)


def _odd_trace(tmp_path: Path) -> Trace:
    """Dialogs whose From names are double width, zero width (combining marks), emoji, long."""
    packets = [
        (
            T0 + k * S,
            UA_A,
            UA_B,
            sip_text(
                f"{method} sip:bob@example.com SIP/2.0",
                [
                    f"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-{k}",
                    f'From: "{name}" <sip:{name.split()[0]}@example.com>;tag={k}',
                    f"To: <sip:bob@{'b' * 10 * k}.example.com>",
                    f"Call-ID: odd-{k}",
                    f"CSeq: 1 {method}",
                ],
            ),
        )
        for k, (name, method) in enumerate(
            zip(NAMES, ("INVITE", "MESSAGE", "SUBSCRIBE", "X" * 30), strict=True)
        )
    ]
    return capture(write_pcap(tmp_path / "odd.pcap", [*packets, *evil_packets()]))


def _written(report: TraceReport, width: int, *, record: bool) -> str:
    # A recording console is printed to by rich itself; the other takes the plain path.
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, record=record)
    TerminalRenderer().write(report, RenderOptions(view="list"), console)
    return out.getvalue()


@pytest.mark.parametrize(
    "source", ["odd", *sorted(p.name for p in CAPTURES.glob("*.pcap"))], ids=str
)
def test_plain_call_list_is_what_rich_prints(source: str, tmp_path: Path) -> None:
    trace = _odd_trace(tmp_path) if source == "odd" else capture(CAPTURES / source)
    report = TraceReport(trace, list(trace.dialogs.values()), by_host=False, whole=True)
    for width in [*range(1, 140), 200, UNBOUNDED]:
        plain = _written(report, width, record=False)
        assert plain == _written(report, width, record=True), width
        assert plain.count("\n") >= len(trace.dialogs) + 2


def test_the_odd_names_are_in_the_list(tmp_path: Path) -> None:
    """The comparison above meets what it is there for: wide, zero-width and cut names."""
    trace = _odd_trace(tmp_path)
    report = TraceReport(trace, list(trace.dialogs.values()), by_host=False, whole=True)
    wide = _written(report, UNBOUNDED, record=False)
    assert "山田太郎" in wide and "\u0301" in wide and "🎉" in wide
    assert "…" in _written(report, 60, record=False)


def test_plain_call_list_made_a_few_rows_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Made in batches of rows (two here, 4096 on a big capture), the lines are the same."""
    trace = _odd_trace(tmp_path)
    report = TraceReport(trace, list(trace.dialogs.values()), by_host=False, whole=True)
    whole = {width: _written(report, width, record=False) for width in (40, 100, UNBOUNDED)}
    monkeypatch.setattr(calllist, "_ROWS", 2)
    assert len(trace.dialogs) > 4
    for width, text in whole.items():
        assert _written(report, width, record=False) == text
