"""The values of the selection criteria (``analysis.terms``): what each accepts, what it refuses,
and where a time lands on a capture's time line."""

from __future__ import annotations

import datetime
import ipaddress
from zoneinfo import ZoneInfo

import pytest

from sipsniff.analysis.terms import (
    parse_duration,
    parse_host,
    parse_state,
    parse_status,
    parse_time,
    user_key,
)
from sipsniff.correlate.states import STATE_NAMES, is_state
from sipsniff.model import Endpoint

NS = 10**9


@pytest.mark.parametrize(
    "text, key",
    [
        ("97239287044", "97239287044"),
        ("0097239287044", "97239287044"),
        ("+97239287044", "97239287044"),
        ("+1 (226) 338-2742", "12263382742"),
        ("061963177", "61963177"),
        ("100", "100"),
        ("0", "0"),
        ("00", "0"),
        ("alice", "alice"),
        ("Alice", "Alice"),  # users other than numbers compare as they are, as before
        ("10.0.0.1", "10.0.0.1"),  # a dot is no separator: no number
        ("*97", "*97"),
        ("", ""),
    ],
)
def test_user_key_compares_numbers_by_their_digits(text: str, key: str) -> None:
    assert user_key(text) == key


def test_user_key_keeps_a_national_number_apart_from_an_international_one() -> None:
    """Only +, 00 and one trunk 0 go: the country code is never guessed."""
    assert user_key("039287044") != user_key("+97239287044")


@pytest.mark.parametrize(
    "text, value",
    [("486", "486"), ("4xx", "4xx"), ("4XX", "4xx"), (" failed ", "failed"), ("100", "100")],
)
def test_parse_status(text: str, value: str) -> None:
    assert parse_status(text) == value


@pytest.mark.parametrize("text", ["99", "700", "4x", "48a", "", "fail", "2xxx"])
def test_parse_status_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not a status"):
        parse_status(text)


@pytest.mark.parametrize(
    "text, words",
    [
        ("in call", "IN CALL"),
        ("In-Call", "IN CALL"),
        ("in_call", "IN CALL"),
        ("rejected", "REJECTED"),
        ("rejected 486", "REJECTED 486"),
        ("no-answer", "NO ANSWER"),
        ("busy", "BUSY"),
        ("failed", "FAILED"),
        ("options sent", "OPTIONS SENT"),
        ("subscribe 489", "SUBSCRIBE 489"),
        ("  auth   failed ", "AUTH FAILED"),
    ],
)
def test_parse_state(text: str, words: str) -> None:
    assert parse_state(text) == words


