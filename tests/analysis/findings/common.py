"""Helpers of the findings tests: the findings of a capture as rows, one finding by kind."""

from __future__ import annotations

from pathlib import Path

from sipsniff.analysis.findings import Finding, Findings, findings
from sipsniff.pipeline import read_trace

Row = tuple[str, str, int | None, tuple[int, ...]]


def rows(path: Path) -> list[Row]:
    return [(f.severity, f.kind, f.dialog, f.frames) for f in findings(read_trace([str(path)]))]


def one(found: Findings, kind: str, dialog: int | None) -> Finding:
    match = [f for f in found if f.kind == kind and f.dialog == dialog]
    assert len(match) == 1, match
    return match[0]
