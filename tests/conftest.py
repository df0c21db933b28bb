"""Shared fixtures: where the shared corpus lies, and skips with a reason when it does not."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus" / "public"
ORACLE = SHARED / "corpus" / "oracle"
RFC4475 = SHARED / "corpus" / "rfc4475"
CAPTURES = ROOT / "captures"


def need(path: Path) -> Path:
    """Return ``path``, or skip the test when the shared material is not beside the project."""
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared corpus lies beside the project in ../shared")
    return path


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
