"""Running sipsniff and the tools the tests compare it with (tshark, sipp, tcpdump) as processes:
free ports, waiting for a line, stopping with a signal, tshark's dissection as an oracle. Shared by
the tests (one place: a test module imports these, never another test module's)."""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.conftest import ROOT, SHARED

SIPP_DIR = SHARED / "sipp"


def need_capture_tools() -> None:
    if os.geteuid() != 0:
        pytest.skip("live capture needs root (CAP_NET_RAW); CI runs as root")
    for tool in ("sipp", "tcpdump"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt-get install sip-tester tcpdump)")
    if not SIPP_DIR.exists():
        pytest.skip(f"{SIPP_DIR} is absent: the shared sipp scenarios lie beside the project")


def free_ports(n: int) -> list[int]:
    """``n`` distinct UDP ports free now on 127.0.0.1 (random high ports, chosen by the kernel)."""
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def port_filter(ports: Sequence[int]) -> list[str]:
    return " or ".join(f"udp port {p}" for p in ports).split()


def wait_line(proc: subprocess.Popen[bytes], pattern: bytes, timeout: float = 15) -> bytes:
    """Read stderr lines of ``proc`` until one contains ``pattern``; fail after ``timeout``."""
    assert proc.stderr is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stderr, selectors.EVENT_READ)
    seen = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not sel.select(end - time.monotonic()):
            break
        line = proc.stderr.readline()
        if not line:
            break
        seen += line
        if pattern in line:
            return line
    proc.kill()
    raise AssertionError(f"no {pattern!r} from {proc.args!r}: {seen!r}")


def live_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "sipsniff", "live", *args]


@contextmanager
def running(args: list[str], ready: bytes, **kw: Any) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``args``, wait for ``ready`` on its stderr; kill it on the way out if still running."""
    with subprocess.Popen(args, stderr=subprocess.PIPE, cwd=kw.pop("cwd", ROOT), **kw) as proc:
        try:
            wait_line(proc, ready)
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 30) -> str:
    """Signal ``proc`` and wait for it; its remaining stderr."""
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return (err or b"").decode()


class Seen(NamedTuple):
    """One SIP message as tshark dissects it."""

    frame: int
    label: str
    call_id: str
    cseq: str
    frames: tuple[int, ...]
    """The completing frame and every segment or fragment tshark reassembled it from."""


def tshark_messages(path: Path, extra: tuple[str, ...] = ()) -> list[Seen]:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (apt-get install tshark): it is the oracle here")
    args = ["tshark", "-n", "-r", str(path), *extra, "-Y", "sip", "-T", "pdml"]
    out = subprocess.run(args, capture_output=True, check=True).stdout
    seen: list[Seen] = []
    for pkt in ET.fromstring(out).iter("packet"):
        number = 0
        parts: set[int] = set()
        for f in pkt.iter("field"):
            name = f.get("name")
            if name == "frame.number":
                number = int(f.get("show", "0"))
            elif name in {"tcp.segment", "ip.fragment", "ipv6.fragment"}:
                parts.add(int(f.get("show", "0")))
        for proto in pkt.iter("proto"):
            if proto.get("name") != "sip":
                continue
            values: dict[str, str] = {}
            for f in proto.iter("field"):
                name = f.get("name", "")
                if name.startswith("sip.") and name not in values:
                    values[name] = f.get("show", "")
            label = values.get("sip.Method") or values.get("sip.Status-Code", "")
            seen.append(
                Seen(
                    number,
                    label,
                    values.get("sip.Call-ID", ""),
                    " ".join(values.get("sip.CSeq", "").split()),
                    tuple(sorted(parts | {number})),
                )
            )
    return seen


CHROMIUM_ALERT_HOOK = """
window.__alerts = [];
for (const name of ["alert", "confirm", "prompt"]) {
  window[name] = function (m) { window.__alerts.push(name + ": " + String(m)); };
}
"""
"""Records what a page would alert instead of blocking the browser (a test reads
``window.__alerts``)."""


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless chromium driven by Selenium through chromedriver (Debian's, or
    SIPSNIFF_CHROMIUM / SIPSNIFF_CHROMEDRIVER), its console log kept; skips the test when one of
    them is absent."""
    try:
        from selenium.webdriver import Chrome, ChromeOptions
        from selenium.webdriver.chrome.service import Service
    except ImportError:  # pragma: no cover - the test extra installs it
        pytest.skip("selenium is absent: pip install selenium (the test extra has it)")
    import tempfile

    binary = os.environ.get("SIPSNIFF_CHROMIUM") or shutil.which("chromium")
    driver = os.environ.get("SIPSNIFF_CHROMEDRIVER") or shutil.which("chromedriver")
    if not binary or not driver:
        pytest.skip("chromium or chromedriver is absent: apt-get install chromium chromium-driver")
    profile = tempfile.TemporaryDirectory(prefix="sipsniff-chromium-")
    options = ChromeOptions()
    options.binary_location = binary
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile.name}",
        "--window-size=1280,900",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = Chrome(service=Service(driver), options=options)
    browser.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument", {"source": CHROMIUM_ALERT_HOOK}
    )
    try:
        yield browser
    finally:
        browser.quit()
        profile.cleanup()
