"""Which dialogs a person asked to see: the selection options of ``read``, ``stats``, ``auth``,
``live`` and ``hep``, and the filter box of ``analysis.query``.

``select`` picks from a trace; ``Watch`` is the same selection as messages come.

Every criterion narrows the set (they combine with AND); a criterion given several times (``--method
INVITE --method REGISTER``) matches any of its values. The criteria on a dialog (its Call-ID, first
method, state, time, duration) are tested on the ``Dialog``; those on messages (users, hosts,
status codes, ``--grep``) are met once one message of the dialog meets them: ``_Criteria`` keeps
them as bits, and a dialog's messages are read only until every bit is met. The values are read
by ``analysis.terms``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from sipsniff.analysis.terms import (
    FAILED,
    Network,
    TimeBound,
    outcome_of,
    parse_host,
    user_key,
)
from sipsniff.correlate.states import is_state
from sipsniff.model import Dialog, Endpoint, Entry, Message, Trace
from sipsniff.sip.uri import user_part


@dataclass(frozen=True, slots=True)
class Selection:
    call_ids: tuple[str, ...] = ()
    """Call-IDs: exact, or with ``*`` at the end (a prefix), at the start (a suffix) or both (a
    substring)."""
    methods: tuple[str, ...] = ()
    """Dialogs started by one of these methods (case-insensitive)."""
    exclude_methods: tuple[str, ...] = ()
    """Dialogs started by one of these methods are left out (e.g. OPTIONS keep-alives)."""
    users: tuple[str, ...] = ()
    """User part of From, To or a Request-URI; numbers by their digits (``terms.user_key``)."""
    hosts: tuple[str, ...] = ()
    """``ip``, ``ip:port`` (``[v6]:port``) or a network (``10.0.0.0/8``) of any message's source
    or destination (``terms.parse_host``)."""
    grep: re.Pattern[bytes] | None = None
    """A regular expression searched in the text of every message."""
    calls_only: bool = False
    """Calls only (``Dialog.call``: a dialog that carried an INVITE, whatever came first)."""
    dialog: int | None = None
    """One dialog, by its index in the call list."""
    states: tuple[str, ...] = ()
    """States of the call list or outcomes, as ``terms.parse_state`` gives them (``IN CALL``,
    ``REJECTED``, ``REJECTED 486``, ``BUSY``)."""
    statuses: tuple[str, ...] = ()
    """``486``, ``4xx`` or ``failed`` (``terms.parse_status``): a response with it to a request
    of the dialog's first method or to an INVITE."""
    since: TimeBound | None = None
    """Dialogs whose last message is at or after it."""
    until: TimeBound | None = None
    """Dialogs whose first message is at or before it."""
    min_duration_ns: int | None = None
    """Dialogs that lasted at least this long (first to last message)."""
    grep_first: re.Pattern[bytes] | None = None
    """A regular expression searched in the text of the dialog's first message (sngrep's match
    expression)."""

    @property
    def empty(self) -> bool:
        return self == Selection()


USER, HOST, GREP, STATUS, FIRST = 1, 2, 4, 8, 16
"""The criteria met by some message of a dialog, as bits (``FIRST``: by its first message)."""


def status_counts(msg: Message, d: Dialog) -> bool:
    """Whether the status of ``msg`` is one of the dialog's (``Selection.statuses``): a response to
    the method that opened it or to an INVITE, not to a BYE or CANCEL of a call."""
    return msg.status is not None and msg.cseq_method in ("INVITE", d.first_method)


