"""The renderers of ``stats`` (render/stats.py), on reports that analysis made."""

from __future__ import annotations

import io
import json

from rich.console import Console

from sipsniff.analysis.select import Selection
from sipsniff.analysis.summary import StatsReport, Summary
from sipsniff.model import Trace
from sipsniff.pipeline import read_trace
from sipsniff.render.base import STATS_RENDERERS, StatsOptions
from sipsniff.render.stats import STATS_SCHEMA, stats_document
from tests.conftest import CAPTURES

LOSSY = CAPTURES / "calls-lossy.pcap"
B2BUA = CAPTURES / "scenarios" / "feature-b2bua.pcap"


def report_of(path: str) -> StatsReport:
    summary = Summary(Selection(), rtp=False)
    trace = read_trace([path], summarize=summary.add)
    summary.add(trace)
    return summary.report(trace, top=10)


def test_json_document_is_the_report() -> None:
    report = report_of(str(LOSSY))
    out = io.StringIO()
    STATS_RENDERERS["json"]().write(report, StatsOptions(), out)
    doc = json.loads(out.getvalue())
    assert doc == json.loads(json.dumps(stats_document(report)))
    assert doc["schema"] == STATS_SCHEMA == "sipsniff-stats/2"
    assert "rtp_streams" not in doc  # only with --rtp
    assert len(doc["peers"]) == len(report.peers) == 1
    spread, pdd = doc["calls"]["post_dial_delay"], report.stats.post_dial_delay
    assert pdd.p50 is not None
    assert spread["count"] == pdd.count == 5 and spread["p50"] == pdd.p50 / 1e9


def test_text_shows_top_peers_only() -> None:
    report = report_of(str(B2BUA))

    def text(top: int) -> list[str]:
        out = io.StringIO()
        console = Console(file=out, width=100, color_system=None)
        STATS_RENDERERS["text"]().write(report, StatsOptions(top=top), console)
        return out.getvalue().splitlines()

    full = text(10)
    peers = full[full.index("Peers (by destination)") + 2 :]
    assert len(peers) == len(report.peers) == 4
    assert text(1)[-1] == peers[0] and text(2)[-2:] == peers[:2]
    assert any(line.startswith("  duration (2xx -> BYE)") for line in full)


def test_a_capture_without_sip_says_so() -> None:
    report = report_of(str(LOSSY))
    empty = StatsReport(report.stats, [], [], None, messages=0, trace=Trace())
    out = io.StringIO()
    STATS_RENDERERS["text"]().write(empty, StatsOptions(), out)
    assert out.getvalue().startswith("No SIP in this capture: 0 frames read")
