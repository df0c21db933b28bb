"""The filter box's language (``analysis.query``): it reads any text without raising, writes back
what it read, and selects what the command line's options select."""

from __future__ import annotations

import datetime
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipsniff.analysis.query import (
    ALIASES,
    KEYS,
    Query,
    QueryIndex,
    Term,
    parse_query,
    query_of,
    render_term,
)
from sipsniff.analysis.select import Selection, select
from sipsniff.cli.common import make_selection
from sipsniff.model import Trace
from sipsniff.pipeline import read_trace
from tests.conftest import CAPTURES, CORPUS

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TRACES = [*sorted(CAPTURES.glob("*.pcap")), CORPUS / "aaa.pcap", CORPUS / "sip_tcp_websocket.pcap"]


@cache
def trace_of(path: Path) -> Trace:
    return read_trace([str(path)])


def ids(q: Query, path: Path) -> list[int]:
    return [d.id for d in q.select(trace_of(path))]


AAA = CORPUS / "aaa.pcap"


def test_the_example_of_the_docs() -> None:
    q = parse_query(
        "method:INVITE state:failed status:4xx user:100 host:10.0.0.0/8 call-id:abc* "
        "since:10:00:00 until:+2m min-duration:5s grep:regex"
    )
    assert q.error is None and len(q.terms) == 10
    sel = q.selection
    assert sel.methods == ("INVITE",) and sel.states == ("FAILED",) and sel.statuses == ("4xx",)
    assert sel.users == ("100",) and sel.hosts == ("10.0.0.0/8",) and sel.call_ids == ("abc*",)
    assert sel.min_duration_ns == 5 * 10**9 and sel.grep is not None
    assert sel.since is not None and sel.since.kind == "day"
    assert sel.until is not None and sel.until.kind == "after"


def test_words_negation_and_quotes() -> None:
    q = parse_query('sip:alice@x -method:OPTIONS "alice smith" -foo text:state:x cid:a*')
    assert q.words == ("sip:alice@x", "alice smith", "state:x")
    assert q.not_words == ("foo",)
    assert q.exclude == (Selection(methods=("OPTIONS",)),)
    assert q.selection.call_ids == ("a*",)  # an alias
    assert q.render() == 'sip:alice@x -method:OPTIONS "alice smith" -foo text:state:x call-id:a*'


def test_errors_are_values_and_the_rest_still_selects() -> None:
    q = parse_query("status:99 method:INVITE")
    assert q.error is not None and q.error.startswith("status: not a status: '99'")
    assert (q.errors[0].start, q.errors[0].end) == (0, 9)
    assert q.selection == Selection(methods=("INVITE",))
    for text, message in [
        ("state:", "state: a value is needed"),
        ('user:"ali', "a quote is not closed"),
        ("-", "- must be followed by a word or key:value"),
        ("since:10:00 since:11:00", "since: given twice (one value only)"),
        ("grep:(", "grep: not a valid regular expression"),
        ("host:pbx", "host: not an address"),
        ("is:phone", "is: takes call"),
        ("dialog:x", "dialog: not a dialog's index"),
        ("min-duration:forever", "min-duration: not a duration"),
    ]:
        got = parse_query(text).error
        assert got is not None and got.startswith(message), (text, got)


def test_the_issue_s_user_finds_every_spelling_of_the_number() -> None:
    for user in ("97239287044", "0097239287044", "+97239287044"):
        assert ids(parse_query(f"user:{user}"), AAA) == [2, 3, 5]
    assert ids(parse_query("user:97239287044 -state:cancelled"), AAA) == [3, 5]


def test_negation_is_the_complement() -> None:
    everything = [d.id for d in trace_of(AAA).dialogs.values()]
    for term in [
        "method:INVITE",
        "state:auth-failed",
        "status:407",
        "host:200.68.0.0/16",
        "user:35104723",
        "arik",
        "is:call",
        "dialog:2",
        "since:+10m",
        "grep-first:REGISTER",
    ]:
        yes, no = ids(parse_query(term), AAA), ids(parse_query("-" + term), AAA)
        assert sorted(yes + no) == everything and yes and no, term


def test_words_look_in_what_the_call_list_shows() -> None:
    """From and To names and URIs, Call-ID, method, state, addresses and User-Agent."""
    assert ids(parse_query("arik"), AAA) == [2, 3, 5, 6]  # the From display name
    assert ids(parse_query("ARIK"), AAA) == [2, 3, 5, 6]  # any case
    assert ids(parse_query("brujula"), AAA) == [2]  # the To host
    assert ids(parse_query("446faf7a"), AAA) == [2]  # Call-ID
    assert ids(parse_query('"auth failed"'), AAA) == [1, 3, 5]  # state
    assert ids(parse_query("200.68.120.81:5060"), AAA) == [2]  # destination
    trace = trace_of(AAA)
    agents = {
        trace.entries[i].msg.raw.split(b"User-Agent: ")[1].split(b"\r")[0]
        for i in trace.dialogs[2].messages
        if b"User-Agent: " in trace.entries[i].msg.raw
    }
    assert agents  # X-Lite, whatever its version says
    agent = sorted(agents)[0].decode().split()[0]
    assert 2 in ids(parse_query(f'"{agent}"'), AAA)
    assert ids(parse_query("nowhere-at-all"), AAA) == []
    assert ids(parse_query("arik -brujula"), AAA) == [3, 5, 6]


