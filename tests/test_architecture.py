"""The direction of imports (../shared/docs/STYLE.md): each part of the package imports only the
parts below it, and the sans-IO core no terminal, CLI or capture library."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT, SERIAL_MODULES

PACKAGE = Path(__file__).resolve().parents[1] / "sipsniff"

ALLOWED: dict[str, set[str]] = {
    "model": set(),
    "errors": set(),
    "net": {"model", "errors"},
    "sip": {"model", "errors"},
    "correlate": {"model", "errors", "sip"},
    "analysis": {"model", "errors", "sip", "correlate"},
    "capture": {"model", "errors", "net"},
    "pipeline": {"model", "errors", "capture", "net", "sip", "correlate"},
    "render": {"model", "errors", "net", "sip", "correlate", "analysis"},
    "browse": {
        "model",
        "errors",
        "capture",
        "net",
        "sip",
        "correlate",
        "analysis",
        "render",
        "pipeline",
    },
    "cli": {
        "model",
        "errors",
        "capture",
        "net",
        "sip",
        "correlate",
        "analysis",
        "render",
        "pipeline",
        "browse",
    },
    "__main__": {"cli"},
    "__init__": set(),
}
"""Part of the package -> the parts it may import."""

LIBRARIES: dict[str, set[str]] = {
    "capture": {"scapy"},
    "render": {"rich", "jinja2"},
    "browse": {"rich", "textual"},
}
"""Which of the libraries below a part may import (cli: all of them)."""
CHECKED_LIBRARIES = {"scapy", "rich", "click", "jinja2", "textual"}


def imports(path: Path) -> set[str]:
    """The top-level names of the modules ``path`` imports (``sipsniff.x`` as ``sipsniff.x``)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == "sipsniff":
            # a module of the package, or a name of its __init__ (__version__)
            names = [f"sipsniff.{a.name}" if a.name in ALLOWED else "sipsniff" for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            out.add(".".join(parts[:2]) if parts[0] == "sipsniff" else parts[0])
    return out


def part_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("").parts
    return rel[0]


MODULES = sorted(PACKAGE.rglob("*.py"))


def violations(part: str, found: set[str]) -> list[str]:
    """What of ``found`` (``imports``) a module of ``part`` may not import."""
    mine = {name.split(".")[1] for name in found if name.startswith("sipsniff.")} - {part}
    bad = sorted(mine - ALLOWED[part])
    if part != "cli":
        bad += sorted((found & CHECKED_LIBRARIES) - LIBRARIES.get(part, set()))
    return bad


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_one_way(path: Path) -> None:
    part = part_of(path)
    assert part in ALLOWED, f"{part}: a new part of the package: give it a place in ALLOWED"
    assert violations(part, imports(path)) == []


def test_the_rules_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import rich\nfrom sipsniff.render import json\nfrom sipsniff import model\n")
    found = imports(bad)
    assert found == {"rich", "sipsniff.render", "sipsniff.model"}
    assert violations("correlate", found) == ["render", "rich"]
    assert violations("render", found) == []
    assert violations("cli", found | {"click"}) == []
    assert len(MODULES) > 50


TESTS = Path(__file__).resolve().parent


def test_test_modules_share_helpers_not_each_other() -> None:
    """Tests share builders from helper modules (tests/builders.py, tests/tools.py...), never
    another test module's, so that moving or deleting a test breaks no other."""
    bad = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            if module and module.split(".")[-1].startswith("test_"):
                bad.append(f"{path.relative_to(TESTS)}: from {module}")
    assert bad == []


# What puts a test module among those that run one after another (tests/conftest.py): a capture
# on loopback, traffic sent to it, chromium, tmux, real peers.
SHARES_THE_MACHINE = re.compile(
    r'live_cmd\(|"tcpdump"|chromium\(\)|socket\.(?:socket|create_server|create_connection)\('
    r'|CAPTURE_SH|"tmux"|"mmdc"|import load_recipes, record|HepSender\(|"netns"'
)


def test_modules_that_share_the_machine_run_one_after_another() -> None:
    """A test module that captures on loopback or sends to it is in SERIAL_MODULES, and every
    module named there exists: a parallel run never lets one test's packets into another's
    capture."""
    sharing = {
        path.relative_to(ROOT).as_posix()
        for path in TESTS.rglob("test_*.py")
        if path.name != "test_architecture.py"
        and SHARES_THE_MACHINE.search(path.read_text(encoding="utf-8"))
    }
    assert sorted(sharing - SERIAL_MODULES) == []
    assert sorted(m for m in SERIAL_MODULES if not (ROOT / m).exists()) == []
    assert SHARES_THE_MACHINE.search('with running(["tcpdump", "-i", "lo"]) as dump:')


# -- Linux-only names ----------------------------------------------------------------------------
LINUX_ONLY: dict[str, set[str]] = {
    "AF_PACKET": {"capture/live.py"},
    "MAP_SHARED": {"capture/live.py"},
    "select.poll": {"capture/live.py"},
    "/sys/": {"capture/live.py"},
    "/proc/": set(),
    "MADV_": {"capture/files.py"},
    "fcntl": {"pipeline/parallel.py"},
    "F_SETPIPE_SZ": {"pipeline/parallel.py"},
    "sched_getaffinity": {"pipeline/parallel.py"},
    "pthread_sigmask": {"pipeline/parallel.py"},
    "SO_EXCLUSIVEADDRUSE": {"capture/hep.py"},
    "WinDLL": {"capture/libpcap.py"},
}
"""A name only some systems have -> the modules allowed to use it, each of which asks for it
before it relies on it (``getattr``, ``hasattr``, ``try: import``; tests/test_portable.py runs
every command with these names gone). Docstrings and comments may mention anything."""


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def system_names(source: str) -> set[str]:
    """The names of ``LINUX_ONLY`` a module uses in its code (attributes, names, imports, and
    strings that are no docstrings)."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    words: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            words.add(node.attr)
            if isinstance(node.value, ast.Name):
                words.add(f"{node.value.id}.{node.attr}")
        elif isinstance(node, ast.Name):
            words.add(node.id)
        elif isinstance(node, ast.Import):
            words.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            words.add(node.module)
            words.update(a.name for a in node.names)
        elif (
            isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
        ):
            words.add(node.value)
    found = set()
    for name in LINUX_ONLY:
        if name.startswith("/"):
            found |= {name for w in words if name in w}
        elif name.endswith("_"):
            found |= {name for w in words if w.startswith(name)}
        elif name in words:
            found.add(name)
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_system_specific_names_stay_where_they_are_guarded(path: Path) -> None:
    rel = str(path.relative_to(PACKAGE))
    used = system_names(path.read_text(encoding="utf-8"))
    assert sorted(n for n in used if rel not in LINUX_ONLY[n]) == []


def test_the_system_names_rule_can_fail() -> None:
    source = (
        '"""Reads /proc/self and uses AF_PACKET."""\n'
        "import fcntl\n"
        "import select, mmap, socket\n"
        "p = select.poll()\n"
        "m = mmap.MADV_DONTNEED\n"
        "s = socket.socket(socket.AF_PACKET)\n"
        "x = open('/sys/class/net/lo/type')\n"
        "# AF_PACKET in a comment is fine\n"
    )
    assert system_names(source) == {"fcntl", "select.poll", "MADV_", "AF_PACKET", "/sys/"}
    used = {rel for path in MODULES for rel in [str(path.relative_to(PACKAGE))]}
    assert all(allowed <= used for allowed in LINUX_ONLY.values())
