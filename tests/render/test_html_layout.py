"""The HTML page's layout in a real browser at 1200 px, and the compact page of a big capture.

(The title naming the file, not its folders, is tests/render/test_html.py's last test.)
"""

from __future__ import annotations

import base64
import io
import json
import re
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sipsniff.model import Trace
from sipsniff.render import html_compact
from sipsniff.render.base import RenderOptions
from sipsniff.render.html import HtmlRenderer
from sipsniff.render.html_compact import (
    CHUNK_MESSAGES,
    COMPACT_FROM,
    DIALOG_FIELDS,
    MESSAGE_FIELDS,
)
from sipsniff.render.html_text import TEXT_SEPARATOR
from tests.builders import EVIL, T0, capture, evil_trace, options_capture, sip_text, write_pcap
from tests.builders import UA_A as A
from tests.builders import UA_B as B
from tests.tools import chromium

By: Any
try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - the test extra installs it
    pass


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as chrome:
        yield chrome


def html(trace: Trace) -> str:
    out = io.StringIO()
    HtmlRenderer().render(trace, list(trace.dialogs.values()), RenderOptions(), out)
    return out.getvalue()


def open_page(browser: Any, path: Path, page: str, width: int = 1200) -> None:
    path.write_text(page, encoding="utf-8")
    browser.set_window_size(width, 900)
    browser.get("about:blank")
    browser.get_log("browser")
    browser.get(path.as_uri())


def no_errors(browser: Any) -> None:
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    assert browser.execute_script("return window.__alerts") == []


def call(tmp_path: Path, reason: str, user: str = "alice") -> Path:
    """One INVITE answered by a final response with ``reason``, From a long user name."""
    headers = [
        "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1",
        f'From: "{user.title()}" <sip:{user}@a-rather-long-domain-name.example.com>;tag=f1',
        f"To: <sip:{user}-the-callee@another-long-domain-name.example.org>",
        "Call-ID: layout-1",
        "CSeq: 1 INVITE",
    ]
    invite = sip_text("INVITE sip:bob@example.org SIP/2.0", headers)
    answer = sip_text(f"SIP/2.0 {reason}", [*headers[:2], headers[2] + ";tag=t1", *headers[3:]])
    return write_pcap(tmp_path / "call.pcap", [(T0, A, B, invite), (T0 + 10**6, B, A, answer)])


def test_call_list_fits_1200_px(browser: Any, tmp_path: Path) -> None:
    trace = capture(call(tmp_path, "486 Busy Here", user="a" * 60 + "-long-user"))
    open_page(browser, tmp_path / "call.html", html(trace))
    fit = browser.execute_script(
        """
        var box = document.querySelector('#calls .scroll');
        var heads = [...document.querySelectorAll('.calls th')];
        var last = heads[heads.length - 1].getBoundingClientRect();
        var from = document.querySelector('.calls td.party');
        return [box.scrollWidth, box.clientWidth, heads[heads.length - 1].textContent,
                last.width, last.right, box.getBoundingClientRect().right,
                document.documentElement.scrollWidth, window.innerWidth,
                from.scrollWidth, from.clientWidth, from.title];
        """
    )
    scroll, client, name, width, right, box_right, page, window, cut, room, title = fit
    assert scroll <= client  # no sideways scroll in the list
    assert page <= window  # nor in the page
    assert name == "Duration" and width > 40 and right <= box_right
    assert cut > room  # From ends in "…" ...
    assert title.startswith("sip:" + "a" * 60)  # ... and its title has it whole
    no_errors(browser)


def label_fit(browser: Any) -> list[list[Any]]:
    return list(
        browser.execute_script(
            """
            return [...document.querySelectorAll('#ladder button.arrow .label')].map(
              l => [l.firstChild.textContent, l.scrollWidth, l.clientWidth]);
            """
        )
    )


def lane(browser: Any) -> float:
    return float(
        browser.execute_script(
            "return document.querySelector('#ladder .lane').getBoundingClientRect().width"
        )
    )


def test_labels_use_their_room(browser: Any, tmp_path: Path) -> None:
    reason = "407 Proxy Authentication Required Because This Proxy Says So"
    open_page(browser, tmp_path / "call.html", html(capture(call(tmp_path, reason))))
    labels = label_fit(browser)
    assert [text for text, _, _ in labels] == ["INVITE", reason]
    assert all(wide <= room for _, wide, room in labels), labels  # nothing cut
    assert 190 < lane(browser) < 560  # the lanes grew to fit it, no further
    # A label that cannot fit between its lifelines at the widest lane is cut there.
    long = "486 " + "Busy " * 80
    open_page(browser, tmp_path / "long.html", html(capture(call(tmp_path, long.strip()))))
    (_, short_wide, short_room), (_, wide, room) = label_fit(browser)
    assert short_wide <= short_room and wide > room
    assert lane(browser) == 560
    no_errors(browser)


def test_short_labels_keep_the_default_lanes(browser: Any, tmp_path: Path) -> None:
    open_page(browser, tmp_path / "call.html", html(capture(call(tmp_path, "200 OK"))))
    assert lane(browser) == 190
    no_errors(browser)


def unpacked(text: str) -> list[int]:
    """A packed table of the compact page (``html_compact.packed``)."""
    return array("q", base64.b64decode(text)).tolist()


