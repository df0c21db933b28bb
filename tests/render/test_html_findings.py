"""The HTML page lists the findings under the call list, escaped like every packet string."""

from __future__ import annotations

import io
from pathlib import Path

from markupsafe import escape

from sipsniff.analysis.findings import findings
from sipsniff.pipeline import read_trace
from sipsniff.render.base import RenderOptions
from sipsniff.render.html import HtmlRenderer
from tests.conftest import CAPTURES, need


def page(path: Path) -> str:
    trace = read_trace([str(path)])
    out = io.StringIO()
    HtmlRenderer().render(trace, list(trace.dialogs.values()), RenderOptions(), out)
    return out.getvalue()


def test_findings_of_a_declined_call(corpus: Path) -> None:
    text = page(need(corpus / "ring_decline.pcap"))
    section = text[
        text.index('<section id="findings"') : text.index(
            "</section>", text.index('<section id="findings"')
        )
    ]
    assert '<li class="info">' in section  # the callee's own choice (docs/findings.md)
    assert '<a href="#dialog-2">dialog 2</a>' in section
    assert "frames 3, 4, 9, 10: INVITE → 603 Decline from 192.168.1.132:54053" in section
    assert "the callee rejected the call" in section


def test_no_findings_no_section() -> None:
    path = CAPTURES / "register-407.pcap"
    assert list(findings(read_trace([str(path)]))) == []
    assert 'id="findings"' not in page(path)


def test_packet_text_in_findings_is_escaped(corpus: Path) -> None:
    """aaa.pcap's findings quote a Warning header with quotes in it: escaped in the HTML text."""
    path = need(corpus / "aaa.pcap")
    text = page(path)
    quoted = [f.summary for f in findings(read_trace([str(path)])) if '"' in f.summary]
    assert quoted, "aaa.pcap has a Warning header quoted in a finding"
    for summary in quoted:
        assert str(escape(summary)) in text
        assert summary not in text  # never raw
