"""The compact page of a big capture shows what the full page shows: in a real browser, the page of
each corpus capture forced compact draws the same call list, the same ladder of every dialog in
every time mode (with and without the message text), and the same message panel for every arrow as
the full page of the same capture.

The full page is given its ladders by ``render.html``; the compact page's script builds them from
its tables (``render.html_compact``, ``templates/compact.js``): this test holds the two to one
result.
"""

from __future__ import annotations

import base64
import io
import zoneinfo
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from sipsniff.model import Trace
from sipsniff.pipeline import read_trace
from sipsniff.render import html_compact
from sipsniff.render.base import RenderOptions
from sipsniff.render.html import HtmlRenderer
from sipsniff.render.html_text import LESS_THAN, TEXT_SEPARATOR, message_text, message_texts
from sipsniff.render.safe import decode
from tests.builders import UA_A as A
from tests.builders import UA_B as B
from tests.builders import sip_text, write_pcap
from tests.conftest import CAPTURES, CORPUS
from tests.tools import chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as chrome:
        chrome.set_script_timeout(300)  # every view of 30 dialogs of a capture of hundreds
        yield chrome


def page(trace: Trace, compact: bool, options: RenderOptions) -> str:
    """The page of every dialog of ``trace``, compact or full whatever its size."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(html_compact, "COMPACT_FROM", 1 if compact else 10**12)
        out = io.StringIO()
        HtmlRenderer().render(trace, list(trace.dialogs.values()), options, out)
    text = out.getvalue()
    assert ('id="chunk-0"' in text) == (compact and options.view != "list")
    return text


# Runs in the page: everything it shows, view after view (each after the microtasks its change
# queued: learn mode's script decorates a ladder drawn when its mutation observer is told).
_SHOWN = """
var [terms, most, done] = arguments;
var tick = () => Promise.resolve();
(async function () {
  var out = {list: null, ladders: []};
  function rows() {
    return [...document.querySelectorAll('#call-rows tr:not(.spacer)')].map(tr => [
      tr.id, tr.dataset.index, tr.dataset.callId, tr.getAttribute('aria-current'),
      [...tr.cells].map(td => [td.className, td.title, td.innerHTML, td.dataset.abs || null,
                               td.dataset.rel || null])]);
  }
  window.dispatchEvent(new Event('beforeprint'));  // a compact page then draws every row
  out.list = rows();
  window.dispatchEvent(new Event('afterprint'));
  var indexes = out.list.map(r => r[1]);
  if (indexes.length > most) {  // the first dialogs and the last few
    indexes = indexes.slice(0, most - 5).concat(indexes.slice(-5));
  }
  var ladder = document.getElementById('ladder');
  async function mode(value) {
    document.querySelector('#time input[value="' + value + '"]').click();
    await tick();
  }
  for (const index of (ladder ? indexes : [])) {
    location.hash = 'dialog-' + index;
    window.dispatchEvent(new HashChangeEvent('hashchange'));
    var views = [];
    for (const m of ['abs', 'rel', 'dialog', 'delta']) {
      await mode(m);
      views.push(ladder.innerHTML);
    }
    document.getElementById('full').click();
    await tick();
    views.push(ladder.innerHTML);
    document.getElementById('full').click();
    await mode('dialog');
    for (const arrow of ladder.querySelectorAll('button.arrow')) {
      arrow.click();
      views.push([document.getElementById('detail-title').textContent,
                  document.getElementById('detail-meta').innerHTML,
                  document.getElementById('detail-text').textContent]);
      document.getElementById('detail-close').click();
    }
    views.push(document.querySelector('.dlg-nav').innerHTML);
    out.ladders.push([index, views]);
  }
  var filter = document.getElementById('filter');
  for (const term of terms) {
    filter.value = term;
    filter.dispatchEvent(new Event('input'));
  }
  return out;
})().then(done, e => done({error: String(e)}));
"""


LADDERS = 30
"""Dialogs of a capture whose views are compared, at most (the call list is compared whole); 8
for a capture of hundreds (the full page takes a second a view there)."""


def shown(
    browser: Any, path: Path, text: str, terms: Sequence[str], ladders: int = LADDERS
) -> dict[str, Any]:
    path.write_text(text, encoding="utf-8")
    browser.get("about:blank")
    browser.get_log("browser")
    browser.get(path.as_uri())
    result: dict[str, Any] = browser.execute_async_script(_SHOWN, list(terms), ladders)
    assert "error" not in result
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    return result


def filtered(browser: Any) -> list[str]:
    return list(
        browser.execute_script(
            "return [...document.querySelectorAll('#call-rows tr:not(.spacer)')]"
            ".filter(tr => !tr.hidden).map(tr => tr.id)"
        )
    )


def same(browser: Any, tmp_path: Path, trace: Trace, options: RenderOptions) -> int:
    """Check that the two pages of ``trace`` show the same; the number of dialogs compared."""
    ladders = LADDERS if len(trace.dialogs) <= 100 else 8
    full = shown(browser, tmp_path / "full.html", page(trace, False, options), [], ladders)
    compact = shown(browser, tmp_path / "compact.html", page(trace, True, options), [], ladders)
    assert compact["list"] == full["list"]
    assert [i for i, _ in compact["ladders"]] == [i for i, _ in full["ladders"]]
    for (index, mine), (_, theirs) in zip(compact["ladders"], full["ladders"], strict=True):
        assert mine == theirs, f"dialog {index}"
    return len(full["list"])


def texts(raws: list[bytes]) -> list[str]:
    """What the page's script makes of ``message_texts(raws)``."""
    head, *split = message_texts(raws).split(TEXT_SEPARATOR)
    assert head == ""
    return [t.replace(LESS_THAN, "<") for t in split]


