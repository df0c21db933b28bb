"""The correlator's tables by id, its entries, transactions and dialogs: ``new_table``.

Ids come in increasing order, so a table can be an array: ``IdMap`` (``correlate/_idmap.c``), a
dict in all it does, holds a pointer per id where a dict holds 24 bytes and more (15 MB less for
the 180,000 entries and 90,000 transactions of 30,000 calls). Without the C module (no compiler at
install time, or ``SIPSNIFF_PURE_PYTHON`` set), the tables are dicts.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any, Final

from sipsniff import fast_module


def _maker() -> Callable[[], MutableMapping[int, Any]]:
    idmap = fast_module("correlate._idmap")
    if idmap is None:
        return dict
    table: type[MutableMapping[int, Any]] = idmap.IdMap
    MutableMapping.register(table)
    return table


new_table: Final = _maker()
"""A new, empty table: an ``IdMap``, or a dict."""
