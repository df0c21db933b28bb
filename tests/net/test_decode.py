"""The Decoder (``sipsniff.net.decode``): the fast path against the general one, the dispatch by
link type and by IP protocol, robustness against random and mutated bytes, and real captures
against the tshark oracle. Each layer has its own tests: test_link, test_ip, test_tunnel,
test_transport, test_walk (and test_ipfrag, test_tcp)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.sctp import SCTP, SCTPChunkData
from scapy.packet import Raw

from sipsniff.model import Endpoint, Frame, Payload
from sipsniff.net.decode import IP_PROTOCOLS
from sipsniff.net.link import LINK_TYPES
from tests.conftest import CORPUS, need
from tests.net.frames import (
    A4,
    A6,
    B4,
    B6,
    DST4,
    INNER,
    INNER6,
    INNER6_DST,
    INNER6_SRC,
    INNER_DST,
    INNER_SRC,
    LINK_CASES,
    SIP,
    SRC4,
    TS,
    TUNNEL_CASES,
    decode,
    decode_file,
    eth,
    frame,
    oracle_rows,
    outer4,
    start_line,
    udp4,
    udp6,
    udp_payload,
    with_byte,
)


def test_fast_and_general_paths_agree() -> None:
    # IP options (IHL 6) take the general path; the result is the same as the fast path's.
    fast = eth(0x0800, udp4())
    slow = eth(
        0x0800,
        bytes(
            IP(src=A4, dst=B4, options=b"\x01\x01\x01\x00") / UDP(sport=5060, dport=5080) / Raw(SIP)
        ),
    )
    assert slow[14] == 0x46
    out_fast, _, _ = decode(frame(fast))
    out_slow, _, _ = decode(frame(slow))
    assert out_fast == out_slow == [udp_payload()]


def test_frame_fields_carried() -> None:
    f = Frame(42, TS + 5, 1, eth(0x0800, udp4()), 0, file=3)
    out, _, _ = decode(f._replace(orig_len=len(f.data)))
    assert out == [Payload(42, TS + 5, SRC4, DST4, "udp", SIP, 3)]


def test_unsupported_link_type_is_reported_once() -> None:
    out, counts, skipped = decode(
        frame(udp4(), 147, 1), frame(udp4(), 147, 2), frame(udp4(), 105, 3)
    )
    assert out == []
    assert counts.unsupported_link == 3
    assert [(s.frame, s.reason) for s in skipped] == [
        (1, "link type 147 is not supported: its frames are ignored"),
        (3, "link type 105 is not supported: its frames are ignored"),
    ]


def quoting(proto: int, quoted: bytes) -> bytes:
    """An ICMP (1) or ICMPv6 (58) port unreachable error quoting ``quoted``."""
    kind = 3 if proto == 1 else 1
    head = bytes([kind, 3 if proto == 1 else 4]) + b"\x00" * 6
    if proto == 1:
        return bytes(IP(src=B4, dst=A4, proto=1) / Raw(head + quoted))
    return bytes(IPv6(src=B6, dst=A6, nh=58) / Raw(head + quoted))


PROTOCOL_CASES = {
    17: (eth(0x0800, udp4()), ("udp", SRC4, DST4)),
    6: (
        eth(0x0800, bytes(IP(src=A4, dst=B4) / TCP(sport=5060, dport=5080) / Raw(SIP))),
        ("tcp", SRC4, DST4),
    ),
    132: (
        eth(
            0x0800,
            bytes(
                IP(src=A4, dst=B4)
                / SCTP(sport=5060, dport=5080)
                / SCTPChunkData(data=SIP, beginning=1, ending=1)
            ),
        ),
        ("sctp", SRC4, DST4),
    ),
    4: (outer4(4, INNER), ("udp", INNER_SRC, INNER_DST)),
    41: (outer4(41, INNER6), ("udp", INNER6_SRC, INNER6_DST)),
    47: (outer4(47, b"\x00\x00\x08\x00" + INNER), ("udp", INNER_SRC, INNER_DST)),
    1: (eth(0x0800, quoting(1, udp4())), "ICMP destination unreachable (port unreachable)"),
    58: (eth(0x86DD, quoting(58, udp6())), "ICMP destination unreachable (port unreachable)"),
}
"""IP protocol number -> (a frame of it, what comes out: the transport and endpoints of the one
payload, or the start of the one Skipped record's reason)."""


def test_every_ip_protocol_in_the_table_has_a_case() -> None:
    assert set(PROTOCOL_CASES) == set(IP_PROTOCOLS)


@pytest.mark.parametrize("proto", sorted(PROTOCOL_CASES))
def test_ip_protocols_reach_their_handler(proto: int) -> None:
    data, want = PROTOCOL_CASES[proto]
    out, _, skipped = decode(frame(data))
    if isinstance(want, str):
        assert out == []
        assert [s.reason[: len(want)] for s in skipped] == [want]
    else:
        assert [(p.transport, p.src, p.dst) for p in out] == [want]
        assert [p.data for p in out] == [SIP]
        assert skipped == []


LINKTYPES = sorted(LINK_TYPES)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(LINKTYPES), st.binary(max_size=120), st.booleans())
def test_random_bytes_never_raise(linktype: int, data: bytes, cut: bool) -> None:
    out, counts, _ = decode(frame(data, linktype, orig_len=len(data) + (100 if cut else 0)))
    assert counts.frames == 1
    assert all(isinstance(p, Payload) for p in out)


