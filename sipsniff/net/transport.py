"""Transports: UDP datagrams and SCTP user messages to ``Payload`` values, TCP segments to the
stream reassembler.

How this works
--------------
These handlers end the walk of a frame. Their endpoints come from ``Walk.pair``, cached by the raw
addresses and the 4 port bytes (the same place in UDP, TCP and SCTP), which also tells the UDP
tunnel the ports announce (``tunnel.UDP_PORTS``).

Where each rule comes from:

* UDP (RFC 768): the length bounds the datagram; a length of 0 in IPv6 is a jumbogram (RFC 2675),
  bounded by the IP payload. A datagram with no payload is counted as ``empty_udp``.
* TCP (RFC 9293): the data offset, the sequence and acknowledgment numbers and the nine flag bits go
  with the payload to the ``TcpSink`` (``sipsniff.net.tcp``), every segment, empty ones too.
  Without a sink, each non-empty payload is a ``Payload`` as it is, marked ``stream``.
* SCTP (RFC 9260): a common header, then chunks padded to 4 bytes. Each DATA (0) or I-DATA (64,
  RFC 8260) chunk carrying a whole user message becomes one ``Payload``. A user message split over
  several chunks (B/E flags) is rebuilt when its pieces arrive in order (DATA: consecutive TSNs;
  I-DATA: fragment sequence numbers) and reported as ``Skipped`` otherwise.
"""

from __future__ import annotations

import struct

from sipsniff.model import Endpoint, Payload, Skipped
from sipsniff.net.walk import Walk

_TCP = struct.Struct(">4xIIH")  # sequence, acknowledgment, data offset + flags
_SCTP_CHUNK = struct.Struct(">BBH")  # type, flags, length
_DATA_CHUNK = struct.Struct(">IH")  # TSN, stream identifier
_IDATA_CHUNK = struct.Struct(">4xH2xII")  # stream identifier, MID, PPID or FSN

SctpKey = tuple[Endpoint, Endpoint, int, int]
"""(source, destination, stream identifier, I-DATA message identifier or -1 for DATA)."""


def udp(w: Walk, data: bytes, off: int, end: int, addrs: bytes) -> None:
    """A UDP datagram: a payload, or the tunnel its ports announce."""
    avail = end - off
    if avail < 8:
        w.short("UDP header", avail, 8, data[off:end])
        return
    ulen = data[off + 4] << 8 | data[off + 5]
    if ulen > avail:
        w.overlong()
        ulen = avail
    elif ulen < 8:
        if ulen == 0 and len(addrs) == 32:
            ulen = avail  # IPv6 jumbogram: the length is in the hop-by-hop options
        else:
            w.skip(f"UDP length {ulen} below the 8-byte header", data[off:end], addrs)
            return
    if ulen == 8:
        w.counts.empty_udp += 1
        return
    key = addrs + data[off : off + 4]
    pair = w.pairs.get(key)
    if pair is None:
        pair = w.pair(key)
    tunnel = pair[2]
    if tunnel is not None and tunnel(w, data, off + 8, off + ulen):
        return
    w.emit(pair[0], pair[1], "udp", data[off + 8 : off + ulen], False)


def tcp(w: Walk, data: bytes, off: int, end: int, addrs: bytes) -> None:
    """A TCP segment, to the sink."""
    avail = end - off
    if avail < 20:
        w.short("TCP header", avail, 20, data[off:end])
        return
    seq, ack, offflags = _TCP.unpack_from(data, off)
    doff = (offflags >> 12) * 4
    if doff < 20:
        w.skip(f"TCP data offset of {doff} bytes, below 20", data[off:end], addrs)
        return
    if doff > avail:
        if w.cut:
            w.truncated()
        else:
            w.skip(
                f"TCP data offset of {doff} bytes beyond the {avail} bytes of the segment",
                data[off:end],
                addrs,
            )
        return
    key = addrs + data[off : off + 4]
    pair = w.pairs.get(key)
    if pair is None:
        pair = w.pair(key)
    payload = data[off + doff : end]
    if w.tcp is not None:
        frame = w.frame
        pieces = w.tcp.segment(frame, pair[0], pair[1], seq, ack, offflags & 0x1FF, payload)
        if w.frames and pieces:  # a segment in IP fragments: they all carried its bytes
            pieces = [_with_fragments(p, frame[0], w.frames) for p in pieces]
        w.out += pieces
    elif payload:
        w.emit(pair[0], pair[1], "tcp", payload, True)


