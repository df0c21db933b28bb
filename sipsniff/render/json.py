"""The JSON document (``--format json``): schema ``sipsniff/1``, described in docs/json.md.

Messages are written one by one as they are turned into dicts, so a large capture never holds
the whole document as one string. Strings from packets are kept exact (JSON escapes them; nothing is cut).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import IO, TYPE_CHECKING, Any, Final, TextIO

from sipsniff import fast_module
from sipsniff.analysis.report import TraceReport
from sipsniff.model import Dialog, Endpoint, Entry, Message, Skipped, Trace
from sipsniff.net.tls import tls_dict
from sipsniff.render.base import Renderer, RenderOptions, register, stream_of

if TYPE_CHECKING:
    from rich.console import Console

SCHEMA = "sipsniff/1"

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _py_seconds(ts_ns: int) -> str:
    """``repr(ts_ns / 1e9)``: a time as the document writes it (seconds, a JSON number), the
    reference of ``_fasttext.seconds``."""
    return repr(ts_ns / 1e9)


_FAST = fast_module("render._fasttext")
seconds: Final[Callable[[int], str]] = _py_seconds if _FAST is None else _FAST.seconds
"""``_py_seconds``; with the C fast path, without the float's shortest-digits search for a time
of whole microseconds (a pcap's): 3% of the document's instructions."""


# JSON strings keep packet text exact, but with ensure_ascii=False only C0 controls are escaped:
# C1 controls (U+009B is a one-byte CSI), bidi overrides and Unicode line breaks would reach a
# terminal that shows the file, or split an NDJSON line. They are written as \\uXXXX instead.
_UNSAFE = re.compile("[\x80-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(m: re.Match[str]) -> str:
    return f"\\u{ord(m.group()):04x}"


def json_safe(text: str) -> str:
    """JSON text with the characters above escaped (JSON readers get the same values back)."""
    if text.isascii():  # a flag of the string: most text is ASCII, and none of them is
        return text
    return _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text


def _text(b: bytes) -> str:
    return b.decode("utf-8", "replace")


_str = (
    json.encoder.encode_basestring
)  # the C encoder; keeps non-ASCII as is, like ensure_ascii=False
_ENDPOINTS: dict[Endpoint, str] = {}


def _ep(e: Endpoint) -> str:
    """``"ip:port"`` as a JSON string, cached: a capture has few endpoints and many messages."""
    text = _ENDPOINTS.get(e)
    if text is None:
        if len(_ENDPOINTS) > 65536:
            _ENDPOINTS.clear()
        text = _ENDPOINTS[e] = _str(str(e))
    return text


_CSEQS: dict[tuple[int | None, str], str] = {}
"""``Message.cseq`` as a JSON string, by CSeq number and method: a capture repeats a few."""


def _cseq(m: Message) -> str:
    key = (m.cseq_num, m.cseq_method)
    text = _CSEQS.get(key)
    if text is None:
        if len(_CSEQS) > 65536:
            _CSEQS.clear()
        text = _CSEQS[key] = _str(m.cseq)
    return text


def _opt(s: str | None) -> str:
    return "null" if s is None else _str(s)


def message_json(e: Entry, *, several_files: bool = False, full: bool = False) -> str:
    """``message_dict(e)`` encoded as compact JSON, about twice as fast as building the dict.

    The two agree key for key (a test holds them to it on every corpus capture).
    """
    m = e
    text = (
        f'{{"index":{e.id},"frame":{m.frame},"ts":{seconds(m.ts_ns)},'
        f'"src":{_ep(m.src)},"dst":{_ep(m.dst)},"transport":{_str(m.transport)},'
        f'"method":{_opt(m.method)},"status":{"null" if m.status is None else m.status},'
        f'"reason":{_opt(m.reason)},"ruri":{_opt(m.ruri)},"call_id":{_str(m.call_id)},'
        f'"cseq":{_cseq(m)},"branch":{_opt(m.branch)},"from":{_str(m.from_uri)},'
        f'"from_tag":{_opt(m.from_tag)},"to":{_str(m.to_uri)},"to_tag":{_opt(m.to_tag)},'
        f'"retransmission":{"false" if e.retransmission_of is None else "true"},'
        f'"dialog":{e.dialog},"transaction":{e.transaction},"size":{m.size}'
    )
    if m.first_frame and m.first_frame != m.frame:
        text += f',"first_frame":{m.first_frame},"first_ts":{seconds(m.first_ts_ns)}'
    if several_files:
        text += f',"file":{m.file}'
    if m.truncated:
        text += ',"truncated":true'
    if m.problems:
        text += ',"problems":' + _dumps(list(m.problems))
    if full:
        text += ',"raw":' + _str(_text(m.raw))
    return text + "}"


def message_dict(e: Entry, *, several_files: bool = False, full: bool = False) -> dict[str, Any]:
    """One message as the JSON document and NDJSON stream carry it."""
    m = e
    d: dict[str, Any] = {
        "index": e.id,
        "frame": m.frame,
        "ts": m.ts_ns / 1e9,
        "src": str(m.src),
        "dst": str(m.dst),
        "transport": m.transport,
        "method": m.method,
        "status": m.status,
        "reason": m.reason,
        "ruri": m.ruri,
        "call_id": m.call_id,
        "cseq": m.cseq,
        "branch": m.branch,
        "from": m.from_uri,
        "from_tag": m.from_tag,
        "to": m.to_uri,
        "to_tag": m.to_tag,
        "retransmission": e.retransmission_of is not None,
        "dialog": e.dialog,
        "transaction": e.transaction,
        "size": m.size,
    }
    if m.first_frame and m.first_frame != m.frame:
        d["first_frame"] = m.first_frame
        d["first_ts"] = m.first_ts_ns / 1e9
    if several_files:
        d["file"] = m.file
    if m.truncated:
        d["truncated"] = True
    if m.problems:
        d["problems"] = list(m.problems)
    if full:
        d["raw"] = _text(m.raw)
    return d


def _ints(xs: Sequence[int]) -> str:
    return "[" + ",".join(map(str, xs)) + "]"


def dialog_json(d: Dialog) -> str:
    """``dialog_dict(d)`` encoded as compact JSON, several times faster than encoding the dict.

    The two agree key for key (a test holds them to it on every corpus capture).
    """
    return (
        f'{{"index":{d.id},"call_id":{_str(d.call_id)},"state":{_str(d.state)},'
        f'"outcome":{_str(d.outcome)},"call":{"true" if d.call else "false"},'
        f'"first_method":{_str(d.first_method)},"from":{_str(d.from_uri)},'
        f'"from_name":{_str(d.from_name)},"to":{_str(d.to_uri)},"to_name":{_str(d.to_name)},'
        f'"src":{_ep(d.src)},"dst":{_ep(d.dst)},"start":{d.start_ns / 1e9!r},'
        f'"end":{d.end_ns / 1e9!r},"duration":{d.duration_ns / 1e9!r},'
        f'"messages":{_ints(d.messages)},"retransmissions":{d.retransmissions},'
        f'"transactions":{len(d.transactions)},'
        f'"to_tags":[{",".join(map(_str, d.to_tags))}],"linked":{_ints(d.linked)}}}'
    )


def dialog_dict(d: Dialog) -> dict[str, Any]:
    return {
        "index": d.id,
        "call_id": d.call_id,
        "state": d.state,
        "outcome": d.outcome,
        "call": d.call,
        "first_method": d.first_method,
        "from": d.from_uri,
        "from_name": d.from_name,
        "to": d.to_uri,
        "to_name": d.to_name,
        "src": str(d.src),
        "dst": str(d.dst),
        "start": d.start_ns / 1e9,
        "end": d.end_ns / 1e9,
        "duration": d.duration_ns / 1e9,
        "messages": d.messages,
        "retransmissions": d.retransmissions,
        "transactions": len(d.transactions),
        "to_tags": d.to_tags,
        "linked": list(d.linked),
    }


def skipped_dict(s: Skipped) -> dict[str, Any]:
    return {
        "frame": s.frame,
        "ts": s.ts_ns / 1e9,
        "reason": s.reason,
        "file": s.file,
        "src": None if s.src is None else str(s.src),
        "dst": None if s.dst is None else str(s.dst),
        "transport": s.transport,
    }


_CHUNK = 512
"""Items joined into one write: a write per item costs more than the joining, and the text of
30,000 dialogs at once is no small string."""


def _write_items(w: Callable[[str], object], items: Iterable[str]) -> None:
    """Write ``items`` separated by ``,\\n``, made safe (``json_safe``), a chunk at a time."""
    chunk: list[str] = []
    sep = ""
    for text in items:
        chunk.append(text)
        if len(chunk) == _CHUNK:
            w(sep + json_safe(",\n".join(chunk)))
            chunk.clear()
            sep = ",\n"
    if chunk:
        w(sep + json_safe(",\n".join(chunk)))


def write_json(
    trace: Trace, dialogs: Sequence[Dialog], out: IO[str], *, full: bool = False, all_dialogs: bool
) -> None:
    """Write the document for ``dialogs`` (every message of the capture when ``all_dialogs``)."""
    several = len(trace.inputs) > 1
    w = out.write
    w('{"schema":"' + SCHEMA + '","inputs":')
    w(
        _dumps(
            [
                {
                    "path": i.path,
                    "format": i.format,
                    "frames": i.frames,
                    "linktypes": list(i.linktypes),
                    "resolution": i.resolution,
                    "warnings": i.warnings,
                }
                for i in trace.inputs
            ]
        )
    )
    w(',"counts":' + _dumps(trace.counts.as_dict()))
    w(',"messages":[')
    if all_dialogs:
        indexes: Iterable[int] = trace.entries.keys()
    else:
        indexes = sorted(i for d in dialogs for i in d.messages)
    entries = trace.entries
    _write_items(w, (message_json(entries[i], several_files=several, full=full) for i in indexes))
    w('],\n"dialogs":[')
    _write_items(w, map(dialog_json, dialogs))
    w('],\n"tls":[')
    _write_items(w, (_dumps(tls_dict(c)) for c in trace.tls))
    w('],\n"skipped":[')
    _write_items(w, (_dumps(skipped_dict(s)) for s in trace.skipped))
    w("]}\n")


@register
class JsonRenderer(Renderer):
    """The JSON document (format name ``json``)."""

    name = "json"
    description = "one document (docs/json.md)"

    def write(self, report: TraceReport, options: RenderOptions, out: TextIO | Console) -> None:
        write_json(
            report.trace,
            report.dialogs,
            stream_of(out),
            full=options.full,
            all_dialogs=report.whole,
        )
