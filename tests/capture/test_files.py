"""The capture file reader, checked against tshark and against captures built byte by byte here.

Captures made in the tests are written with ``struct`` (both byte orders, every pcapng packet block)
and, where tshark is installed, read by tshark too, so the expected values are tshark's and the
hand-made files are known to be valid.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import struct
import subprocess
import sys
import types
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipsniff.capture import inputs
from sipsniff.capture.files import CaptureReader, read_frames
from sipsniff.errors import CaptureError, ExitStatus, UsageError
from sipsniff.model import Frame
from sipsniff.pipeline import read_trace
from tests.builders import unplaced
from tests.conftest import CAPTURES, CORPUS, need

LINKTYPES = {"ether": 1, "null": 0, "linux-sll": 113, "rawip": 101, "rawip4": 228}
"""capinfos' link type names in manifest.tsv -> LINKTYPE_* values."""
NETMON = "c07-sip-r2.cap"
"""The corpus' Microsoft Network Monitor 2.x capture (capture/netmon.py)."""


# -- tshark as the oracle ------------------------------------------------------------------------
def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


def _epoch_ns(text: str) -> int:
    if not text:
        return 0  # a record without a timestamp (simple packet block)
    sec, _, frac = text.partition(".")
    return int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])


def tshark_frames(path: Path) -> list[tuple[int, int, int, int]]:
    """(frame.number, ts_ns, frame.len, frame.cap_len) of every frame, as tshark reads them."""
    out = subprocess.run(
        [
            _tool("tshark"),
            "-n",
            "-r",
            str(path),
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            "frame.time_epoch",
            "-e",
            "frame.len",
            "-e",
            "frame.cap_len",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    rows = []
    for line in out.splitlines():
        number, ts, length, caplen = line.split("\t")
        rows.append((int(number), _epoch_ns(ts), int(length), int(caplen)))
    return rows


def ours(frames: Iterable[Frame]) -> list[tuple[int, int, int, int]]:
    return [(f.number, f.ts_ns, f.orig_len, len(f.data)) for f in frames]


def read(path: Path | str) -> tuple[CaptureReader, list[Frame]]:
    """The reader and its frames, their places in the file checked and taken off."""
    with CaptureReader(str(path)) as r:
        frames = list(r)
    if str(path) == "-":  # standard input: no place in a file
        assert {f.offset for f in frames} <= {-1}
        return r, frames
    return r, unplaced(path, frames)


# -- writing captures ----------------------------------------------------------------------------
PCAP_MAGIC = {False: 0xA1B2C3D4, True: 0xA1B23C4D}


def pcap(
    records: Sequence[tuple[int, int, bytes]],
    *,
    order: str = "<",
    nano: bool = False,
    linktype: int = 1,
    orig_extra: int = 0,
) -> bytes:
    """A pcap file of (seconds, fraction, data) records."""
    out = [struct.pack(order + "IHHiIII", PCAP_MAGIC[nano], 2, 4, 0, 0, 65535, linktype)]
    for sec, frac, data in records:
        out.append(struct.pack(order + "IIII", sec, frac, len(data), len(data) + orig_extra))
        out.append(data)
    return b"".join(out)


def _pad(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def block(btype: int, body: bytes, order: str = "<") -> bytes:
    body = _pad(body)
    n = 12 + len(body)
    return struct.pack(order + "II", btype, n) + body + struct.pack(order + "I", n)


def option(code: int, value: bytes, order: str = "<") -> bytes:
    return struct.pack(order + "HH", code, len(value)) + _pad(value)


def shb(order: str = "<") -> bytes:
    return block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1), order)


def idb(
    linktype: int,
    *,
    snaplen: int = 0,
    tsresol: int | None = None,
    tsoffset: int | None = None,
    order: str = "<",
) -> bytes:
    opts = b""
    if tsresol is not None:
        opts += option(9, bytes([tsresol]), order)
    if tsoffset is not None:
        opts += option(14, struct.pack(order + "q", tsoffset), order)
    if opts:
        opts += option(0, b"", order)
    return block(1, struct.pack(order + "HHI", linktype, 0, snaplen) + opts, order)


def epb(iface: int, ticks: int, data: bytes, orig: int | None = None, order: str = "<") -> bytes:
    orig = len(data) if orig is None else orig
    head = struct.pack(order + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), orig)
    return block(6, head + data, order)


def pb(iface: int, ticks: int, data: bytes, order: str = "<") -> bytes:
    head = struct.pack(
        order + "HHIIII", iface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)
    )
    return block(2, head + data, order)


def spb(data: bytes, orig: int | None = None, order: str = "<") -> bytes:
    return block(3, struct.pack(order + "I", len(data) if orig is None else orig) + data, order)


def packet(i: int, size: int = 60) -> bytes:
    """Distinct bytes for packet ``i``, so a test can tell frames apart by their data."""
    return bytes((i + k) & 0xFF for k in range(size))


T0 = 1_700_000_000
"""2023-11-14, a time every pcap field can hold."""


# -- the public corpus ---------------------------------------------------------------------------
def _manifest() -> list[list[str]]:
    path = CORPUS / "manifest.tsv"
    if not path.exists():
        return []
    return [line.split("\t") for line in path.read_text().splitlines()[1:] if line]


