"""The filter box: one line of text that chooses dialogs, for the interactive browser.

    method:INVITE state:rejected status:4xx user:100 -host:10.0.0.0/8 since:10:00 "alice smith"

The grammar (what ``parse_query`` reads and ``Query.render`` writes)::

    query  = *SP [ term *( 1*SP term ) ] *SP
    term   = [ "-" ] ( key ":" value / word )      ; "-": the dialogs that do NOT match it
    key    = method / state / status / user / host / call-id / since / until / min-duration
           / grep / grep-first / dialog / is       ; and the aliases of ``ALIASES``
    value  = quoted / bare
    word   = quoted / bare                         ; a bare word never starts with "-"
    quoted = DQUOTE *( %x20-21 / %x23-5B / %x5D-7E / UTF-8 / "\\" DQUOTE / "\\\\" ) DQUOTE
    bare   = 1*( any character but SP, HTAB and DQUOTE )

Each ``key:value`` is the command line's ``--key value`` and takes the same values
(``analysis.terms``); ``is:call`` is ``--calls``. Terms of one key are alternatives (``status:486
status:600``), different keys must all hold, as on the command line. A word is looked for, in any
case, in what the call list shows of a dialog: From and To (names and URIs), Call-ID, method,
state, source and destination, and the User-Agent or Server of its parties. ``text:foo`` is the
word ``foo``, for a word with a colon that would read as a key (``sip:`` is no key: ``sip:alice``
is a word).

Errors are values: a query with a bad term carries a sentence for the box (``Query.error``) and
selects as if that term were not there, so the list follows the typing.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, NamedTuple

from sipsniff.analysis.ladder import AGENT_HEADERS
from sipsniff.analysis.select import DialogIndex, Selection, select
from sipsniff.analysis.terms import (
    parse_duration,
    parse_host,
    parse_state,
    parse_status,
    parse_time,
)
from sipsniff.model import Dialog, Trace
from sipsniff.sip.headers import first_value

KEYS: Final = (
    "method",
    "state",
    "status",
    "user",
    "host",
    "call-id",
    "since",
    "until",
    "min-duration",
    "grep",
    "grep-first",
    "dialog",
    "is",
    "text",
)
"""The keys of ``key:value`` terms, in the order ``Query.render`` writes them."""
ALIASES: Final = {
    "callid": "call-id",
    "cid": "call-id",
    "duration": "min-duration",
    "idx": "dialog",
}
"""Other names of keys."""
_MANY: Final = frozenset({"method", "state", "status", "user", "host", "call-id", "text"})
"""Keys that may come more than once (as alternatives; ``text``: all must be found)."""


class Term(NamedTuple):
    """One term of a query, as read."""

    key: str
    """One of ``KEYS`` (``text`` for a word)."""
    value: str
    """As written, unquoted."""
    negated: bool = False


class QueryError(NamedTuple):
    """Why a term was left out, for the box to show."""

    message: str
    start: int
    """Where the term begins in the text."""
    end: int


@dataclass(frozen=True)
class Query:
    """A parsed filter: what ``parse_query`` made of a line of text."""

    terms: tuple[Term, ...] = ()
    """The terms that were understood, in the order written."""
    selection: Selection = field(default_factory=Selection)
    """What the terms without ``-`` ask, as the command line's options would."""
    exclude: tuple[Selection, ...] = ()
    """One per ``-key:value`` term: a dialog it picks is left out."""
    words: tuple[str, ...] = ()
    """Words that must all be in what the call list shows of a dialog (lower case)."""
    not_words: tuple[str, ...] = ()
    """Words that must not be (``-word``)."""
    errors: tuple[QueryError, ...] = field(default=(), compare=False)
    """The terms that were left out, and why."""

    @property
    def error(self) -> str | None:
        """The first error, in one line; None when every term was understood."""
        return self.errors[0].message if self.errors else None

    @property
    def empty(self) -> bool:
        """Whether it keeps every dialog."""
        return not self.terms

    def render(self) -> str:
        """The query as text that ``parse_query`` reads back as this query."""
        return " ".join(render_term(t) for t in self.terms)

    def select(
        self,
        trace: Trace,
        dialogs: Iterable[Dialog] | None = None,
        *,
        index: QueryIndex | None = None,
        origin_ns: int | None = None,
    ) -> list[Dialog]:
        """The dialogs of ``trace`` (or of ``dialogs``, in their order) the query keeps.

        Args:
            index: kept by the caller between queries of the same trace (each key typed), it
                makes them fast; it follows a trace that grows.
            origin_ns: the capture's start (default ``trace.start_ns``).
        """
        by = index.dialogs if index is not None else None
        out = select(trace, self.selection, dialogs, origin_ns=origin_ns, index=by)
        for neg in self.exclude:
            gone = {d.id for d in select(trace, neg, out, origin_ns=origin_ns, index=by)}
            if gone:
                out = [d for d in out if d.id not in gone]
        if self.words or self.not_words:
            text = (index or QueryIndex()).text
            words, not_words = self.words, self.not_words
            kept: list[Dialog] = []
            for d in out:
                t = text(trace, d)
                if all(w in t for w in words) and not any(w in t for w in not_words):
                    kept.append(d)
            out = kept
        return out