class _Criteria:
    """A selection made ready to test: sets of what is asked, the message criteria as bits.

    ``origin_ns`` is the capture's start, where times relative to it count from; None until it
    is known (``Watch`` learns it from the first message).
    """

    def __init__(self, sel: Selection, origin_ns: int | None = None) -> None:
        self.sel = sel
        self.methods = {m.upper() for m in sel.methods}
        self.excluded = {m.upper() for m in sel.exclude_methods}
        self.call_ids = set(sel.call_ids)
        patterns = [c for c in sel.call_ids if c.startswith("*") or c.endswith("*")]
        self.id_inside = [c.strip("*") for c in patterns if c[:1] == "*" == c[-1:]]
        self.id_prefixes = tuple(c[:-1] for c in patterns if c[:1] != "*")
        self.id_suffixes = tuple(c[1:] for c in patterns if c[-1:] != "*")
        self.users = {user_key(u) for u in sel.users}
        self.ips: set[str] = set()
        self.pairs: set[Endpoint] = set()
        self.networks: list[Network] = []
        for h in sel.hosts:
            term = parse_host(h)
            if isinstance(term, Endpoint):
                self.pairs.add(term)
            elif isinstance(term, str):
                self.ips.add(term)
            else:
                self.networks.append(term)
        self._in_networks: dict[str, bool] = {}
        self.codes = {int(s) for s in sel.statuses if s.isdigit()}
        self.classes = {int(s[0]) for s in sel.statuses if s.endswith("xx")}
        self.failed = FAILED in sel.statuses
        self.outcomes = {o for s in sel.states if (o := outcome_of(s)) is not None}
        self.state_names = sel.states
        self.since_ns: int | None = None
        self.until_ns: int | None = None
        self.origin_ns: int | None = None
        if origin_ns is not None:
            self.start(origin_ns)
        self.need = (
            (USER if self.users else 0)
            | (HOST if sel.hosts else 0)
            | (GREP if sel.grep is not None else 0)
            | (STATUS if sel.statuses else 0)
            | (FIRST if sel.grep_first is not None else 0)
        )
        """The message criteria asked for."""

    @property
    def timed(self) -> bool:
        """Whether there are criteria on time (``times_fit``)."""
        sel = self.sel
        return sel.since is not None or sel.until is not None or sel.min_duration_ns is not None

    def start(self, origin_ns: int) -> None:
        """The capture started at ``origin_ns``: place the time bounds on its time line."""
        self.origin_ns = origin_ns
        if self.sel.since is not None:
            self.since_ns = self.sel.since.at(origin_ns)
        if self.sel.until is not None:
            self.until_ns = self.sel.until.at(origin_ns)

    def fits(self, d: Dialog) -> bool:
        """The criteria on the dialog itself: ``fixed`` and ``now``."""
        return self.fixed(d) and self.now(d)

    def fixed(self, d: Dialog) -> bool:
        """The criteria on what never changes in a dialog: its id, Call-ID, first method."""
        return self.plain(d) and self.method_fits(d.first_method)

    def now(self, d: Dialog) -> bool:
        """The criteria on what the dialog is so far: a call, its state, when and how long it
        lasted."""
        return (
            (not self.sel.calls_only or d.call)
            and (not self.state_names or self.state_fits(d.state, d.outcome))
            and self.times_fit(d)
        )

    def plain(self, d: Dialog) -> bool:
        """The criteria a ``DialogIndex`` does not index: id and Call-ID."""
        return (self.sel.dialog is None or d.id == self.sel.dialog) and (
            not self.call_ids or self.call_id_fits(d.call_id)
        )

    def times_fit(self, d: Dialog) -> bool:
        """When the dialog was (``since``, ``until``), how long it lasted (``min_duration``)."""
        least = self.sel.min_duration_ns
        return (
            (self.since_ns is None or d.end_ns >= self.since_ns)
            and (self.until_ns is None or d.start_ns <= self.until_ns)
            and (least is None or d.end_ns - d.start_ns >= least)
        )

    def method_fits(self, method: str) -> bool:
        first = method.upper()
        return (not self.methods or first in self.methods) and first not in self.excluded

    def call_id_fits(self, call_id: str) -> bool:
        return (
            call_id in self.call_ids
            or (bool(self.id_prefixes) and call_id.startswith(self.id_prefixes))
            or (bool(self.id_suffixes) and call_id.endswith(self.id_suffixes))
            or any(part in call_id for part in self.id_inside)
        )

    def state_fits(self, state: str, outcome: str) -> bool:
        return outcome in self.outcomes or any(is_state(state, s) for s in self.state_names)

    def of_dialog(self, d: Dialog) -> int:
        """The message criteria the dialog's own From and To meet (``USER``)."""
        if self.users and self.users & {
            user_key(user_part(d.from_uri)),
            user_key(user_part(d.to_uri)),
        }:
            return USER
        return 0

    def of_first(self, msg: Message) -> int:
        """``FIRST`` when the dialog's first message ``msg`` meets ``--grep-first``."""
        pattern = self.sel.grep_first
        return FIRST if pattern is not None and pattern.search(msg.raw) else 0

    def host_fits(self, ep: Endpoint) -> bool:
        if ep.ip in self.ips or ep in self.pairs:
            return True
        if not self.networks:
            return False
        inside = self._in_networks.get(ep.ip)
        if inside is None:
            address = ipaddress.ip_address(ep.ip)
            inside = self._in_networks[ep.ip] = any(address in n for n in self.networks)
        return inside

    def status_fits(self, status: int) -> bool:
        return (
            status in self.codes
            or status // 100 in self.classes
            or (self.failed and status >= 400 and status not in (401, 407))
        )

    def of_message(self, msg: Message, d: Dialog, missing: int) -> int:
        """Which of the ``missing`` criteria one message of ``d`` meets (``FIRST`` aside)."""
        met = 0
        if missing & USER:
            found = {user_key(user_part(msg.from_uri)), user_key(user_part(msg.to_uri))}
            if msg.ruri is not None:
                found.add(user_key(user_part(msg.ruri)))
            if self.users & found:
                met |= USER
        if missing & HOST and (self.host_fits(msg.src) or self.host_fits(msg.dst)):
            met |= HOST
        grep = self.sel.grep
        if missing & GREP and grep is not None and grep.search(msg.raw):
            met |= GREP
        if (
            missing & STATUS
            and msg.status is not None
            and status_counts(msg, d)
            and self.status_fits(msg.status)
        ):
            met |= STATUS
        return met