MANIFEST = _manifest()


@pytest.mark.parametrize("row", MANIFEST or [["absent"]], ids=lambda r: r[0])
def test_corpus_file_reads_as_manifest_says(corpus: Path, row: list[str]) -> None:
    name, _sha, _size, fmt, linktype, packets = row[:6]
    reader, frames = read(corpus / name)
    assert len(frames) == int(packets)
    assert reader.info.frames == int(packets)
    assert reader.info.format == fmt
    assert reader.info.linktypes == (LINKTYPES[linktype],)
    assert reader.info.warnings == []
    assert [f.number for f in frames] == list(range(1, len(frames) + 1))
    assert {f.linktype for f in frames} == {LINKTYPES[linktype]}
    assert {f.file for f in frames} == {0}


@pytest.mark.tools
@pytest.mark.parametrize("row", MANIFEST or [["absent"]], ids=lambda r: r[0])
def test_corpus_timestamps_and_lengths_equal_tshark(corpus: Path, row: list[str]) -> None:
    path = corpus / row[0]
    _, frames = read(path)
    expected = tshark_frames(path)
    assert len(expected) == int(row[5])
    assert ours(frames) == expected  # every frame: first and last timestamps and all between


def test_corpus_first_and_last_timestamps(corpus: Path) -> None:
    # Hard-coded from tshark -T fields -e frame.time_epoch, for when tshark is not installed.
    cases = {
        "aaa.pcap": (1120469540839312000, 1120471107427770000),
        "branch-scenario-sipp.pcapng": (1479419555303348707, 1479419688603277042),
        "fuzz-2006-06-26-2594.pcap": (1120469540839312000, 1120471107427770000),  # big-endian
        "sip_ipv6_udp.pcap": (1328589362251758000, 3867576602251758000),  # 2092: > 2**31 s
    }
    for name, (first, last) in cases.items():
        _, frames = read(need(corpus / name))
        assert (frames[0].ts_ns, frames[-1].ts_ns) == (first, last), name


def test_corpus_resolutions_and_byte_orders(corpus: Path) -> None:
    big_endian, _ = read(need(corpus / "fuzz-2006-06-26-2594.pcap"))
    assert big_endian.info.format == "pcap"
    ns, _ = read(need(corpus / "branch-scenario-sipp.pcapng"))  # if_tsresol 9
    assert ns.info.resolution == 9
    assert ns.skipped_blocks == {5: 1}  # one interface statistics block, legal and unused
    us, _ = read(need(corpus / "private-test-sip.pcapng"))  # if_tsresol 6
    assert us.info.resolution == 6
    sll, frames = read(need(corpus / "T38.pcap"))
    assert sll.info.linktypes == (113,)
    assert frames[0].data[:2] == b"\x00\x00"  # SLL packet type "to us"


def test_netmon_capture_frames_and_times(corpus: Path) -> None:
    """c07: NetMon 2.0 on Ethernet; its frame table lists 39 records, the first SIP one 4.621 s
    after the header's start (2005-07-17 15:39:20.502, a SYSTEMTIME taken as UTC)."""
    reader, frames = read(need(corpus / NETMON))
    assert (reader.info.format, reader.info.linktypes, reader.info.resolution) == (
        "netmon2",
        (1,),
        6,
    )
    assert len(frames) == reader.info.frames == 39
    assert frames[2].ts_ns == 1_121_614_765_123_000_000
    assert frames[2].data[12:14] == b"\x08\x00"  # an Ethernet frame of IPv4


@pytest.mark.tools
@pytest.mark.parametrize("fmt", ["netmon1", "netmon2"])
def test_netmon_written_by_editcap_reads_as_the_pcap(tmp_path: Path, fmt: str) -> None:
    """editcap writes NetMon 1.x (millisecond deltas) and 2.x (microseconds): the same frames."""
    source = CAPTURES / "calls-lossy.pcap"
    out = tmp_path / f"{fmt}.cap"
    subprocess.run([_tool("editcap"), "-F", fmt, str(source), str(out)], check=True)
    reader, frames = read(out)
    _, want = read(source)
    assert reader.info.format == fmt
    assert [(f.number, f.data, f.orig_len) for f in frames] == [
        (f.number, f.data, f.orig_len) for f in want
    ]
    tick = 1_000_000 if fmt == "netmon1" else 1000  # editcap rounds to the format's unit
    assert all(abs(a.ts_ns - b.ts_ns) < tick for a, b in zip(frames, want, strict=True))
    assert ours(frames) == tshark_frames(out)


def test_netmon_damage_is_one_line_or_a_warning(tmp_path: Path, corpus: Path) -> None:
    data = need(corpus / NETMON).read_bytes()
    cut = tmp_path / "cut.cap"
    cut.write_bytes(data[:4000])  # the frame table is at the end: gone
    with pytest.raises(CaptureError, match="frame table is damaged") as e:
        CaptureReader(str(cut))
    assert e.value.exit_status == ExitStatus.INPUT_UNREADABLE
    table = int.from_bytes(data[0x18:0x1C], "little")  # the frame table's offset
    holed = bytearray(data)
    holed[table + 4 * 10 : table + 4 * 11] = (len(data) + 100).to_bytes(4, "little")
    path = tmp_path / "holed.cap"
    path.write_bytes(bytes(holed))
    reader, frames = read(path)
    assert len(frames) == 10
    assert reader.info.warnings == [
        f"{path}: frame 11 lies past the end of the file (offset {len(data) + 100}); "
        "10 frames read before it"
    ]


