"""Crafted traces for the analysis tests: SIP texts through the real parser and correlator."""

from __future__ import annotations

from sipsniff.correlate.correlator import Correlator
from sipsniff.model import Endpoint, Message, Payload, Trace
from sipsniff.sip.parser import parse_message

T0 = 1_700_000_000_000_000_000
"""Time of frame 0; frame i comes i * 10 ms later."""


def trace_of(*items: tuple[Endpoint, Endpoint, str]) -> Trace:
    """A trace of SIP messages written with LF line ends (sent with CRLF), one frame each."""
    corr = Correlator()
    for i, (src, dst, text) in enumerate(items, 1):
        raw = text.replace("\n", "\r\n").encode()
        pkt = Payload(
            frame=i, ts_ns=T0 + i * 10_000_000, src=src, dst=dst, transport="udp", data=raw
        )
        msg = parse_message(raw, pkt)
        assert isinstance(msg, Message), msg
        corr.add(msg)
    corr.finish()
    return Trace(entries=corr.entries, dialogs=corr.dialogs, transactions=corr.transactions)