def select(
    trace: Trace,
    sel: Selection,
    dialogs: Iterable[Dialog] | None = None,
    *,
    origin_ns: int | None = None,
    index: DialogIndex | None = None,
) -> list[Dialog]:
    """The dialogs of ``trace`` that ``sel`` picks, in call-list order.

    Args:
        dialogs: pick among these dialogs of ``trace`` only, in their order (default: all).
        origin_ns: the capture's start (default ``trace.start_ns``), for ``--since +30s``.
        index: an index of ``trace`` that answers the criteria on methods, states, users, hosts
            and statuses without reading each dialog (``DialogIndex``: the same answer, faster
            when selecting again and again).
    """
    candidates = trace.dialogs.values() if dialogs is None else dialogs
    if sel.empty:
        return list(candidates)
    timed = sel.since is not None or sel.until is not None
    c = _Criteria(sel, (trace.start_ns if origin_ns is None else origin_ns) if timed else None)
    entries = trace.entries
    allowed: set[int] | None = None
    if index is not None:
        index.refresh(trace)
        allowed = index.allowed(c)
    if allowed is not None:
        candidates = [d for d in candidates if d.id in allowed]
        if not (c.need & (GREP | FIRST) or sel.dialog is not None or c.call_ids or c.timed):
            return candidates
    out: list[Dialog] = []
    for d in candidates:
        if allowed is None:
            if not c.fits(d):
                continue
            missing = c.need
        else:
            if not (c.plain(d) and c.times_fit(d)):
                continue
            missing = c.need & (GREP | FIRST)
        if missing & FIRST:
            if not d.messages or not c.of_first(entries[d.messages[0]]):
                continue
            missing &= ~FIRST
        if missing:
            missing &= ~c.of_dialog(d)
        for i in d.messages:
            if not missing:
                break
            missing &= ~c.of_message(entries[i], d, missing)
        if not missing:
            out.append(d)
    return out


