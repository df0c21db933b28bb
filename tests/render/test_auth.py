"""The renderers of ``auth`` (render/auth.py): the JSON document has a schema of its own, the
passwords are masked unless asked for, the text and the document tell the same attempts."""

from __future__ import annotations

import io
import json
from typing import Any

from rich.console import Console

from sipsniff.analysis.auth import AuthReport, analyze
from sipsniff.model import Trace
from sipsniff.pipeline import read_trace
from sipsniff.render.auth import AUTH_SCHEMA, MASK
from sipsniff.render.base import AUTH_RENDERERS, AuthOptions
from tests.conftest import CAPTURES

REG = CAPTURES / "register-407.pcap"


def checked() -> tuple[Trace, AuthReport]:
    trace = read_trace([str(REG)])
    return trace, analyze(trace, default_password="101")


def document(show_password: bool) -> dict[str, Any]:
    trace, report = checked()
    out = io.StringIO()
    AUTH_RENDERERS["json"]().write(trace, report, AuthOptions(show_password=show_password), out)
    assert out.getvalue().endswith("}\n")
    doc: dict[str, Any] = json.loads(out.getvalue())
    return doc


def text(show_password: bool) -> str:
    trace, report = checked()
    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None)
    AUTH_RENDERERS["text"]().write(trace, report, AuthOptions(show_password=show_password), console)
    return out.getvalue()


def test_the_document_is_not_reads() -> None:
    doc = document(False)
    assert doc["schema"] == AUTH_SCHEMA == "sipsniff-auth/1"
    assert list(doc) == ["schema", "attempts", "challenges", "summary"]


def test_passwords_are_masked_unless_asked_for() -> None:
    (masked,) = document(False)["attempts"]
    assert masked["steps"]["a1"] == f"101:myvoipapp.com:{MASK}" and "password" not in masked
    (shown,) = document(True)["attempts"]
    assert shown["steps"]["a1"] == "101:myvoipapp.com:101" and shown["password"] == "101"
    assert "password 101)" in text(True) and "password ***)" in text(False)
    assert "101:myvoipapp.com:101" not in text(False)


def test_text_and_document_tell_the_same_attempt() -> None:
    (attempt,) = document(False)["attempts"]
    lines = text(False).splitlines()
    assert lines[0].startswith("Dialog 1  REGISTER")
    assert any(line.startswith(f"  frame {attempt['frame']} ") for line in lines)
    assert lines[-1] == (
        "1 challenge, 1 attempt: 1 accepted. Password: 1 fit, 0 do not, 0 not checked."
    )