# -- pcap variants -------------------------------------------------------------------------------
RECORDS = [(T0, 1, packet(1)), (T0, 999_999, packet(2, 100)), (T0 + 5, 0, packet(3, 14))]


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_pcap_both_byte_orders_and_resolutions(tmp_path: Path, order: str, nano: bool) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(pcap(RECORDS, order=order, nano=nano, linktype=113, orig_extra=4))
    reader, frames = read(path)
    tick = 1 if nano else 1000
    assert frames == [
        Frame(1, T0 * 10**9 + 1 * tick, 113, packet(1), 64, 0),
        Frame(2, T0 * 10**9 + 999_999 * tick, 113, packet(2, 100), 104, 0),
        Frame(3, (T0 + 5) * 10**9, 113, packet(3, 14), 18, 0),
    ]
    assert reader.info.format == ("pcap-ns" if nano else "pcap")
    assert reader.info.resolution == (9 if nano else 6)
    assert reader.info.linktypes == (113,)
    if shutil.which("tshark"):
        assert ours(frames) == tshark_frames(path)


def test_pcap_link_type_upper_bits_are_masked(tmp_path: Path) -> None:
    path = tmp_path / "fcs.pcap"
    path.write_bytes(pcap(RECORDS, linktype=0x0400_0000 | 1))  # the "F" bit of the FCS field
    reader, frames = read(path)
    assert reader.info.linktypes == (1,)
    assert frames[0].linktype == 1


def test_pcap_header_only_has_no_frames(tmp_path: Path) -> None:
    path = tmp_path / "none.pcap"
    path.write_bytes(pcap([]))
    reader, frames = read(path)
    assert frames == []
    assert reader.info.frames == 0
    assert reader.info.warnings == []


@pytest.mark.tools
def test_nanosecond_pcap_from_editcap(corpus: Path, tmp_path: Path) -> None:
    src = need(corpus / "branch-scenario-sipp.pcapng")
    out = tmp_path / "ns.pcap"
    subprocess.run([_tool("editcap"), "-F", "nsecpcap", str(src), str(out)], check=True)
    assert out.read_bytes()[:4] == b"\x4d\x3c\xb2\xa1"
    reader, frames = read(out)
    assert reader.info.format == "pcap-ns"
    assert reader.info.resolution == 9
    assert len(frames) == 8989
    assert frames[0].ts_ns == 1479419555303348707  # nanoseconds kept
    _, original = read(src)
    assert ours(frames) == ours(original)
    assert [f.data for f in frames] == [f.data for f in original]
    assert ours(frames) == tshark_frames(out)


# -- pcapng --------------------------------------------------------------------------------------
def _two_interfaces() -> bytes:
    """Ethernet in microseconds, raw IP in nanoseconds, SLL in 2^-20 s with an offset of 100 s."""
    return b"".join(
        [
            shb(),
            idb(1, snaplen=65535),
            idb(101, tsresol=9),
            idb(113, tsresol=0x80 | 20, tsoffset=100),
            block(4, b"\x00\x00\x00\x00"),  # name resolution block, empty
            epb(0, T0 * 10**6 + 1, packet(1)),
            epb(1, T0 * 10**9 + 123_456_789, packet(2, 40), orig=1500),
            block(0x40000BAD, b"\x00\x00\x7e\xd9data"),  # a custom block: numbered, not a frame
            block(0x1234, b"????"),  # an unknown block type: legal, skipped
            epb(2, (T0 - 100) * 2**20 + 3, packet(3, 33)),
            pb(0, T0 * 10**6 + 2_000_001, packet(4, 20)),
            block(5, struct.pack("<IIIH", 0, 0, 0, 0)),  # interface statistics block
        ]
    )


def test_pcapng_interfaces_of_different_link_types_and_resolutions(tmp_path: Path) -> None:
    path = tmp_path / "two.pcapng"
    path.write_bytes(_two_interfaces())
    reader, frames = read(path)
    # 3 * 10**9 // 2**20 = 2861 ns (floored, as Wireshark does)
    assert frames == [
        Frame(1, T0 * 10**9 + 1000, 1, packet(1), 60, 0),
        Frame(2, T0 * 10**9 + 123_456_789, 101, packet(2, 40), 1500, 0),
        Frame(4, T0 * 10**9 + 2861, 113, packet(3, 33), 33, 0),
        Frame(5, T0 * 10**9 + 2_000_001_000, 1, packet(4, 20), 20, 0),
    ]
    info = reader.info
    assert (info.format, info.linktypes, info.resolution, info.frames) == (
        "pcapng",
        (1, 101, 113),
        9,
        4,
    )
    assert info.warnings == []
    assert reader.skipped_blocks == {4: 1, 0x40000BAD: 1, 0x1234: 1, 5: 1}