class DialogIndex:
    """The dialogs of a trace by first method, state, call or not, user, endpoint and status, for
    a filter applied again at every key a person types (``analysis.query``).

    ``select(index=...)`` asks it for the dialogs that meet those criteria: each criterion is
    tested once per value the trace holds (a state, a user, an endpoint), by the same
    ``_Criteria`` methods as without it, and the dialogs of the values that meet it are taken.
    ``refresh`` follows a trace that grows (live): the new messages of a dialog are indexed, a
    dialog whose state changed moves; ``forget`` takes out the dialogs a session let go.
    """

    def __init__(self) -> None:
        self._seen: dict[int, list[Any]] = {}
        """By ``Dialog.id``: [messages indexed, state, outcome, call]."""
        self.by_method: dict[str, set[int]] = {}
        self.by_state: dict[tuple[str, str], set[int]] = {}
        self.calls: set[int] = set()
        self.by_user: dict[str, set[int]] = {}
        self.by_endpoint: dict[Endpoint, set[int]] = {}
        self.by_status: dict[int, set[int]] = {}

    def refresh(self, trace: Trace) -> None:
        """Index what ``trace`` holds that is not indexed yet (new dialogs, messages, states)."""
        entries = trace.entries
        seen = self._seen
        for d in trace.dialogs.values():
            i = d.id
            rec = seen.get(i)
            if (
                rec is not None
                and rec[0] == len(d.messages)
                and rec[1] is d.state
                and rec[2] is d.outcome
                and rec[3] is d.call
            ):
                continue  # nothing new (states are the same objects: verdict is cached)
            if rec is None:
                rec = seen[i] = [0, None, None, False]
                self.by_method.setdefault(d.first_method, set()).add(i)
                for uri in (d.from_uri, d.to_uri):
                    self.by_user.setdefault(user_key(user_part(uri)), set()).add(i)
            if rec[1] != d.state or rec[2] != d.outcome:
                if rec[1] is not None:
                    self.by_state[rec[1], rec[2]].discard(i)
                rec[1], rec[2] = d.state, d.outcome
                self.by_state.setdefault((d.state, d.outcome), set()).add(i)
            if rec[3] != d.call:
                rec[3] = d.call
                (self.calls.add if d.call else self.calls.discard)(i)
            if rec[0] != len(d.messages):
                for k in d.messages[rec[0] :]:
                    self._message(entries[k], d)
                rec[0] = len(d.messages)

    def _message(self, msg: Message, d: Dialog) -> None:
        i = d.id
        by_user = self.by_user
        by_user.setdefault(user_key(user_part(msg.from_uri)), set()).add(i)
        by_user.setdefault(user_key(user_part(msg.to_uri)), set()).add(i)
        if msg.ruri is not None:
            by_user.setdefault(user_key(user_part(msg.ruri)), set()).add(i)
        self.by_endpoint.setdefault(msg.src, set()).add(i)
        self.by_endpoint.setdefault(msg.dst, set()).add(i)
        if msg.status is not None and status_counts(msg, d):
            self.by_status.setdefault(msg.status, set()).add(i)

    def forget(self, part: Trace) -> None:
        """Take out the dialogs of ``part`` (let go by a session; ``Session.expired``)."""
        gone = set(part.dialogs)
        for i in gone:
            self._seen.pop(i, None)
        self.calls -= gone
        tables = (self.by_method, self.by_state, self.by_user, self.by_endpoint, self.by_status)
        for table in tables:
            for ids in table.values():
                ids -= gone

    def allowed(self, c: _Criteria) -> set[int] | None:
        """The dialogs (ids) that meet the indexed criteria of ``c``; None: all."""
        picks: list[set[int]] = []

        def where(table: dict[Any, set[int]], fits: Callable[[Any], bool]) -> None:
            picks.append(set().union(*(ids for key, ids in table.items() if fits(key))))

        sel = c.sel
        if sel.methods or sel.exclude_methods:
            where(self.by_method, c.method_fits)
        if sel.calls_only:
            picks.append(self.calls)
        if sel.states:
            where(self.by_state, lambda key: c.state_fits(*key))
        if sel.users:
            picks.append(set().union(*(self.by_user.get(u, ()) for u in c.users)))
        if sel.hosts:
            where(self.by_endpoint, c.host_fits)
        if sel.statuses:
            where(self.by_status, c.status_fits)
        if not picks:
            return None
        picks.sort(key=len)
        return picks[0].intersection(*picks[1:])


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

    A dialog is shown from the message at which it meets every criterion, as known then, and
    then to its end: the criteria on messages (``users``, ``hosts``, ``statuses``, ``grep``) are
    met once one message met them, and stay met; a state, a duration or a time window are judged
    on the dialog as it is at each message until it meets them (``--state ringing`` shows a call
    from its 180 on, its answer and BYE too). Times relative to the capture count from the first
    message seen. A dialog the session lets go is forgotten (``forget``, an observer of
    ``Session.expired``).
    """

    def __init__(self, sel: Selection) -> None:
        self.empty = sel.empty
        self._c = _Criteria(sel)
        self._seen: dict[int, list[Any]] = {}
        """By ``Dialog.id``: [its state when last seen, the message criteria met so far,
        whether it is shown]."""

    def see(self, entry: Entry, dialog: Dialog) -> Shown | None:
        """The message as shown (with the dialog's new state, when it changed), or None when the
        selection does not show it."""
        c = self._c
        if c.origin_ns is None:
            c.start(entry.ts_ns)
        seen = self._seen.get(dialog.id)
        if seen is None:
            met = 0
            if c.need:
                met = c.of_dialog(dialog)
                if entry.id == dialog.messages[0]:
                    met |= c.of_first(entry)
            seen = self._seen[dialog.id] = ["", met, self.empty]
        state = None
        if dialog.state != seen[0]:
            state = seen[0] = dialog.state
        if not seen[2]:
            if not c.fixed(dialog):
                return None
            # Every message counts for the message criteria, shown or not: the one that met
            # --host may come before the state that --state asks for.
            missing = c.need & ~seen[1]
            if missing:
                seen[1] |= c.of_message(entry, dialog, missing)
            if c.need & ~seen[1] or not c.now(dialog):
                return None
            seen[2] = True
        return Shown(entry, state, dialog.outcome)

    def forget(self, part: Trace) -> None:
        """Forget the dialogs of ``part`` (let go by the session)."""
        for i in part.dialogs:
            self._seen.pop(i, None)
