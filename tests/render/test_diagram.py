"""Tests of the Mermaid and PlantUML renderers: exact output for a real capture, escaping as a
property, and the real tools as oracles (mmdc from @mermaid-js/mermaid-cli with Debian's chromium,
Debian's plantuml), skipped with the reason when a tool is absent."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsniff.model import Dialog, Trace
from sipsniff.render.base import RENDERERS, RenderOptions
from sipsniff.render.diagram import MermaidRenderer, PlantUmlRenderer, mermaid_text, plantuml_text
from sipsniff.render.safe import one_line
from tests.builders import LOSSY, REG, capture, evil_trace

# -- exact output -------------------------------------------------------------------------------


def render(name: str, trace: Trace, dialogs: list[Dialog], **opts: object) -> str:
    out = io.StringIO()
    RENDERERS[name]().render(trace, dialogs, RenderOptions(**opts), out)  # type: ignore[arg-type]
    return out.getvalue()


MERMAID_DIALOG_2 = """\
sequenceDiagram
    title Dialog 2: INVITE, COMPLETED
    participant P1 as 127.0.0.1:23907
    participant P2 as 127.0.0.1:23906
    Note over P1,P2: sip:sipp@127.0.0.1:23907 → sip:service@127.0.0.1:23906<br/>Call#45;ID 3#45;5575@127.0.0.1
    Note left of P1: 0.000000
    P1->>P2: INVITE
    Note left of P1: 0.000072 (+72 µs)
    P2-->>P1: 180 Ringing
    Note left of P1: 0.001195 (+1.123 ms)
    P2-->>P1: 200 OK
    Note left of P1: 0.001219 (+24 µs)
    P1->>P2: ACK
    Note left of P1: 0.004481 (+3.262 ms)
    P1->>P2: BYE ×2
    Note left of P1: 0.004503 (+22 µs)
    P2-->>P1: 200 OK ×2
