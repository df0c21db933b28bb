"""Which dialogs a person asked to see: the selection options of ``read`` and ``live``.

Every criterion narrows the set (they combine with AND); a criterion given several times (``--method
INVITE --method REGISTER``) matches any of its values.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sipsniff.model import Dialog, Trace
from sipsniff.sip.uri import user_part


@dataclass(frozen=True, slots=True)
class Selection:
    call_ids: tuple[str, ...] = ()
    """Exact Call-IDs."""
    methods: tuple[str, ...] = ()
    """Dialogs started by one of these methods (case-insensitive)."""
    exclude_methods: tuple[str, ...] = ()
    """Dialogs started by one of these methods are left out (e.g. OPTIONS keep-alives)."""
    users: tuple[str, ...] = ()
    """User part of From, To or a Request-URI."""
    hosts: tuple[str, ...] = ()
    """``ip`` or ``ip:port`` (``[v6]:port``) of any message's source or destination."""
    grep: re.Pattern[bytes] | None = None
    """A regular expression searched in the text of every message."""
    calls_only: bool = False
    """Calls only (``Dialog.call``: a dialog that carried an INVITE, whatever came first)."""
    dialog: int | None = None
    """One dialog, by its index in the call list."""

    @property
    def empty(self) -> bool:
        return self == Selection()


def _host_keys(hosts: Sequence[str]) -> tuple[set[str], set[str]]:
    ips: set[str] = set()
    pairs: set[str] = set()
    for h in hosts:
        h = h.strip()
        if (h.startswith("[") and "]:" in h) or h.count(":") == 1:
            pairs.add(h)
        else:
            ips.add(h.strip("[]"))
    return ips, pairs


def select(trace: Trace, sel: Selection) -> list[Dialog]:
    """The dialogs of ``trace`` that ``sel`` picks, in call-list order."""
    if sel.empty:
        return list(trace.dialogs.values())
    methods = {m.upper() for m in sel.methods}
    excluded = {m.upper() for m in sel.exclude_methods}
    call_ids = set(sel.call_ids)
    users = set(sel.users)
    ips, pairs = _host_keys(sel.hosts)
    entries = trace.entries
    out: list[Dialog] = []
    for d in trace.dialogs.values():
        first = d.first_method.upper()
        if sel.dialog is not None and d.id != sel.dialog:
            continue
        if call_ids and d.call_id not in call_ids:
            continue
        if methods and first not in methods:
            continue
        if first in excluded:
            continue
        if sel.calls_only and not d.call:
            continue
        msgs = [entries[i].msg for i in d.messages]
        if users:
            found = {user_part(d.from_uri), user_part(d.to_uri)}
            for m in msgs:
                found.add(user_part(m.from_uri))
                found.add(user_part(m.to_uri))
                if m.ruri is not None:
                    found.add(user_part(m.ruri))
            if not users & found:
                continue
        if (ips or pairs) and not any(
            m.src.ip in ips or m.dst.ip in ips or str(m.src) in pairs or str(m.dst) in pairs
            for m in msgs
        ):
            continue
        if sel.grep is not None and not any(sel.grep.search(m.raw) for m in msgs):
            continue
        out.append(d)
    return out
