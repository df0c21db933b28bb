"""Shared fixtures: where the shared corpus lies, and skips with a reason when it does not."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus" / "public"
ORACLE = SHARED / "corpus" / "oracle"
RFC4475 = SHARED / "corpus" / "rfc4475"
CAPTURES = ROOT / "captures"

# A shell without job control starts a background job with SIGINT ignored, and every process the
# tests start would inherit that: a test that stops sipsniff with SIGINT (as Ctrl-C does) would
# then wait for a process that rightly ignores it. A handler, unlike SIG_IGN, is not inherited.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
# Output laid out to a width is the tests' choice (``COLUMNS`` given to the run they make), not the
# environment's: a shell, a CI runner or pytest-xdist's workers (COLUMNS=80) may set one.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)


def need(path: Path) -> Path:
    """Return ``path``, or skip the test when the shared material is not beside the project."""
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared corpus lies beside the project in ../shared")
    return path


# The tests run in parallel (pytest-xdist, ``-n auto --dist loadgroup``), except these modules: they
# capture on loopback (tcpdump, ``sipsniff live -i lo``, capture.sh's filter takes every IPv6 packet
# and every fragment), send to it (sipp, HEP, real peers in namespaces), or drive chromium and tmux,
# whose own loopback traffic another test's capture would see. They run one after another, in one
# worker, beside the tests that only read files.
SERIAL_MODULES = frozenset(
    f"tests/{name}.py"
    for name in (
        "analysis/test_auth",
        "browse/test_tmux",
        "capture/test_hep_sender",
        "cli/test_explain",
        "cli/test_hep",
        "net/test_tls",
        "render/test_diagram",
        "render/test_html",
        "render/test_html_compact",
        "render/test_html_layout",
        "test_hep_interop",
        "test_homer",
        "test_limits",
        "test_live",
        "test_peers",
        "test_portable",
        "test_pyshark_oracle",
        "test_scenarios",
    )
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.relative_to(ROOT).as_posix() in SERIAL_MODULES:
            item.add_marker(pytest.mark.xdist_group("loopback"))


@pytest.fixture
def corpus() -> Path:
    return need(CORPUS)


@pytest.fixture
def oracle() -> Path:
    return need(ORACLE)


@pytest.fixture
def rfc4475() -> Path:
    return need(RFC4475)


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Process ids of the worker processes (``pipeline.parallel.Worker``) started from now on, so
    that a test can tell that the two-process path ran, and that its workers are gone."""
    from sipsniff.pipeline import parallel

    pids: list[int] = []
    start = parallel.Worker.start

    def spy(self: parallel.Worker) -> None:
        start(self)
        assert self.pid is not None
        pids.append(self.pid)

    monkeypatch.setattr(parallel.Worker, "start", spy)
    return pids
