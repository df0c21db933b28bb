"""``findings.registry``: every detector of the package registered, in the order docs/findings.md
lists their kinds, each kind from one detector (what keeps the ranking's ties in a fixed order)."""

from __future__ import annotations

import importlib
import pkgutil
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

import sipsniff.analysis.findings as package
from sipsniff.analysis.findings import DETECTORS, KINDS, Detector

DOCS = Path(__file__).resolve().parents[3] / "docs" / "findings.md"

SUPPORT = {
    "addresses",
    "builder",
    "causes",
    "context",
    "detector",
    "model",
    "peers",
    "registry",
    "serialise",
}
"""The modules of the package that are not detectors."""


def documented_kinds(text: str) -> list[str]:
    """The kinds of the table under "The detectors and their rules", top to bottom."""
    section = text.split("## The detectors and their rules", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z-]+)` \|", section, re.MULTILINE)


def detectors_in(pkg: ModuleType) -> dict[str, set[type[Detector]]]:
    """Module name -> the ``Detector`` subclasses it defines, for every module of ``pkg``."""
    found: dict[str, set[type[Detector]]] = {}
    for info in pkgutil.iter_modules(pkg.__path__):
        module = importlib.import_module(f"{pkg.__name__}.{info.name}")
        found[info.name] = {
            obj
            for obj in vars(module).values()
            if isinstance(obj, type)
            and issubclass(obj, Detector)
            and obj is not Detector
            and obj.__module__ == module.__name__
        }
    return found


def unregistered(pkg: ModuleType, registry: tuple[type[Detector], ...]) -> list[str]:
    """The detectors defined in ``pkg`` that ``registry`` leaves out."""
    defined = set().union(*detectors_in(pkg).values())
    return sorted(d.__name__ for d in defined - set(registry))


def test_registry_in_documented_order() -> None:
    kinds = documented_kinds(DOCS.read_text(encoding="utf-8"))
    assert len(kinds) == 12
    assert list(KINDS) == kinds


def test_every_detector_registered_once() -> None:
    assert unregistered(package, DETECTORS) == []
    assert len(set(DETECTORS)) == len(DETECTORS)


def test_every_module_a_detector_or_support() -> None:
    """A new module of the package is one or the other: a detector module defines a detector."""
    found = detectors_in(package)
    assert found.keys() >= SUPPORT
    assert [name for name in found if name not in SUPPORT and not found[name]] == []
    assert [name for name in SUPPORT if found[name]] == []


def test_a_kind_comes_from_one_detector() -> None:
    assert all(d.kinds for d in DETECTORS)
    assert len(set(KINDS)) == len(KINDS)


def test_the_checks_can_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert unregistered(package, DETECTORS[:-1]) == ["Nat"]
    table = (
        "## The detectors and their rules\n\n| kind |\n|---|\n| `nat` | a |\n| `failure` | b |\n"
    )
    assert documented_kinds(table) == ["nat", "failure"]
    # a detector written in a module of its own and not registered
    fake = tmp_path / "fake_findings"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "echo.py").write_text(
        "from sipsniff.analysis.findings.detector import Detector\n\n\n"
        "class Echo(Detector):\n    kinds = ('echo',)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        pkg = importlib.import_module("fake_findings")
        assert unregistered(pkg, DETECTORS) == ["Echo"]
    finally:
        for name in ("fake_findings", "fake_findings.echo"):
            sys.modules.pop(name, None)
