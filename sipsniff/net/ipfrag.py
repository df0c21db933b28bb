"""IPv4 and IPv6 fragment reassembly, keyed by capture time rather than a clock.

How this works
--------------
Each datagram being rebuilt is a ``FragmentSet`` held under its key: ``(4, src, dst, id, proto)``
for IPv4 (RFC 791) and ``(6, src, dst, id, -1)`` for IPv6 (RFC 8200 keys on source, destination and
identification only; the upper-layer protocol is the Next Header of the offset-zero fragment).

A set keeps its pieces as non-overlapping ``(start, end, bytes)`` runs sorted by offset. Overlaps
follow the **first-wins** policy (the "first" policy of Snort's frag3 and Suricata's target-based
defragmentation): bytes already held are never replaced, a later fragment only fills what is still
missing, and an exact duplicate adds nothing. The fragment with MF=0 fixes the total length; a later
"last" fragment that disagrees is ignored (first wins again) and bytes beyond the total are dropped.

Sets time out ``timeout_ns`` after their first fragment, measured in capture time: each new
fragment expires the sets older than that (they sit in creation order, so the walk stops at the
first young one). The payload bytes held by all sets together are capped: a fragment that passes
the cap evicts the oldest sets first, and its own set when that alone is too big. Expired and
evicted sets are queued in ``dropped`` for the caller to report; ``drain`` hands over what is left
at the end of the input.

A fragment that arrives after its datagram was completed (a duplicate delivered late) would open a
new set doomed to expire. The last ``_RECENT`` completed datagrams are remembered for the timeout:
a fragment whose bytes repeat one of them is counted as a duplicate and dropped; one whose bytes
differ opens a new set (the identification was reused).
"""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass, field
from typing import NamedTuple

from sipsniff.model import Counts, Frame

_RECENT = 256
"""Completed datagrams remembered so that a late duplicate fragment does not open a new set."""

FragKey = tuple[int, bytes, bytes, int, int]
"""(IP version, source address, destination address, identification, protocol or -1 for IPv6)."""


@dataclass(slots=True)
class FragmentSet:
    """The fragments of one datagram received so far."""

    key: FragKey
    first_frame: int
    """Frame of the first fragment received (capture order, whatever its offset)."""
    first_ts_ns: int
    file: int
    proto: int = -1
    """Upper-layer protocol: the IPv4 protocol, or the offset-zero fragment's IPv6 Next Header."""
    total: int = -1
    """Length of the reassembled payload, known once the last fragment (MF=0) arrived; -1 before."""
    held: int = 0
    """Payload bytes held (the pieces never overlap)."""
    fragments: int = 0
    """Fragments received, duplicates included."""
    last_ts_ns: int = 0
    """Time of the latest fragment."""
    pieces: list[tuple[int, int, bytes]] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    """Number of every frame that brought a fragment, duplicates included, in arrival order."""

    def head(self) -> bytes:
        """The bytes held from offset 0 up to the first hole (what a person may still read)."""
        out: list[bytes] = []
        cur = 0
        for start, end, data in self.pieces:
            if start > cur:
                break
            out.append(data[cur - start :])
            cur = end
        return b"".join(out)


class Datagram(NamedTuple):
    """A reassembled payload: what followed the IP header(s) of the original datagram."""

    data: bytes
    proto: int
    first_frame: int
    first_ts_ns: int
    fragments: int
    frames: tuple[int, ...] = ()
    """Every frame that brought a fragment of it (duplicates too), ascending, without repeats."""


