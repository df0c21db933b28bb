"""The JSON document: the fast message encoder against the plain dict, on every corpus capture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sipsniff.pipeline import read_trace
from sipsniff.render.json import message_dict, message_json
from tests.conftest import CAPTURES, CORPUS


def _captures() -> list[Path]:
    found = sorted(CAPTURES.glob("*.pcap"))
    if CORPUS.exists():
        found += sorted(p for p in CORPUS.iterdir() if p.suffix not in {".md", ".tsv"})
    return found


@pytest.mark.parametrize("path", _captures(), ids=lambda p: p.name)
def test_message_json_is_message_dict(path: Path) -> None:
    trace = read_trace([str(path)])
    for e in trace.entries.values():
        for several, full in ((False, False), (True, True)):
            fast = json.loads(message_json(e, several_files=several, full=full))
            assert fast == message_dict(e, several_files=several, full=full)
            assert list(fast) == list(message_dict(e, several_files=several, full=full))