def test_the_index_gives_the_same_answer_as_none() -> None:
    index = QueryIndex()
    for text in ["arik", "method:INVITE -status:407", "state:rejected user:35104723", "-arik"]:
        q = parse_query(text)
        assert q.select(trace_of(AAA), index=index) == q.select(trace_of(AAA)), text


# -- properties --------------------------------------------------------------------------------
_value = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=12)
_keys = st.sampled_from([k for k in KEYS if k != "text"] + list(ALIASES))


@st.composite
def term_texts(draw: Any) -> str:
    neg = "-" if draw(st.booleans()) else ""
    if draw(st.booleans()):
        word: str = draw(_value)
        return neg + word
    key = draw(_keys)
    value = draw(
        st.one_of(
            _value,
            st.sampled_from(
                [
                    "INVITE",
                    "486",
                    "4xx",
                    "failed",
                    "in call",
                    "busy",
                    "10.0.0.0/8",
                    "+30s",
                    "10:00:00",
                    "2s",
                    "a*",
                    "*b*",
                    "call",
                    "3",
                    "REGISTER",
                    "100",
                ]
            ),
        )
    )
    quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{neg}{key}:{quoted if draw(st.booleans()) else value}"


@FAST
@given(st.text(max_size=60))
def test_any_text_parses_and_renders_back_the_same(text: str) -> None:
    """Whatever is typed: no exception, and what was understood is written back as a query that
    reads the same, without errors."""
    q = parse_query(text)
    again = parse_query(q.render())
    assert again == q and again.error is None, (text, q.render())


@FAST
@given(st.lists(term_texts(), max_size=6).map(" ".join))
def test_terms_render_back_the_same(text: str) -> None:
    q = parse_query(text, datetime.UTC)
    again = parse_query(q.render(), datetime.UTC)
    assert again == q and again.error is None, (text, q.render())
    assert len(q.terms) + len(q.errors) == len(text.split()) or '"' in text or "\\" in text


@given(st.builds(Term, st.sampled_from(KEYS), _value, st.booleans()))
def test_a_term_renders_as_itself(term: Term) -> None:
    q = parse_query(render_term(term))
    if q.error is None:  # the value may be no value of its key: then it says so
        assert q.terms == (term,)


# The command line's options and the query that says the same.
_options = st.sampled_from(
    [
        ("--method", "INVITE"),
        ("--method", "REGISTER"),
        ("--exclude-method", "INVITE"),
        ("--state", "completed"),
        ("--state", "auth-failed"),
        ("--state", "rejected"),
        ("--state", "in call"),
        ("--status", "4xx"),
        ("--status", "407"),
        ("--status", "200"),
        ("--status", "failed"),
        ("--user", "97239287044"),
        ("--user", "sipp"),
        ("--user", "35104723"),
        ("--host", "127.0.0.0/8"),
        ("--host", "212.242.33.35:5060"),
        ("--host", "192.168.1.0/24"),
        ("--call-id", "*@192.168.1.2"),
        ("--call-id", "1-*"),
        ("--since", "+1s"),
        ("--since", "+10m"),
        ("--until", "+0.5s"),
        ("--until", "+15m"),
        ("--min-duration", "500ms"),
        ("--min-duration", "30s"),
        ("--grep", "(?i)x-lite"),
        ("--grep-first", "^INVITE"),
        ("--calls", ""),
        ("--dialog", "2"),
    ]
)
_SINGLE = {"--since", "--until", "--min-duration", "--grep", "--grep-first", "--dialog", "--calls"}
_FIELDS = {
    "--method": "methods",
    "--exclude-method": "exclude_methods",
    "--state": "states",
    "--status": "statuses",
    "--user": "users",
    "--host": "hosts",
    "--call-id": "call_ids",
}


def _kwargs(options: list[tuple[str, str]]) -> dict[str, Any]:
    """``make_selection``'s arguments, as click gives them for these options."""
    kw: dict[str, Any] = {}
    for option, value in options:
        if option in _FIELDS:
            kw.setdefault(_FIELDS[option], []).append(value)
        elif option == "--calls":
            kw["calls_only"] = True
        elif option == "--dialog":
            kw["dialog"] = int(value)
        else:
            kw[option.removeprefix("--").replace("-", "_")] = value
    return kw


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_options, max_size=4, unique_by=lambda o: o[0] if o[0] in _SINGLE else o))
def test_the_query_selects_what_the_options_select(options: list[tuple[str, str]]) -> None:
    """On every capture of captures/ (and two of the corpus): ``sipsniff read OPTIONS`` and the
    box's ``query_of(OPTIONS)`` keep the same dialogs."""
    sel = make_selection(**_kwargs(options), tz=datetime.UTC)
    q = parse_query(query_of(options), datetime.UTC)
    assert q.error is None, q.error
    for path in TRACES:
        trace = trace_of(path)
        assert [d.id for d in q.select(trace)] == [d.id for d in select(trace, sel)], path