class QueryIndex:
    """What ``Query.select`` keeps of a trace between queries: the ``DialogIndex`` and the text
    of each dialog that words are looked for in."""

    def __init__(self) -> None:
        self.dialogs = DialogIndex()
        self._text: dict[int, tuple[int, str, str]] = {}
        """By ``Dialog.id``: (messages read, state, the text in lower case)."""

    def text(self, trace: Trace, d: Dialog) -> str:
        """The text of a dialog of ``trace`` that words are looked for in (``row_text``)."""
        got = self._text.get(d.id)
        if got is None or got[0] != len(d.messages) or got[1] is not d.state:
            got = self._text[d.id] = (len(d.messages), d.state, row_text(trace, d))
        return got[2]

    def forget(self, part: Trace) -> None:
        """Forget the dialogs of ``part`` (let go by a session; ``Session.expired``)."""
        self.dialogs.forget(part)
        for i in part.dialogs:
            self._text.pop(i, None)


def row_text(trace: Trace, d: Dialog) -> str:
    """What the call list shows of a dialog, and the User-Agent or Server of each party, in lower
    case: the text a word of a query is looked for in (fields apart, so no word spans two)."""
    agents: dict[str, None] = {}
    entries = trace.entries
    senders: set[object] = set()
    for i in d.messages:
        msg = entries[i]
        if msg.src in senders:
            continue
        agent = first_value(msg.raw, AGENT_HEADERS)
        if agent is not None:
            senders.add(msg.src)
            agents[agent] = None
    fields = (
        str(d.id),
        d.from_name,
        d.from_uri,
        d.to_name,
        d.to_uri,
        d.call_id,
        d.first_method,
        d.state,
        str(d.src),
        str(d.dst),
        *agents,
    )
    return "\0".join(fields).lower()


# -- reading -----------------------------------------------------------------------------------
_TOKEN: Final = re.compile(
    r"""
    (?P<neg>-)?
    (?:(?P<key>[A-Za-z][A-Za-z-]*):)?
    (?:"(?P<quoted>(?:[^"\\]|\\.)*)(?P<closed>"?) | (?P<bare>[^\s"]*))
    """,
    re.VERBOSE | re.DOTALL,
)


def _regex(text: str) -> re.Pattern[bytes]:
    try:
        return re.compile(text.encode("utf-8"))
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None


def _dialog(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"not a dialog's index: {text!r}")
    return int(text)


def _is(text: str) -> bool:
    if text.lower() not in ("call", "calls"):
        raise ValueError(f"is: takes call (the --calls of the command line), not {text!r}")
    return True


def _value(text: str) -> str:
    return text


def _converters(tz: datetime.tzinfo | None) -> dict[str, tuple[str, Callable[[str], Any]]]:
    """By key: the ``Selection`` field it fills, and what reads its value."""
    return {
        "method": ("methods", _value),
        "state": ("states", parse_state),
        "status": ("statuses", parse_status),
        "user": ("users", _value),
        "host": ("hosts", lambda t: (parse_host(t), t.strip())[1]),
        "call-id": ("call_ids", _value),
        "since": ("since", lambda t: parse_time(t, tz)),
        "until": ("until", lambda t: parse_time(t, tz)),
        "min-duration": ("min_duration_ns", parse_duration),
        "grep": ("grep", _regex),
        "grep-first": ("grep_first", _regex),
        "dialog": ("dialog", _dialog),
        "is": ("calls_only", _is),
    }


