"""RTP streams: an observer for ``read_trace(media=[...])`` and per-stream quality figures.

How this works. ``RtpObserver`` is called with every UDP datagram that is not SIP. It keeps those
that look like RTP (version 2, at least the 12-byte fixed header, a payload type outside RTCP's
72-76, RFC 3550 section 5.1 and RFC 5761 section 4) per stream, a stream being (source,
destination, SSRC), as compact arrays: frame, arrival time, sequence number, timestamp, payload
type and marker. Nothing is decided while reading: the SDP that says which ports carry RTP is
only known when the whole trace is.

``rtp_streams`` then keeps the streams one of whose ends is a media address an SDP of the trace
announced (c= address and m= port), from the frame of that SDP on, as Wireshark's RTP dissector
does with the conversations SDP sets up, and measures each the way Wireshark 4.0's RTP stream
analysis does (ui/tap-rtp-analysis.c ``rtppacket_analyse``, ``tshark -z rtp,streams``):

* lost: expected (last sequence number + 65536 per wrap - first + 1) - received; a negative
  value means duplicates;
* sequence errors: packets whose sequence number is not the one after the last (Wireshark's
  "wrong sequence"); out of order: packets below the highest sequence number seen;
* delta: arrival time since the previous packet; jitter: RFC 3550 A.8, J += (|D| - J) / 16 with
  D the difference of arrival and timestamp spacing, in ms, by the codec's clock rate (RFC 3551,
  the SDP's rtpmap, none for telephone-event). Min, mean and max leave out, as Wireshark does, the
  first packet, packets with the marker bit, comfort noise, and packets whose timestamp goes
  back.

Pure: the observer keeps what it is given; nothing here reads a file or a clock.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Final

from sipsniff.model import Endpoint, Payload, Trace
from sipsniff.sip.sdp import STATIC_PAYLOADS, Media, sdp_of

PT_CN: Final = 13
PT_CN_OLD: Final = 19

# Wireshark's clock rates of dynamic payload formats by encoding name (tap-rtp-analysis.c
# mimetype_and_clock_map), used when an rtpmap gives none.
DYNAMIC_CLOCKS: Final[dict[str, int]] = {
    "amr": 8000,
    "amr-wb": 16000,
    "evs": 16000,
    "g7221": 16000,
    "h263-1998": 90000,
    "h263-2000": 90000,
    "h264": 90000,
    "mp4v-es": 90000,
    "opus": 48000,
    "red": 1000,
    "t140": 1000,
    "telephone-event": 8000,
}


@dataclass(slots=True)
class _Packets:
    frames: array[int] = field(default_factory=lambda: array("q"))
    ts_ns: array[int] = field(default_factory=lambda: array("q"))
    seq: array[int] = field(default_factory=lambda: array("l"))
    rtp_ts: array[int] = field(default_factory=lambda: array("q"))
    pt: array[int] = field(default_factory=lambda: array("b"))
    marker: array[int] = field(default_factory=lambda: array("b"))


class RtpObserver:
    """Collects RTP-looking datagrams by stream. Pass it to ``read_trace(media=[observer])``."""

    def __init__(self) -> None:
        self.streams: dict[tuple[Endpoint, Endpoint, int], _Packets] = {}
        self.first_ts_ns: int | None = None
        """Time of the first datagram seen (a fallback origin for relative times)."""

    def __call__(self, p: Payload) -> None:
        data = p.data
        if self.first_ts_ns is None:
            self.first_ts_ns = p.ts_ns
        if len(data) < 12 or data[0] >> 6 != 2 or p.transport != "udp":
            return
        pt = data[1] & 0x7F
        if 72 <= pt <= 76:  # RTCP SR, RR, SDES, BYE, APP multiplexed (RFC 5761 section 4)
            return
        key = (p.src, p.dst, int.from_bytes(data[8:12], "big"))
        packets = self.streams.get(key)
        if packets is None:
            packets = self.streams[key] = _Packets()
        packets.frames.append(p.frame)
        packets.ts_ns.append(p.ts_ns)
        packets.seq.append(int.from_bytes(data[2:4], "big"))
        packets.rtp_ts.append(int.from_bytes(data[4:8], "big"))
        packets.pt.append(pt)
        packets.marker.append(data[1] >> 7)


@dataclass(frozen=True, slots=True)
class RtpStream:
    """One RTP stream and its figures (times in ns, delta and jitter in ms)."""

    src: Endpoint
    dst: Endpoint
    ssrc: int
    pt: int
    """Payload type of the first packet."""
    codec: str
    """Its encoding name (from the SDP, or RFC 3551 for static types); "" when unknown."""
    clock: int
    """Clock rate used for jitter (0: none, jitter not measured)."""
    dialog: int | None
    """The dialog whose SDP announced one of its ends."""
    sdp_frame: int
    packets: int
    lost: int
    sequence_errors: int
    out_of_order: int
    first_frame: int
    last_frame: int
    start_ns: int
    end_ns: int
    min_delta: float | None
    """None when no packet counted (Wireshark prints -1)."""
    mean_delta: float
    max_delta: float
    min_jitter: float | None
    """None when no packet counted, or no clock rate (Wireshark prints -1)."""
    mean_jitter: float
    max_jitter: float


def _clock(pt: int, media: Media | None) -> tuple[str, int]:
    """(encoding name, Wireshark's clock rate) of payload type ``pt``."""
    codec = media.codec(pt) if media is not None else None
    if pt < 96:
        static = STATIC_PAYLOADS.get(pt)
        name = codec.name if codec is not None and codec.name else (static[0] if static else "")
        rate = static[1] if static else (8000 if pt == PT_CN_OLD else 0)
        return name, rate
    if codec is None or not codec.name:
        return "", 0
    if codec.name.lower().startswith("telephone-event"):
        return codec.name, 0
    if codec.clock:
        return codec.name, codec.clock
    lower = codec.name.lower()
    for prefix in sorted(DYNAMIC_CLOCKS, reverse=True):
        if lower.startswith(prefix):
            return codec.name, DYNAMIC_CLOCKS[prefix]
    return codec.name, 0


Announced = dict[tuple[str, int], tuple[int, int, Media]]
"""(ip, port) -> (frame, ``Dialog.id``, media) of the first SDP that announced it."""


def announced(trace: Trace, into: Announced | None = None) -> Announced:
    """What the SDP of ``trace`` announced, added to ``into`` (earlier parts of the capture)."""
    out: Announced = {} if into is None else into
    for e in trace.entries.values():
        if e.retransmission_of is not None or not e.body:
            continue
        sdp = sdp_of(e)
        if sdp is None:
            continue
        for m in sdp.media:
            if m.port and m.address and "RTP" in m.proto.upper():
                key = (m.address, m.port)
                if key not in out:
                    out[key] = (e.frame, trace.dialogs[e.dialog].id, m)
    return out


def rtp_streams(observer: RtpObserver, trace: Trace | Announced) -> list[RtpStream]:
    """The streams of ``observer`` that an SDP of ``trace`` announced (or ``announced`` found
    in the parts of a capture), measured; by first packet."""
    sdp = announced(trace) if isinstance(trace, Trace) else trace
    out: list[RtpStream] = []
    for (src, dst, ssrc), packets in observer.streams.items():
        found = sdp.get((dst.ip, dst.port)) or sdp.get((src.ip, src.port))
        if found is None:
            continue
        sdp_frame, dialog, media = found
        start = next((i for i, f in enumerate(packets.frames) if f >= sdp_frame), None)
        if start is None:
            continue
        stream = _measure(src, dst, ssrc, packets, start, media, dialog, sdp_frame)
        out.append(stream)
    out.sort(key=lambda s: (s.first_frame, s.src, s.dst, s.ssrc))
    return out


def _measure(
    src: Endpoint,
    dst: Endpoint,
    ssrc: int,
    p: _Packets,
    start: int,
    media: Media,
    dialog: int,
    sdp_frame: int,
) -> RtpStream:
    """Wireshark 4.0's ``rtppacket_analyse`` over the packets of one stream, from ``start`` on.

    Its jitter: the nominal time is the timestamp's distance from the first packet's, in ms by
    ``clock // 1000`` (an integer division, as Wireshark's); the expected arrival is the previous
    packet's arrival plus the nominal time elapsed since the last packet that had a clock (a
    telephone-event packet has none); J = (15 J + |arrival - expected|) / 16.
    """
    n = len(p.frames)
    first_pt = p.pt[start]
    codec, _ = _clock(first_pt, media)
    start_seq = stop_seq = seq_num = p.seq[start]
    cycles = 0
    under = False
    seq_errors = 0
    out_of_order = 0
    ext_seq_high = p.seq[start]
    base_ns = p.ts_ns[start]
    first_ts = prev_ts = p.rtp_ts[start]
    time_ms = 0.0
    last_nominal = 0.0
    cur_pt = first_pt
    jitter = delta = 0.0
    min_delta = min_jitter = -1.0
    max_delta = mean_delta = max_jitter = mean_jitter = 0.0
    total = 1
    clock_used = 0
    for i in range(start + 1, n):
        seq = p.seq[i]
        raw_ts = p.rtp_ts[i]
        now_ms = (p.ts_ns[i] - base_ns) / 1e6
        # sequence number cycles, and what Wireshark counts as sequence errors
        if (seq < start_seq or (seq == 0 and stop_seq == 65535)) and not under:
            cycles += 1
            under = True
        elif seq > start_seq and under:
            under = False
        if seq_num + 1 == seq or (seq_num == 65535 and seq == 0):
            seq_num = seq
        elif seq_num + 1 < seq or seq_num - seq > 0xFF00:
            seq_num = seq
            seq_errors += 1
        elif seq_num + 1 > seq:
            seq_errors += 1
        # out of order: below the highest sequence number seen (extended across wraps)
        ext = ext_seq_high - (ext_seq_high & 0xFFFF) + seq
        if ext - ext_seq_high > 0x8000:
            ext -= 0x10000
        elif ext_seq_high - ext > 0x8000:
            ext += 0x10000
        if ext < ext_seq_high:
            out_of_order += 1
        else:
            ext_seq_high = ext
        pt = p.pt[i]
        cn = pt in (PT_CN, PT_CN_OLD)
        follow_cn = cur_pt in (PT_CN, PT_CN_OLD)
        cur_pt = pt
        _, clock = _clock(pt, media)
        delta = now_ms - time_ms
        current_jitter = 0.0
        if clock:
            clock_used = clock
            nominal = ((raw_ts - first_ts) & 0xFFFFFFFF) / (clock // 1000)
            diff = math.fabs(now_ms - (time_ms + nominal - last_nominal))
            current_jitter = jitter = (15 * jitter + diff) / 16
            last_nominal = nominal
        # a timestamp before the previous packet's (as a signed 32-bit difference)
        wrong_ts = (raw_ts - prev_ts) & 0xFFFFFFFF >= 0x80000000
        if not (p.marker[i] or cn or wrong_ts or follow_cn):
            max_delta = max(max_delta, delta)
            min_delta = delta if min_delta == -1 else min(min_delta, delta)
            mean_delta = (mean_delta * (total - 1) + delta) / total
            if clock:
                max_jitter = max(max_jitter, jitter)
                mean_jitter = (mean_jitter * (total - 1) + current_jitter) / total
                min_jitter = jitter if min_jitter == -1 else min(min_jitter, jitter)
        time_ms = now_ms
        prev_ts = raw_ts
        stop_seq = seq
        total += 1
    expected_count = stop_seq + cycles * 0x10000 - start_seq + 1
    return RtpStream(
        src=src,
        dst=dst,
        ssrc=ssrc,
        pt=first_pt,
        codec=codec,
        clock=clock_used,
        dialog=dialog,
        sdp_frame=sdp_frame,
        packets=total,
        lost=expected_count - total,
        sequence_errors=seq_errors,
        out_of_order=out_of_order,
        first_frame=p.frames[start],
        last_frame=p.frames[n - 1],
        start_ns=p.ts_ns[start],
        end_ns=p.ts_ns[n - 1],
        min_delta=None if min_delta == -1 else min_delta,
        mean_delta=mean_delta,
        max_delta=max_delta,
        min_jitter=None if min_jitter == -1 else min_jitter,
        mean_jitter=mean_jitter,
        max_jitter=max_jitter,
    )


def streams_of(
    trace: Trace | Announced, observer: RtpObserver, dialogs: Collection[int] | None = None
) -> list[RtpStream]:
    """``rtp_streams``, keeping the streams of ``dialogs`` (``Dialog.id``) when given."""
    found = rtp_streams(observer, trace)
    if dialogs is None:
        return found
    keep = set(dialogs)
    return [s for s in found if s.dialog in keep]