def test_big_capture_gives_a_compact_page(browser: Any, tmp_path: Path) -> None:
    dialogs = COMPACT_FROM // 2  # two messages each: just compact
    path = tmp_path / "options.pcap"
    options_capture(path, dialogs)
    trace = capture(path)
    page = html(trace)
    found = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S)
    assert found is not None
    data = json.loads(found[1])
    assert data["messages"] == [] and data["dialogs"] == []
    compact = data["compact"]
    assert compact["dialogs"] is None  # packed, in an element of its own
    element = re.search(r'<script type="text/plain" id="dialog-table">(.*?)</script>', page, re.S)
    assert element is not None and page.index('id="data"') < element.start()
    table = unpacked(element[1])
    assert len(table) == dialogs * len(DIALOG_FIELDS)
    assert table[:dialogs] == list(trace.dialogs)  # a column after another: ids first
    # What the script reads before the call list works: a row per dialog, no message.
    assert len(found[1]) < 200 * dialogs
    chunks = re.findall(r'<script type="text/plain" id="chunk-(\d+)">(.*?)</script>', page, re.S)
    assert [int(n) for n, _ in chunks] == list(range(len(compact["chunks"])))
    assert len(chunks) == dialogs * 2 // CHUNK_MESSAGES
    head, *texts = chunks[0][1].split(TEXT_SEPARATOR)
    table = unpacked(json.loads(head)["table"])
    messages = table[: len(table) // len(MESSAGE_FIELDS)]  # a column after another: ids first
    assert messages[:4] == trace.dialogs[1].messages + trace.dialogs[2].messages
    assert len(texts) == len(messages) == CHUNK_MESSAGES
    # The first chunk comes before the page's script, the others after it.
    assert page.index('id="chunk-0"') < page.index("<script>") < page.index('id="chunk-1"')

    open_page(browser, tmp_path / "options.html", page)
    assert browser.find_element(By.ID, "shown").text == f"{dialogs} dialogs"
    drawn = "return document.querySelectorAll('#call-rows tr:not(.spacer)').length"
    assert 10 < browser.execute_script(drawn) < 100  # the rows in view, not 10,000
    assert browser.find_element(By.CSS_SELECTOR, "#ladder h2").text == "Dialog 1"
    target = dialogs - 7
    browser.execute_script(
        "var box = document.querySelector('#calls .scroll');"
        "box.scrollTop = box.scrollHeight * arguments[0];",
        (target - 3) / dialogs,
    )
    row = WebDriverWait(browser, 5).until(lambda b: b.find_element(By.ID, f"call-{target}"))
    browser.execute_script("arguments[0].scrollIntoView({block: 'nearest'})", row)
    row.find_elements(By.TAG_NAME, "td")[2].click()  # the row, not its link
    WebDriverWait(browser, 5).until(
        lambda b: b.find_element(By.CSS_SELECTOR, "#ladder h2").text == f"Dialog {target}"
    )
    assert (
        browser.find_element(By.CSS_SELECTOR, ".calls tr[aria-current]").get_attribute("id")
        == f"call-{target}"
    )
    arrows = browser.find_elements(By.CSS_SELECTOR, "#ladder button.arrow")
    assert len(arrows) == 2
    arrows[1].click()
    msg = trace.entries[trace.dialogs[target].messages[1]].msg
    text = browser.find_element(By.ID, "detail-text").get_property("textContent")
    assert text == msg.raw.decode().replace("\r\n", "\n").removesuffix("\n")
    assert f"frame {msg.frame}" in browser.find_element(By.ID, "detail-meta").text.replace(
        "\n", " "
    )
    no_errors(browser)


def test_a_dialog_table_that_does_not_fit_64_bits_travels_listed(
    browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table with a number beyond 64 bits (a broken capture's time) is listed in the data, with
    no element of its own, and the script draws the same list and ladders from it."""
    dialogs = COMPACT_FROM // 2
    path = tmp_path / "options.pcap"
    options_capture(path, dialogs)
    trace = capture(path)
    packed = html(trace)

    def listed(columns: Any) -> Any:
        return html_compact.listed([value for column in columns for value in column()])

    monkeypatch.setattr(html_compact, "packed_columns", listed)
    page = html(trace)
    found = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S)
    assert found is not None and 'id="dialog-table"' not in page and 'id="dialog-table"' in packed
    table = json.loads(found[1])["compact"]["dialogs"]
    assert table[:dialogs] == list(trace.dialogs)
    open_page(browser, tmp_path / "listed.html", page)
    assert browser.find_element(By.ID, "shown").text == f"{dialogs} dialogs"
    assert browser.find_element(By.CSS_SELECTOR, "#ladder h2").text == "Dialog 1"
    rows = (
        "return [...document.querySelectorAll('#call-rows tr:not(.spacer)')].map(r => r.innerText)"
    )
    listed_rows = browser.execute_script(rows)
    open_page(browser, tmp_path / "packed.html", packed)
    assert browser.execute_script(rows) == listed_rows and listed_rows
    no_errors(browser)


def test_compact_page_keeps_hostile_text_text(
    browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(html_compact, "COMPACT_FROM", 1)
    page = html(evil_trace(tmp_path))
    block = re.search(r'<script type="text/plain" id="chunk-0">(.*?)</script>', page, re.S)
    assert block is not None and "<" not in block[1] and "\u2028" not in block[1]
    table = re.search(r'<script type="text/plain" id="dialog-table">(.*?)</script>', page, re.S)
    assert table is not None and re.fullmatch(r"[A-Za-z0-9+/=]*", table[1])
    assert page.count("</script>") == 5  # the data, the dialog table, the chunk, two scripts
    open_page(browser, tmp_path / "evil.html", page)
    for arrow in browser.find_elements(By.CSS_SELECTOR, "#ladder button.arrow"):
        arrow.click()
        browser.find_element(By.ID, "detail-close").click()
    injected = browser.execute_script(
        "return document.querySelectorAll('img, iframe, object, embed, b, [onerror]').length"
    )
    assert injected == 0
    text = browser.execute_script("return document.body.textContent")
    assert EVIL[0] in text and "486 " + EVIL[2] in text
    no_errors(browser)