ALL_GOOD = [(lt, d) for lt, d, _ in LINK_CASES.values()] + [
    (1, d) for d, _ in TUNNEL_CASES.values()
]


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(ALL_GOOD),
    st.integers(0, 400),
    st.integers(0, 255),
    st.integers(0, 400),
)
def test_mutated_frames_never_raise(
    case: tuple[int, bytes], flip_at: int, value: int, cut_at: int
) -> None:
    linktype, data = case
    if flip_at < len(data):
        data = with_byte(data, flip_at, value)
    whole, cut = (
        frame(data[:cut_at], linktype),
        frame(data[:cut_at], linktype, orig_len=len(data) + 1),
    )
    out, counts, _ = decode(whole, cut)
    assert counts.frames == 2
    assert all(p.frame == 1 and p.data for p in out)


# Oracle frames this layer rightly yields no UDP payload for: ICMP port unreachable quoting the
# SIP datagram it answers. tshark dissects the quote, but it is not a message on the wire (handing
# it on would fake a retransmission); the decoder reports it as a Skipped naming the ICMP error.
ICMP_QUOTES = {"private-test-sip.pcapng": {2, 150, 152}}

ORACLE_FILES = [
    "aaa.pcap",
    "ipv6frag.pcap",
    "video_call.pcap",
    "gprshome-wireshark_sip.pcap",
    "private-test-sip.pcapng",
    "erspan_sip_ipv4_udp.pcapng",
    "gre.pcapng",
    "ipip0.pcap",
    "DTMFsipinfo.pcap",
    "sip_reqs.pcap",
    "h263-over-rtp.pcap",
    "sip-long-request-response-paths.pcap",
    "T38.pcap",
    "branch-scenario-sipp.pcapng",
    "sip_ipv6_udp.pcap",
    "wireuploaded.pcap",
    "SIP_CALL_RTP_G711",
    "Asterisk_ZFONE_XLITE.pcap",
]


@pytest.mark.parametrize("name", ORACLE_FILES)
def test_every_udp_oracle_message_is_decoded(name: str) -> None:
    by_frame, _, skipped = decode_file(need(CORPUS / name))
    rows = [r for r in oracle_rows(name) if r["transport"] == "udp"]
    assert rows, "the oracle lists UDP SIP messages for this file"
    missing = []
    for row in rows:
        number = int(row["frame"])
        if number in ICMP_QUOTES.get(name, ()):
            continue
        want_src = Endpoint(row["src"].split("|")[-1], int(row["srcport"].split("|")[-1]))
        want_dst = Endpoint(row["dst"].split("|")[-1], int(row["dstport"].split("|")[-1]))
        found = [
            p
            for p in by_frame.get(number, [])
            if p.transport == "udp"
            and (p.src, p.dst) == (want_src, want_dst)
            and p.data.startswith(start_line(row))
        ]
        if len(found) != 1:
            missing.append((number, want_src, want_dst, by_frame.get(number)))
    assert missing == []
    # nothing damaged in these captures: the only records are ICMP errors quoting a packet
    assert [s for s in skipped if not s.reason.startswith("ICMP ")] == []
    quotes = {s.frame for s in skipped if s.transport == "udp"}
    assert ICMP_QUOTES.get(name, set()) <= quotes


