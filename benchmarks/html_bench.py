"""The HTML page of a big capture: how fast it is written, how big it is, how fast a browser shows it.

Writes ``read -f html`` and ``read -f json`` of the same capture (default /tmp/bench-udp.pcap, else
read_bench's cached one), printing wall time, peak RSS (from wait4) and output size of each; then
opens the page in headless chromium (Selenium and chromedriver, as the browser tests do) and prints
the time until the call list shows (its first row laid out, from navigation start), the first
contentful paint, the load event, and the time to draw a ladder when a dialog is clicked.

usage: python benchmarks/html_bench.py [--file CAPTURE] [--keep DIR] [--no-browser]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULTS = (Path("/tmp/bench-udp.pcap"), HERE / ".cache" / "sipp-30000-calls.pcap")


def run(args: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one sipsniff run."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "sipsniff", *args], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"html_bench: sipsniff {' '.join(args)} failed")
    return wall, usage.ru_maxrss


def browser() -> Any:
    from selenium.webdriver import Chrome, ChromeOptions
    from selenium.webdriver.chrome.service import Service

    binary = os.environ.get("SIPSNIFF_CHROMIUM") or shutil.which("chromium")
    driver = os.environ.get("SIPSNIFF_CHROMEDRIVER") or shutil.which("chromedriver")
    if not binary or not driver:
        sys.exit("html_bench: apt-get install chromium chromium-driver")
    options = ChromeOptions()
    options.binary_location = binary
    profile = tempfile.mkdtemp(prefix="html-bench-chromium-")
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1200,900",
    ):
        options.add_argument(arg)
    return Chrome(service=Service(driver), options=options)


# Runs in the page before its own scripts: note when the first row of the call list is laid out.
_WATCH = """
window.__listShown = null;
(function poll() {
  var row = document.querySelector('#call-rows tr');
  if (row && row.getBoundingClientRect().height > 0) {
    window.__listShown = performance.now();
  } else {
    requestAnimationFrame(poll);
  }
})();
"""


def in_browser(page: Path) -> None:
    chrome = browser()
    try:
        chrome.set_page_load_timeout(600)
        chrome.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _WATCH})
        start = time.perf_counter()
        chrome.get(page.as_uri())
        loaded = time.perf_counter() - start
        shown = chrome.execute_script("return window.__listShown")
        paint = chrome.execute_script(
            "var p = performance.getEntriesByName('first-contentful-paint')[0];"
            " return p ? p.startTime : null"
        )
        rows = chrome.execute_script("return document.querySelectorAll('#call-rows tr').length")
        last = chrome.execute_script(
            "var r = document.querySelectorAll('#call-rows tr'); return r[r.length - 1].dataset.index"
        )
        clicked = chrome.execute_script(
            """
            var t0 = performance.now();
            location.hash = 'dialog-' + arguments[0];
            window.dispatchEvent(new HashChangeEvent('hashchange'));
            var arrows = document.querySelectorAll('#ladder button.arrow').length;
            return [performance.now() - t0, arrows, document.querySelector('#ladder h2').textContent];
            """,
            last,
        )

        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value / 1000:.2f} s"

        print(f"call list shown  {ms(shown)} ({rows} rows)")
        print(f"first paint      {ms(paint)}")
        print(f"loaded           {loaded:.2f} s (driver.get)")
        print(f"ladder drawn     {clicked[0]:.0f} ms ({clicked[2]}, {clicked[1]} arrows)")
    finally:
        chrome.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, help="capture (default: /tmp/bench-udp.pcap)")
    parser.add_argument("--keep", type=Path, help="write the outputs here, and keep them")
    parser.add_argument("--no-browser", action="store_true", help="skip chromium")
    args = parser.parse_args()
    capture = args.file or next((p for p in DEFAULTS if p.exists()), None)
    if capture is None or not capture.exists():
        sys.exit("html_bench: no capture: give --file, or run benchmarks/read_bench.py first")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="html-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"{capture} ({capture.stat().st_size / 1e6:.0f} MB)")
    print(f"{'output':<8}{'wall':>9}{'peak RSS':>11}{'size':>10}")
    for fmt in ("json", "html"):
        out = folder / f"bench.{fmt}"
        wall, rss = run(["read", str(capture), "-f", fmt, "-o", str(out)])
        size = out.stat().st_size / 1e6
        print(f"{fmt:<8}{wall:>8.1f}s{rss / 1024:>8.0f} MB{size:>7.0f} MB")
    if not args.no_browser:
        in_browser(folder / "bench.html")
    if args.keep is None:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