class Reassembler:
    """Rebuild fragmented IP datagrams; sans-IO, fed one fragment at a time.

    Args:
        counts: shared counters; this class adds ``fragment_duplicates``, ``fragment_overlaps``
            and ``fragment_sets_at_cap`` (incomplete datagrams dropped to stay under ``max_bytes``).
        timeout_ns: capture time after the first fragment at which an incomplete set is dropped.
        max_bytes: cap on the payload bytes held by all sets together.
    """

    def __init__(self, counts: Counts, timeout_ns: int, max_bytes: int) -> None:
        self._counts = counts
        self.timeout_ns = timeout_ns
        self.max_bytes = max_bytes
        self.sets: dict[FragKey, FragmentSet] = {}
        self.held = 0
        """Payload bytes held by all sets."""
        self.dropped: list[tuple[FragmentSet, str]] = []
        """Sets given up since the caller last emptied this list, each with why ("expired"...)."""
        self._done: dict[FragKey, tuple[int, bytes]] = {}
        """Recently completed datagrams (completion time, data), to recognise late duplicates."""

    def add(
        self, key: FragKey, proto: int, offset: int, data: bytes, *, more: bool, frame: Frame
    ) -> Datagram | None:
        """Take one fragment; return the datagram when this fragment completes it.

        Args:
            key: see ``FragKey``.
            proto: upper-layer protocol this fragment names (the offset-zero fragment's is kept).
            offset: byte offset of ``data`` in the original payload.
            data: the fragment's payload (after the IP header and, for IPv6, the Fragment header).
            more: the MF flag.
            frame: the frame that carried the fragment (its number, time and file are kept).
        """
        sets = self.sets
        if sets:
            self._expire(frame[1])
        fs = sets.get(key)
        if fs is None:
            if key in self._done and self._late_duplicate(key, offset, data, frame[1]):
                self._counts.fragment_duplicates += 1
                return None
            fs = sets[key] = FragmentSet(key, frame[0], frame[1], frame[5])
        fs.fragments += 1
        fs.frames.append(frame[0])
        fs.last_ts_ns = frame[1]
        if offset == 0 or fs.proto < 0:
            fs.proto = proto
        end = offset + len(data)
        if not more:
            if fs.total < 0:
                fs.total = end
                if fs.pieces and fs.pieces[-1][1] > end:
                    self._trim(fs)
            elif fs.total != end:
                self._counts.fragment_overlaps += 1
        added = self._insert(fs, offset, end, data)
        if added < end - offset:
            if added == 0:
                self._counts.fragment_duplicates += 1
            else:
                self._counts.fragment_overlaps += 1
        if added:
            fs.held += added
            self.held += added
            if self.held > self.max_bytes:
                self._make_room(fs)
                if key not in sets:
                    return None
        if fs.total < 0 or fs.held < fs.total:
            return None
        return self._assemble(fs)

    def expire(self, now_ns: int) -> None:
        """Drop the sets whose first fragment is older than the timeout at capture time now_ns."""
        self._expire(now_ns)

    def drain(self) -> list[FragmentSet]:
        """End of input: hand over every incomplete set, oldest first, and forget them."""
        left = list(self.sets.values())
        self.sets.clear()
        self.held = 0
        return left

    # -- internals -------------------------------------------------------------------------

    def _expire(self, now_ns: int) -> None:
        limit = now_ns - self.timeout_ns
        sets = self.sets
        while sets:
            fs = next(iter(sets.values()))
            if fs.first_ts_ns >= limit:
                return
            self._drop(fs, "expired")

    def _drop(self, fs: FragmentSet, why: str) -> None:
        del self.sets[fs.key]
        self.held -= fs.held
        self.dropped.append((fs, why))

    def _make_room(self, current: FragmentSet) -> None:
        why = f"dropped: the {self.max_bytes}-byte cap on fragment memory was reached"
        for fs in list(self.sets.values()):
            if self.held <= self.max_bytes:
                return
            if fs is not current:
                self._drop(fs, why)
                self._counts.fragment_sets_at_cap += 1
        if self.held > self.max_bytes:
            self._drop(current, why)
            self._counts.fragment_sets_at_cap += 1

    @staticmethod
    def _insert(fs: FragmentSet, start: int, end: int, data: bytes) -> int:
        """Add the parts of [start, end) no piece holds yet (first wins); return the bytes added."""
        if start >= end:
            return 0
        total = fs.total
        if total >= 0 and end > total:
            end = total
            if start >= end:
                return 0
        gaps: list[tuple[int, int]] = []
        cur = start
        for ps, pe, _ in fs.pieces:
            if pe <= cur:
                continue
            if ps >= end:
                break
            if ps > cur:
                gaps.append((cur, ps))
            cur = pe
            if cur >= end:
                break
        if cur < end:
            gaps.append((cur, end))
        added = 0
        for a, b in gaps:
            insort(fs.pieces, (a, b, data[a - start : b - start]))
            added += b - a
        return added

    def _trim(self, fs: FragmentSet) -> None:
        """Forget what lies beyond the total length the last fragment fixed."""
        total = fs.total
        kept = [p for p in fs.pieces if p[0] < total]
        if kept and kept[-1][1] > total:
            s, _, d = kept[-1]
            kept[-1] = (s, total, d[: total - s])
        held = sum(e - s for s, e, _ in kept)
        self.held -= fs.held - held
        fs.held = held
        fs.pieces = kept

    def _late_duplicate(self, key: FragKey, offset: int, data: bytes, now_ns: int) -> bool:
        """Whether a fragment for no open set repeats the bytes of a datagram completed lately."""
        done_ns, whole = self._done[key]
        if now_ns - done_ns > self.timeout_ns:
            del self._done[key]
            return False
        return whole[offset : offset + len(data)] == data

    def _assemble(self, fs: FragmentSet) -> Datagram:
        del self.sets[fs.key]
        self.held -= fs.held
        data = b"".join(p[2] for p in fs.pieces)
        done = self._done
        done.pop(fs.key, None)
        if len(done) >= _RECENT:
            del done[next(iter(done))]
        done[fs.key] = (fs.last_ts_ns, data)
        frames = tuple(sorted(set(fs.frames)))
        return Datagram(data, fs.proto, fs.first_frame, fs.first_ts_ns, fs.fragments, frames)
