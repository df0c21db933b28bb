"""HEP v2/v3 encoding and decoding (sipsniff.net.hep), the collector session and its pcap frames."""

from __future__ import annotations

import socket
import struct
import zlib

from hypothesis import given
from hypothesis import strategies as st

from sipsniff.capture.files import read_frames
from sipsniff.model import Endpoint, Frame, Message, Payload, Skipped
from sipsniff.net.encode import FrameMaker
from sipsniff.net.hep import (
    HepPacket,
    HepStream,
    decode_hep,
    encode_hep2,
    encode_hep3,
    encode_message,
    looks_like_hep,
    unwrap_hep,
)
from sipsniff.pipeline import Pipeline, Session, read_trace
from tests.conftest import CAPTURES

A = Endpoint("192.0.2.1", 5060)
B = Endpoint("198.51.100.7", 5080)
A6 = Endpoint("2001:db8::1", 5060)
B6 = Endpoint("2001:db8::2", 5062)
TS = 1_795_636_270_123_456_000
SIP = (
    b"OPTIONS sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
    b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: abc@x\r\n"
    b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
)


def chunks(data: bytes) -> dict[int, bytes]:
    """The chunks of a HEPv3 packet by type, read independently of the module under test."""
    assert data[:4] == b"HEP3"
    assert struct.unpack(">H", data[4:6])[0] == len(data)
    out: dict[int, bytes] = {}
    p = 6
    while p < len(data):
        vendor, ctype, clen = struct.unpack(">HHH", data[p : p + 6])
        assert vendor == 0
        out[ctype] = data[p + 6 : p + clen]
        p += clen
    assert p == len(data)
    return out


def test_hep3_chunks_are_the_ones_the_spec_names() -> None:
    data = encode_hep3(
        A, B, SIP, ts_ns=TS, transport="tcp", agent_id=2001, password="s3", correlation_id="abc@x"
    )
    c = chunks(data)
    assert c[0x0001] == b"\x02"
    assert c[0x0002] == b"\x06"
    assert c[0x0003] == socket.inet_aton("192.0.2.1")
    assert c[0x0004] == socket.inet_aton("198.51.100.7")
    assert c[0x0007] == struct.pack(">H", 5060)
    assert c[0x0008] == struct.pack(">H", 5080)
    assert c[0x0009] == struct.pack(">I", 1_795_636_270)
    assert c[0x000A] == struct.pack(">I", 123_456)
    assert c[0x000B] == b"\x01"
    assert c[0x000C] == struct.pack(">I", 2001)
    assert c[0x000E] == b"s3"
    assert c[0x000F] == SIP
    assert c[0x0011] == b"abc@x"


def test_hep3_ipv6_and_no_password() -> None:
    c = chunks(encode_hep3(A6, B6, SIP, ts_ns=TS))
    assert c[0x0001] == b"\x0a"
    assert c[0x0005] == socket.inet_pton(socket.AF_INET6, "2001:db8::1")
    assert c[0x0006] == socket.inet_pton(socket.AF_INET6, "2001:db8::2")
    assert 0x0003 not in c
    assert 0x000E not in c


def test_round_trip_v3() -> None:
    data = encode_hep3(A6, B6, SIP, ts_ns=TS, agent_id=7, password="pw", correlation_id="c")
    assert decode_hep(data) == HepPacket(3, A6, B6, "udp", TS, 1, 7, SIP, "pw", "c")


def test_round_trip_v2_and_v1() -> None:
    pkt = decode_hep(encode_hep2(A, B, SIP, ts_ns=TS, transport="tcp", agent_id=300))
    assert pkt == HepPacket(2, A, B, "tcp", TS, 0, 300, SIP)
    pkt = decode_hep(encode_hep2(A6, B6, SIP, ts_ns=TS, version=1))
    assert pkt == HepPacket(1, A6, B6, "udp", 0, 0, 0, SIP)


def test_v2_as_kamailio_writes_it() -> None:
    # Kamailio's sipcapture (hep.h): struct hep_hdr, struct hep_iphdr, struct hep_timehdr in host
    # order (little-endian on x86), then the payload; built here by hand.
    head = struct.pack(">BBBBHH", 2, 28, 2, 17, 5060, 5080)
    head += socket.inet_aton(A.ip) + socket.inet_aton(B.ip)
    head += struct.pack("<IIH2x", 1_795_636_270, 123_456, 2001)
    pkt = decode_hep(head + SIP)
    assert isinstance(pkt, HepPacket)
    assert (pkt.version, pkt.src, pkt.dst, pkt.ts_ns, pkt.agent_id) == (2, A, B, TS, 2001)
    assert pkt.payload == SIP


