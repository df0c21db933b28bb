"""Tests of the HTML ladder page: its structure and escaping as text, then the page itself in a real
headless browser (Debian's chromium driven by Selenium through /usr/bin/chromedriver).

The browser tests are skipped, with the reason, when selenium, chromium or chromedriver is absent.
Set SIPSNIFF_CHROMIUM / SIPSNIFF_CHROMEDRIVER to use other binaries.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import struct
from collections.abc import Iterator, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsniff.analysis.report import TraceReport
from sipsniff.model import Dialog, Trace
from sipsniff.render.base import RENDERERS, TIME_MODES, RenderOptions, TimeFormat, clock, seconds
from sipsniff.render.html import HtmlRenderer, asset, page_data
from sipsniff.render.html_text import script_json
from sipsniff.render.safe import one_line
from tests.builders import (
    EVIL,
    EVIL_CALL_ID,
    LOSSY,
    REG,
    T0,
    capture,
    evil_trace,
    sip_text,
    write_pcap,
)
from tests.builders import UA_A as A
from tests.builders import UA_B as B
from tests.tools import chromium

try:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver import Chrome
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.remote.webelement import WebElement
    from selenium.webdriver.support.ui import WebDriverWait

except ImportError:  # pragma: no cover - the test extra installs it (tools.chromium skips)
    pass


def html(trace: Trace, dialogs: Sequence[Dialog] | None = None, **opts: Any) -> str:
    out = io.StringIO()
    chosen = list(trace.dialogs.values()) if dialogs is None else dialogs
    HtmlRenderer().render(trace, chosen, RenderOptions(**opts), out)
    return out.getvalue()


_DATA = re.compile(r'<script type="application/json" id="data">(.*?)</script>', re.S)


def data_block(page: str) -> str:
    blocks = _DATA.findall(page)
    assert len(blocks) == 1
    return str(blocks[0])


class Tags(HTMLParser):
    """Every start tag of a page with its attributes, and the text of its script elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in = tag if tag in ("script", "style") else None

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.scripts.append(data)
        elif self._in == "style":
            self.styles.append(data)

    def handle_endtag(self, tag: str) -> None:
        self._in = None


def parse(page: str) -> Tags:
    parser = Tags()
    parser.feed(page)
    parser.close()
    return parser


# -- the page as text ---------------------------------------------------------------------------


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=12,
    )
)
def test_script_json_reads_back_and_cannot_close_its_element(value: Any) -> None:
    text = script_json(value)
    assert json.loads(text) == value
    for char in "<>&\u2028\u2029":
        assert char not in text


def test_page_is_self_contained() -> None:
    page = html(capture(LOSSY))
    assert "http://" not in page and "https://" not in page
    assert "url(" not in asset("ladder.css") and "@import" not in asset("ladder.css")
    for fetcher in ("fetch(", "XMLHttpRequest", "import(", "WebSocket", "sendBeacon", ".src ="):
        for script in ("ladder.js", "compact.js"):
            assert fetcher not in asset(script)
    tags = parse(page)
    for tag, attrs in tags.tags:
        for name in ("src", "href", "action", "srcset", "formaction"):
            value = attrs.get(name)
            if value is not None:
                assert value.startswith(("#", "data:")), (tag, name, value)
    assert [t for t, _ in tags.tags].count("style") == 1
    assert [t for t, _ in tags.tags].count("script") == 2