def test_fragment_reassembly_in_real_captures() -> None:
    # The reassembled datagram is reported at the frame that completes it, its first fragment's
    # frame in first_frame, as tshark does.
    by_frame, counts, _ = decode_file(need(CORPUS / "ipv6frag.pcap"))
    assert counts.reassembled == 2
    whole = [p for ps in by_frame.values() for p in ps if p.first_frame]
    assert [(p.frame, p.first_frame, p.data[:7]) for p in whole] == [
        (2, 1, b"INVITE "),
        (5, 4, b"INVITE "),
    ]
    by_frame, counts, _ = decode_file(need(CORPUS / "video_call.pcap"))
    whole = [p for ps in by_frame.values() for p in ps if p.first_frame]
    assert [(p.frame, p.first_frame) for p in whole] == [
        (8, 7),
        (13, 12),
        (15, 14),
        (19, 18),
        (22, 21),
    ]
    assert counts.fragments == 10
    by_frame, _, _ = decode_file(need(CORPUS / "gprshome-wireshark_sip.pcap"))
    (invite,) = by_frame[568]
    assert (invite.first_frame, len(invite.data), invite.data[:7]) == (566, 1082, b"INVITE ")


TCP_ORACLE_FILES = ["ipip.pcap", "sip_ipv4_tcp.pcap", "sip-tcp.pcap", "sip_ipv4_tcp_retrans.pcap"]


@pytest.mark.parametrize("name", TCP_ORACLE_FILES)
def test_every_tcp_oracle_frame_yields_a_stream_piece(name: str) -> None:
    # Without a TCP sink the segments come out as they are: the frame carries a stream piece with
    # the innermost endpoints, and the message starts in the bytes seen so far in that direction.
    by_frame, _, skipped = decode_file(need(CORPUS / name))
    seen: dict[tuple[Endpoint, Endpoint], bytes] = {}
    upto: dict[int, bytes] = {}
    for number in sorted(by_frame):
        for p in by_frame[number]:
            if p.transport == "tcp":
                assert p.stream
                seen[(p.src, p.dst)] = seen.get((p.src, p.dst), b"") + p.data
                upto[number] = seen[(p.src, p.dst)]
    rows = [r for r in oracle_rows(name) if r["transport"] == "tcp"]
    assert rows
    for row in rows:
        number = int(row["frame"])
        want_src = Endpoint(row["src"].split("|")[-1], int(row["srcport"].split("|")[-1]))
        want_dst = Endpoint(row["dst"].split("|")[-1], int(row["dstport"].split("|")[-1]))
        pieces = [(p.src, p.dst) for p in by_frame[number] if p.transport == "tcp"]
        assert pieces == [(want_src, want_dst)]
        assert start_line(row) in upto[number]
    assert skipped == []


def corpus_files() -> list[str]:
    if not CORPUS.exists():
        return []
    skip = (".md", ".tsv")
    return sorted(p.name for p in CORPUS.iterdir() if p.suffix not in skip)


@pytest.mark.parametrize("name", corpus_files() or ["(no corpus)"])
def test_no_corpus_file_raises(name: str) -> None:
    path = need(CORPUS / name)
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic not in (
        b"\xd4\xc3\xb2\xa1",
        b"\xa1\xb2\xc3\xd4",
        b"\x4d\x3c\xb2\xa1",
        b"\x0a\x0d\x0d\x0a",
    ):
        pytest.skip(f"{name} is not pcap or pcapng (scapy's raw readers cannot read it)")
    by_frame, counts, _ = decode_file(path)
    frames_ = counts.frames
    assert frames_ > 0
    assert all(p.frame <= frames_ for ps in by_frame.values() for p in ps)


def test_fuzzed_capture_uses_what_it_can() -> None:
    # fuzz-2006-06-26-2594.pcap is aaa.pcap with bytes flipped: lengths lie, versions are wrong.
    # Frames whose IP total length or UDP length lies still carry their SIP (tshark shows them).
    by_frame, counts, skipped = decode_file(need(CORPUS / "fuzz-2006-06-26-2594.pcap"))
    assert counts.frames == 691
    assert counts.bad_length > 0
    lying_ip = {432: b"SIP/2.0 401", 454: b"SIP/2.0 401", 602: b"INVITE ", 640: b"SIP/2.0 401"}
    lying_udp = {253: b"ACK ", 603: b"SIP/2.0 407"}
    for number, start in (lying_ip | lying_udp).items():
        assert [p.data[: len(start)] for p in by_frame[number]] == [start]
    reasons = [s.reason for s in skipped]
    assert "IPv4 header with version 12" in reasons
    assert "IPv4 header length (IHL) of 4 bytes, below 20" in reasons
