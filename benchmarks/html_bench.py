"""The HTML page of a big capture: how fast it is written, how big it is, how fast a browser shows it.

Writes ``read -f html`` and ``read -f json`` of the same capture (default /tmp/bench-udp.pcap, else
read_bench's cached one) in interleaved rounds (``--repeat``), printing wall time, CPU time and
peak RSS (from wait4) of each run and the page's size, then the best of each format and the
ratios HTML / JSON (the bound of issues 17 and 18: 1). Then opens the page in headless chromium
(Selenium and chromedriver, as the browser tests do) and prints, from navigation start: when the
call list shows (its first row laid out), the first contentful paint, the load event; and the time
to draw a ladder when a dialog is chosen: the last one (whose data the page has not read yet) and
another of the same part (read already).

With ``--instructions``, each format is also run once under valgrind (cachegrind, no cache
simulation: some minutes each), which counts the machine instructions it executed, in every process
(the reader's worker too): a figure the machine's other jobs do not change, where times of one run
to the next differ by 20 %.

usage: python benchmarks/html_bench.py [--file CAPTURE] [--repeat N] [--keep DIR] [--no-browser]
                                       [--instructions]

The machine of issue 18 is shared and noisy: compare figures of one run (interleaved), not runs.
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
ROOT = HERE.parent


def run(args: list[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user and system, its children's too) and peak RSS (KiB) of one
    sipsniff run, started from outside the project (so that ``-m sipsniff`` takes the sipsniff
    this script belongs to, by PYTHONPATH, not whatever the working directory holds)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sipsniff", *args], stdout=subprocess.DEVNULL, cwd="/", env=env
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"html_bench: sipsniff {' '.join(args)} failed")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def instructions(args: list[str]) -> int:
    """Machine instructions one sipsniff run executed, in all its processes (valgrind's
    cachegrind, which follows the reader's forked worker)."""
    if shutil.which("valgrind") is None:
        sys.exit("html_bench: --instructions needs valgrind (apt-get install valgrind)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    valgrind = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
    ]
    proc = subprocess.run(
        [*valgrind, sys.executable, "-m", "sipsniff", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd="/",
        env=env,
        check=False,
    )
    counts = [
        int(line.split(":")[1].replace(",", ""))
        for line in proc.stderr.splitlines()
        if "I   refs:" in line or "I    refs:" in line
    ]
    if proc.returncode != 0 or not counts:
        sys.exit(f"html_bench: valgrind sipsniff {' '.join(args)} failed")
    return sum(counts)


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

# Chooses the last dialog of the list (scrolled to its end: a compact page draws the rows in view
# only), then another near it, each as a click on its row does, and times the drawing.
_CHOOSE = """
var done = arguments[arguments.length - 1];
var box = document.querySelector('#calls .scroll');
box.scrollTop = box.scrollHeight;
requestAnimationFrame(function () { requestAnimationFrame(function () {
  var rows = document.querySelectorAll('#call-rows tr[data-index]');
  var times = [];
  for (const tr of [rows[rows.length - 1], rows[0]]) {
    var t0 = performance.now();
    location.hash = 'dialog-' + tr.dataset.index;
    window.dispatchEvent(new HashChangeEvent('hashchange'));
    times.push([performance.now() - t0, document.querySelector('#ladder h2').textContent,
                document.querySelectorAll('#ladder button.arrow').length]);
  }
  done(times);
}); });
"""


def in_browser(page: Path) -> None:
    chrome = browser()
    try:
        chrome.set_page_load_timeout(600)
        chrome.set_script_timeout(600)
        chrome.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _WATCH})
        start = time.perf_counter()
        chrome.get(page.as_uri())
        loaded = time.perf_counter() - start
        shown = chrome.execute_script("return window.__listShown")
        paint = chrome.execute_script(
            "var p = performance.getEntriesByName('first-contentful-paint')[0];"
            " return p ? p.startTime : null"
        )
        load = chrome.execute_script(
            "return performance.getEntriesByType('navigation')[0].loadEventStart"
        )
        total = chrome.find_element("id", "shown").text
        chosen = chrome.execute_async_script(_CHOOSE)

        def s(value: float | None) -> str:
            return "-" if value is None else f"{value / 1000:.2f} s"

        print(f"call list shown  {s(shown)} ({total})")
        print(f"first paint      {s(paint)}")
        print(f"load event       {s(load)} (driver.get returned after {loaded:.2f} s)")
        for (ms, title, arrows), which in zip(chosen, ("last dialog", "another"), strict=True):
            print(f"ladder drawn     {ms:.0f} ms: {which}, {title}, {arrows} arrows")
    finally:
        chrome.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, help="capture (default: /tmp/bench-udp.pcap)")
    parser.add_argument("--repeat", type=int, default=2, help="interleaved rounds (default 2)")
    parser.add_argument("--keep", type=Path, help="write the outputs here, and keep them")
    parser.add_argument("--no-browser", action="store_true", help="skip chromium")
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions under valgrind too"
    )
    args = parser.parse_args()
    capture = args.file or next((p for p in DEFAULTS if p.exists()), None)
    if capture is None or not capture.exists():
        sys.exit("html_bench: no capture: give --file, or run benchmarks/read_bench.py first")
    capture = capture.resolve()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="html-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"{capture} ({capture.stat().st_size / 1e6:.0f} MB)")
    print(f"{'output':<8}{'wall':>9}{'CPU':>9}{'peak RSS':>11}{'size':>10}")
    best: dict[str, tuple[float, float, int]] = {}
    for _ in range(args.repeat):
        for fmt in ("json", "html"):
            out = folder / f"bench.{fmt}"
            wall, cpu, rss = run(["read", str(capture), "-f", fmt, "-o", str(out)])
            size = out.stat().st_size / 1e6
            print(f"{fmt:<8}{wall:>8.1f}s{cpu:>8.1f}s{rss / 1024:>8.0f} MB{size:>7.0f} MB")
            old = best.get(fmt)
            best[fmt] = (
                (wall, cpu, rss)
                if old is None
                else (min(old[0], wall), min(old[1], cpu), min(old[2], rss))
            )
    (jw, jc, jr), (hw, hc, hr) = best["json"], best["html"]
    print(
        f"best: json {jw:.1f} s {jc:.1f} s CPU {jr / 1024:.0f} MB, html {hw:.1f} s {hc:.1f} s CPU"
        f" {hr / 1024:.0f} MB; html / json: wall {hw / jw:.2f}x, CPU {hc / jc:.2f}x,"
        f" RSS {hr / jr:.2f}x"
    )
    if args.instructions:
        counts = {
            fmt: instructions(["read", str(capture), "-f", fmt, "-o", str(folder / f"bench.{fmt}")])
            for fmt in ("json", "html")
        }
        print(
            f"instructions: json {counts['json'] / 1e9:.2f} G, html {counts['html'] / 1e9:.2f} G;"
            f" html / json {counts['html'] / counts['json']:.2f}x"
        )
    if not args.no_browser:
        in_browser(folder / "bench.html")
    if args.keep is None:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