def test_compressed_payload_is_inflated() -> None:
    data = encode_hep3(A, B, b"", ts_ns=TS)
    # Replace the empty payload chunk by a compressed one (0x0010).
    z = zlib.compress(SIP)
    body = data[6:].replace(struct.pack(">HHH", 0, 0x000F, 6), b"")
    body += struct.pack(">HHH", 0, 0x0010, 6 + len(z)) + z
    pkt = decode_hep(b"HEP3" + struct.pack(">H", 6 + len(body)) + body)
    assert isinstance(pkt, HepPacket)
    assert pkt.payload == SIP


def test_vendor_and_unknown_chunks_are_stepped_over() -> None:
    data = encode_hep3(A, B, SIP, ts_ns=TS, agent_id=3)
    extra = struct.pack(">HHH", 0x0020, 0x000C, 10) + b"\xff" * 4  # a vendor's chunk 0x000c
    extra += struct.pack(">HHH", 0, 0x0013, 8) + b"\x00\x0a"  # VLAN id
    body = data[6:] + extra
    pkt = decode_hep(b"HEP3" + struct.pack(">H", 6 + len(body)) + body)
    assert isinstance(pkt, HepPacket)
    assert pkt.agent_id == 3


def test_garbage_and_truncation_are_reasons_not_exceptions() -> None:
    good = encode_hep3(A, B, SIP, ts_ns=TS)
    for cut in range(len(good)):
        assert isinstance(decode_hep(good[:cut]), str), cut
    good2 = encode_hep2(A, B, SIP, ts_ns=TS)
    for cut in range(28):
        assert isinstance(decode_hep(good2[:cut]), str), cut
    assert decode_hep(b"HEP3\x00\x03") == "HEPv3 length 3 below its 6-byte header"
    assert decode_hep(b"\x02\x1c\x07\x11" + bytes(40)).startswith("HEPv2 address family 7")  # type: ignore[union-attr]
    assert decode_hep(b"hello") == "not a HEP packet (starts with b'hell')"


@given(st.binary(max_size=200))
def test_any_bytes_decode_without_raising(data: bytes) -> None:
    decode_hep(data)
    decode_hep(b"HEP3" + data)
    decode_hep(b"\x02" + data)


@given(st.binary(max_size=300))
def test_hep_stream_any_bytes(data: bytes) -> None:
    HepStream().feed(data)


def test_hep_stream_byte_by_byte_with_garbage_between() -> None:
    one = encode_hep3(A, B, SIP, ts_ns=TS, agent_id=1)
    two = encode_hep3(B6, A6, SIP, ts_ns=TS, agent_id=2)
    stream = one + b"garbage!" + two
    s = HepStream()
    got: list[bytes | str] = []
    for i in range(len(stream)):
        got += s.feed(stream[i : i + 1])
    assert got == [one, "8 bytes of the TCP stream are not HEPv3; skipped", two]
    assert s.pending == 0


def _message(pkt: Payload) -> Message:
    pipe = Pipeline()
    entry = pipe.message(pkt.data, pkt, framed=False)
    assert entry is not None
    return entry.msg


def test_unwrap_hep_gives_the_inner_message_with_its_addresses() -> None:
    outer = Payload(12, 5, Endpoint("10.0.0.1", 40000), Endpoint("10.0.0.9", 9060), "udp", b"", 1)
    data = encode_hep3(A, B, SIP, ts_ns=TS, transport="tcp")
    assert unwrap_hep(data, outer) == Payload(12, TS, A, B, "tcp", SIP, 1)
    frame = Frame(12, 5, 1, b"", 0, 1)
    assert unwrap_hep(data, frame) == Payload(12, TS, A, B, "tcp", SIP, 1)
    # v2 only to or from 9060 when the ports are known.
    v2 = encode_hep2(A, B, SIP, ts_ns=TS)
    assert unwrap_hep(v2, outer) == Payload(12, TS, A, B, "udp", SIP, 1)
    assert unwrap_hep(v2, outer._replace(dst=Endpoint("10.0.0.9", 5060))) is None
    assert unwrap_hep(SIP, outer) is None
    broken = unwrap_hep(data[:40], outer)
    assert isinstance(broken, Skipped)
    assert broken.reason.startswith("HEPv3 packet cut short")
    rtcp = unwrap_hep(encode_hep3(A, B, b"\x80", ts_ns=TS, proto_type=5), outer)
    assert isinstance(rtcp, Skipped)
    assert rtcp.reason == "HEP packet of protocol type 5, not SIP"