@pytest.mark.tools
def test_pcapng_built_here_is_read_by_tshark_alike(tmp_path: Path) -> None:
    path = tmp_path / "two.pcapng"
    path.write_bytes(_two_interfaces())
    _, frames = read(path)
    theirs = tshark_frames(path)
    numbers = {f.number for f in frames}
    assert ours(frames) == [t for t in theirs if t[0] in numbers]
    assert [t[0] for t in theirs if t[0] not in numbers] == [3]  # tshark lists the custom block


def _two_sections() -> bytes:
    """A little-endian section then a big-endian one, each with its own interfaces."""
    return b"".join(
        [
            shb("<"),
            idb(1, order="<"),
            epb(0, T0 * 10**6, packet(1), order="<"),
            shb(">"),
            idb(228, tsresol=3, order=">"),
            idb(1, tsresol=9, order=">"),
            epb(1, T0 * 10**9 + 7, packet(2), order=">"),
            epb(0, T0 * 10**3 + 1, packet(3), order=">"),
        ]
    )


def test_pcapng_sections_in_both_byte_orders(tmp_path: Path) -> None:
    path = tmp_path / "sections.pcapng"
    path.write_bytes(_two_sections())
    reader, frames = read(path)
    assert [(f.number, f.ts_ns, f.linktype, f.data) for f in frames] == [
        (1, T0 * 10**9, 1, packet(1)),
        (2, T0 * 10**9 + 7, 1, packet(2)),  # interface 1 of the second section
        (3, T0 * 10**9 + 1_000_000, 228, packet(3)),
    ]
    assert reader.info.linktypes == (1, 228)
    assert reader.info.resolution == 9
    if shutil.which("tshark"):
        assert ours(frames) == tshark_frames(path)


def test_pcapng_simple_packet_blocks(tmp_path: Path) -> None:
    path = tmp_path / "spb.pcapng"
    path.write_bytes(
        shb()
        + idb(1, snaplen=50)
        + spb(packet(1, 40))
        + epb(0, T0 * 10**6 + 5, packet(2, 50))
        + spb(packet(3, 50), orig=200)  # cut to the interface's snaplen
    )
    reader, frames = read(path)
    # No timestamp in a simple packet block: 0 before any packet, else the time of the one before.
    assert [(f.number, f.ts_ns, f.data, f.orig_len) for f in frames] == [
        (1, 0, packet(1, 40), 40),
        (2, T0 * 10**9 + 5000, packet(2, 50), 50),
        (3, T0 * 10**9 + 5000, packet(3, 50), 200),
    ]
    assert reader.info.resolution == 6
    if shutil.which("tshark"):
        # tshark gives these frames no time: compare the rest
        assert [(f[0], f[2], f[3]) for f in ours(frames)] == [
            (f[0], f[2], f[3]) for f in tshark_frames(path)
        ]


def test_pcapng_resolution_is_the_finest_interface(tmp_path: Path) -> None:
    path = tmp_path / "ms.pcapng"
    path.write_bytes(shb() + idb(1, tsresol=3) + idb(1, tsresol=0x80 | 20) + epb(0, 5, b"x"))
    reader, frames = read(path)
    assert frames[0].ts_ns == 5_000_000
    assert reader.info.resolution == 7  # 2^-20 s is just under a microsecond


# -- gzip and standard input ---------------------------------------------------------------------
def test_gzip_pcap_and_pcapng_detected_by_magic(tmp_path: Path) -> None:
    plain = pcap(RECORDS)
    a = tmp_path / "capture.txt"  # the name does not matter
    a.write_bytes(gzip.compress(plain))
    b = tmp_path / "capture.pcapng.gz"
    b.write_bytes(gzip.compress(_two_interfaces()))
    ra, fa = read(a)
    rb, fb = read(b)
    assert ra.info.format == "pcap+gzip"
    assert rb.info.format == "pcapng+gzip"
    assert [f.data for f in fa] == [r[2] for r in RECORDS]
    assert len(fb) == 4
    assert rb.info.linktypes == (1, 101, 113)
    assert ra.info.warnings == rb.info.warnings == []


def test_gzip_of_corpus_files(corpus: Path, tmp_path: Path) -> None:
    for name, count in [("aaa.pcap", 691), ("sip-2phones-B2BUA-Asterisk.pcapng", 416)]:
        src = need(corpus / name)
        gz = tmp_path / (name + ".gz")
        gz.write_bytes(gzip.compress(src.read_bytes()))
        reader, frames = read(gz)
        _, plain = read(src)
        with CaptureReader(str(gz)) as r:  # no place in the file: it is compressed
            assert {f.offset for f in r} == {-1}
        with CaptureReader(str(src)) as r:
            assert all(f.offset > 0 for f in r)
        assert len(frames) == count
        assert frames == plain
        assert reader.info.format.endswith("+gzip")


def test_gzip_of_several_members_reads_like_zcat(tmp_path: Path) -> None:
    data = pcap(RECORDS)
    path = tmp_path / "multi.gz"
    path.write_bytes(gzip.compress(data[:30]) + gzip.compress(data[30:]) + b"\0" * 8)
    reader, frames = read(path)
    assert len(frames) == 3
    assert reader.info.warnings == []


