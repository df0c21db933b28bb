"""One session engine for every command: the pipeline, what a run keeps in memory, who watches.

How this works. A ``Session`` is sans-IO. A source (``capture/``: capture files, the live ring, the
HEP listener) feeds it frames (``feed``; ``run`` for a whole file at full speed), transport payloads
(``feed_payloads``: decrypted TLS) or HEP packets (``feed_hep``). Each entry the pipeline completes
goes to the ``observers`` in order (the live display, the HEP agent), and the entries are returned.
``read``, ``stats``, ``live``, ``hep`` (and the browser) differ only in their ``Retention``:

* Skipped records (bad input is data, ``Skipped``): the first ``skipped_kept`` are kept, each with
  at most ``skipped_prefix`` bytes of what could not be used; the others are counted
  (``counts.skipped_not_kept``). Garbage sent to a collector costs a counter, not memory.
* Dialogs, with ``hold``: whenever more than ``hold`` are held (checked after each frame) or
  ``period_ns`` has passed (``tick``), a sweep lets go of those that are over and silent for
  ``over_ns``, of any silent for ``idle_ns``, then of the oldest down to ``target``
  (``Correlator.expire_trace``: ids are never renumbered). Each part let go goes to the
  ``expired`` observers first (``stats`` sums it up, the live view forgets what it knew of it).
  A sweep costs a pass over what stays, so the next one comes when ``slack`` more dialogs came.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from sipsniff.model import Endpoint, Entry, Frame, Payload, Skipped, Trace
from sipsniff.net.hep import HepIntake
from sipsniff.pipeline.stages import DEFAULT_LIMITS, DEFAULT_LINK_HEADERS, Limits, Pipeline

NS = 1_000_000_000
OVER_NS = 32 * NS
"""How long a dialog that is over stays, when dialogs must go: RFC 3261 Timer J and the
retransmissions of a 2xx to INVITE (64 * T1) end within 32 s."""
IDLE_NS = 3600 * NS
"""A dialog silent this long goes when dialogs must go, over or not (a BYE not captured)."""
SKIPPED_KEPT = 1000
"""Skipped records kept by default; the others are only counted."""
SKIPPED_PREFIX = 256
"""Bytes of its data a kept skipped record keeps (enough for a start line and some headers)."""


@dataclass(frozen=True, slots=True)
class Retention:
    """What a session keeps in memory: all dialogs of a capture, or a bounded part of a run of any
    length. Skipped records are always bounded."""

    hold: int = 0
    """Sweep when more dialogs than this are held (0: never; every dialog is kept)."""
    target: int = 0
    """How many dialogs a sweep leaves at most."""
    max_active: int | None = None
    """Dialogs not over yet go only while more than this many are left (None: as needed to reach
    ``target``, the oldest first, those that are over before them)."""
    slack: int = 16
    """After a sweep, the next comes when this many more dialogs came (at ``hold`` at least)."""
    over_ns: int = OVER_NS
    """A dialog that is over goes this long after its last message."""
    idle_ns: int = IDLE_NS
    """A dialog silent this long goes, over or not."""
    period_ns: int = 0
    """``tick`` sweeps when this long passed since the last sweep (0: only when over ``hold``)."""
    skipped_kept: int = field(default_factory=lambda: SKIPPED_KEPT)
    """Skipped records kept; the others are counted only."""
    skipped_prefix: int = SKIPPED_PREFIX
    """Bytes of its data each kept skipped record keeps."""

    @classmethod
    def summarizing(cls, hold: int) -> Retention:
        """``read`` and ``stats`` of a capture of any size: past ``hold`` dialogs, those that are
        over (and silent for ``OVER_NS``) and the silent ones go to a summary, then the oldest
        that are over while more than half ``hold`` are left, then the oldest while more than
        ``hold`` are."""
        return cls(hold=max(hold, 16), target=hold // 2, max_active=hold, slack=hold // 2)

    @classmethod
    def forgetting(cls, keep_ns: int, max_dialogs: int) -> Retention:
        """``live`` and ``hep``, which run for days: dialogs over for ``keep_ns`` go, every
        quarter of it (every second at least), and the oldest beyond ``max_dialogs``."""
        return cls(
            hold=max_dialogs,
            target=max_dialogs,
            slack=max(16, max_dialogs // 4),
            over_ns=keep_ns,
            idle_ns=max(keep_ns, IDLE_NS),
            period_ns=max(NS, keep_ns // 4),
        )


class SkippedLog(list[Skipped]):
    """The skipped records a run keeps: the first ``kept``, each with ``prefix`` bytes of data
    at most; ``not_kept`` counts the others. A list, for the stages that append to it."""

    def __init__(self, kept: int = SKIPPED_KEPT, prefix: int = SKIPPED_PREFIX) -> None:
        super().__init__()
        self.kept = kept
        self.prefix = prefix
        self.not_kept = 0

    def append(self, s: Skipped) -> None:
        if len(self) >= self.kept:
            self.not_kept += 1
            return
        if len(s.data) > self.prefix:
            s = s._replace(data=s.data[: self.prefix])
        super().append(s)

    def extend(self, items: Iterable[Skipped]) -> None:
        for s in items:
            self.append(s)


class Session:
    """A pipeline, its retention and its observers.

    Args:
        retention: what is kept (``Retention()``: every dialog, a bounded part of the skipped).
        agents: ``feed_hep`` takes HEP from these agent ids only (empty: from every agent).
        password: ``feed_hep`` refuses HEP packets that do not carry this key.
    """

    def __init__(
        self,
        *,
        link_headers: Sequence[str] = DEFAULT_LINK_HEADERS,
        limits: Limits = DEFAULT_LIMITS,
        retention: Retention = Retention(),
        agents: Sequence[int] = (),
        password: str | None = None,
    ) -> None:
        self.retention = retention
        self.skipped = SkippedLog(retention.skipped_kept, retention.skipped_prefix)
        self.pipe = Pipeline(link_headers=link_headers, limits=limits, skipped=self.skipped)
        self.correlator = self.pipe.correlator
        self.counts = self.pipe.counts
        self.observers: list[Callable[[Entry], object]] = []
        """Called with every entry as it is correlated, in order."""
        self.expired: list[Callable[[Trace], object]] = []
        """Called with each part of the dialogs a sweep lets go, before they are forgotten."""
        self.hep = HepIntake(
            self.counts,
            self.skipped,
            agents=agents,
            password=password,
            max_message=limits.max_message,
        )
        self.agents: dict[int, int] = {}
        """Agent id of each message fed as HEP, by its ``Entry.id``."""
        self.per_agent: dict[int, int] = {}
        """SIP messages fed as HEP, by agent id."""
        self.evicted = 0
        """Dialogs let go by sweeps."""
        self.high = retention.hold or (1 << 62)
        """More dialogs held than this: a sweep, after the frame."""
        self._last_sweep_ns = 0

    # -- input -------------------------------------------------------------------------------
    def feed(self, frame: Frame) -> list[Entry]:
        """One captured frame: the entries it completed (the observers have seen them)."""
        entries = self.pipe.feed(frame)
        if entries:
            self._observe(entries)
        if len(self.correlator.dialogs) > self.high:
            self.sweep(frame.ts_ns)
        return entries

    def run(
        self, frames: Iterable[Frame], decrypted: dict[tuple[int, int], list[Payload]] | None = None
    ) -> None:
        """``feed`` every frame of a capture, at full speed; ``decrypted`` adds the payloads
        decrypted from a frame (by file and frame number) after it."""
        feed = self.pipe.feed
        dialogs = self.correlator.dialogs
        observe = self._observe if self.observers else None
        pending = decrypted or {}
        for frame in frames:
            entries = feed(frame)
            if pending:
                more = pending.pop((frame.file, frame.number), None)
                if more:
                    entries = entries + self.pipe.feed_payloads(more)
            if entries and observe is not None:
                observe(entries)
            if len(dialogs) > self.high:
                self.sweep(frame.ts_ns)

    def feed_payloads(self, payloads: Iterable[Payload]) -> list[Entry]:
        """Transport payloads that did not come from a frame (decrypted TLS records)."""
        entries = self.pipe.feed_payloads(payloads)
        if entries:
            self._observe(entries)
        return entries

    def feed_hep(self, data: bytes | str, received_ns: int, peer: Endpoint | None) -> list[Entry]:
        """One HEP packet a collector received (or, from a broken TCP stream, the reason)."""
        got = self.hep.take(data, received_ns, peer)
        if got is None:
            return []
        p, agent = got
        entry = self.pipe.message(p.data, p, framed=False)
        if entry is None:
            return []
        self.agents[entry.id] = agent
        self.per_agent[agent] = self.per_agent.get(agent, 0) + 1
        self._observe([entry])
        # The clock of retention is the messages' own (their agents' capture times, which may be
        # those of a file replayed by ``read --hep``), not this machine's.
        if len(self.correlator.dialogs) > self.high:
            self.sweep(p.ts_ns)
        else:
            self.tick(p.ts_ns)
        return [entry]

    def agent_of(self, entry: Entry) -> int:
        """The HEP agent that sent a message fed by ``feed_hep``."""
        return self.agents[entry.id]

    def finish(self) -> list[Entry]:
        """End of input: what reassembly still holds is released, the states become final."""
        entries = self.pipe.finish()
        if entries:
            self._observe(entries)
        return entries

    def _observe(self, entries: list[Entry]) -> None:
        for entry in entries:
            for observe in self.observers:
                observe(entry)

    # -- memory ------------------------------------------------------------------------------
    def tick(self, now_ns: int) -> int:
        """Sweep when ``period_ns`` passed since the last sweep; how many dialogs went."""
        period = self.retention.period_ns
        if not period or now_ns - self._last_sweep_ns < period:
            return 0
        return self.sweep(now_ns)

    def sweep(self, now_ns: int) -> int:
        """Let dialogs go as ``retention`` says (see the module's docstring); how many went."""
        r = self.retention
        c = self.correlator
        self._last_sweep_ns = now_ns
        early = c.expired_early
        part = c.expire_trace(
            now_ns - r.over_ns,
            r.target,
            idle_before_ns=now_ns - r.idle_ns,
            max_active=r.max_active,
        )
        if c.expired_early != early:
            self.counts.dialogs_cut_short = c.expired_early
        if r.hold:
            self.high = max(r.hold, len(c.dialogs) + r.slack)
        if part.dialogs:
            self.evicted += len(part.dialogs)
            if self.agents:
                self.agents = {k: v for k, v in self.agents.items() if k in c.entries}
            for observe in self.expired:
                observe(part)
        return len(part.dialogs)

    # -- output ------------------------------------------------------------------------------
    @property
    def messages(self) -> int:
        """SIP messages correlated over the run, those let go included."""
        return len(self.correlator.entries) + self.correlator.expired_messages

    @property
    def dialogs(self) -> int:
        """Dialogs of the run, those let go included."""
        return self.correlator.opened

    def states(self) -> dict[str, int]:
        """Dialogs by state over the whole run, those let go included; most frequent first."""
        out: dict[str, int] = dict(self.correlator.expired_states)
        for d in self.correlator.dialogs.values():
            out[d.state] = out.get(d.state, 0) + 1
        return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))

    def trace(self) -> Trace:
        """What is held now, as a trace (its counts are the session's: the whole run)."""
        trace = self.pipe.trace()
        self.counts.skipped_not_kept = self.skipped.not_kept
        if self.pipe.not_kept_from is not None:
            self.counts.first_not_kept_frame = self.pipe.not_kept_from.frame
            self.counts.first_not_kept_file = self.pipe.not_kept_from.file
        return trace