def test_encode_message_carries_the_call_id() -> None:
    msg = _message(Payload(1, TS, A, B, "udp", SIP))
    c = chunks(encode_message(msg, agent_id=9, password="k"))
    assert c[0x0011] == b"abc@x"
    assert c[0x000C] == struct.pack(">I", 9)
    assert c[0x000F] == SIP


def test_looks_like_hep() -> None:
    assert looks_like_hep(encode_hep2(A6, B6, SIP, ts_ns=TS))
    assert not looks_like_hep(encode_hep2(A6, B6, SIP, ts_ns=TS), v2=False)
    assert not looks_like_hep(SIP)


def test_session_from_hep_equals_read_trace() -> None:
    """Every message of a capture sent through HEP (v3 and v2 alternately) correlates as read does."""
    trace = read_trace([str(CAPTURES / "calls-lossy.pcap")])
    session = Session()
    for i, e in enumerate(trace.entries.values()):
        m = e.msg
        if i % 2:
            data = encode_message(m, agent_id=4)
        else:
            data = encode_hep2(m.src, m.dst, m.raw, ts_ns=m.ts_ns, agent_id=4)
        session.feed_hep(data, 0, None)
    session.feed_hep(b"HEP3\x00\x10junk", 0, Endpoint("127.0.0.1", 1))
    session.finish()
    got = session.trace()
    assert [e.msg.raw for e in got.entries.values()] == [e.msg.raw for e in trace.entries.values()]
    assert [e.msg.pkt[1:5] for e in got.entries.values()] == [
        e.msg.pkt[1:5] for e in trace.entries.values()
    ]
    assert [(d.call_id, d.messages, d.state) for d in got.dialogs.values()] == [
        (d.call_id, d.messages, d.state) for d in trace.dialogs.values()
    ]
    assert [e.retransmission_of for e in got.entries.values()] == [
        e.retransmission_of for e in trace.entries.values()
    ]
    assert session.agents == dict.fromkeys(trace.entries, 4)
    assert [s.reason for s in got.skipped] == [
        "HEPv3 packet cut short: 10 of 16 bytes from 127.0.0.1:1"
    ]


def test_session_filters_agents_and_checks_the_password() -> None:
    session = Session(agents=[2], password="pw")
    feed = session.feed_hep
    assert feed(encode_hep3(A, B, SIP, ts_ns=TS, agent_id=1, password="pw"), 0, None) == []
    assert feed(encode_hep3(A, B, SIP, ts_ns=TS, agent_id=2, password="no"), 0, None) == []
    assert len(feed(encode_hep3(A, B, SIP, ts_ns=TS, agent_id=2, password="pw"), 0, None)) == 1
    assert session.counts.hep_other_agent == 1
    assert [s.reason for s in session.skipped] == ["HEP packet with a wrong or no password"]
    assert session.agents == {1: 2}


def test_frames_read_back_as_the_original_flows(tmp_path: object) -> None:
    """FrameMaker's frames, written as a pcap, read back (UDP, TCP, IPv4 and IPv6) to the same
    messages with the same addresses and times."""
    from pathlib import Path

    from sipsniff.capture.live import PcapWriter

    assert isinstance(tmp_path, Path)
    trace = read_trace([str(CAPTURES / "invite-call-tcp.pcap"), str(CAPTURES / "invite-call.pcap")])
    msgs = [e.msg for e in trace.entries.values()]
    v6 = [
        m._replace(pkt=m.pkt._replace(src=m.src._replace(ip="::1"), dst=m.dst._replace(ip="::1")))
        for m in msgs
    ]
    maker = FrameMaker()
    path = tmp_path / "out.pcap"
    writer = PcapWriter(str(path), 1)
    for i, m in enumerate(msgs + v6, 1):
        frame = maker.frame(i, m)
        assert frame is not None
        writer.write(frame)
    writer.close()
    back = read_trace([str(path)])
    want = [(m.raw, m.src, m.dst, m.transport, m.ts_ns) for m in msgs + v6]
    got = [
        (e.msg.raw, e.msg.src, e.msg.dst, e.msg.transport, e.msg.ts_ns)
        for e in back.entries.values()
    ]
    assert got == want
    assert not back.skipped
    _, frames = read_frames([str(path)])
    assert sum(1 for _ in frames) == len(want)