def test_csp_allows_exactly_the_inline_script_and_style() -> None:
    page = html(capture(LOSSY))
    tags = parse(page)
    metas = [
        a for t, a in tags.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert len(metas) == 1
    policy: dict[str, str] = {}
    for directive in (metas[0]["content"] or "").split("; "):
        name, _, value = directive.partition(" ")
        policy[name] = value
    assert policy["default-src"] == "'none'"
    assert policy["img-src"] == "data:"

    def source(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    (style,) = tags.styles
    script = tags.scripts[-1]
    assert policy["style-src"] == source(style)
    assert policy["script-src"] == source(script)
    assert "unsafe" not in metas[0]["content"]  # type: ignore[operator]


def test_assets_cannot_close_their_own_elements() -> None:
    for name in ("ladder.js", "compact.js", "ladder.css"):
        assert "</" not in asset(name)


def test_data_is_the_json_fields_plus_times() -> None:
    trace = capture(LOSSY)
    data = json.loads(data_block(html(trace)))
    assert data == json.loads(
        json.dumps(page_data(TraceReport(trace, list(trace.dialogs.values())), RenderOptions()))
    )
    assert data["schema"] == "sipsniff-html/1"
    assert len(data["messages"]) == 33
    first = data["messages"][0]
    assert {"index", "frame", "ts", "src", "dst", "method", "status", "call_id", "cseq"} <= set(
        first
    )
    tf = TimeFormat.of(trace, RenderOptions(time="abs"))
    assert first["t"]["abs"] == clock(trace.entries[1].msg.ts_ns, 6, tf.tz)
    dialog = data["dialogs"][1]
    assert dialog["call_id"] == trace.dialogs[2].call_id
    assert [r["m"] for r in dialog["rows"]] == [7, 8, 9, 10, 11, 12]
    assert [r["copies"] for r in dialog["rows"]][-2:] == [[19], [20]]


def test_list_view_carries_no_ladders() -> None:
    trace = capture(LOSSY)
    page = html(trace, view="list")
    data = json.loads(data_block(page))
    assert data["messages"] == [] and data["dialogs"] == [] and data["ladders"] is False
    assert 'id="ladder"' not in page
    assert page.count('<tr id="call-') == 5


def test_hostile_text_is_escaped_in_every_context(tmp_path: Path) -> None:
    trace = evil_trace(tmp_path)
    page = html(trace)
    tags = parse(page)
    names = [t for t, _ in tags.tags]
    assert "img" not in names and "b" not in names
    assert names.count("script") == 2
    assert all(not k.startswith("on") for _, attrs in tags.tags for k in attrs)
    block = data_block(page)
    assert "<" not in block and ">" not in block and "\u2028" not in block
    assert page.count("</script>") == 2
    data = json.loads(block)
    assert data["dialogs"][0]["from_name"] == EVIL[0]
    assert data["messages"][2]["label"] == "486 " + EVIL[2]
    # The call list is written by Jinja: escaped as element text and as attribute values.
    assert (
        '<td class="party" title="sip:alice@example.com">&lt;script&gt;alert(1)&lt;/script&gt;'
        in page
    )
    call_id = one_line(EVIL_CALL_ID)
    assert 'data-call-id="evil-{{ 7*7 }}&lt;/script&gt;\\u2028&lt;b&gt;x&lt;/b&gt;"' in page
    assert call_id == "evil-{{ 7*7 }}</script>\\u2028<b>x</b>"
    assert "{{ 7*7 }}" in page


def test_renders_to_a_console_file() -> None:
    from rich.console import Console

    out = io.StringIO()
    trace = capture(REG)
    HtmlRenderer().render(trace, list(trace.dialogs.values()), RenderOptions(), Console(file=out))
    assert out.getvalue().startswith("<!DOCTYPE html>")


def test_format_is_registered() -> None:
    assert RENDERERS["html"] is HtmlRenderer


# -- in a browser -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Chrome]:
    with chromium() as chrome:
        yield chrome


def open_page(browser: Chrome, path: Path, page: str, fragment: str = "") -> None:
    path.write_text(page, encoding="utf-8")
    browser.get("about:blank")
    console_log(browser)  # drop what came before
    browser.get(path.as_uri() + fragment)


def console_log(browser: Chrome) -> list[dict[str, Any]]:
    """What the page wrote to the console since the last call (CSP violations are errors)."""
    return list(browser.get_log("browser"))  # type: ignore[no-untyped-call]


def text_of(element: WebElement) -> str:
    """The exact ``textContent`` (``.text`` is the rendered text, whitespace normalised)."""
    return str(element.get_property("textContent"))


def js(browser: Chrome, script: str, *args: Any) -> Any:
    return browser.execute_script(script, *args)


def heading(browser: Chrome) -> str:
    return str(js(browser, "return document.querySelector('#ladder h2').textContent"))


def go_to(browser: Chrome, index: int) -> None:
    browser.find_element(By.CSS_SELECTOR, f'#call-{index} a[href="#dialog-{index}"]').click()
    WebDriverWait(browser, 5).until(lambda b: heading(b) == f"Dialog {index}")


def column(browser: Chrome, cls: str) -> list[str]:
    return list(
        js(
            browser,
            f"return [...document.querySelectorAll('#ladder tr.msg td.{cls}')].map(td => td.textContent)",
        )
    )


def no_errors(browser: Chrome) -> None:
    errors = [e for e in console_log(browser) if e["level"] == "SEVERE"]
    assert errors == []
    assert js(browser, "return performance.getEntriesByType('resource').length") == 0
    assert js(browser, "return window.__alerts") == []
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018


def click_label(browser: Chrome, text: str) -> None:
    for label in browser.find_elements(By.CSS_SELECTOR, ".controls label"):
        if label.text.strip() == text:
            label.click()
            return
    raise AssertionError(f"no control labelled {text!r}")


def test_ladder_has_an_arrow_per_message(browser: Chrome, tmp_path: Path) -> None:
    trace = capture(LOSSY)
    open_page(browser, tmp_path / "lossy.html", html(trace))
    assert heading(browser) == "Dialog 1"
    for dialog in trace.dialogs.values():
        go_to(browser, dialog.id)
        originals = [
            trace.entries[i] for i in dialog.messages if not trace.entries[i].retransmission
        ]
        arrows = browser.find_elements(By.CSS_SELECTOR, "#ladder button.arrow")
        assert len(arrows) == len(originals) == len(dialog.messages) - dialog.retransmissions
        labels = [
            a.find_element(By.CSS_SELECTOR, ".label").get_property("firstChild") for a in arrows
        ]
        assert [js(browser, "return arguments[0].textContent", n) for n in labels] == [
            e.msg.label for e in originals
        ]
        right = [e.msg.src == dialog.src for e in originals]
        assert ["right" in str(a.get_attribute("class")).split() for a in arrows] == right
        badges = [b.text for b in browser.find_elements(By.CSS_SELECTOR, "#ladder .times")]
        assert badges == ["×2"] * dialog.retransmissions
        lanes = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#ladder .lane .addr")]
        assert lanes == [str(dialog.src), str(dialog.dst)]
        current = browser.find_element(By.CSS_SELECTOR, ".calls tr[aria-current]")
        assert current.get_attribute("id") == f"call-{dialog.id}"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#ladder table.lad")) == 1
    browser.find_element(By.TAG_NAME, "body").send_keys("p")  # the previous dialog
    WebDriverWait(browser, 5).until(lambda b: heading(b) == "Dialog 4")
    no_errors(browser)


def test_clicking_an_arrow_shows_its_message(browser: Chrome, tmp_path: Path) -> None:
    trace = capture(LOSSY)
    open_page(browser, tmp_path / "lossy.html", html(trace), "#dialog-2")
    assert heading(browser) == "Dialog 2"
    detail = browser.find_element(By.ID, "detail")
    assert not detail.is_displayed()
    arrows = browser.find_elements(By.CSS_SELECTOR, "#ladder button.arrow")
    dialog = trace.dialogs[2]
    shown = [i for i in dialog.messages if not trace.entries[i].retransmission]
    for arrow, index in zip(arrows, shown, strict=True):
        arrow.click()
        WebDriverWait(browser, 5).until(lambda b: detail.is_displayed())
        msg = trace.entries[index].msg
        text = text_of(browser.find_element(By.ID, "detail-text"))
        assert text == msg.raw.decode().replace("\r\n", "\n").removesuffix("\n")
        assert browser.find_element(By.ID, "detail-title").text == msg.label
        assert f"frame {msg.frame}" in browser.find_element(By.ID, "detail-meta").text.replace(
            "\n", " "
        )
        browser.find_element(By.ID, "detail-close").click()
        WebDriverWait(browser, 5).until(lambda b: not detail.is_displayed())
    # The BYE was sent twice: its panel lists the retransmission.
    arrows[4].click()
    meta = browser.find_element(By.ID, "detail-meta").text
    assert "retransmissions" in meta and f"frame {trace.entries[19].msg.frame}" in meta
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    WebDriverWait(browser, 5).until(lambda b: not detail.is_displayed())
    no_errors(browser)


def expected_times(trace: Trace, dialog: Dialog, mode: str) -> list[str]:
    """The time column the terminal would show, from the shared formatting of render.base."""
    tf = TimeFormat.of(trace, RenderOptions(time=mode))
    stamps, prev = [], None
    for i in dialog.messages:
        entry = trace.entries[i]
        if entry.retransmission:
            continue
        stamps.append(tf.stamp(entry.msg.ts_ns, dialog.start_ns, prev))
        prev = entry.msg.ts_ns
    return stamps


def test_time_switch_changes_the_time_column(browser: Chrome, tmp_path: Path) -> None:
    trace = capture(LOSSY)
    dialog = trace.dialogs[2]
    open_page(browser, tmp_path / "lossy.html", html(trace), "#dialog-2")
    start = trace.entries[dialog.messages[0]].msg.ts_ns
    origin = trace.entries[1].msg.ts_ns

    assert column(browser, "t") == expected_times(trace, dialog, "dialog")
    assert column(browser, "t")[:2] == ["0.000000", "0.000072"]
    assert column(browser, "g") == ["", "+72 µs", "+1.123 ms", "+24 µs", "+3.262 ms", "+22 µs"]
    assert browser.find_element(By.CSS_SELECTOR, "#ladder th.t").text == "time"

    click_label(browser, "absolute")
    tf = TimeFormat.of(trace, RenderOptions(time="abs"))
    assert column(browser, "t") == expected_times(trace, dialog, "abs")
    assert column(browser, "t")[0] == clock(start, 6, tf.tz)
    assert column(browser, "g") == []
    assert browser.find_element(By.CSS_SELECTOR, "#ladder th.t").text == tf.title(start)
    starts = [c.text for c in browser.find_elements(By.CSS_SELECTOR, ".calls td.start")]
    assert starts == [clock(d.start_ns, 6, tf.tz) for d in trace.dialogs.values()]

    click_label(browser, "relative")
    assert column(browser, "t") == expected_times(trace, dialog, "rel")
    assert column(browser, "t")[0] == seconds(start - origin) == "0.399555"
    starts = [c.text for c in browser.find_elements(By.CSS_SELECTOR, ".calls td.start")]
    assert starts == [seconds(d.start_ns - origin) for d in trace.dialogs.values()]

    click_label(browser, "delta")
    assert column(browser, "t") == expected_times(trace, dialog, "delta")
    assert column(browser, "t")[:3] == ["0.000000", "+0.000072", "+0.001123"]
    assert browser.find_element(By.CSS_SELECTOR, "#ladder th.t").text == "delta"
    no_errors(browser)


def test_message_text_under_the_arrows(browser: Chrome, tmp_path: Path) -> None:
    trace = capture(REG)
    open_page(browser, tmp_path / "reg.html", html(trace))
    assert browser.find_elements(By.CSS_SELECTOR, "#ladder tr.text") == []
    click_label(browser, "message text")
    texts = browser.find_elements(By.CSS_SELECTOR, "#ladder tr.text pre")
    assert len(texts) == 4
    assert text_of(texts[1]).startswith("SIP/2.0 407 Proxy Authentication Required\n")
    notes = column(browser, "notes")
    assert notes[1].startswith("challenge, ")
    open_page(browser, tmp_path / "reg-full.html", html(trace, full=True))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#ladder tr.text pre")) == 4
    no_errors(browser)


def test_filter_narrows_the_call_list(browser: Chrome, tmp_path: Path) -> None:
    trace = capture(LOSSY)
    open_page(browser, tmp_path / "lossy.html", html(trace))

    def shown(b: Chrome) -> list[str]:
        return [
            r.get_attribute("id") or ""
            for r in b.find_elements(By.CSS_SELECTOR, ".calls tbody tr")
            if r.is_displayed()
        ]

    box = browser.find_element(By.ID, "filter")
    box.send_keys("3-5575")  # a Call-ID, which is not a column
    WebDriverWait(browser, 5).until(lambda b: shown(b) == ["call-2"])
    assert browser.find_element(By.ID, "shown").text == "1 of 5 dialogs"
    box.clear()
    box.send_keys("completed 127.0.0.1:23906")
    WebDriverWait(browser, 5).until(lambda b: len(shown(b)) == 5)
    box.send_keys(" nothing-like-this")
    WebDriverWait(browser, 5).until(lambda b: shown(b) == [])
    no_errors(browser)


def test_screenshot_and_print(browser: Chrome, tmp_path: Path) -> None:
    trace = capture(LOSSY)
    open_page(browser, tmp_path / "lossy.html", html(trace), "#dialog-2")
    shot = tmp_path / "ladder.png"
    assert browser.save_screenshot(str(shot))
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width >= 1000 and height >= 600
    assert len(png) > 20_000  # a blank page compresses to far less
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        hidden = js(
            browser,
            "return ['#controls', '.filterbar', '.dlg-nav'].map(s => getComputedStyle(document.querySelector(s)).display)",
        )
        assert hidden == ["none", "none", "none"]
        assert browser.find_element(By.CSS_SELECTOR, "#ladder table.lad").is_displayed()
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    pdf = base64.b64decode(browser.print_page())
    assert pdf.startswith(b"%PDF-") and len(pdf) > 5_000
    no_errors(browser)


def many_dialogs(tmp_path: Path, count: int) -> Trace:
    packets = []
    for n in range(count):
        headers = [
            f"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-{n}",
            f"From: <sip:user{n}@example.com>;tag=f{n}",
            f"To: <sip:user{n}@example.com>",
            f"Call-ID: reg-{n}",
            "CSeq: 1 REGISTER",
        ]
        register = sip_text("REGISTER sip:example.com SIP/2.0", headers)
        ok = sip_text(
            "SIP/2.0 200 OK",
            [*headers[:2], f"To: <sip:user{n}@example.com>;tag=t{n}", *headers[3:]],
        )
        packets += [(T0 + n * 1_000_000, A, B, register), (T0 + n * 1_000_000 + 500_000, B, A, ok)]
    trace = capture(write_pcap(tmp_path / "many.pcap", packets))
    assert len(trace.dialogs) == count
    return trace


def test_thousands_of_dialogs(browser: Chrome, tmp_path: Path) -> None:
    trace = many_dialogs(tmp_path, 2000)
    page = html(trace)
    assert page.count("<style>") == 1 and page.count("<table") == 1  # ladders are drawn on demand
    open_page(browser, tmp_path / "many.html", page, "#dialog-1500")
    assert heading(browser) == "Dialog 1500"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#ladder button.arrow")) == 2
    assert js(browser, "return document.querySelectorAll('table.lad').length") == 1
    browser.find_element(By.ID, "filter").send_keys("user1999@")
    WebDriverWait(browser, 5).until(
        lambda b: b.find_element(By.ID, "shown").text == "1 of 2000 dialogs"
    )
    no_errors(browser)


def test_empty_selection(browser: Chrome, tmp_path: Path) -> None:
    open_page(browser, tmp_path / "empty.html", html(capture(REG), []))
    assert "No dialogs." in browser.find_element(By.ID, "calls").text
    assert browser.find_elements(By.CSS_SELECTOR, "#ladder h2") == []
    click_label(browser, "absolute")
    browser.find_element(By.ID, "filter").send_keys("x")
    no_errors(browser)


@pytest.mark.parametrize("csp", [True, False], ids=["with-csp", "escaping-alone"])
def test_hostile_text_stays_text_in_the_browser(browser: Chrome, tmp_path: Path, csp: bool) -> None:
    trace = evil_trace(tmp_path)
    page = html(trace)
    if not csp:
        page, removed = re.subn(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page)
        assert removed == 1
    open_page(browser, tmp_path / "evil.html", page)
    assert heading(browser) == "Dialog 1"
    # Every view the page has: each arrow's panel, the message text, each time mode.
    for arrow in browser.find_elements(By.CSS_SELECTOR, "#ladder button.arrow"):
        arrow.click()
        browser.find_element(By.ID, "detail-close").click()
    click_label(browser, "message text")
    for mode in ("absolute", "relative", "delta", "dialog"):
        click_label(browser, mode)
    no_errors(browser)
    injected = js(
        browser,
        "return document.querySelectorAll('img, iframe, object, embed, b, [onerror], [onload]').length",
    )
    assert injected == 0
    assert js(browser, "return document.scripts.length") == 2
    hrefs = js(
        browser, "return [...document.querySelectorAll('[href]')].map(e => e.getAttribute('href'))"
    )
    assert all(h.startswith(("#dialog-", "data:")) for h in hrefs), hrefs
    text = js(browser, "return document.body.textContent")
    for shown in (
        EVIL[0],
        EVIL[1],
        "486 " + EVIL[2],
        "javascript:alert(3)",
        "{{ 7*7 }}",
        "a\\u2028b\\u2029c",
    ):
        assert shown in text
    assert "\u2028" not in text and "\u2029" not in text
    agents = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#ladder .lane .agent")]
    assert agents == [EVIL[1], EVIL[0]]
    labels = browser.find_elements(By.CSS_SELECTOR, "#ladder button.arrow .label")
    assert text_of(labels[1]) == "486 " + EVIL[2]
    # The page still works: the panel shows the whole message, as text.
    browser.find_elements(By.CSS_SELECTOR, "#ladder button.arrow")[0].click()
    body = text_of(browser.find_element(By.ID, "detail-text"))
    assert f"User-Agent: {EVIL[1]}\n" in body
    assert "Subject: {{ 7*7 }} a\\u2028b\\u2029c\n" in body
    assert js(browser, "return document.querySelector('#detail-text').children.length") == 0
    no_errors(browser)


def test_every_view_is_covered_by_the_time_modes() -> None:
    """The switch offers the modes of RenderOptions, no more and no fewer."""
    page = html(capture(REG))
    values = re.findall(r'<input type="radio" name="time" value="(\w+)"', page)
    assert values == list(TIME_MODES)


def test_the_title_names_the_file_not_its_folders(tmp_path: Path) -> None:
    """A page is shared: the folders it was made in stay on the machine it was made on."""
    folder = tmp_path / "home" / "alice" / "tickets"
    folder.mkdir(parents=True)
    trace = evil_trace(folder)
    page = html(trace)
    assert "<title>sipsniff: evil.pcap</title>" in page
    assert str(folder) not in page
