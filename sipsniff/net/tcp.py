"""TCP stream reassembly: segments in capture order -> in-order byte-stream pieces, per direction.

How this works. Each direction of a connection (a *half*) keeps the raw 32-bit sequence number it
expects next (the in-order *edge*). A segment that starts at the edge while nothing is buffered is
handed straight back, its bytes uncopied, as one ``Payload`` in a one-item list (the hot path: two
dict look-ups, no other allocation; about 1 us on CPython 3.11). Anything else takes the
slow path, where positions are measured relative to a per-half *base* sequence number so that
32-bit wrap-around never matters (every buffered byte lies within ``max_stream_bytes`` of the edge):

* bytes before the edge are retransmissions and are dropped (the first copy of a byte is kept);
* bytes beyond the edge are buffered, cut so that buffered pieces never overlap (first copy kept);
* whenever the edge reaches buffered data, it is released with the segment that filled the gap;
* a gap that is never filled is skipped, its bytes reported as missing (``Skipped``, ``tcp_gaps``)
  and the data after it handed on with ``gap=True``, when: the peer has acknowledged the missing
  bytes (they reached it but not the capture, so they will never be retransmitted), the data
  buffered beyond the gap exceeds ``gap_bytes`` or ``gap_segments``, the connection is reset,
  the total buffer cap is reached, or the input ends (``flush``).

A capture that starts mid-stream starts at the first data segment seen; SYN consumes one sequence
number; a FIN closes its half once the edge reaches it; RST closes both halves. A closed half leaves
a small tombstone (its final sequence number) so that late retransmissions are not taken for a new
stream. A segment further than ``max_stream_bytes`` from the edge is dropped (outside the window),
unless three in a row are: then the stream jumped (a new connection on the same ports whose SYN was
not captured) and restarts there. Nothing here raises on bad traffic: odd segments become counts
and ``Skipped`` records.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from operator import itemgetter
from typing import NamedTuple

from sipsniff.model import Counts, Endpoint, Frame, Payload, Skipped

FIN = 0x01
SYN = 0x02
RST = 0x04
PSH = 0x08
ACK = 0x10

_MASK = 0xFFFFFFFF
_HALF_SPACE = 0x80000000
_SPACE = 0x100000000
_CONTROL = SYN | FIN | RST
_MAX_TOMBSTONES = 65536
_RESTART_STRIKES = 3
"""Consecutive out-of-window segments after which a half is taken to be a new stream."""


class _Seg(NamedTuple):
    """Buffered out-of-order bytes: position relative to the half's base, and their frame."""

    start: int
    data: bytes
    frame: int
    ts_ns: int


_start = itemgetter(0)
_new_tuple = tuple.__new__


class _Half:
    """Reassembly state of one direction of one connection."""

    __slots__ = (
        "acked",
        "base",
        "dst",
        "file",
        "fin",
        "gap",
        "isn",
        "next_seq",
        "peer",
        "pending",
        "pending_bytes",
        "src",
        "strikes",
    )

    def __init__(self, src: Endpoint, dst: Endpoint, next_seq: int, file: int, isn: int | None):
        self.src = src
        self.dst = dst
        self.file = file
        self.next_seq = next_seq
        """Raw sequence number of the in-order edge: the next byte to hand on."""
        self.isn = isn
        """Sequence number of the SYN, when one was seen."""
        self.acked: int | None = None
        """Last acknowledgement number the receiver sent: what it got of this half."""
        self.peer: _Half | None = None
        """The other direction of the same connection, when it has state."""
        self.base = next_seq
        """Raw sequence number that buffered positions are relative to (reset when empty)."""
        self.pending: list[_Seg] = []
        """Out-of-order bytes beyond the edge, sorted, never overlapping."""
        self.pending_bytes = 0
        self.fin: int | None = None
        """Raw sequence number of the FIN, once seen."""
        self.gap = False
        """The next Payload handed on follows lost bytes."""
        self.strikes = 0
        """Consecutive segments far outside the window."""