@pytest.mark.parametrize("text", ["faild", "", "in", "rejected abc", "options"])
def test_parse_state_refuses_with_the_names(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a state.*in call.*outcomes: answered"):
        parse_state(text)


def test_is_state_takes_the_code_off_templates_only() -> None:
    assert "REJECTED" in STATE_NAMES and "REGISTER FAILED" in STATE_NAMES
    assert is_state("REJECTED 486", "REJECTED")
    assert is_state("REJECTED 486", "REJECTED 486")
    assert not is_state("REJECTED 486", "REJECTED 480")
    assert is_state("REGISTER FAILED 423", "REGISTER FAILED")
    assert not is_state("REGISTER FAILED 423", "REGISTER")  # a state is named whole
    assert not is_state("OPTIONS 200", "OPTIONS")  # not a template's name: --method says it
    assert is_state("OPTIONS 200", "OPTIONS 200")
    assert not is_state("IN CALL", "IN")


@pytest.mark.parametrize(
    "text, ns",
    [
        ("1.5", 1_500_000_000),
        ("2s", 2 * NS),
        ("500ms", 500_000_000),
        ("250us", 250_000),
        ("250µs", 250_000),
        ("2m", 120 * NS),
        ("1h", 3600 * NS),
        (".5", NS // 2),
        ("0", 0),
        ("1.000000001", NS + 1),
    ],
)
def test_parse_duration(text: str, ns: int) -> None:
    assert parse_duration(text) == ns


@pytest.mark.parametrize("text", ["", "s", "-1", "1.5.2", "2 seconds", "5x", "nan"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def _epoch(y: int, mo: int, d: int, h: int, mi: int, s: int, tz: datetime.tzinfo) -> int:
    return int(datetime.datetime(y, mo, d, h, mi, s, tzinfo=tz).timestamp()) * NS


def test_relative_times_count_from_the_capture_start() -> None:
    origin = _epoch(2024, 5, 1, 10, 0, 0, datetime.UTC)
    assert parse_time("+30s").at(origin) == origin + 30 * NS
    assert parse_time("+2m").at(origin) == origin + 120 * NS
    assert parse_time("+1.25").at(origin) == origin + 1_250_000_000


def test_a_time_of_day_is_on_the_capture_day_in_the_zone_shown() -> None:
    paris = ZoneInfo("Europe/Paris")
    origin = _epoch(2024, 5, 1, 10, 0, 5, paris)
    assert parse_time("10:00", paris).at(origin) == _epoch(2024, 5, 1, 10, 0, 0, paris)
    at = parse_time("10:30:00.123456789", paris).at(origin)
    assert at == _epoch(2024, 5, 1, 10, 30, 0, paris) + 123_456_789
    # The same words in UTC are two hours later on the time line (CEST is UTC+2).
    utc = parse_time("10:30:00", datetime.UTC).at(origin)
    assert utc - _epoch(2024, 5, 1, 10, 30, 0, paris) == 2 * 3600 * NS


def test_a_time_of_day_past_midnight_is_the_next_day() -> None:
    """A capture that starts at 23:50 reads 00:10 as ten minutes past midnight, after it."""
    origin = _epoch(2024, 5, 1, 23, 50, 0, datetime.UTC)
    assert parse_time("00:10", datetime.UTC).at(origin) == origin + 20 * 60 * NS
    assert parse_time("23:40", datetime.UTC).at(origin) == origin - 10 * 60 * NS


def test_iso_times_with_and_without_a_zone() -> None:
    origin = 0
    tz = ZoneInfo("America/New_York")
    assert parse_time("2024-05-01T10:00:00Z").at(origin) == _epoch(
        2024, 5, 1, 10, 0, 0, datetime.UTC
    )
    assert parse_time("2024-05-01T10:00:00+02:00").at(origin) == _epoch(
        2024, 5, 1, 8, 0, 0, datetime.UTC
    )
    assert parse_time("2024-05-01 10:00:00.5", tz).at(origin) == (
        _epoch(2024, 5, 1, 10, 0, 0, tz) + NS // 2
    )
    assert parse_time("2024-05-01T10:00:00.000000007", tz).at(origin) == (
        _epoch(2024, 5, 1, 10, 0, 0, tz) + 7
    )
    # In a zone that changes its clocks, the offset is the one at that time (EST in January).
    winter = parse_time("2024-01-15T10:00", tz).at(origin)
    assert winter == _epoch(2024, 1, 15, 15, 0, 0, datetime.UTC)


@pytest.mark.parametrize("text", ["", "yesterday", "25:00", "10:61", "+", "+x", "10", "2024-13-01"])
def test_parse_time_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not a time"):
        parse_time(text)


@pytest.mark.parametrize(
    "text, term",
    [
        ("10.0.0.1", "10.0.0.1"),
        ("10.0.0.1:5060", Endpoint("10.0.0.1", 5060)),
        ("2001:DB8:0::1", "2001:db8::1"),  # written as packets are
        ("[2001:db8::1]:5060", Endpoint("2001:db8::1", 5060)),
        ("[2001:db8::1]", "2001:db8::1"),
        ("172.16.98.7/24", ipaddress.ip_network("172.16.98.0/24")),
        ("2001:db8::/32", ipaddress.ip_network("2001:db8::/32")),
    ],
)
def test_parse_host(text: str, term: object) -> None:
    assert parse_host(text) == term


@pytest.mark.parametrize(
    "text", ["pbx.example.com", "10.0.0.1/33", "10.0.0.1:", "10.0.0.1:99999", "[::1]:x", ""]
)
def test_parse_host_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not an address"):
        parse_host(text)
