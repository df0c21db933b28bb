"""``read --explain``: the option and its optional level, the words under the arrows of the
terminal ladder (and nothing else changed), packet text kept harmless, and the HTML page's learn
mode, in a real browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from rich.cells import cell_len

from sipsniff.cli import cli
from tests.builders import EVIL, evil_packets, write_pcap
from tests.conftest import CAPTURES
from tests.tools import chromium

REG = CAPTURES / "register-407.pcap"
CALL = CAPTURES / "scenarios" / "call-answered.pcap"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def read(*args: str) -> str:
    r = run("read", *args)
    assert r.exit_code == 0, r.output
    return r.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("--explain", str(REG)),
        (str(REG), "--explain"),
        ("--explain=brief", str(REG)),
        ("--explain", "brief", str(REG)),
    ],
)
def test_explain_takes_an_optional_level(args: tuple[str, ...]) -> None:
    """``--explain FILE`` is the option without a level: the file is not taken for one."""
    out = read(*args)
    assert "the binding lasts 120 s, not the 3600 s asked for" in " ".join(out.split())
    assert "Content-Length:" not in out  # brief: the headers a learner meets, not every one


def test_full_tells_every_header() -> None:
    out = read("--explain=full", str(REG))
    assert out.count("· Content-Length:") == 4
    assert read("--explain", "full", str(REG)) == out


def test_a_bad_level_is_a_usage_error() -> None:
    r = run("read", "--explain=loud", str(REG))
    assert r.exit_code == 2
    assert "invalid value for '--explain'" in r.output


@pytest.mark.parametrize("path", [REG, CALL, CAPTURES / "calls-lossy.pcap"], ids=lambda p: p.name)
def test_explain_only_adds_lines(path: Path) -> None:
    """Every line of the plain output is in the explained one, in order: learn mode adds words
    under arrows and headings, it moves nothing."""
    plain = read(str(path)).splitlines()
    explained = iter(read("--explain", str(path)).splitlines())
    for line in plain:
        assert any(line == other for other in explained), line


@pytest.mark.parametrize("width", [60, 100])
def test_explanations_fit_the_width(width: int) -> None:
    r = CliRunner().invoke(
        cli, ["read", "--explain", str(CALL)], env={"COLUMNS": str(width)}, catch_exceptions=False
    )
    lines = r.stdout.splitlines()
    assert any("three-way handshake" in ln for ln in lines)
    for line in lines:
        assert cell_len(line) <= width, line


def test_packet_text_stays_text(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "evil.pcap", evil_packets())
    out = read("--explain=full", str(path))
    assert "\x1b" not in out and "\u2028" not in out
    assert "a\\u2028b\\u2029c" in out  # the Subject, escaped where it is explained


# -- the page ----------------------------------------------------------------------------------------


def page(*args: str) -> str:
    return read("-f", "html", *args)


def test_the_page_without_explain_is_unchanged_by_it() -> None:
    plain = page(str(CALL))
    assert 'id="explain-data"' not in plain and 'id="explain"' not in plain
    learn = page("--explain", str(CALL))
    assert 'id="explain-data"' in learn
    csp = re.search(r'Content-Security-Policy" content="([^"]+)"', learn)
    assert csp is not None
    assert csp.group(1).count("sha256-") == 4  # two styles, two scripts


def test_the_page_keeps_packet_text_as_text(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "evil.pcap", evil_packets())
    learn = page("--explain=full", str(path))
    block = learn.split('id="explain-data">', 1)[1].split("</script>", 1)[0]
    for evil in EVIL:
        if "<" in evil or "\u2028" in evil:
            assert evil not in block
    assert "<" not in block and "\u2028" not in block
    assert "javascript:alert(3)" in block  # text, shown with textContent


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def test_clicking_an_arrow_explains_it(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    path = tmp_path / "learn.html"
    path.write_text(page("--explain", str(CALL)), encoding="utf-8")
    browser.get(path.as_uri() + "#dialog-3")
    WebDriverWait(browser, 5).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, "#ladder tr.explain")
    )
    summary = browser.find_element(By.CSS_SELECTOR, "#ladder .explain-summary").text
    assert "alice (127.0.0.1:5070) called bob" in summary and "(the caller) hung up" in summary
    rows = browser.find_elements(By.CSS_SELECTOR, "#ladder tr.explain")
    assert len(rows) == len(browser.find_elements(By.CSS_SELECTOR, "#ladder tr.msg")) == 16
    assert "Proxy-Authenticate" in rows[1].text and 'realm "pbx.test"' in rows[1].text

    # the box hides them; an arrow clicked still explains itself in the message panel
    browser.find_element(By.ID, "explain").click()
    assert not rows[0].is_displayed()
    arrows = browser.find_elements(By.CSS_SELECTOR, "#ladder button.arrow")
    arrows[-4].click()  # alice's BYE
    detail = browser.find_element(By.ID, "detail")
    WebDriverWait(browser, 5).until(lambda b: detail.is_displayed())
    meta = browser.find_element(By.ID, "detail-meta").text
    assert "explained" in meta and "the caller, hangs up" in meta
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    assert browser.execute_script("return window.__alerts") == []


def test_the_levels_are_the_analysis_ones() -> None:
    from sipsniff.analysis.explain import LEVELS
    from sipsniff.render.base import EXPLAIN_LEVELS

    assert ("", *LEVELS) == EXPLAIN_LEVELS