class TcpReassembler:
    """Per-direction TCP byte streams in sequence order, from segments in capture order.

    Implements the ``TcpSink`` protocol of ``sipsniff.net.walk``. Every Payload it returns has
    ``transport="tcp"`` and ``stream=True``; its ``frame`` is the latest frame whose bytes it holds
    (the one that completed it), ``first_frame`` the frame of its first byte when different, and
    ``frames`` every segment's frame whose bytes it holds when there are several.

    Counters it keeps in ``counts``: ``tcp_gaps``, ``tcp_retransmissions`` (segments that brought
    nothing new), ``tcp_overlaps`` (segments partly old), ``tcp_out_of_order``,
    ``tcp_out_of_window``, ``tcp_restarts``, ``tcp_dropped_bytes`` and ``tcp_gaps_at_cap`` (gaps
    skipped early because ``max_total_bytes`` was reached).
    """

    def __init__(
        self,
        counts: Counts,
        skipped: list[Skipped],
        *,
        max_stream_bytes: int = 4 * 1024 * 1024,
        max_total_bytes: int = 256 * 1024 * 1024,
        gap_bytes: int = 64 * 1024,
        gap_segments: int = 64,
    ) -> None:
        """Args:
        counts: the run's counters, shared with the rest of the pipeline.
        skipped: where gaps and dropped segments are recorded.
        max_stream_bytes: most bytes one direction buffers beyond a gap; also the window: a
            segment starting further than this beyond the edge is dropped.
        max_total_bytes: most bytes buffered over all connections; beyond it the oldest
            buffering stream has its gaps skipped.
        gap_bytes: buffered bytes beyond a gap after which the gap is taken as lost.
        gap_segments: buffered segments beyond a gap after which the gap is taken as lost.
        """
        if max_stream_bytes <= 0 or max_total_bytes <= 0 or gap_bytes <= 0 or gap_segments <= 0:
            raise ValueError("TcpReassembler limits must be positive")
        self.counts = counts
        self.skipped = skipped
        self._window = min(max_stream_bytes, _HALF_SPACE // 2)
        self._gap_bytes = min(gap_bytes, max_stream_bytes)
        self._gap_segments = gap_segments
        self._max_total = max_total_bytes
        self._total = 0
        self._halves: dict[Endpoint, dict[Endpoint, _Half]] = {}
        self._buffering: dict[_Half, None] = {}
        """Halves with buffered data, oldest first."""
        self._closed: dict[tuple[Endpoint, Endpoint], int] = {}
        """Tombstones: final sequence number of recently closed halves."""

    # -- the TcpSink protocol ----------------------------------------------------------------
    def segment(
        self,
        frame: Frame,
        src: Endpoint,
        dst: Endpoint,
        seq: int,
        ack: int,
        flags: int,
        payload: bytes,
    ) -> list[Payload]:
        """Take one TCP segment; return the stream bytes it makes available, in order.

        Args:
            frame: the captured frame that carried the segment.
            src: sender address; dst: receiver address.
            seq: sequence number; ack: acknowledgement number (meaningful when ``flags & ACK``).
            flags: the TCP flags byte.
            payload: the segment's data (may be empty).

        Returns:
            Payloads in stream order: usually none or one; more after skipped gaps.
        """
        inner = self._halves.get(src)
        if inner is not None:
            half = inner.get(dst)
            if half is not None:
                peer = half.peer
                if peer is not None and flags & ACK:
                    peer.acked = ack
                if (
                    seq == half.next_seq
                    and not flags & _CONTROL
                    and not half.pending
                    and not half.gap
                    and (peer is None or not peer.pending)
                ):
                    if not payload:
                        return []
                    half.next_seq = (seq + len(payload)) & _MASK
                    half.strikes = 0
                    # tuple.__new__ skips the NamedTuple's Python-level __new__ (every field given).
                    return [
                        _new_tuple(
                            Payload,
                            (
                                frame.number,
                                frame.ts_ns,
                                src,
                                dst,
                                "tcp",
                                payload,
                                frame.file,
                                0,
                                0,
                                True,
                                False,
                                (),
                            ),
                        )
                    ]
            return self._slow(
                frame, src, dst, seq=seq, ack=ack, flags=flags, data=payload, half=half
            )
        return self._slow(frame, src, dst, seq=seq, ack=ack, flags=flags, data=payload, half=None)

    def flush(self) -> list[Payload]:
        """End of input: hand on everything still buffered, skipping the gaps before it.

        Every connection is forgotten afterwards.
        """
        out: list[Payload] = []
        for half in list(self._buffering):
            self._release_all(half, out, "")
        self._halves.clear()
        self._buffering.clear()
        self._closed.clear()
        self._total = 0
        return out

    @property
    def halves(self) -> dict[Endpoint, dict[Endpoint, _Half]]:
        """The state of each direction of each connection, by source then destination (what
        ``Decoder``'s C fast path reads and updates as ``segment`` would, for a segment in
        order)."""
        return self._halves

    @property
    def buffered_bytes(self) -> int:
        """Bytes held beyond gaps over all connections."""
        return self._total

    @property
    def streams(self) -> int:
        """Directions of connections with state."""
        return sum(len(inner) for inner in self._halves.values())

    # -- the slow path -----------------------------------------------------------------------
    def _slow(
        self,
        frame: Frame,
        src: Endpoint,
        dst: Endpoint,
        *,
        seq: int,
        ack: int,
        flags: int,
        data: bytes,
        half: _Half | None,
    ) -> list[Payload]:
        payload = data
        out: list[Payload] = []
        reverse = self._lookup(dst, src)
        if flags & RST:
            # Data on a RST is diagnostic text at best (RFC 9293 3.5.3): not part of the stream.
            if half is not None:
                self._close(half, out)
            if reverse is not None:
                self._close(reverse, out)
            return out
        if flags & SYN:
            if half is not None and half.isn != seq:
                self._close(half, out)  # a new connection on the same ports
                half = None
            if half is None:
                half = self._open(src, dst, (seq + 1) & _MASK, frame.file, seq)
            seq = (seq + 1) & _MASK
        elif half is None and payload:
            half = self._start_midstream(frame, src, dst, seq, payload)
        if reverse is not None and flags & ACK:
            reverse.acked = ack
        if half is not None:
            self._data(half, frame, seq, flags, payload, out=out)
            if half.fin is not None and half.next_seq == half.fin:
                half.next_seq = (half.fin + 1) & _MASK
                self._close(half, out)
            else:
                self._ack_evidence(half, out)
        self._ack_evidence(reverse, out)
        if self._total > self._max_total:
            self._enforce_total(out)
        return out

    def _start_midstream(
        self, frame: Frame, src: Endpoint, dst: Endpoint, seq: int, payload: bytes
    ) -> _Half | None:
        """A data segment of a direction without state: a retransmission after close, or a start."""
        key = (src, dst)
        tomb = self._closed.get(key)
        if tomb is not None:
            rel = (seq - tomb) & _MASK
            if rel >= _HALF_SPACE:
                rel -= _SPACE
            if -self._window <= rel < 0:
                if rel + len(payload) <= 0:
                    self.counts.tcp_retransmissions += 1
                    return None
                seq = tomb  # the segment straddles the close point: keep its new bytes only
        return self._open(src, dst, seq, frame.file, None)

    def _data(
        self, half: _Half, frame: Frame, seq: int, flags: int, payload: bytes, *, out: list[Payload]
    ) -> None:
        """Place a segment's bytes and FIN relative to the edge; hand on what becomes in order."""
        if not half.pending:
            half.base = half.next_seq
        n = len(payload)
        rel = (seq - half.next_seq) & _MASK
        if rel >= _HALF_SPACE:
            rel -= _SPACE
        if rel > self._window or rel + n < -self._window:
            self._out_of_window(half, frame, seq, rel, payload, out=out)
            return
        half.strikes = 0
        if flags & FIN:
            half.fin = (seq + n) & _MASK
        if not n:
            return
        if rel < 0:
            if rel + n <= 0:
                self.counts.tcp_retransmissions += 1
                return
            self.counts.tcp_overlaps += 1
            payload = payload[-rel:]
            n += rel
            rel = 0
        if rel == 0 and not half.pending:
            half.next_seq = (half.next_seq + n) & _MASK
            self._emit(
                half,
                out,
                payload,
                frame=frame.number,
                ts_ns=frame.ts_ns,
                first_frame=0,
                first_ts_ns=0,
            )
            return
        edge = (half.next_seq - half.base) & _MASK
        if rel > 0:
            self.counts.tcp_out_of_order += 1
        added = self._insert(half, edge + rel, payload, frame.number, frame.ts_ns)
        if not added:
            self.counts.tcp_retransmissions += 1
        elif added < n:
            self.counts.tcp_overlaps += 1
        self._drain(half, out, False)
        while half.pending and (
            half.pending_bytes > self._gap_bytes or len(half.pending) > self._gap_segments
        ):
            self._skip_gap(half, out, "")

    def _out_of_window(
        self, half: _Half, frame: Frame, seq: int, rel: int, payload: bytes, *, out: list[Payload]
    ) -> None:
        """A segment far from the edge: dropped, unless several in a row say the stream jumped."""
        half.strikes += 1
        if half.strikes < _RESTART_STRIKES or not payload:
            if payload:
                self.counts.tcp_out_of_window += 1
                self.counts.tcp_dropped_bytes += len(payload)
                self.skipped.append(
                    Skipped(
                        frame.number,
                        frame.ts_ns,
                        f"TCP segment {rel:+d} bytes from the in-order edge of {half.src} -> "
                        f"{half.dst}, outside the {self._window}-byte window: dropped",
                        frame.file,
                        half.src,
                        half.dst,
                        "tcp",
                    )
                )
            return
        # The stream jumped (a new connection on the same ports whose SYN was not captured, or a
        # capture that lost a lot): hand on what is buffered and restart at this segment.
        self.counts.tcp_restarts += 1
        self._release_all(half, out, "")
        self.skipped.append(
            Skipped(
                frame.number,
                frame.ts_ns,
                f"TCP stream {half.src} -> {half.dst} restarted at frame {frame.number}: "
                f"sequence numbers jumped {rel:+d} bytes",
                frame.file,
                half.src,
                half.dst,
                "tcp",
            )
        )
        half.strikes = 0
        half.isn = None
        half.fin = None
        half.next_seq = (seq + len(payload)) & _MASK
        half.base = half.next_seq
        half.gap = True
        self._emit(
            half, out, payload, frame=frame.number, ts_ns=frame.ts_ns, first_frame=0, first_ts_ns=0
        )

    # -- buffered data -----------------------------------------------------------------------
    def _insert(self, half: _Half, start: int, data: bytes, frame: int, ts_ns: int) -> int:
        """Buffer the bytes of ``data`` at ``start`` that nothing buffered covers yet."""
        pend = half.pending
        end = start + len(data)
        i = bisect_right(pend, start, key=_start)
        if i and pend[i - 1].start + len(pend[i - 1].data) > start:
            i -= 1
        cur = start
        new: list[_Seg] = []
        while i < len(pend) and cur < end:
            s = pend[i]
            if s.start >= end:
                break
            if s.start > cur:
                new.append(_Seg(cur, data[cur - start : s.start - start], frame, ts_ns))
            cur = max(cur, s.start + len(s.data))
            i += 1
        if cur < end:
            new.append(_Seg(cur, data[cur - start :] if cur > start else data, frame, ts_ns))
        added = 0
        for seg in new:
            insort(pend, seg, key=_start)
            added += len(seg.data)
        if added:
            if not half.pending_bytes and half not in self._buffering:
                self._buffering[half] = None
            half.pending_bytes += added
            self._total += added
        return added

    def _drain(self, half: _Half, out: list[Payload], gap: bool) -> None:
        """Hand on buffered data that now starts at the edge (one Payload)."""
        pend = half.pending
        edge = (half.next_seq - half.base) & _MASK
        chunks: list[bytes] = []
        frames: set[int] = set()
        first = last = None
        taken = 0
        while pend and pend[0].start <= edge:
            s = pend.pop(0)
            taken += len(s.data)
            end = s.start + len(s.data)
            if end <= edge:
                continue
            chunks.append(s.data if s.start == edge else s.data[edge - s.start :])
            frames.add(s.frame)
            edge = end
            if first is None:
                first = s
            if last is None or s.frame >= last.frame:
                last = s
        if taken:
            half.pending_bytes -= taken
            self._total -= taken
            if not pend:
                self._buffering.pop(half, None)
        if first is None or last is None:
            return
        half.next_seq = (half.base + edge) & _MASK
        if gap:
            half.gap = True
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        many = tuple(sorted(frames)) if len(frames) > 1 else ()
        if first.frame == last.frame:
            self._emit(
                half,
                out,
                data,
                frame=last.frame,
                ts_ns=last.ts_ns,
                first_frame=0,
                first_ts_ns=0,
                frames=many,
            )
        else:
            self._emit(
                half,
                out,
                data,
                frame=last.frame,
                ts_ns=last.ts_ns,
                first_frame=first.frame,
                first_ts_ns=first.ts_ns,
                frames=many,
            )

    def _skip_gap(self, half: _Half, out: list[Payload], why: str) -> None:
        """Take the bytes before the first buffered segment as lost; hand on what follows."""
        nxt = half.pending[0]
        edge = (half.next_seq - half.base) & _MASK
        missing = nxt.start - edge
        self.counts.tcp_gaps += 1
        self.skipped.append(
            Skipped(
                nxt.frame,
                nxt.ts_ns,
                f"TCP gap: {missing} bytes missing in {half.src} -> {half.dst} "
                f"before frame {nxt.frame}{why}",
                half.file,
                half.src,
                half.dst,
                "tcp",
            )
        )
        half.next_seq = (half.base + nxt.start) & _MASK
        self._drain(half, out, True)

    def _release_all(self, half: _Half, out: list[Payload], why: str) -> None:
        while half.pending:
            self._skip_gap(half, out, why)

    def _ack_evidence(self, half: _Half | None, out: list[Payload]) -> None:
        """Skip the gaps of ``half`` that its receiver acknowledged: lost by the capture only."""
        if half is None or not half.pending or half.acked is None:
            return
        pos = (half.acked - half.base) & _MASK
        if pos >= _HALF_SPACE:
            return
        while half.pending and half.pending[0].start <= pos:
            self._skip_gap(half, out, " (acknowledged by the receiver: lost by the capture)")

    def _enforce_total(self, out: list[Payload]) -> None:
        """Over the total cap: skip the gaps of the streams that have buffered longest."""
        for half in list(self._buffering):
            if self._total <= self._max_total:
                break
            while half.pending:
                self._skip_gap(half, out, " (total TCP buffer cap reached)")
                self.counts.tcp_gaps_at_cap += 1

    # -- connection state --------------------------------------------------------------------
    def _lookup(self, src: Endpoint, dst: Endpoint) -> _Half | None:
        inner = self._halves.get(src)
        return None if inner is None else inner.get(dst)

    def _open(
        self, src: Endpoint, dst: Endpoint, next_seq: int, file: int, isn: int | None
    ) -> _Half:
        half = _Half(src, dst, next_seq, file, isn)
        self._halves.setdefault(src, {})[dst] = half
        self._closed.pop((src, dst), None)
        peer = self._lookup(dst, src)
        if peer is not None:
            half.peer = peer
            peer.peer = half
        return half

    def _close(self, half: _Half, out: list[Payload]) -> None:
        """Forget a half: hand on what it buffered (not bytes beyond a FIN); leave a tombstone."""
        if half.pending:
            if half.fin is not None and half.next_seq == (half.fin + 1) & _MASK:
                self.counts.tcp_dropped_bytes += half.pending_bytes
                self._total -= half.pending_bytes
                half.pending.clear()
                half.pending_bytes = 0
                self._buffering.pop(half, None)
            else:
                self._release_all(half, out, "")
        inner = self._halves.get(half.src)
        if inner is not None and inner.get(half.dst) is half:
            del inner[half.dst]
            if not inner:
                del self._halves[half.src]
        if half.peer is not None:
            half.peer.peer = None
            half.peer = None
        closed = self._closed
        closed[(half.src, half.dst)] = half.next_seq
        if len(closed) > _MAX_TOMBSTONES:
            del closed[next(iter(closed))]

    def _emit(
        self,
        half: _Half,
        out: list[Payload],
        data: bytes,
        *,
        frame: int,
        ts_ns: int,
        first_frame: int = 0,
        first_ts_ns: int = 0,
        frames: tuple[int, ...] = (),
    ) -> None:
        gap = half.gap
        half.gap = False
        out.append(
            Payload(
                frame,
                ts_ns,
                half.src,
                half.dst,
                "tcp",
                data,
                half.file,
                first_frame,
                first_ts_ns,
                True,
                gap,
                frames,
            )
        )
