"""Tests of the NDJSON and CSV renderers, on the real captures and on hostile packet text.

The hostile traces come from tests/builders.py (``write_pcap``, ``evil_trace``): a real pcap file
read with the real pipeline, so the hostile strings reach the renderers exactly as a capture would
bring them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from sipsniff.model import Dialog, Endpoint, Trace
from sipsniff.pipeline import read_trace
from sipsniff.render import ndjson as ndjson_module
from sipsniff.render.base import RENDERERS, RenderOptions
from sipsniff.render.json import dialog_dict, json_safe, message_dict
from sipsniff.render.ndjson import (
    CSV_FIELDS,
    CsvRenderer,
    NdjsonRenderer,
    csv_cell,
)
from tests.builders import CALL, EVIL, EVIL_CALL_ID, LOSSY, REG, T0, S, capture, evil_trace

# -- NDJSON -------------------------------------------------------------------------------------


def ndjson(trace: Trace, dialogs: Sequence[Dialog] | None = None, **opts: Any) -> str:
    out = io.StringIO()
    chosen = list(trace.dialogs.values()) if dialogs is None else dialogs
    NdjsonRenderer().render(trace, chosen, RenderOptions(**opts), out)
    return out.getvalue()


def test_ndjson_is_one_message_dict_per_line() -> None:
    trace = capture(LOSSY)
    text = ndjson(trace)
    lines = text.split("\n")
    assert lines[-1] == "" and len(lines) - 1 == len(trace.entries) == 33
    objects = [json.loads(line) for line in lines[:-1]]
    expected = [json.loads(json.dumps(message_dict(e))) for e in trace.entries.values()]
    assert objects == expected
    assert [o["index"] for o in objects] == list(range(1, 34))
    assert sum(o["retransmission"] for o in objects) == 4


def test_ndjson_writes_only_the_chosen_dialogs_in_capture_order() -> None:
    trace = capture(LOSSY)
    chosen = [trace.dialogs[4], trace.dialogs[2]]
    objects = [json.loads(line) for line in ndjson(trace, chosen).splitlines()]
    assert [o["index"] for o in objects] == sorted(
        trace.dialogs[2].messages + trace.dialogs[4].messages
    )
    assert {o["dialog"] for o in objects} == {2, 4}


def test_ndjson_full_carries_the_message_text() -> None:
    trace = capture(REG)
    objects = [json.loads(line) for line in ndjson(trace, full=True).splitlines()]
    assert [o["raw"] for o in objects] == [e.msg.raw.decode() for e in trace.entries.values()]
    assert all("raw" not in json.loads(line) for line in ndjson(trace).splitlines())


def test_ndjson_marks_the_file_of_each_message_when_several() -> None:
    trace = read_trace([str(REG), str(CALL)])
    objects = [json.loads(line) for line in ndjson(trace).splitlines()]
    assert len(objects) == 10
    assert sorted({o["file"] for o in objects}) == [0, 1]


def test_ndjson_lines_survive_every_line_splitter(tmp_path: Path) -> None:
    trace = evil_trace(tmp_path)
    text = ndjson(trace, full=True)
    assert "\u2028" not in text and "\u2029" not in text
    lines = text.splitlines()  # str.splitlines breaks at U+2028 too
    assert len(lines) == 3
    objects = [json.loads(line) for line in lines]
    assert objects[0]["call_id"] == EVIL_CALL_ID
    assert objects[2]["reason"] == EVIL[2]
    assert EVIL[5] in objects[0]["raw"]


@given(st.dictionaries(st.text(max_size=5), st.text(), max_size=4))
def test_json_safe_text_is_one_line_that_reads_back(obj: dict[str, Any]) -> None:
    line = json_safe(json.dumps(obj, ensure_ascii=False, separators=(",", ":"))) + "\n"
    assert line.endswith("\n") and len(line[:-1].splitlines()) == 1
    assert json.loads(line) == obj


def test_renders_to_a_console_file() -> None:
    trace = capture(REG)
    out = io.StringIO()
    NdjsonRenderer().render(trace, list(trace.dialogs.values()), RenderOptions(), Console(file=out))
    assert len(out.getvalue().splitlines()) == 4


# -- CSV ----------------------------------------------------------------------------------------


def csv_rows(trace: Trace, dialogs: Sequence[Dialog] | None = None) -> list[list[str]]:
    out = io.StringIO(newline="")
    CsvRenderer().render(
        trace, list(trace.dialogs.values()) if dialogs is None else dialogs, RenderOptions(), out
    )
    text = out.getvalue()
    assert text.endswith("\r\n")
    return list(csv.reader(io.StringIO(text, newline="")))


def test_csv_is_the_call_list_with_dialog_dict_fields() -> None:
    trace = capture(LOSSY)
    header, *rows = csv_rows(trace)
    assert tuple(header) == CSV_FIELDS == tuple(dialog_dict(trace.dialogs[1]))
    assert len(rows) == 5
    for row, dialog in zip(rows, list(trace.dialogs.values()), strict=True):
        fields = dict(zip(header, row, strict=True))
        expected = dialog_dict(dialog)
        assert fields["index"] == str(dialog.id)
        assert fields["call_id"] == dialog.call_id
        assert fields["messages"] == " ".join(map(str, dialog.messages))
        assert fields["to_tags"] == " ".join(dialog.to_tags)
        assert fields["linked"] == ""
        assert float(fields["start"]) == expected["start"]
        assert float(fields["duration"]) == expected["duration"]
        assert fields["state"] == "COMPLETED"
    assert [r[header.index("retransmissions")] for r in rows] == ["0", "2", "0", "2", "0"]


@pytest.mark.parametrize("batch", [1, 2, 4096])
def test_csv_rows_are_csv_cell_of_each_value_whatever_the_batch(
    batch: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The writer makes its rows column by column, a batch of dialogs at a time, each packet
    text once: row by row with ``csv_cell`` gives the same file, batches of 1 or 2 dialogs too
    (the hostile capture: formulas, control characters, and values its dialogs repeat)."""
    monkeypatch.setattr(ndjson_module, "_CSV_BATCH", batch)
    for trace, dialogs in ((evil_trace(tmp_path), 1), (capture(LOSSY), 5)):
        expected = io.StringIO(newline="")
        writer = csv.writer(expected)
        writer.writerow(CSV_FIELDS)
        for d in trace.dialogs.values():
            writer.writerow([csv_cell(v) for v in dialog_dict(d).values()])
        out = io.StringIO(newline="")
        CsvRenderer().render(trace, list(trace.dialogs.values()), RenderOptions(), out)
        assert out.getvalue() == expected.getvalue()
        assert len(trace.dialogs) == dialogs