ODD = [
    b"",
    b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n",
    b"A\rB\r\n",
    b"A\x0cB",
    b"A\x0c|B\x0c-C",
    b"A\x00B\x1b[31m",
    "caf\u00e9 <sip:x> \u202e\u2028".encode(),
    b"\xff\xfe<",
    b"x" * 5000 + b"\r\ny",
    b"x\n\n",
    b"</script><!--<script>",
    b"\ttab\r\n",
]


def test_message_texts_are_the_panels_texts() -> None:
    """The texts of a chunk, worked out together, are each message's ``message_text``: for
    every message of the corpus, and for odd ones among plain ones (the slow path)."""
    plain = b"INVITE sip:b SIP/2.0\r\nFrom: <sip:a>\r\n\r\nv=0\r\n"
    for raws in ([plain] * 3, ODD, [plain, *ODD, plain], *([plain, odd] for odd in ODD)):
        assert texts(raws) == [message_text(decode(r)) for r in raws]
    assert message_texts([plain] * 3).isascii()
    for path in CORPUS_CAPTURES:
        raws = [e.msg.raw for e in read_trace([str(path)]).entries.values()]
        for at in range(0, len(raws), 500):
            part = raws[at : at + 500]
            assert texts(part) == [message_text(decode(r)) for r in part], path.name
            assert "<" not in message_texts(part)


CORPUS_CAPTURES = sorted(
    p for p in CORPUS.glob("*") if p.suffix in (".pcap", ".pcapng", ".cap") or "." not in p.name
)


@pytest.mark.parametrize("path", CORPUS_CAPTURES, ids=[p.name for p in CORPUS_CAPTURES])
def test_compact_page_shows_what_the_full_page_shows(
    browser: Any, tmp_path: Path, path: Path
) -> None:
    trace = read_trace([str(path)])
    if not trace.dialogs:
        pytest.skip("no dialogs")
    same(browser, tmp_path, trace, RenderOptions())


@pytest.mark.parametrize(
    "options",
    [
        RenderOptions(time="abs", tz=zoneinfo.ZoneInfo("Australia/Lord_Howe")),
        RenderOptions(time="delta", utc=True, by_host=True, full=True),
        RenderOptions(time="rel", tz=zoneinfo.ZoneInfo("America/St_Johns")),
        RenderOptions(explain="brief"),
    ],
    ids=["lord-howe", "by-host-full", "st-johns", "explain"],
)
def test_options_and_several_files(browser: Any, tmp_path: Path, options: RenderOptions) -> None:
    """Zones of half-hour offsets, columns by host, the text under the arrows, learn mode (its
    script decorates the ladder either page draws), two files."""
    files = [CAPTURES / "calls-lossy.pcap", CAPTURES / "register-407.pcap"]
    trace = read_trace([str(f) for f in files])
    assert same(browser, tmp_path, trace, options) == len(trace.dialogs) > 5
    if options.explain:
        text = shown(browser, tmp_path / "compact.html", page(trace, True, options), [])
        assert (
            "explain-text" in text["ladders"][0][1][0]
        )  # what the comparison saw was learn mode's


CHANGE = 1_729_990_800 * 10**9
"""2024-10-27 01:00:00 UTC: Paris goes from UTC+02:00 to UTC+01:00."""


