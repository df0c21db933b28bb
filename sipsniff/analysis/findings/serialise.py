"""Findings and peer rows as JSON-ready values: what ``stats -f json`` writes under ``findings``
and ``peers`` (docs/stats.md)."""

from __future__ import annotations

from typing import Any

from sipsniff.analysis.findings.model import Finding
from sipsniff.analysis.findings.peers import PeerRow


def finding_dict(f: Finding) -> dict[str, Any]:
    """A finding as JSON-ready values."""
    return {
        "severity": f.severity,
        "kind": f.kind,
        "dialog": f.dialog,
        "frames": list(f.frames),
        "summary": f.summary,
        "advice": f.advice,
        "dialogs": list(f.dialogs),
    }


def peer_dict(p: PeerRow) -> dict[str, Any]:
    """A peer row as JSON-ready values (times in milliseconds)."""

    def ms(ns: int | None) -> float | None:
        return None if ns is None else round(ns / 1e6, 3)

    return {
        "peer": str(p.peer),
        "ip": p.peer.ip,
        "port": p.peer.port,
        "requests": p.requests,
        "replied": p.replied,
        "attempts": p.attempts,
        "answered": p.answered,
        "asr": None if p.asr is None else round(p.asr, 1),
        "avg_reply_ms": ms(p.avg_reply_ns),
        "avg_pdd_ms": ms(p.avg_pdd_ns),
        "failures": {str(k): v for k, v in sorted(p.failures.items())},
    }