def test_csv_of_no_dialogs_is_the_header() -> None:
    assert csv_rows(capture(REG), []) == [list(CSV_FIELDS)]


def hand_dialog(**fields: Any) -> Dialog:
    base: dict[str, Any] = {
        "id": 1,
        "call_id": "c1",
        "first_method": "INVITE",
        "from_uri": "sip:a@x",
        "from_name": "",
        "to_uri": "sip:b@x",
        "to_name": "",
        "src": Endpoint("10.0.0.1", 5060),
        "dst": Endpoint("10.0.0.2", 5060),
        "start_ns": T0,
        "end_ns": T0 + S,
    }
    base.update(fields)
    return Dialog(**base)


def test_csv_quotes_what_needs_quoting() -> None:
    name = 'Smith, "Bob"\r\nline two'
    dialog = hand_dialog(from_name=name, call_id="a,b", to_tags=["t1", "t2"], linked=[3, 4])
    header, row = csv_rows(Trace.of(dialogs=[dialog]))
    fields = dict(zip(header, row, strict=True))
    # quotes and commas are quoted; the line break is shown, not written (a terminal or a
    # spreadsheet reading the file must not act on packet bytes)
    assert fields["from_name"] == 'Smith, "Bob"\\r\\nline two'
    assert fields["call_id"] == "a,b"
    assert fields["to_tags"] == "t1 t2"
    assert fields["linked"] == "3 4"


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t"])
def test_csv_defuses_spreadsheet_formulas_in_packet_text(start: str) -> None:
    formula = start + 'HYPERLINK("http://example.com/x","click")'
    dialog = hand_dialog(from_name=formula, call_id=formula, state=formula)
    header, row = csv_rows(Trace.of(dialogs=[dialog]))
    fields = dict(zip(header, row, strict=True))
    for name in ("from_name", "call_id", "state"):
        assert fields[name] == "'" + formula
    assert fields["index"] == "1"


@pytest.mark.parametrize(
    ("value", "cell"),
    [([], ""), ([1, 2], "1 2"), (["a", "b"], "a b"), (0.5, "0.5"), (7, "7"), ("x=1", "x=1")],
)
def test_csv_cell(value: Any, cell: str) -> None:
    assert csv_cell(value) == cell


def test_formats_are_registered() -> None:
    assert RENDERERS["ndjson"] is NdjsonRenderer
    assert RENDERERS["csv"] is CsvRenderer