"""

PLANTUML_DIALOG_2 = """\
@startuml dialog-2
hide footbox
title Dialog 2: INVITE, COMPLETED\\nsip:sipp@127.0.0.1:23907 → sip:service@127.0.0.1:23906\\nCall<U+002D>ID 3<U+002D>5575@127.0.0.1
participant "127.0.0.1:23907" as P1
participant "127.0.0.1:23906" as P2
P1 -> P2 : INVITE
note left : 0.000000
P2 -[#b58900]-> P1 : 180 Ringing
note left : 0.000072 (+72 µs)
P2 -[#2e7d32]-> P1 : 200 OK
note left : 0.001195 (+1.123 ms)
P1 -> P2 : ACK
note left : 0.001219 (+24 µs)
P1 -> P2 : BYE ×2
note left : 0.004481 (+3.262 ms)
P2 -[#2e7d32]-> P1 : 200 OK ×2
note left : 0.004503 (+22 µs)
@enduml
"""


def test_mermaid_of_one_dialog_is_a_bare_diagram() -> None:
    trace = capture(LOSSY)
    assert render("mermaid", trace, [trace.dialogs[2]]) == MERMAID_DIALOG_2


def test_plantuml_of_one_dialog() -> None:
    trace = capture(LOSSY)
    assert render("plantuml", trace, [trace.dialogs[2]]) == PLANTUML_DIALOG_2


def test_mermaid_of_several_dialogs_is_markdown_with_a_block_each() -> None:
    trace = capture(LOSSY)
    text = render("mermaid", trace, list(trace.dialogs.values()))
    blocks = re.findall(r"^## Dialog (\d+)\n\n```mermaid\n(.*?)^```$", text, re.M | re.S)
    assert [int(n) for n, _ in blocks] == [1, 2, 3, 4, 5]
    assert blocks[1][1] == MERMAID_DIALOG_2
    assert text.startswith("# SIP dialogs\n")


def test_plantuml_of_several_dialogs_has_a_block_each() -> None:
    trace = capture(LOSSY)
    text = render("plantuml", trace, list(trace.dialogs.values()))
    assert re.findall(r"^@startuml dialog-(\d+)$", text, re.M) == ["1", "2", "3", "4", "5"]
    assert text.count("\n@enduml\n") == 5
    assert PLANTUML_DIALOG_2 in text


def test_times_follow_the_time_option() -> None:
    trace = capture(LOSSY)
    text = render("plantuml", trace, [trace.dialogs[2]], time="rel")
    notes = re.findall(r"^note left : (.*)$", text, re.M)
    assert notes[:2] == ["0.399555", "0.399627"]
    text = render("mermaid", trace, [trace.dialogs[2]], time="delta")
    notes = re.findall(r"^    Note left of P1: (.*)$", text, re.M)
    assert notes[:3] == ["0.000000", "+0.000072", "+0.001123"]


def test_no_dialogs() -> None:
    trace = capture(REG)
    assert render("plantuml", trace, []) == ""
    assert render("mermaid", trace, []) == "# SIP dialogs\n"


# -- escaping -----------------------------------------------------------------------------------

_MERMAID_ENTITY = re.compile(r"#(\d+);")
_PLANTUML_ENTITY = re.compile(r"<U\+([0-9A-F]{4,6})>")


@given(st.text(max_size=60))
def test_mermaid_text_is_inert_and_reads_back(text: str) -> None:
    shown = mermaid_text(text)
    bare = _MERMAID_ENTITY.sub("", shown)
    assert re.fullmatch(r"[A-Za-z0-9 .,:+()@\u0080-\U0010ffff]*", bare)
    assert _MERMAID_ENTITY.sub(lambda m: chr(int(m.group(1))), shown) == one_line(text, 200)
    assert len(shown.splitlines()) <= 1


@given(st.text(max_size=60))
def test_plantuml_text_is_inert_and_reads_back(text: str) -> None:
    shown = plantuml_text(text)
    bare = _PLANTUML_ENTITY.sub("", shown)
    assert re.fullmatch(r"[A-Za-z0-9 .,:+()@\u0080-\U0010ffff]*", bare)
    assert _PLANTUML_ENTITY.sub(lambda m: chr(int(m.group(1), 16)), shown) == one_line(text, 200)
    assert len(shown.splitlines()) <= 1


_MERMAID_LINE = re.compile(
    r"sequenceDiagram|    title .*|    participant P\d+ as .*|    Note (left of P1|over P1,P2): .*"
    r"|    P\d+-?->>P\d+: .*"
)
_PLANTUML_LINE = re.compile(
    r'@startuml dialog-\d+|hide footbox|title .*|participant "[^"]*" as P\d+'
    r"|P\d+ (->|-\[#[0-9a-f]{6}\]->) P\d+ : .*|note left : .*|@enduml"
)


def test_hostile_text_stays_inside_its_labels(tmp_path: Path) -> None:
    trace = evil_trace(tmp_path)
    mermaid = render("mermaid", trace, list(trace.dialogs.values()))
    plantuml = render("plantuml", trace, list(trace.dialogs.values()))
    for line in mermaid.splitlines():
        assert _MERMAID_LINE.fullmatch(line), line
    for line in plantuml.splitlines():
        assert _PLANTUML_LINE.fullmatch(line), line
    for text in (mermaid, plantuml):
        for raw in ("<script", "<img", '"><', "{{", "\u2028", "\u2029"):
            assert raw not in text
    assert "    P1->>P2: INVITE ×2" in mermaid
    assert "P2 -[#c62828]-> P1 : 486 <U+003C><U+002F>script<U+003E>" in plantuml


# -- the real tools -----------------------------------------------------------------------------


def chromium() -> str:
    path = os.environ.get("SIPSNIFF_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.skip("chromium is absent (Debian package chromium): mmdc needs a browser")
    return path


def mmdc() -> str:
    path = os.environ.get("SIPSNIFF_MMDC") or shutil.which("mmdc")
    if not path:
        pytest.skip(
            "mmdc is absent (npm install -g @mermaid-js/mermaid-cli, PUPPETEER_SKIP_DOWNLOAD=1)"
        )
    return path


def run_mmdc(tmp_path: Path, name: str, text: str) -> subprocess.CompletedProcess[str]:
    tool = mmdc()
    config = tmp_path / "puppeteer.json"
    config.write_text(
        json.dumps(
            {
                "executablePath": chromium(),
                "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            }
        )
    )
    source = tmp_path / name
    source.write_text(text, encoding="utf-8")
    target = source.with_suffix(".svg" if name.endswith(".mmd") else ".out.md")
    return subprocess.run(
        [tool, "-q", "-p", str(config), "-i", str(source), "-o", str(target)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_mmdc_draws_every_dialog_of_a_capture(tmp_path: Path) -> None:
    trace = capture(LOSSY)
    done = run_mmdc(tmp_path, "calls.md", render("mermaid", trace, list(trace.dialogs.values())))
    assert done.returncode == 0, done.stderr
    svgs = sorted(tmp_path.glob("calls.out-*.svg"))
    assert len(svgs) == 5
    svg = svgs[1].read_text()
    for text in ("INVITE", "180 Ringing", "BYE ×2", "200 OK ×2", "0.001195 (+1.123 ms)"):
        assert f">{text}<" in svg


def test_mmdc_rejects_what_is_not_mermaid(tmp_path: Path) -> None:
    """The oracle can fail: a label with a raw ``;`` and no text after an arrow is an error."""
    done = run_mmdc(
        tmp_path, "bad.mmd", "sequenceDiagram\n    participant P1 as a;b\n    P1->>P9\n"
    )
    assert done.returncode != 0


def test_mmdc_shows_hostile_text_as_text(tmp_path: Path) -> None:
    trace = evil_trace(tmp_path)
    done = run_mmdc(tmp_path, "evil.mmd", render("mermaid", trace, list(trace.dialogs.values())))
    assert done.returncode == 0, done.stderr
    svg = (tmp_path / "evil.svg").read_text()
    assert "<img" not in svg and "<script" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert "486 &lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in svg
    assert '"&gt;&lt;img src=x onerror=alert(1)&gt;' in svg


def plantuml_tool() -> str:
    path = os.environ.get("SIPSNIFF_PLANTUML") or shutil.which("plantuml")
    if not path:
        pytest.skip("plantuml is absent (Debian package plantuml)")
    return path


def run_plantuml(tmp_path: Path, text: str) -> dict[str, str]:
    """SVG text of each diagram, by name; fails on any error PlantUML reports (it exits 0 on some)."""
    source = tmp_path / "ladder.puml"
    source.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [plantuml_tool(), "-tsvg", "-charset", "UTF-8", "-failfast2", str(source)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Exception" not in done.stderr and "Error" not in done.stderr, done.stderr
    svgs = {p.stem: p.read_text(encoding="utf-8") for p in tmp_path.glob("*.svg")}
    for svg in svgs.values():
        assert "Syntax Error" not in svg and "An error has occured" not in svg
    return svgs


def svg_texts(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def test_plantuml_draws_every_dialog_of_a_capture(tmp_path: Path) -> None:
    trace = capture(LOSSY)
    svgs = run_plantuml(tmp_path, render("plantuml", trace, list(trace.dialogs.values())))
    assert sorted(svgs) == [f"dialog-{n}" for n in range(1, 6)]
    texts = svg_texts(svgs["dialog-2"])
    for text in ("INVITE", "180 Ringing", "BYE ×2", "200 OK ×2", "0.001195 (+1.123 ms)"):
        assert text in texts
    assert "Call-ID 3-5575@127.0.0.1" in texts


def test_plantuml_reports_what_is_not_plantuml(tmp_path: Path) -> None:
    """The oracle can fail: a line that is no PlantUML is a syntax error."""
    with pytest.raises(AssertionError, match="contains errors"):
        run_plantuml(tmp_path, "@startuml dialog-1\nP1 -> P2 : x\nthis is not plantuml\n@enduml\n")


def test_plantuml_shows_hostile_text_as_text(tmp_path: Path) -> None:
    trace = evil_trace(tmp_path)
    svg = run_plantuml(tmp_path, render("plantuml", trace, list(trace.dialogs.values())))[
        "dialog-1"
    ]
    assert "<img" not in svg and "<script" not in svg and "<a " not in svg
    texts = svg_texts(svg)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in texts
    assert '"&gt;&lt;img src=x onerror=alert(1)&gt;' in texts
    assert "486 &lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in texts
    assert "INVITE ×2" in texts


def test_formats_are_registered() -> None:
    assert RENDERERS["mermaid"] is MermaidRenderer
    assert RENDERERS["plantuml"] is PlantUmlRenderer
