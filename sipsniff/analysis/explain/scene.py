"""Who is who in one dialog's ladder, and the questions every explanation asks of it.

How this works. ``Scene`` reads the ladder once: the column that sent the first request is the
client (the caller of a call); a column that receives a request and sends the same request (same
method and CSeq) on to another is a proxy, and that row is *relayed*; the same holds for a response
passed back. The callee is where the INVITE ends up (the first column an INVITE reaches that is
no proxy); the server of any other dialog is where its first request went (a registrar for a
REGISTER). Each column gets a name a person reads: ``alice (127.0.0.1:5070)``, ``the proxy at
127.0.0.1:5060``.
"""

from __future__ import annotations

from functools import cached_property

from sipsniff.analysis.auth import Attempt, AuthReport, Challenge
from sipsniff.analysis.ladder import Ladder, Row
from sipsniff.analysis.stats import CallTiming, call_timing
from sipsniff.model import Entry, Message, Trace
from sipsniff.sip.sdp import Media, Sdp, sdp_of
from sipsniff.sip.uri import user_part


def span(ns: int) -> str:
    """A time for a sentence: ``840 µs``, ``12.5 ms``, ``1.002 s``, ``2 min 5 s``."""
    if ns < 1_000_000:
        return f"{ns // 1000} µs"
    if ns < 100_000_000:
        return f"{ns / 1e6:.1f} ms"
    if ns < 1_000_000_000:
        return f"{ns // 1_000_000} ms"
    if ns < 120 * 1_000_000_000:
        return f"{ns / 1e9:.3f} s"
    minutes, secs = divmod(ns // 1_000_000_000, 60)
    return f"{minutes} min {secs} s"


def first_live(sdp: Sdp | None) -> Media | None:
    """The first stream of ``sdp`` not rejected (port 0)."""
    if sdp is None:
        return None
    return next((m for m in sdp.media if m.port != 0), None)


class Scene:
    """One dialog's ladder with its parties named and its rows related."""

    def __init__(self, trace: Trace, ladder: Ladder, auth: AuthReport) -> None:
        self.trace = trace
        self.ladder = ladder
        self.dialog = ladder.dialog
        self.rows: tuple[Row, ...] = ladder.rows
        self.attempts: dict[int, Attempt] = {
            a.entry: a for a in auth.attempts if a.dialog == self.dialog.id
        }
        """Requests with credentials, by ``Entry.id``."""
        self.challenges: dict[int, Challenge] = {}
        """401/407 responses, by ``Entry.id`` (the first challenge of each)."""
        for c in auth.challenges:
            if c.dialog == self.dialog.id:
                self.challenges.setdefault(c.entry, c)
        self.relay_of: dict[int, int] = {}
        """Row index -> index of the row it passes on (a proxy's copy of a request or response)."""
        self.proxies: set[int] = set()
        for k, row in enumerate(self.rows):
            for j in range(k - 1, -1, -1):
                before = self.rows[j]
                if before.dst == row.src and before.src != row.dst and _same(before.msg, row.msg):
                    if row.src != before.src:
                        self.relay_of[k] = j
                        self.proxies.add(row.src)
                    break
        first = next((r for r in self.rows if r.msg.status is None), None)
        self.client: int | None = None if first is None else first.src
        """Column of the sender of the first request (a call's caller)."""
        self.server: int | None = None
        """Column the dialog's requests end up at: the callee of a call, the registrar."""
        if first is not None:
            self.server = first.dst
            for row in self.rows:
                if row.msg.method == first.msg.method and row.dst not in self.proxies:
                    if row.dst != self.client:
                        self.server = row.dst
                    break
        self._sdp: dict[int, Sdp | None] = {}

    # -- names ---------------------------------------------------------------------------------

    @cached_property
    def _first_request(self) -> Message | None:
        return next((r.msg for r in self.rows if r.msg.status is None), None)

    def address(self, column: int) -> str:
        return self.ladder.columns[column].address

    @property
    def register(self) -> bool:
        return self.dialog.first_method.upper() == "REGISTER"

    def who(self, column: int) -> str:
        """``alice (127.0.0.1:5070)``, ``the registrar at 127.0.0.1:5060``, ``the proxy at ...``."""
        address = self.address(column)
        first = self._first_request
        if column == self.client and first is not None:
            user = user_part(first.from_uri) or first.from_name
            return f"{user} ({address})" if user else address
        if column in self.proxies:
            return f"the proxy at {address}"
        if column == self.server and first is not None:
            if self.register:
                return f"the registrar at {address}"
            user = user_part(first.to_uri)
            if self.dialog.call and user:
                return f"{user} ({address})"
            return f"the server at {address}"
        return address

    def short(self, column: int) -> str:
        """``alice``, ``the proxy``, ``the registrar``, or the address: a name once introduced."""
        name = self.who(column)
        return name.split(" (")[0] if " (" in name else name.split(" at ")[0]

    # -- relations -------------------------------------------------------------------------------

    def origin(self, k: int) -> int:
        """The row a relayed row ``k`` began as (itself when not relayed)."""
        seen = 0
        while k in self.relay_of and seen < 64:
            k = self.relay_of[k]
            seen += 1
        return k

    def request_of(self, row: Row) -> Entry | None:
        """The request a response answers (the first copy of its transaction's request)."""
        tx = self.trace.transactions.get(row.entry.transaction)
        if tx is None or tx.request is None:
            return None
        return self.trace.entries.get(tx.request)

    def earlier(self, k: int) -> tuple[Row, ...]:
        return self.rows[:k]

    def sdp(self, row: Row) -> Sdp | None:
        """The SDP of a row's message (parsed once)."""
        if row.entry.id not in self._sdp:
            self._sdp[row.entry.id] = sdp_of(row.msg) if row.sdp else None
        return self._sdp[row.entry.id]

    @cached_property
    def timing(self) -> CallTiming:
        return call_timing(self.trace, self.dialog)

    def caller_tag(self) -> str | None:
        first = self._first_request
        return None if first is None else first.from_tag


def _same(a: Message, b: Message) -> bool:
    """Whether ``b`` is ``a`` passed on by a proxy: the same request, or the same response."""
    if a.cseq_num != b.cseq_num or a.cseq_method != b.cseq_method:
        return False
    if a.status is None:
        return b.status is None and a.method == b.method
    return a.status == b.status