def _with_fragments(p: Payload, number: int, frames: tuple[int, ...]) -> Payload:
    """``p`` with the fragment frames of the segment in frame ``number``, when it holds bytes
    of it (the in-order case: a segment buffered out of order keeps its last frame only)."""
    if p.frame != number and number not in p.frames:
        return p
    return p._replace(frames=tuple(sorted({*(p.frames or (p.frame,)), *frames})))


def sctp(w: Walk, data: bytes, off: int, end: int, addrs: bytes) -> None:
    """An SCTP packet: the common header (ports, verification tag, checksum), then its chunks."""
    avail = end - off
    if avail < 12:
        w.short("SCTP common header", avail, 12, data[off:end])
        return
    key = addrs + data[off : off + 4]
    pair = w.pairs.get(key)
    if pair is None:
        pair = w.pair(key)
    p = off + 12
    while end - p >= 4:
        ctype, cflags, clen = _SCTP_CHUNK.unpack_from(data, p)
        if clen < 4:
            w.skip(f"SCTP chunk length {clen}, below 4", data[off:end], addrs)
            return
        cend = p + clen
        if cend > end:
            w.overlong()
            cend = end
        if ctype == 0 or ctype == 64:  # noqa: PLR1714 - DATA and I-DATA (RFC 8260)
            hl = 16 if ctype == 0 else 20
            if cend - p < hl:
                w.short("SCTP data chunk", cend - p, hl, data[p:cend])
            elif cflags & 3 == 3:  # B and E: a whole user message
                if cend > p + hl:
                    w.emit(pair[0], pair[1], "sctp", data[p + hl : cend], False)
            elif ctype == 0:
                tsn, sid = _DATA_CHUNK.unpack_from(data, p + 4)
                _sctp_piece(w, (pair[0], pair[1], sid, -1), cflags, tsn, data[p + 16 : cend])
            else:
                sid, mid, fsn = _IDATA_CHUNK.unpack_from(data, p + 4)
                seq = 0 if cflags & 2 else fsn
                _sctp_piece(w, (pair[0], pair[1], sid, mid), cflags, seq, data[p + 20 : cend])
        p += (clen + 3) & ~3


def _sctp_piece(w: Walk, key: SctpKey, flags: int, seq: int, user: bytes) -> None:
    """One piece of a fragmented user message; ``seq`` the TSN (DATA) or fragment sequence number
    (I-DATA)."""
    frame = w.frame
    parts = w.sctp_parts
    if flags & 2:  # B: the first piece
        old = parts.pop(key, None)
        if old is not None:
            sctp_lost(w, key, old, "a new message began before its last piece")
        parts[key] = SctpMessage(frame[0], frame[1], frame[5], seq + 1, [user])
        return
    msg = parts.get(key)
    if msg is None:
        w.counts.sctp_orphan_pieces += 1
        return
    if seq != msg.next_seq:
        del parts[key]
        sctp_lost(w, key, msg, f"piece {seq} came where {msg.next_seq} was expected")
        return
    msg.parts.append(user)
    msg.next_seq = (seq + 1) & 0xFFFFFFFF
    if flags & 1:  # E: the last piece
        del parts[key]
        w.out.append(
            Payload(
                frame[0],
                frame[1],
                key[0],
                key[1],
                "sctp",
                b"".join(msg.parts),
                frame[5],
                msg.first_frame,
                msg.first_ts_ns,
            )
        )


def sctp_lost(w: Walk, key: SctpKey, msg: SctpMessage, why: str) -> None:
    """Record a user message that cannot be rebuilt, with the pieces captured."""
    src, dst, sid, _ = key
    w.skipped.append(
        Skipped(
            msg.first_frame,
            msg.first_ts_ns,
            f"SCTP user message from {src} to {dst} on stream {sid}, {len(msg.parts)} "
            f"piece{'' if len(msg.parts) == 1 else 's'} captured, not rebuilt: {why}",
            msg.file,
            src,
            dst,
            "sctp",
            b"".join(msg.parts),
        )
    )


class SctpMessage:
    """The pieces so far of one fragmented SCTP user message, in order."""

    __slots__ = ("file", "first_frame", "first_ts_ns", "next_seq", "parts")

    def __init__(
        self, first_frame: int, first_ts_ns: int, file: int, next_seq: int, parts: list[bytes]
    ) -> None:
        self.first_frame = first_frame
        self.first_ts_ns = first_ts_ns
        self.file = file
        self.next_seq = next_seq & 0xFFFFFFFF
        self.parts = parts
