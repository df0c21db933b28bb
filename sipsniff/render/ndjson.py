"""Line-oriented data: NDJSON messages (``--format ndjson``) and the CSV call list (``csv``).

``ndjson`` writes one JSON object per message of the chosen dialogs, in capture order, one per line:
the message objects of the JSON document (``json.message_dict``, schema ``sipsniff/1``, described in
docs/json.md), with the message text under ``raw`` when ``RenderOptions.full``. JSON escapes the
line breaks inside strings; NEL (U+0085), U+2028 and U+2029 are escaped too, since some line
readers (Python's ``str.splitlines``, JavaScript before ES2019) break lines at them.

``csv`` writes the call list: a header row of the ``json.dialog_dict`` field names, then one row per
dialog, lists (``messages``, ``to_tags``, ``linked``) joined with spaces. Quoting is the csv
module's (RFC 4180, CRLF line ends). A spreadsheet runs a cell that starts with ``=``, ``+``, ``-``,
``@``, TAB or CR as a formula, so packet text that starts with one is written with a leading ``'``
(the OWASP advice against CSV injection); numbers are ours and left alone.
"""

from __future__ import annotations

import csv
from typing import TYPE_CHECKING, Any, TextIO

from sipsniff.analysis.report import TraceReport
from sipsniff.model import Dialog, Endpoint
from sipsniff.render.base import Renderer, RenderOptions, register, stream_of
from sipsniff.render.json import dialog_dict, json_safe, message_json
from sipsniff.render.safe import clean

if TYPE_CHECKING:
    from rich.console import Console

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet cell a formula."""
_CSV_BATCH = 4096
"""Dialogs the CSV writer turns into rows at a time."""


@register
class NdjsonRenderer(Renderer):
    """One JSON object per message, one per line (format name ``ndjson``)."""

    name = "ndjson"
    description = "a message per line"

    def write(self, report: TraceReport, options: RenderOptions, out: TextIO | Console) -> None:
        write = stream_of(out).write
        trace = report.trace
        several = len(trace.inputs) > 1
        entries = trace.entries
        for i in sorted({i for d in report.dialogs for i in d.messages}):
            text = message_json(entries[i], several_files=several, full=options.full)
            write(json_safe(text) + "\n")


def csv_cell(value: Any) -> str:
    """A ``dialog_dict`` value as CSV text: lists joined with spaces, formulas defused."""
    if isinstance(value, str):
        return _csv_text(value)
    if isinstance(value, list):
        return " ".join(map(str, value))
    return str(value)


def _csv_text(value: str) -> str:
    text = clean(value)  # control characters and bidi overrides shown, not acted on
    return "'" + text if text.startswith(FORMULA_START) else text


def _csv_column(values: tuple[Any, ...], texts: dict[str, str]) -> list[str]:
    """``csv_cell`` of each of ``values`` (a column of rows). Packet text goes through ``texts``:
    the dialogs of a capture repeat most of theirs (a URI, a state, a method)."""
    kinds = set(map(type, values))
    if kinds == {str}:
        out = []
        for value in values:
            text = texts.get(value)
            if text is None:
                text = texts[value] = _csv_text(value)
            out.append(text)
        return out
    if kinds <= {int, float, bool}:
        return list(map(str, values))
    return list(map(csv_cell, values))


CSV_FIELDS: tuple[str, ...] = tuple(
    dialog_dict(Dialog(0, "", "", "", "", "", "", Endpoint("", 0), Endpoint("", 0), 0, 0))
)
"""The header row: the field names of ``json.dialog_dict``, in its order."""


@register
class CsvRenderer(Renderer):
    """The call list as CSV (format name ``csv``)."""

    name = "csv"
    description = "the call list"

    def write(self, report: TraceReport, options: RenderOptions, out: TextIO | Console) -> None:
        writer = csv.writer(stream_of(out))
        writer.writerow(CSV_FIELDS)
        dialogs = report.dialogs
        for start in range(0, len(dialogs), _CSV_BATCH):
            # Column by column: most columns hold one kind of value, made cells in one sweep.
            rows = [list(dialog_dict(d).values()) for d in dialogs[start : start + _CSV_BATCH]]
            texts: dict[str, str] = {}
            columns = [_csv_column(values, texts) for values in zip(*rows, strict=True)]
            writer.writerows(zip(*columns, strict=True))