def test_gzip_cut_short_keeps_what_came_before(tmp_path: Path) -> None:
    records = [(T0 + i, 0, os.urandom(200)) for i in range(2000)]  # incompressible
    packed = gzip.compress(pcap(records))
    path = tmp_path / "cut.pcap.gz"
    path.write_bytes(packed[: len(packed) // 2])
    reader, frames = read(path)
    assert 0 < len(frames) < 2000
    assert [f.data for f in frames] == [r[2] for r in records[: len(frames)]]
    assert len(reader.info.warnings) == 2
    assert reader.info.warnings[0].startswith(f"{path}: the gzip data is cut short after ")
    assert reader.info.warnings[1].startswith(f"{path}: last record (frame {len(frames) + 1})")


class _Stdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)


def test_stdin_pcap_and_gzip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", _Stdin(pcap(RECORDS, order=">")))
    reader, frames = read("-")
    assert reader.info.path == "-"
    assert reader.info.format == "pcap"
    assert [f.data for f in frames] == [r[2] for r in RECORDS]
    monkeypatch.setattr(sys, "stdin", _Stdin(gzip.compress(_two_interfaces())))
    reader, frames = read("-")
    assert reader.info.format == "pcapng+gzip"
    assert len(frames) == 4


def test_stdin_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", _Stdin(b""))
    with pytest.raises(CaptureError, match=r"^standard input is empty$"):
        CaptureReader("-")
    with pytest.raises(UsageError, match="only once"):
        read_frames(["-", "-"])


# -- several files -------------------------------------------------------------------------------
def test_merge_in_time_order_ties_keep_file_order(tmp_path: Path) -> None:
    a = tmp_path / "a.pcap"
    b = tmp_path / "b.pcapng"
    a.write_bytes(pcap([(T0, 0, b"a1"), (T0 + 2, 0, b"a2"), (T0 + 4, 0, b"a3")]))
    b.write_bytes(
        shb()
        + idb(101, tsresol=0)  # seconds
        + epb(0, T0 + 1, b"b1")
        + epb(0, T0 + 2, b"b2")  # the same time as a2: a2 comes first
        + epb(0, T0 + 9, b"b3")
    )
    infos, frames = read_frames([str(a), str(b)])
    assert [i.path for i in infos] == [str(a), str(b)]
    got = [(f.data, f.file, f.number) for f in frames]
    assert got == [
        (b"a1", 0, 1),
        (b"b1", 1, 1),
        (b"a2", 0, 2),
        (b"b2", 1, 2),
        (b"a3", 0, 3),
        (b"b3", 1, 3),
    ]
    assert [(i.frames, i.format, i.linktypes, i.resolution) for i in infos] == [
        (3, "pcap", (1,), 6),
        (3, "pcapng", (101,), 0),
    ]
    # Ties keep file order the other way round too.
    _, frames = read_frames([str(b), str(a)])
    assert [f.data for f in frames][2:4] == [b"b2", b"a2"]


def test_timestamps_going_backwards_are_kept(tmp_path: Path) -> None:
    a = tmp_path / "a.pcap"
    a.write_bytes(pcap([(T0 + 5, 0, b"a1"), (T0 + 1, 0, b"a2")]))
    b = tmp_path / "b.pcap"
    b.write_bytes(pcap([(T0 + 3, 0, b"b1")]))
    infos, frames = read_frames([str(a), str(b)])
    assert [f.data for f in frames] == [b"b1", b"a1", b"a2"]  # a's own order is kept
    assert infos[0].warnings == []


def test_merge_of_corpus_files(corpus: Path) -> None:
    a = str(need(corpus / "sip-register-wrong_password-401-403-401-403.pcapng"))
    b = str(need(corpus / "sip-register-publish-subscribe-489-401.pcapng"))  # the same morning
    infos, frames = read_frames([a, b])
    got = list(frames)
    assert len(got) == 8 + 60
    assert [f.ts_ns for f in got] == sorted(f.ts_ns for f in got)
    assert sorted((f.file, f.number) for f in got) == [(0, n) for n in range(1, 9)] + [
        (1, n) for n in range(1, 61)
    ]
    assert [i.frames for i in infos] == [8, 60]


def test_read_frames_raises_for_a_bad_input_before_anything(tmp_path: Path) -> None:
    good = tmp_path / "good.pcap"
    good.write_bytes(pcap(RECORDS))
    missing = tmp_path / "missing.pcap"
    with pytest.raises(CaptureError, match=f"^no such file: {missing}$"):
        read_frames([str(good), str(missing)])
    infos, frames = read_frames([])
    assert infos == []
    assert list(frames) == []


def test_single_file_iterator_closes_the_reader(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(pcap(RECORDS))
    infos, frames = read_frames([str(path)])
    assert next(frames).number == 1
    assert isinstance(frames, types.GeneratorType)
    frames.close()  # e.g. the consumer stops early
    assert infos[0].frames == 1  # what had been read when it stopped


def test_reader_close_stops_iteration_and_iterates_again(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(pcap(RECORDS))
    reader = CaptureReader(str(path))
    assert list(reader) == list(reader)
    assert reader.info.frames == 3
    it = iter(reader)
    next(it)
    reader.close()
    assert list(it) == []
    reader.close()  # twice is fine


# -- damage --------------------------------------------------------------------------------------
def test_truncated_last_record_keeps_the_rest(tmp_path: Path) -> None:
    data = pcap(RECORDS)  # records of 16 + 60, 16 + 100, 16 + 14 bytes
    path = tmp_path / "capture.pcap"
    path.write_bytes(data[:-10])
    reader, frames = read(path)
    assert [f.number for f in frames] == [1, 2]
    assert reader.info.frames == 2
    assert reader.info.warnings == [
        f"{path}: last record (frame 3) is cut short: 20 of 30 bytes; 2 frames read before it"
    ]
    path.write_bytes(data[: 24 + 76 + 7])
    reader, frames = read(path)
    assert len(frames) == 1
    assert reader.info.warnings == [
        f"{path}: last record (frame 2) is cut short: 7 of its 16 header bytes; "
        "1 frame read before it"
    ]


@pytest.mark.tools
def test_truncated_corpus_file_reads_as_far_as_tshark(corpus: Path, tmp_path: Path) -> None:
    for name in ["aaa.pcap", "sip-2phones-B2BUA-Asterisk.pcapng"]:
        data = need(corpus / name).read_bytes()
        cut = tmp_path / name
        cut.write_bytes(data[: len(data) * 2 // 3])
        reader, frames = read(cut)
        expected = tshark_frames(cut)  # tshark prints what came before and complains
        assert ours(frames) == expected
        assert len(reader.info.warnings) == 1
        assert f"(frame {len(expected) + 1}) is cut short" in reader.info.warnings[0]


def test_absurd_record_length_stops_reading(tmp_path: Path) -> None:
    data = bytearray(pcap(RECORDS))
    struct.pack_into("<I", data, 24 + 76 + 8, 0x7FFF_FFFF)  # caplen of frame 2
    path = tmp_path / "bad.pcap"
    path.write_bytes(data)
    reader, frames = read(path)
    assert len(frames) == 1
    assert reader.info.warnings == [
        f"{path}: record of frame 2 claims 2147483647 bytes, more than 256 MiB: the file is "
        "damaged there; 1 frame read before it"
    ]


def _pcapng_damage(tmp_path: Path, data: bytes) -> tuple[list[Frame], list[str], Path]:
    path = tmp_path / "d.pcapng"
    path.write_bytes(data)
    reader, frames = read(path)
    return frames, reader.info.warnings, path


def test_pcapng_damage(tmp_path: Path) -> None:
    head = shb() + idb(1)
    one = epb(0, T0 * 10**6, packet(1))  # 60 bytes of data: a 92-byte block
    start = len(head) + len(one)
    # cut short
    frames, warnings, p = _pcapng_damage(tmp_path, head + one + one[:50])
    assert len(frames) == 1
    assert warnings == [
        f"{p}: last block (frame 2) is cut short: 50 of 92 bytes; 1 frame read before it"
    ]
    # a length that is no multiple of 4
    bad = bytearray(one)
    struct.pack_into("<I", bad, 4, 90)
    frames, warnings, p = _pcapng_damage(tmp_path, head + one + bytes(bad) + one)
    assert len(frames) == 1
    assert warnings == [
        f"{p}: block (frame 2) at offset {start} has a bad length (90): the file is damaged "
        "there; 1 frame read before it"
    ]
    # lengths at the start and end that differ
    bad = bytearray(one)
    struct.pack_into("<I", bad, len(bad) - 4, 96)
    frames, warnings, p = _pcapng_damage(tmp_path, head + one + bytes(bad))
    assert warnings == [
        f"{p}: block (frame 2) at offset {start} has different lengths at its start (92) and "
        "end (96): the file is damaged there; 1 frame read before it"
    ]
    # a packet longer than its block
    bad = bytearray(one)
    struct.pack_into("<I", bad, 20, 61)
    frames, warnings, p = _pcapng_damage(tmp_path, head + one + bytes(bad))
    assert warnings == [
        f"{p}: block (frame 2) at offset {start} holds 61 bytes of packet in a 92-byte block: "
        "the file is damaged there; 1 frame read before it"
    ]
    # an interface that was never described
    frames, warnings, p = _pcapng_damage(tmp_path, head + one + epb(1, 0, b"x"))
    assert warnings == [
        f"{p}: frame 2 names interface 1, but its section describes only 1: the file is "
        "damaged there; 1 frame read before it"
    ]
    # a few stray bytes after the last block
    frames, warnings, p = _pcapng_damage(tmp_path, head + one + b"\0" * 8)
    assert len(frames) == 1
    assert warnings == [
        f"{p}: 8 stray bytes at the end, too few for a pcapng block; 1 frame read before it"
    ]
    # an interface block cut short
    frames, warnings, p = _pcapng_damage(tmp_path, head + one + idb(1)[:16])
    assert warnings == [
        f"{p}: last interface description block is cut short: 16 of 20 bytes; "
        "1 frame read before it"
    ]


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 300), min_size=1, max_size=8),
    order=st.sampled_from("<>"),
    nano=st.booleans(),
    cut=st.integers(0, 10_000),
)
def test_any_cut_keeps_a_prefix_and_warns_unless_on_a_boundary(
    sizes: list[int], order: str, nano: bool, cut: int
) -> None:
    records = [(T0 + i, i, packet(i, size)) for i, size in enumerate(sizes)]
    data = pcap(records, order=order, nano=nano)
    cut = 24 + cut % (len(data) - 24 + 1)  # anywhere after the file header
    boundaries = {24}
    for size in sizes:
        boundaries.add(max(boundaries) + 16 + size)
    with _from_bytes(data[:cut]) as reader:
        frames = list(reader)
    assert [f.data for f in frames] == [r[2] for r in records[: len(frames)]]
    assert [f.number for f in frames] == list(range(1, len(frames) + 1))
    assert (reader.info.warnings == []) == (cut in boundaries)


def _from_bytes(data: bytes) -> CaptureReader:
    """A reader of ``data`` through standard input, without touching the real one."""
    saved = sys.stdin
    sys.stdin = _Stdin(data)
    try:
        return CaptureReader("-")
    finally:
        sys.stdin = saved


# -- errors --------------------------------------------------------------------------------------
def _error(path: Path | str) -> str:
    with pytest.raises(CaptureError) as e:
        CaptureReader(str(path))
    message = str(e.value)
    assert "\n" not in message
    return message


def test_missing_directory_empty(tmp_path: Path) -> None:
    assert _error(tmp_path / "nope.pcap") == f"no such file: {tmp_path / 'nope.pcap'}"
    assert _error(tmp_path) == f"{tmp_path} is a directory, not a capture file"
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    assert _error(empty) == f"{empty} is empty"


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.pcap"
    path.write_bytes(pcap(RECORDS))
    if os.geteuid() != 0:  # root reads anything: then only the stand-in below shows the message
        path.chmod(0)
        assert _error(path) == f"cannot read {path}: permission denied"
        path.chmod(0o600)

    def refuse(file: str, mode: str = "r") -> io.BufferedReader:
        raise PermissionError(13, "Permission denied", file)

    monkeypatch.setattr(inputs, "open", refuse, raising=False)
    assert _error(path) == f"cannot read {path}: permission denied"


def test_too_short(tmp_path: Path) -> None:
    path = tmp_path / "short"
    path.write_bytes(pcap([])[:10])
    assert _error(path) == (
        f"{path} is too short to be a capture: 10 bytes, and a pcap file header alone takes 24"
    )
    path.write_bytes(shb()[:20])
    assert _error(path) == (
        f"{path} is too short to be a capture: 20 bytes, and a pcapng section header alone takes 28"
    )
    path.write_bytes(b"\x00\x01\x02")
    assert _error(path) == f"{path} is too short to be a capture: 3 bytes"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"RTSS\x00\x01" + bytes(60),
            "{p} is a Microsoft Network Monitor 1.x capture cut short: 66 bytes, and its file "
            "header alone takes 128",
        ),
        (
            b"GMBU\x00\x02" + bytes(60),
            "{p} is a Microsoft Network Monitor 2.x capture cut short: 66 bytes, and its file "
            "header alone takes 128",
        ),
        (b"snoop\x00\x00\x00" + bytes(60), "{p} is a Sun snoop capture, {convert}"),
        (
            struct.pack("<I", 0xA1B2CD34) + bytes(60),
            "{p} is a modified (Kuznetzov) pcap capture, {convert}",
        ),
        (
            b"PK\x03\x04" + bytes(60),
            "{p} is a zip archive, not pcap or pcapng; extract the capture first with: unzip {p}",
        ),
        (
            b"\xfd7zXZ\x00" + bytes(60),
            "{p} is an xz-compressed file, not pcap or pcapng; decompress it first with: "
            "xz -dk {p}",
        ),
        (b"1\t0.000000\t10.0.0.1 -> 10.0.0.2 SIP INVITE\n", "{p} looks like text, not a capture"),
        (
            b"<!DOCTYPE html>\n<html>",
            "{p} is an HTML page, not a capture (a web page saved instead of the file?)",
        ),
        (
            b"version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 12\n",
            "{p} is a Git LFS pointer, not the capture itself; fetch it with: git lfs pull",
        ),
        (
            b"\x00\x01\x02\x03\x04" + bytes(60),
            "{p} is not a pcap or pcapng capture (it starts with bytes 00 01 02 03)",
        ),
        (
            struct.pack("<IHHiIII", 0xA1B2C3D4, 1, 0, 0, 0, 65535, 1),
            "{p} is a pcap file of version 1.0, which cannot be read (only 2.x can)",
        ),
        (
            block(0x0A0D0D0A, struct.pack("<IHHq", 0x12345678, 1, 0, -1)),
            "{p} starts like pcapng but its section header is damaged (no byte-order magic): "
            "it cannot be read",
        ),
        (
            block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 2, 0, -1)),
            "{p} is a pcapng file of version 2.0, which cannot be read (only 1.x can)",
        ),
    ],
    ids=lambda v: v[:8].hex() if isinstance(v, bytes) else "",
)
def test_not_a_capture(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "input.cap"
    path.write_bytes(content)
    convert = f"not pcap or pcapng; convert it with: editcap -F pcap {path} out.pcap"
    assert _error(path) == message.format(p=path, convert=convert)


def test_gzip_that_holds_no_capture(tmp_path: Path) -> None:
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(b"INVITE sip:bob@example.com SIP/2.0\r\n"))
    assert _error(path) == f"{path} is gzip-compressed text, not a capture"
    path.write_bytes(gzip.compress(b"snoop\x00\x00\x00" + bytes(60)))
    assert _error(path) == (
        f"{path} is gzip-compressed, and inside is a Sun snoop capture, "
        f"not pcap or pcapng; convert it with: editcap -F pcap {path} out.pcap"
    )
    path.write_bytes(gzip.compress(bytes(range(200))))
    assert _error(path) == (
        f"{path} is gzip-compressed but holds no pcap or pcapng capture "
        "(its content starts with bytes 00 01 02 03)"
    )
    path.write_bytes(gzip.compress(b""))
    assert _error(path) == f"{path} is an empty gzip file"
    path.write_bytes(b"\x1f\x8b\x08\x00" + bytes(6) + b"\xff" * 40)
    assert _error(path) == f"{path} is a damaged gzip file (invalid block type)"
    path.write_bytes(gzip.compress(pcap(RECORDS))[:10])
    assert _error(path) == f"{path} is a gzip file cut short before any of its data"


