"""What the layers share (``sipsniff.net.walk``): length fields that lie and frames the snaplen
cut, told apart and counted as ``bad_length`` and ``truncated``, whatever the layer."""

from __future__ import annotations

import struct

import pytest

from sipsniff.model import Payload
from tests.net.frames import (
    DST4,
    DST6,
    GOOD,
    SIP,
    SRC4,
    SRC6,
    TS,
    decode,
    eth,
    frame,
    sctp4,
    udp6,
    udp_payload,
    with_u16,
)

OVERLONG_CASES = {
    "ipv4-total-length": (with_u16(GOOD, 16, 2000), SRC4, DST4, "udp", SIP),
    "udp-length": (with_u16(GOOD, 38, 1000), SRC4, DST4, "udp", SIP),
    "both": (with_u16(with_u16(GOOD, 16, 43690), 38, 43690), SRC4, DST4, "udp", SIP),
    "ipv6-payload-length": (with_u16(eth(0x86DD, udp6()), 18, 3000), SRC6, DST6, "udp", SIP),
    "sctp-chunk-length": (
        sctp4(struct.pack(">BBHIHHI", 0, 3, 400, 1, 0, 0, 0) + SIP),
        SRC4,
        DST4,
        "sctp",
        SIP,
    ),
}


@pytest.mark.parametrize("case", sorted(OVERLONG_CASES))
def test_length_fields_that_lie_use_the_bytes_present(case: str) -> None:
    # As tshark does: a length beyond the data (not the snaplen: the frame is whole) is a lying
    # header; the bytes present are used, and counted as bad_length.
    data, src, dst, transport, user = OVERLONG_CASES[case]
    out, counts, skipped = decode(frame(data))
    assert out == [Payload(1, TS, src, dst, transport, user, 0)]
    assert skipped == []
    assert counts.bad_length >= 1
    assert counts.truncated == 0


def test_snaplen_cut_inside_the_payload_keeps_what_was_captured() -> None:
    cut = GOOD[:60]
    out, counts, skipped = decode(frame(cut, orig_len=len(GOOD)))
    assert out == [udp_payload(data=SIP[: 60 - 42])]
    assert skipped == []
    assert counts.truncated == 1


def test_snaplen_cut_after_the_payload_loses_nothing() -> None:
    padded = GOOD + b"\x00" * 20
    out, counts, skipped = decode(frame(padded[: len(GOOD) + 4], orig_len=len(padded)))
    assert out == [udp_payload()]
    assert counts.truncated == 0
    assert skipped == []


def test_snaplen_cut_in_the_headers_is_counted_not_skipped() -> None:
    out, counts, skipped = decode(
        frame(GOOD[:30], orig_len=len(GOOD)), frame(GOOD[:38], orig_len=len(GOOD))
    )
    assert (out, skipped) == ([], [])
    assert counts.truncated == 2
