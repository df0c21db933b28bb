"""The ``pcap`` capture backend's libpcap binding (``sipsniff.capture.libpcap``) reading files with
``pcap_open_offline``: BSD loopback (DLT_NULL) captures of every address family that systems write
(2; IPv6 as Windows 23, NetBSD/OpenBSD 24, FreeBSD 28, macOS 30), in both byte orders, give the
same frames, nanoseconds included, and the same messages as sipsniff's own reader; the filters
libpcap compiles for them keep what they should."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.packet import Raw

from sipsniff.capture import libpcap
from sipsniff.capture.files import read_frames
from sipsniff.errors import CaptureError, UsageError
from sipsniff.model import Frame
from sipsniff.pipeline import Session, read_trace
from tests.builders import sip, unplaced

FAMILIES = {2: 4, 23: 6, 24: 6, 28: 6, 30: 6}
"""DLT_NULL family word -> IP version."""
T0 = 1_700_000_000_123_456_789
"""A first timestamp with nanoseconds."""


def need_libpcap() -> None:
    try:
        libpcap.library()
    except CaptureError as exc:
        pytest.skip(str(exc))


def null_capture(path: Path, family: int, order: str) -> list[bytes]:
    """A nanosecond pcap of link type NULL: an OPTIONS and its 200 OK; the frames written."""
    version = FAMILIES[family]
    a, b = ("10.0.0.1", "10.0.0.2") if version == 4 else ("2001:db8::1", "2001:db8::2")
    net = IP if version == 4 else IPv6
    cid = f"null-{family}-{order}"
    messages = [
        (a, b, sip("OPTIONS sip:bob@example.com SIP/2.0", cid, "1 OPTIONS")),
        (b, a, sip("SIP/2.0 200 OK", cid, "1 OPTIONS", tag=";tag=b1")),
    ]
    frames = [
        family.to_bytes(4, "little" if order == "<" else "big")
        + bytes(net(src=s, dst=d) / UDP(sport=5060, dport=5060) / Raw(m))
        for s, d, m in messages
    ]
    out = [struct.pack(order + "IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 0)]
    for i, f in enumerate(frames):
        ts = T0 + i * 1_000_001
        out.append(struct.pack(order + "IIII", ts // 10**9, ts % 10**9, len(f), len(f)) + f)
    path.write_bytes(b"".join(out))
    return frames


def libpcap_frames(path: Path, expression: str | None = None) -> list[Frame]:
    handle = libpcap.open_offline(str(path))
    try:
        assert handle.nano and handle.linktype == 0
        if expression is not None:
            handle.set_filter(expression)
        packets, end = handle.next_packets(1000)
        assert end or handle.next_packets(1000) == ([], True)
    finally:
        handle.close()
    return [Frame(n, ts, 0, data, length) for n, (ts, length, data) in enumerate(packets, 1)]


CASES = [(f, o) for f in FAMILIES for o in ("<", ">")]


@pytest.mark.parametrize(("family", "order"), CASES, ids=str)
def test_null_captures_of_every_family_read_by_libpcap(
    tmp_path: Path, family: int, order: str
) -> None:
    need_libpcap()
    path = tmp_path / "null.pcap"
    written = null_capture(path, family, order)
    frames = libpcap_frames(path)
    assert [f.data for f in frames] == written
    assert [f.ts_ns for f in frames] == [T0, T0 + 1_000_001]
    _, ours = read_frames([str(path)])
    assert frames == unplaced(path, list(ours))
    session = Session()
    for f in frames:
        session.feed(f)
    session.finish()
    got = session.trace()
    assert [(e.msg.method or e.msg.status) for e in got.entries.values()] == ["OPTIONS", 200]
    assert got.entries == read_trace([str(path)]).entries
    assert len(got.dialogs) == 1


@pytest.mark.parametrize(("family", "order"), [(2, "<"), (30, "<"), (24, ">")], ids=str)
def test_libpcap_filters_null_captures(tmp_path: Path, family: int, order: str) -> None:
    """The expression is compiled for the capture's link type: the family word is read in the
    byte order of the file (libpcap swaps what it must)."""
    need_libpcap()
    path = tmp_path / "null.pcap"
    null_capture(path, family, order)
    assert len(libpcap_frames(path, "udp port 5060")) == 2
    assert libpcap_frames(path, "udp port 5061") == []
    version = "ip" if FAMILIES[family] == 4 else "ip6"
    assert len(libpcap_frames(path, version)) == 2


def test_a_bad_filter_and_a_bad_file_are_one_line(tmp_path: Path) -> None:
    need_libpcap()
    path = tmp_path / "null.pcap"
    null_capture(path, 2, "<")
    handle = libpcap.open_offline(str(path))
    try:
        with pytest.raises(UsageError, match=r"^bad capture filter 'udp prt': .*syntax error"):
            handle.set_filter("udp prt")
    finally:
        handle.close()
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"not a capture at all")
    with pytest.raises(CaptureError, match=r"^libpcap cannot read .*junk\.pcap: "):
        libpcap.open_offline(str(junk))


def test_compiled_filters_are_bpf_for_the_link_type() -> None:
    need_libpcap()
    # Ethernet: load the ethertype (offset 12) first; NULL: the family word (offset 0).
    assert libpcap.compile_filter("ip", 1, 65535)[0] == (0x28, 0, 0, 12)
    assert libpcap.compile_filter("ip", 0, 65535)[0] == (0x20, 0, 0, 0)
    with pytest.raises(UsageError, match=r"^bad capture filter 'ip and': "):
        libpcap.compile_filter("ip and", 1, 65535)
