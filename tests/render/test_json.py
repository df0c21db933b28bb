"""The JSON document: the fast message and dialog encoders against the plain dicts, on every
corpus capture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sipsniff.pipeline import read_trace
from sipsniff.render.json import dialog_dict, dialog_json, json_safe, message_dict, message_json
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


@pytest.mark.parametrize("path", _captures(), ids=lambda p: p.name)
def test_dialog_json_is_dialog_dict(path: Path) -> None:
    trace = read_trace([str(path)])
    for d in trace.dialogs.values():
        fast = json.loads(dialog_json(d))
        assert fast == dialog_dict(d)
        assert list(fast) == list(dialog_dict(d))


def test_dialog_json_keeps_odd_text_exact() -> None:
    """Names, tags and URIs with quotes, backslashes, controls and non-ASCII come back as they
    were, and what a terminal would act on is escaped."""
    trace = read_trace([str(CAPTURES / "invite-call.pcap")])
    d = next(iter(trace.dialogs.values()))
    odd = 'caf\u00e9 "x" \\ \x1b[2J \u202e \u2028 \x9b'
    d.from_name = odd
    d.to_tags = [odd, "plain"]
    text = json_safe(dialog_json(d))
    assert json.loads(text)["from_name"] == odd
    assert json.loads(text)["to_tags"] == [odd, "plain"]
    for char in "\x1b\u202e\u2028\x9b":
        assert char not in text
