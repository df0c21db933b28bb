"""IP fragment reassembly: the Reassembler on its own, and through the Decoder.

Orders (in order, reversed, shuffled), duplicates (also late ones), overlaps under the first-wins
policy, expiry in capture time, the memory cap, and the end of the input.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, fragment6
from scapy.packet import Raw

from sipsniff.model import Counts, Endpoint, Frame, Payload, Skipped
from sipsniff.net.ipfrag import FragKey, Reassembler
from tests.net.frames import decode

# scapy's fragmenters carry no annotations: give them a type once.
fragment4: Callable[..., list[Any]] = fragment
fragment_v6: Callable[..., list[Any]] = fragment6

TS = 1_700_000_000_000_000_000
SEC = 1_000_000_000
A4, B4 = "192.0.2.1", "198.51.100.2"
A6, B6 = "2001:db8::1", "2001:db8::2"
MAC = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02"
BIG = (
    b"INVITE sip:bob@example.com SIP/2.0\r\n"
    + b"".join(b"X-Filler-%04d: %s\r\n" % (i, b"abcdefghij" * 4) for i in range(60))
    + b"\r\n"
)


def eth4(ip: bytes) -> bytes:
    return MAC + b"\x08\x00" + ip


def eth6(ip: bytes) -> bytes:
    return MAC + b"\x86\xdd" + ip


def frames_of(packets: list[bytes], start: int = 1, step_ns: int = 1000) -> list[Frame]:
    return [
        Frame(start + i, TS + i * step_ns, 1, data, len(data)) for i, data in enumerate(packets)
    ]


def ipv4_fragments(data: bytes = BIG, ident: int = 0x1234, size: int = 600) -> list[bytes]:
    pkt = IP(src=A4, dst=B4, id=ident) / UDP(sport=5060, dport=5080) / Raw(data)
    return [eth4(bytes(f)) for f in fragment4(pkt, fragsize=size)]


def ipv6_fragments(data: bytes = BIG, ident: int = 77, size: int = 600) -> list[bytes]:
    pkt = (
        IPv6(src=A6, dst=B6)
        / IPv6ExtHdrFragment(id=ident)
        / UDP(sport=5060, dport=5080)
        / Raw(data)
    )
    return [eth6(bytes(f)) for f in fragment_v6(pkt, size)]


def run(frames: list[Frame], **kw: object) -> tuple[list[Payload], Counts, list[Skipped]]:
    return decode(*frames, **kw)


def whole(number: int, first: int, src: Endpoint, dst: Endpoint, data: bytes = BIG) -> Payload:
    """The datagram rebuilt at frame ``number`` from fragments in frames ``first`` to ``number``
    (duplicates included: every frame that brought a fragment is listed)."""
    return Payload(
        number,
        TS + (number - 1) * 1000,
        src,
        dst,
        "udp",
        data,
        0,
        first,
        TS + (first - 1) * 1000,
        frames=tuple(range(first, number + 1)),
    )


S4, D4 = Endpoint(A4, 5060), Endpoint(B4, 5080)
S6, D6 = Endpoint(A6, 5060), Endpoint(B6, 5080)


# -- through the decoder ------------------------------------------------------------------------


def test_ipv4_in_order() -> None:
    packets = ipv4_fragments()
    assert [len(p) - 34 for p in packets] == [600] * 5 + [466]
    out, counts, skipped = run(frames_of(packets))
    assert out == [whole(6, 1, S4, D4)]
    assert skipped == []
    assert (counts.fragments, counts.reassembled) == (6, 1)


def test_ipv4_reversed_reports_at_the_completing_frame() -> None:
    out, _, skipped = run(frames_of(ipv4_fragments()[::-1]))
    assert out == [whole(6, 1, S4, D4)]
    assert skipped == []


def test_ipv4_shuffled_with_duplicates_yields_one_datagram() -> None:
    f = ipv4_fragments()
    order = [f[2], f[0], f[2], f[5], f[1], f[0], f[3], f[4], f[4], f[1]]
    out, counts, skipped = run(frames_of(order))
    # complete at the 8th frame (f[4]); the late duplicates f[4] and f[1] are recognised as such
    assert out == [whole(8, 1, S4, D4)]
    assert skipped == []
    assert counts.fragment_duplicates == 4


def test_ipv4_overlap_first_wins() -> None:
    # Hand-made: UDP header + 40 bytes, in three fragments; the middle one is sent twice with
    # different bytes, the second copy also overlapping the last fragment.
    body = b"A" * 40
    udp = struct.pack(">HHHH", 5060, 5080, 48, 0) + body

    def frag(offset: int, payload: bytes, more: bool) -> bytes:
        ip = IP(src=A4, dst=B4, id=9, proto=17, frag=offset // 8, flags="MF" if more else 0)
        return eth4(bytes(ip / Raw(payload)))

    packets = [
        frag(0, udp[:16], True),
        frag(16, udp[16:32], True),
        frag(16, b"B" * 24, True),  # overlaps [16, 40): the held [16, 32) wins, [32, 40) is new
        frag(40, udp[40:], False),
    ]
    out, counts, _ = run(frames_of(packets))
    assert [p.data for p in out] == [b"A" * 24 + b"B" * 8 + b"A" * 8]
    assert counts.fragment_overlaps == 1


def test_ipv6_in_order_and_reversed() -> None:
    packets = ipv6_fragments()
    assert len(packets) >= 3
    n = len(packets)
    out, counts, skipped = run(frames_of(packets))
    assert out == [whole(n, 1, S6, D6)]
    assert (counts.fragments, counts.reassembled, skipped) == (n, 1, [])
    out, _, _ = run(frames_of(packets[::-1]))
    assert out == [whole(n, 1, S6, D6)]


def test_ipv6_fragment_after_other_extension_headers() -> None:
    pkt = IPv6(src=A6, dst=B6) / IPv6ExtHdrFragment(id=5) / UDP(sport=5060, dport=5080) / Raw(BIG)
    packets = [bytes(f) for f in fragment_v6(pkt, 700)]
    # put a hop-by-hop header (next header 44) in front of each fragment header
    hbh = b"\x2c\x00" + b"\x01\x04\x00\x00\x00\x00"
    with_hbh = []
    for p in packets:
        plen = struct.unpack_from(">H", p, 4)[0]
        head = p[:4] + struct.pack(">HB", plen + 8, 0) + p[7:40]
        with_hbh.append(eth6(head + hbh + p[40:]))
    out, _, skipped = run(frames_of(with_hbh))
    assert [p.data for p in out] == [BIG]
    assert skipped == []


def test_expired_datagram_is_skipped_with_a_reason() -> None:
    f = ipv4_fragments()
    later = ipv4_fragments(b"OPTIONS sip:x SIP/2.0\r\n" * 60, ident=0x99)
    frames = [
        Frame(1, TS, 1, f[0], len(f[0])),
        Frame(2, TS + 1 * SEC, 1, f[1], len(f[1])),
        Frame(3, TS + 61 * SEC, 1, later[0], len(later[0])),  # expires the first set
        Frame(4, TS + 62 * SEC, 1, f[2], len(f[2])),  # opens a new set: incomplete at the end
    ]
    out, _, skipped = run(frames)
    assert out == []
    assert [(s.frame, s.reason) for s in skipped] == [
        (
            1,
            f"IPv4 datagram id 0x1234 from {A4} to {B4}: 2 fragments, 1200 bytes, the last "
            "fragment missing, expired 60 s after the first one",
        ),
        (
            3,
            f"IPv4 datagram id 0x99 from {A4} to {B4}: 1 fragment, 600 bytes, the last "
            "fragment missing, incomplete at the end of the capture",
        ),
        (
            4,
            f"IPv4 datagram id 0x1234 from {A4} to {B4}: 1 fragment, 600 bytes, the last "
            "fragment missing, incomplete at the end of the capture",
        ),
    ]
    # what was held from offset 0 on is kept for a person to read: here the UDP header and more
    assert skipped[0].data[8:14] == b"INVITE"


def test_timeout_is_configurable() -> None:
    f = ipv4_fragments()
    frames = [Frame(i + 1, TS + i * 2 * SEC, 1, d, len(d)) for i, d in enumerate(f)]
    out, _, skipped = run(frames, frag_timeout_s=1.0)
    assert out == []
    # each fragment expires the set before it; the last one is left at the end
    assert [s.reason.split(", ")[-1] for s in skipped] == [
        "expired 1 s after the first one"
    ] * 5 + ["incomplete at the end of the capture"]
    out, _, skipped = run(frames, frag_timeout_s=10.0)
    assert [p.data for p in out] == [BIG]
    assert skipped == []


def test_memory_cap_drops_the_oldest_set() -> None:
    first = ipv4_fragments(ident=1)
    second = ipv4_fragments(ident=2)
    # 600 bytes in the first set, 3466 in the second: a cap of 3600 cannot hold both
    frames = frames_of([first[0], *second])
    out, _, skipped = run(frames, frag_max_bytes=3600)
    assert out == [whole(7, 2, S4, D4)]
    assert [(s.frame, s.reason) for s in skipped] == [
        (
            1,
            f"IPv4 datagram id 0x1 from {A4} to {B4}: 1 fragment, 600 bytes, the last fragment "
            "missing, dropped: the 3600-byte cap on fragment memory was reached",
        )
    ]


def test_memory_cap_smaller_than_one_datagram() -> None:
    # 600-byte fragments: every second one passes the cap of 1000 and its set is dropped
    out, _, skipped = run(frames_of(ipv4_fragments()), frag_max_bytes=1000)
    assert out == []
    assert [(s.frame, s.reason.split(", ")[-1]) for s in skipped] == [
        (n, "dropped: the 1000-byte cap on fragment memory was reached") for n in (1, 3, 5)
    ]


def test_fragment_beyond_the_largest_datagram_is_skipped() -> None:
    ip = IP(src=A4, dst=B4, id=3, proto=17, frag=8190, flags="MF") / Raw(b"x" * 64)
    out, _, skipped = run(frames_of([eth4(bytes(ip))]))
    assert out == []
    assert [s.reason for s in skipped] == [
        "IPv4 fragment ends at byte 65584, beyond the largest possible datagram"
    ]


def test_fragmented_tunnel_is_decoded_after_reassembly() -> None:
    inner = bytes(IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=5062, dport=5064) / Raw(BIG))
    outer = IP(src=A4, dst=B4, id=44, proto=4) / Raw(inner)
    packets = [eth4(bytes(f)) for f in fragment4(outer, fragsize=800)]
    out, _, _ = run(frames_of(packets))
    n = len(packets)
    assert out == [whole(n, 1, Endpoint("10.0.0.1", 5062), Endpoint("10.0.0.2", 5064))]


def test_same_id_new_content_is_a_new_datagram() -> None:
    one = ipv4_fragments(BIG)
    two = ipv4_fragments(BIG.replace(b"INVITE", b"UPDATE"))
    out, _, skipped = run(frames_of(one + two))
    assert [(p.frame, p.first_frame, p.data[:6]) for p in out] == [
        (6, 1, b"INVITE"),
        (12, 7, b"UPDATE"),
    ]
    assert skipped == []


# -- the reassembler alone ----------------------------------------------------------------------

KEY: FragKey = (4, b"\xc0\x00\x02\x01", b"\xc6\x33\x64\x02", 1, 17)


def frame(n: int, ts_ns: int = TS) -> Frame:
    return Frame(n, ts_ns, 1, b"", 0)


def test_conflicting_last_fragment_first_wins() -> None:
    r = Reassembler(Counts(), 60 * SEC, 1 << 20)
    assert r.add(KEY, 17, 16, b"B" * 16, more=False, frame=frame(1)) is None  # total = 32
    assert r.add(KEY, 17, 16, b"C" * 24, more=False, frame=frame(2)) is None  # says 40: ignored
    dgram = r.add(KEY, 17, 0, b"A" * 16, more=True, frame=frame(3))
    assert dgram is not None
    assert (dgram.data, dgram.first_frame, dgram.fragments) == (b"A" * 16 + b"B" * 16, 1, 3)
    assert (r.held, r.sets) == (0, {})


def test_bytes_beyond_a_later_total_are_dropped() -> None:
    r = Reassembler(Counts(), 60 * SEC, 1 << 20)
    assert r.add(KEY, 17, 8, b"x" * 24, more=True, frame=frame(1)) is None  # [8, 32)
    assert r.add(KEY, 17, 16, b"y" * 8, more=False, frame=frame(2)) is None  # total 24
    assert r.held == 16
    dgram = r.add(KEY, 17, 0, b"z" * 8, more=True, frame=frame(3))
    assert dgram is not None
    assert dgram.data == b"z" * 8 + b"x" * 16


def test_ipv6_protocol_comes_from_the_offset_zero_fragment() -> None:
    key: FragKey = (6, b"\x00" * 16, b"\x01" * 16, 5, -1)
    r = Reassembler(Counts(), 60 * SEC, 1 << 20)
    assert r.add(key, 59, 8, b"b" * 8, more=False, frame=frame(1)) is None
    dgram = r.add(key, 17, 0, b"a" * 8, more=True, frame=frame(2))
    assert dgram is not None
    assert dgram.proto == 17


@settings(max_examples=200, deadline=None)
@given(
    st.binary(min_size=1, max_size=300),
    st.integers(1, 40),
    st.randoms(use_true_random=False),
    st.integers(0, 5),
)
def test_any_order_with_duplicates_rebuilds_the_datagram_once(
    data: bytes, size: int, rnd: object, dups: int
) -> None:
    pieces = [(o, data[o : o + size * 8]) for o in range(0, len(data), size * 8)]
    arrivals = pieces + [pieces[i % len(pieces)] for i in range(dups)]
    rnd.shuffle(arrivals)  # type: ignore[attr-defined]
    counts = Counts()
    r = Reassembler(counts, 60 * SEC, 1 << 20)
    done = []
    for n, (offset, chunk) in enumerate(arrivals, 1):
        more = offset + len(chunk) < len(data)
        dgram = r.add(KEY, 17, offset, chunk, more=more, frame=frame(n))
        if dgram is not None:
            done.append(dgram.data)
    assert done == [data]
    assert r.sets == {} and r.held == 0
    assert r.dropped == []


def test_expire_without_new_fragments() -> None:
    # For a live capture with no further fragments: expire by the clock of the latest frame.
    r = Reassembler(Counts(), 60 * SEC, 1 << 20)
    assert r.add(KEY, 17, 0, b"a" * 8, more=True, frame=frame(1, TS)) is None
    r.expire(TS + 60 * SEC)
    assert (r.dropped, len(r.sets)) == ([], 1)
    r.expire(TS + 60 * SEC + 1)
    assert [(fs.first_frame, fs.held, why) for fs, why in r.dropped] == [(1, 8, "expired")]
    assert (r.sets, r.held) == ({}, 0)
