"""Which dialogs a person asked to see: the selection options of ``read``, ``live`` and ``hep``.

``select`` picks from a trace; ``Watch`` is the same selection as messages come.

Every criterion narrows the set (they combine with AND); a criterion given several times (``--method
INVITE --method REGISTER``) matches any of its values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from sipsniff.model import Dialog, Entry, Message, Trace
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


USER, HOST, GREP = 1, 2, 4
"""The criteria met by some message of a dialog, as bits."""


class _Criteria:
    """A selection made ready to test: sets of what is asked, the message criteria as bits."""

    def __init__(self, sel: Selection) -> None:
        self.sel = sel
        self.methods = {m.upper() for m in sel.methods}
        self.excluded = {m.upper() for m in sel.exclude_methods}
        self.call_ids = set(sel.call_ids)
        self.users = set(sel.users)
        self.ips: set[str] = set()
        self.pairs: set[str] = set()
        for h in (h.strip() for h in sel.hosts):
            if (h.startswith("[") and "]:" in h) or h.count(":") == 1:
                self.pairs.add(h)
            else:
                self.ips.add(h.strip("[]"))
        self.need = (
            (USER if self.users else 0)
            | (HOST if sel.hosts else 0)
            | (GREP if sel.grep is not None else 0)
        )
        """The message criteria asked for."""

    def fits(self, d: Dialog) -> bool:
        """The criteria on the dialog itself: its id, Call-ID, first method, being a call."""
        sel = self.sel
        first = d.first_method.upper()
        return (
            (sel.dialog is None or d.id == sel.dialog)
            and (not self.call_ids or d.call_id in self.call_ids)
            and (not self.methods or first in self.methods)
            and first not in self.excluded
            and (not sel.calls_only or d.call)
        )

    def of_dialog(self, d: Dialog) -> int:
        """The message criteria the dialog's own From and To meet (``USER``)."""
        if self.users and self.users & {user_part(d.from_uri), user_part(d.to_uri)}:
            return USER
        return 0

    def of_message(self, msg: Message, missing: int) -> int:
        """Which of the ``missing`` criteria one message meets."""
        met = 0
        if missing & USER:
            found = {user_part(msg.from_uri), user_part(msg.to_uri)}
            if msg.ruri is not None:
                found.add(user_part(msg.ruri))
            if self.users & found:
                met |= USER
        if missing & HOST and (
            msg.src.ip in self.ips
            or msg.dst.ip in self.ips
            or str(msg.src) in self.pairs
            or str(msg.dst) in self.pairs
        ):
            met |= HOST
        grep = self.sel.grep
        if missing & GREP and grep is not None and grep.search(msg.raw):
            met |= GREP
        return met


def select(trace: Trace, sel: Selection) -> list[Dialog]:
    """The dialogs of ``trace`` that ``sel`` picks, in call-list order."""
    if sel.empty:
        return list(trace.dialogs.values())
    c = _Criteria(sel)
    entries = trace.entries
    out: list[Dialog] = []
    for d in trace.dialogs.values():
        if not c.fits(d):
            continue
        missing = c.need & ~c.of_dialog(d)
        for i in d.messages:
            if not missing:
                break
            missing &= ~c.of_message(entries[i].msg, missing)
        if not missing:
            out.append(d)
    return out


class Shown(NamedTuple):
    """A message the selection shows, with what is known of its dialog so far."""

    entry: Entry
    state: str | None
    """The dialog's new state, when this message changed it."""
    outcome: str
    """The dialog's outcome (``Dialog.outcome``) after this message."""


class Watch:
    """``select`` as messages come (``live``, ``hep``): whether the selection shows each message,
    on what is known of its dialog so far.

    The criteria on the dialog are checked on each message; those on messages (``users``,
    ``hosts``, ``grep``) are met once one message of the dialog met them, and stay met. A dialog
    the session lets go is forgotten (``forget``, an observer of ``Session.expired``).
    """

    def __init__(self, sel: Selection) -> None:
        self.empty = sel.empty
        self._c = _Criteria(sel)
        self._seen: dict[int, list[Any]] = {}
        """By ``Dialog.id``: [its state when last seen, the message criteria met so far]."""

    def see(self, entry: Entry, dialog: Dialog) -> Shown | None:
        """The message as shown (with the dialog's new state, when it changed), or None when the
        selection does not show it."""
        seen = self._seen.get(dialog.id)
        if seen is None:
            c = self._c
            seen = self._seen[dialog.id] = ["", c.of_dialog(dialog) if c.need else 0]
        state = None
        if dialog.state != seen[0]:
            state = seen[0] = dialog.state
        if not self.empty:
            c = self._c
            if not c.fits(dialog):
                return None
            missing = c.need & ~seen[1]
            if missing:
                seen[1] |= c.of_message(entry.msg, missing)
                if c.need & ~seen[1]:
                    return None
        return Shown(entry, state, dialog.outcome)

    def forget(self, part: Trace) -> None:
        """Forget the dialogs of ``part`` (let go by the session)."""
        for i in part.dialogs:
            self._seen.pop(i, None)
