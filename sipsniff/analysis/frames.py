"""Which captured frames carry chosen dialogs, and their media: what ``read --write-pcap`` (with
``--with-rtp``) writes. Pure: frames are named, the capture is read again by ``capture.pcapwriter``."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import NamedTuple

from sipsniff.correlate import states
from sipsniff.model import Dialog, Endpoint, Message, Payload, Trace
from sipsniff.sip.sdp import sdp_of

FrameRef = tuple[int, int]
"""A captured frame among several inputs: (file index, frame number in that file)."""


def message_frames(msg: Message) -> tuple[FrameRef, ...]:
    """Every frame that carried a byte of ``msg`` (IP fragments, TCP segments), ascending."""
    p = msg.pkt
    if p.frames:
        numbers: tuple[int, ...] = p.frames
    elif p.first_frame and p.first_frame != p.frame:
        numbers = (p.first_frame, p.frame)  # a carrier that lists no frames: ends at least
    else:
        numbers = (p.frame,)
    return tuple((p.file, n) for n in numbers)


def dialog_frames(trace: Trace, dialogs: Iterable[Dialog]) -> set[FrameRef]:
    """Every frame that carried a byte of a message of ``dialogs``."""
    out: set[FrameRef] = set()
    entries = trace.entries
    for d in dialogs:
        for i in d.messages:
            out.update(message_frames(entries[i]))
    return out


class Datagram(NamedTuple):
    """Where a datagram that is not SIP (RTP, RTCP...) went, for ``MediaLog``."""

    frames: tuple[FrameRef, ...]
    ts_ns: int
    src: Endpoint
    dst: Endpoint


class MediaLog:
    """A media observer for ``read_trace`` that remembers where each UDP datagram went, not its
    bytes, so that the RTP and RTCP of chosen dialogs can be found afterwards (``media_frames``)."""

    def __init__(self) -> None:
        self.datagrams: list[Datagram] = []

    def __call__(self, p: Payload) -> None:
        if p.transport == "udp":
            nums = p.frames or (p.frame,)
            self.datagrams.append(Datagram(tuple((p.file, n) for n in nums), p.ts_ns, p.src, p.dst))


def _norm_ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        return text


def media_endpoints(trace: Trace, dialog: Dialog) -> set[Endpoint]:
    """The RTP and RTCP addresses the SDP of ``dialog`` negotiated (c= and m= lines; RTCP on
    port + 1 unless a=rtcp says otherwise); ports of 0 (rejected streams) are left out."""
    out: set[Endpoint] = set()
    for i in dialog.messages:
        sdp = sdp_of(trace.entries[i])
        if sdp is None:
            continue
        for m in sdp.media:
            if not m.port or not m.address:
                continue
            ip = _norm_ip(m.address)
            out.add(Endpoint(ip, m.port))
            out.add(Endpoint(ip, m.rtcp_port or m.port + 1))
    return out


_MEDIA_GOES_ON = frozenset({states.SETUP, states.AUTH_SENT, states.RINGING, states.IN_CALL})
"""Phases of a call whose media may outlast its last message (no BYE or final failure seen)."""


def media_frames(trace: Trace, dialogs: Iterable[Dialog], log: MediaLog) -> set[FrameRef]:
    """Frames of the UDP datagrams to or from the media addresses of each dialog's SDP, sent
    during the dialog: from its first message to its last one, or to the end of the capture
    when the call was not over (IN CALL, RINGING, CALL SETUP or NO RESPONSE)."""
    windows: dict[Endpoint, list[tuple[int, int]]] = {}
    for d in dialogs:
        end = 1 << 63 if d.call and d.phase in _MEDIA_GOES_ON else d.end_ns
        for ep in media_endpoints(trace, d):
            windows.setdefault(ep, []).append((d.start_ns, end))
    out: set[FrameRef] = set()
    if not windows:
        return out
    for dg in log.datagrams:
        for ep in (dg.src, dg.dst):
            spans = windows.get(ep)
            if spans is not None and any(a <= dg.ts_ns <= b for a, b in spans):
                out.update(dg.frames)
                break
    return out