def parse_query(text: str, tz: datetime.tzinfo | None = None) -> Query:
    """Read a line of the filter box (the grammar is in the module's docstring); never raises.

    Args:
        tz: the zone of times written without one (the zone the list shows; None: local).
    """
    convert = _converters(tz)
    terms: list[Term] = []
    errors: list[QueryError] = []
    positive: dict[str, list[Any]] = {}
    exclude: list[Selection] = []
    words: list[str] = []
    not_words: list[str] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        m = _TOKEN.match(text, pos)
        assert m is not None  # every group may be empty: it always matches
        start, pos = pos, max(m.end(), pos + 1)
        negated = m.group("neg") is not None
        key = m.group("key")
        canon = None if key is None else ALIASES.get(key.lower(), key.lower())
        if canon is not None and canon not in KEYS:
            # No key: the colon belongs to a word (sip:alice), read whole up to a space.
            word_start = pos = start + negated
            while pos < len(text) and not text[pos].isspace():
                pos += 1
            canon, value = "text", text[word_start:pos]
        elif m.group("quoted") is not None:
            if not m.group("closed"):
                errors.append(QueryError("a quote is not closed", start, pos))
                continue
            value = re.sub(r"\\(.)", r"\1", m.group("quoted"))
        else:
            value = m.group("bare") or ""
        if canon is None:
            canon = "text"
            if not value:
                if negated:
                    errors.append(
                        QueryError("- must be followed by a word or key:value", start, pos)
                    )
                continue
        term = Term(canon, value, negated)
        try:
            if canon == "text":
                if not value:
                    raise ValueError("text: a word is needed")
                (not_words if negated else words).append(value.lower())
            else:
                if not value:
                    raise ValueError("a value is needed")
                name, read = convert[canon]
                got = read(value)
                if negated:
                    one: dict[str, Any] = {name: (got,) if canon in _MANY else got}
                    exclude.append(replace(Selection(), **one))
                else:
                    if canon not in _MANY and canon in positive:
                        raise ValueError("given twice (one value only)")
                    positive.setdefault(canon, []).append(got)
        except ValueError as exc:
            message = str(exc) if str(exc).startswith(f"{canon}:") else f"{canon}: {exc}"
            errors.append(QueryError(message, start, pos))
            continue
        terms.append(term)
    fields: dict[str, Any] = {}
    for canon, values in positive.items():
        name = convert[canon][0]
        fields[name] = tuple(values) if canon in _MANY else values[0]
    return Query(
        terms=tuple(terms),
        selection=replace(Selection(), **fields),
        exclude=tuple(exclude),
        words=tuple(words),
        not_words=tuple(not_words),
        errors=tuple(errors),
    )


# -- writing -----------------------------------------------------------------------------------
def render_term(t: Term) -> str:
    """One term as ``parse_query`` reads it back."""
    sign = "-" if t.negated else ""
    if t.key == "text":
        word = t.value
        m = _TOKEN.match(word)
        key = m.group("key") if m is not None else None
        if key is not None and ALIASES.get(key.lower(), key.lower()) in KEYS:
            return f"{sign}text:{word if _bare(word) else _quote(word)}"
        return sign + (word if _bare(word) and not word.startswith("-") else _quote(word))
    return f"{sign}{t.key}:{t.value if _bare(t.value) else _quote(t.value)}"


def _bare(value: str) -> bool:
    return bool(value) and not any(c.isspace() or c == '"' for c in value)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def query_of(selection_args: Sequence[tuple[str, str]]) -> str:
    """The query text of command-line options: ``[("--status", "486")]`` -> ``status:486``
    (``--calls`` as ``("--calls", "")``); what the browser shows for a command's selection."""
    out: list[str] = []
    for option, value in selection_args:
        key = option.removeprefix("--")
        if key == "calls":
            out.append("is:call")
        elif key == "exclude-method":
            out.append(render_term(Term("method", value, True)))
        else:
            out.append(render_term(Term(key, value)))
    return " ".join(out)
