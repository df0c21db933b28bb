"""``IdMap`` (correlate/_idmap.c), the correlator's tables by id, against a dict: the same
operations on both, compared after each one; and what it is there for, the memory of a read."""

from __future__ import annotations

import pickle
import random
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest

from sipsniff.correlate import tables
from sipsniff.pipeline import read_trace
from tests.fastpaths import captures, run_sanitized

try:
    from sipsniff.correlate._idmap import IdMap
except ImportError:
    IdMap = None  # type: ignore[assignment,misc]

pytestmark = pytest.mark.skipif(
    IdMap is None or tables.new_table is dict,
    reason="the C module is not built here (no C compiler at install time, or "
    "SIPSNIFF_PURE_PYTHON is set): the tables are dicts, nothing to compare",
)

ODD_KEYS: list[Any] = [True, False, 1.0, 2.5, "a", (1, 2), 2**70, -(2**70), -1, -2]
"""Keys that are not plain ints, or far from any id: found (or not) as a dict finds them."""


def same(m: Any, d: dict[Any, Any]) -> None:
    assert len(m) == len(d)
    assert list(m) == list(d)
    assert list(m.keys()) == list(d.keys())
    assert list(m.values()) == list(d.values())
    assert list(m.items()) == list(d.items())
    assert list(reversed(m)) == list(reversed(d))
    assert list(reversed(m.values())) == list(reversed(d.values()))
    assert list(reversed(m.items())) == list(reversed(d.items()))
    assert len(m.keys()) == len(m.values()) == len(m.items()) == len(d)
    assert m == d and d == m
    assert (m != d) is False and (d != m) is False
    assert repr(m) == repr(d)


def lookups(m: Any, d: dict[Any, Any], key: Any) -> None:
    assert m.get(key) == d.get(key)
    assert m.get(key, "none") == d.get(key, "none")
    assert (key in m) == (key in d)
    keys, dict_keys = m.keys(), d.keys()
    assert (key in keys) == (key in dict_keys)
    try:
        expected: Any = ("value", d[key])
    except KeyError as e:
        expected = ("error", e.args)
    try:
        got: Any = ("value", m[key])
    except KeyError as e:
        got = ("error", e.args)
    assert got == expected


def test_every_operation_as_a_dict() -> None:
    """Ids mostly in increasing order (as the correlator adds them), with jumps back and far
    ahead, removals here and there, odd keys: the IdMap and the dict stay the same (200 runs of
    random operations, each from its own seed)."""
    for seed in range(200):
        try:
            operations(seed)
        except AssertionError as e:
            raise AssertionError(f"seed {seed}: {e}") from e


def operations(seed: int) -> None:
    r = random.Random(seed)
    m: Any = IdMap()
    d: dict[Any, Any] = {}
    nxt = r.randint(-5, 5)
    for _ in range(r.randint(1, 300)):
        op = r.random()
        if op < 0.5:
            key = nxt
            jump = r.random()
            nxt += r.choice([1, 1, 1, 2, 5]) if jump < 0.97 else r.randint(-3, 3000)
            value: Any = object() if r.random() < 0.1 else r.randint(0, 9)
            m[key] = d[key] = value
        elif op < 0.6 and d:
            key = r.choice(list(d))
            assert m.pop(key) == d.pop(key)
        elif op < 0.65:
            key = r.randint(-10, nxt + 10)
            assert m.pop(key, "none") == d.pop(key, "none")
        elif op < 0.72:
            key = r.choice([*ODD_KEYS, nxt - 1, float(nxt - 2), r.randint(-10, nxt + 10)])
            lookups(m, d, key)
            assert ((key, d.get(key)) in m.items()) == ((key, d.get(key)) in d.items())
            if r.random() < 0.2:
                m[key] = d[key] = "set"
        elif op < 0.76 and d:
            key = r.choice(list(d))
            del m[key]
            del d[key]
        elif op < 0.79:
            key = r.randint(nxt - 5, nxt + 5)
            assert m.setdefault(key, 7) == d.setdefault(key, 7)
        elif op < 0.81 and d:
            assert m.popitem() == d.popitem()
        elif op < 0.83:
            copied = m.copy()
            assert type(copied) is IdMap and copied == d
            back = pickle.loads(pickle.dumps(m))
            assert type(back) is IdMap and list(back) == list(d)
        elif op < 0.84:
            extra = {nxt + 1: "u", nxt + 3: "v"}
            m.update(extra)
            d.update(extra)
            nxt += 4
        elif op < 0.845:
            m.clear()
            d.clear()
        same(m, d)


def test_errors_as_a_dict() -> None:
    m: Any = IdMap((i, i) for i in range(1, 11))
    with pytest.raises(RuntimeError, match="changed size during iteration"):
        for i in m:
            m[100 + i] = i
    with pytest.raises(TypeError, match="unhashable"):
        m[[1]]
    with pytest.raises(TypeError, match="unhashable"):
        hash(m)
    with pytest.raises(KeyError) as e:
        m[(1, 2)]
    assert e.value.args == ((1, 2),)
    with pytest.raises(KeyError):
        IdMap().popitem()
    assert isinstance(m, MutableMapping)


def test_an_array_while_ids_come_in_order() -> None:
    """It holds 8 to 12 bytes an item, where a dict holds about 58 here (so it is there); it stays an array
    while ids are removed from either end, or here and there while they are fewer than the
    values; beyond, it is a dict."""
    n = 180_000
    m: Any = IdMap((i, None) for i in range(1, n + 1))
    d = dict.fromkeys(range(1, n + 1))
    assert m.is_array
    assert sys.getsizeof(m) < 12 * n < sys.getsizeof(d) / 4
    for i in range(1, 1000):
        del m[i]
        m.pop(n + 1 - i)
    for i in range(2000, 100_000, 2):
        del m[i]
    assert m.is_array
    for i in range(100_001, 150_000):
        del m[i]
    assert not m.is_array


def test_the_tables_of_a_read(tmp_path: Path) -> None:
    """Read from a capture, every table is an array, and the trace is what the dicts made."""
    path = next(p for p in captures() if p.stat().st_size > 10_000)
    trace = read_trace([str(path)], parallel=False)
    assert isinstance(trace.entries, IdMap) and trace.entries.is_array
    assert isinstance(trace.transactions, IdMap) and trace.transactions.is_array
    assert list(trace.entries) == list(range(1, len(trace.entries) + 1))


def test_under_address_and_undefined_behaviour_sanitizers(tmp_path: Path) -> None:
    run_sanitized(
        tmp_path, "sipsniff/correlate/_idmap.c", "sipsniff.correlate._idmap", [Path(__file__)]
    )