def test_paths_with_spaces_are_quoted_in_commands(tmp_path: Path) -> None:
    path = tmp_path / "my capture.cap"
    path.write_bytes(b"snoop\x00\x00\x00" + bytes(60))
    assert _error(path).endswith(f"convert it with: editcap -F pcap '{path}' out.pcap")


@pytest.mark.parametrize("fmt", ["snoop", "ngsniffer", "5views", "visual"])
def test_other_formats_wireshark_reads_go_through_editcap(tmp_path: Path, fmt: str) -> None:
    """Sun snoop, Sniffer, 5Views, Visual Networks...: editcap (installed with tshark) turns them
    into pcapng on the fly, with a notice; the messages are those of the original pcap."""
    editcap = _tool("editcap")
    source = CAPTURES / "invite-call.pcap"
    out = tmp_path / f"call.{fmt}"
    subprocess.run([editcap, "-F", fmt, str(source), str(out)], check=True)
    assert not out.read_bytes().startswith((b"\xd4\xc3\xb2\xa1", b"\x0a\x0d\x0d\x0a"))

    def messages(path: Path) -> list[tuple[str, str, str, int]]:
        trace = read_trace([str(path)])
        return [
            (str(e.msg.src), e.msg.method or str(e.msg.status), e.msg.call_id, e.msg.ts_ns // 10**6)
            for e in trace.entries.values()
        ]

    assert messages(out) == messages(source)
    with CaptureReader(str(out)) as reader:
        assert reader.info.format == "pcapng+editcap"
        assert reader.info.notices == [
            f"{out} is {_WHAT.get(fmt, _OTHER)}: read through editcap, converted to pcapng"
        ]
        assert reader.info.warnings == []
    # gzip-compressed, and on standard input: editcap reads a file of the bytes at hand
    gz = tmp_path / f"call.{fmt}.gz"
    gz.write_bytes(gzip.compress(out.read_bytes()))
    assert messages(gz) == messages(source)
    done = subprocess.run(
        [sys.executable, "-m", "sipsniff", "read", "-", "-f", "csv"],
        input=gz.read_bytes(),
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert b"read through editcap" in done.stderr and b"INVITE" in done.stdout


_WHAT = {"snoop": "a Sun snoop capture", "ngsniffer": "a Network General Sniffer capture"}
_OTHER = "a capture format sipsniff does not read itself"


def test_without_editcap_the_error_says_how_to_convert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    editcap = _tool("editcap")
    out = tmp_path / "call.snoop"
    subprocess.run(
        [editcap, "-F", "snoop", str(CAPTURES / "invite-call.pcap"), str(out)], check=True
    )
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert _error(out) == (
        f"{out} is a Sun snoop capture, not pcap or pcapng; "
        f"convert it with: editcap -F pcap {out} out.pcap"
    )


def _mapped_rss_kb(path: Path) -> int:
    """Resident kB of this process's mappings of ``path`` (``/proc/self/smaps``)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and len(head) >= 5 and ":" in head[3]:  # a mapping's first line
                inside = len(head) >= 6 and head[5] == str(path)
            elif inside and head[0] == "Rss:":
                total += int(head[1])
    return total


@pytest.mark.skipif(
    not os.path.exists("/proc/self/smaps"),
    reason="Linux's /proc: the test reads its mappings there",
)
def test_a_large_file_read_does_not_stay_resident(tmp_path: Path) -> None:
    """The file is mapped; the pages read are given back to the system as the reading goes
    (``_RELEASE_STEP``), so a capture of any size costs the reading process a few MB of memory,
    not its size."""
    path = tmp_path / "large.pcap"
    record = struct.pack("<IIII", 1, 0, 1000, 1000) + b"\x00" * 1000
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        f.write(record * (48 * 1024 * 1024 // len(record)))  # 48 MiB
    _, frames = read_frames([str(path)])
    peak = 0
    for i, _frame in enumerate(frames):
        if not i % 2000:
            peak = max(peak, _mapped_rss_kb(path))
    assert 0 < peak <= 12 * 1024, f"{peak} kB of the file resident at once"