def zone_change(tmp_path: Path) -> Trace:
    """A call across the change (its INVITE sent twice, refused an hour later), and a REGISTER
    challenged two days later, in a nanosecond capture."""

    def headers(call: str, method: str, tag: str = "") -> list[str]:
        return [
            f"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-{call}-{method}",
            "From: <sip:alice@example.com>;tag=a1",
            f"To: <sip:bob@example.com>{tag}",
            f"Call-ID: {call}",
            f"CSeq: 1 {method}",
        ]

    invite = sip_text("INVITE sip:bob@example.com SIP/2.0", headers("dst-1", "INVITE"))
    trying = sip_text("SIP/2.0 100 Trying", headers("dst-1", "INVITE"))
    busy = sip_text("SIP/2.0 486 Busy Here", headers("dst-1", "INVITE", ";tag=b1"))
    register = sip_text("REGISTER sip:example.com SIP/2.0", headers("dst-2", "REGISTER"))
    challenge = sip_text(
        "SIP/2.0 401 Unauthorized",
        [*headers("dst-2", "REGISTER", ";tag=r1"), 'WWW-Authenticate: Digest realm="x", nonce="1"'],
    )
    later = CHANGE + 2 * 86_400 * 10**9
    return read_trace(
        [
            str(
                write_pcap(
                    tmp_path / "change.pcap",
                    [
                        (CHANGE - 500_000_001, A, B, invite),
                        (CHANGE + 123, B, A, trying),
                        (CHANGE + 1_000_000_007, A, B, invite),
                        (CHANGE + 3_600 * 10**9 + 9, B, A, busy),
                        (later, A, B, register),
                        (later + 1_234_567, B, A, challenge),
                    ],
                )
            )
        ]
    )


def test_a_change_of_zone_within_a_dialog(browser: Any, tmp_path: Path) -> None:
    """Wall-clock times on both sides of a daylight-saving change, to the nanosecond, the dates of
    the call list (its dialogs start on two days), the notes of a retransmission and a challenge."""
    trace = zone_change(tmp_path)
    paris = RenderOptions(time="abs", tz=zoneinfo.ZoneInfo("Europe/Paris"))
    assert same(browser, tmp_path, trace, paris) == 2
    # What the two showed alike: the clock going back an hour, the date in the call list.
    full = page(trace, False, paris)
    for shown_here in ("02:59:59.499999999", "02:00:00.000000123", "2024-10-29 02:00:00.000000000"):
        assert shown_here in full
    zones = f"[[{CHANGE // 10**9 - 3600},7200],[{CHANGE // 10**9},3600]]"
    assert zones in page(trace, True, paris)


def test_the_filter_and_the_list_view(browser: Any, tmp_path: Path) -> None:
    """The filter finds the same dialogs in both pages, and a page of the call list alone is
    compact too (its script draws the rows in view)."""
    trace = read_trace([str(CAPTURES / "calls-lossy.pcap")])
    terms = ["3-5575", "completed 127.0.0.1:23906", "nothing-like-this", ""]
    for options in (RenderOptions(), RenderOptions(view="list")):
        pages = [page(trace, compact, options) for compact in (False, True)]
        results = []
        for text in pages:
            seen = []
            for term in terms:
                shown(browser, tmp_path / "page.html", text, [term])
                # The filter runs 120 ms after the last key.
                browser.execute_async_script("setTimeout(arguments[0], 400)")
                seen.append((filtered(browser), browser.find_element("id", "shown").text))
            results.append(seen)
        assert results[0] == results[1]
        assert results[0][0][0] == ["call-2"]


def test_packed_tables_and_their_fallback() -> None:
    """Tables travel as base64 of 64-bit integers; one that does not fit makes the table a list
    (numbers, null for NONE, strings where a double would not hold them whole)."""
    values = [0, -1, 2**53, html_compact.NONE, 2**63 - 1]
    assert array("q", base64.b64decode(str(html_compact.packed(values)))).tolist() == values
    over = [1, 2**63, html_compact.NONE, 2**53 - 1]
    assert html_compact.packed(over) == [1, str(2**63), None, 2**53 - 1]
    columns = [lambda: iter([1, 2]), lambda: iter([2**64, 3])]
    assert html_compact.packed_columns(columns) == [1, 2, str(2**64), 3]
    # A table written in pieces is the base64 of the whole.
    big = array("q", range(-(3 << 18), 3 << 18, 3))
    pieces = list(html_compact.base64_pieces(big))
    assert len(pieces) > 2 and all(len(p) % 4 == 0 and "=" not in p for p in pieces[:-1])
    assert "".join(pieces) == html_compact.packed(big.tolist())
    assert array("q", base64.b64decode("".join(pieces))) == big


def test_zone_table_finds_each_change_to_the_second() -> None:
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    change = CHANGE // 10**9
    table = html_compact.zone_table([change - 5000, change + 10, change + 86_400 * 180], paris)
    assert table == [[change - 7200, 7200], [change, 3600], [change + 86_400 * 180, 7200]]
    howe = zoneinfo.ZoneInfo("Australia/Lord_Howe")  # half an hour on, at half past the hour
    october = 1_728_140_400  # 2024-10-05 15:00 UTC: 01:30 local, UTC+10:30
    assert html_compact.zone_table([october + 10], howe) == [
        [october, 37_800],
        [october + 1800, 39_600],
    ]
