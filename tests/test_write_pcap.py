"""``sipsniff read --write-pcap``: the frames of the chosen dialogs, checked against tshark.

The oracle is tshark's own reassembly of the original capture (PDML): for each SIP message, the
frame that completes it and every TCP segment / IP fragment tshark used to rebuild it. Written
captures are read back by tshark and must hold exactly the chosen dialogs' messages, in order,
in exactly those frames (same count, same timestamps).
"""

from __future__ import annotations

import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from scapy.layers.inet import IP, TCP
from scapy.layers.inet import fragment as _fragment
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from sipsniff.analysis.frames import message_frames
from sipsniff.cli import cli
from sipsniff.model import Endpoint, Frame, Payload
from sipsniff.pipeline import Pipeline, read_trace
from sipsniff.sip.framing import StreamFramer
from tests.conftest import CAPTURES, CORPUS, need
from tests.tools import tshark_messages

SIP_6060 = ("-d", "tcp.port==6060,sip")
fragment: Callable[..., list[Any]] = _fragment  # scapy is untyped


def frame_times(path: Path) -> list[str]:
    args = ["tshark", "-n", "-r", str(path), "-T", "fields", "-e", "frame.time_epoch"]
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout.split()


def write(capture: Path, out: Path, *args: str) -> str:
    result = CliRunner().invoke(
        cli, ["read", str(capture), "--list", "--write-pcap", str(out), *args]
    )
    assert result.exit_code == 0, result.output
    return result.output


def check_dialog(capture: Path, call_id: str, tmp_path: Path, extra: tuple[str, ...] = ()) -> int:
    """Write one Call-ID's frames; tshark must find exactly its messages in exactly its frames."""
    want = [m for m in tshark_messages(capture, extra) if m.call_id == call_id]
    assert want, call_id
    frames = sorted({f for m in want for f in m.frames})
    out = tmp_path / "out.pcap"
    write(capture, out, "--call-id", call_id)
    got = tshark_messages(out, extra)
    assert [(m.label, m.call_id, m.cseq) for m in got] == [
        (m.label, m.call_id, m.cseq) for m in want
    ]
    original = frame_times(capture)
    assert frame_times(out) == [original[f - 1] for f in frames]
    return len(frames)


def test_one_call_of_two_on_one_tcp_connection(tmp_path: Path) -> None:
    capture = need(CAPTURES / "invite-call-tcp.pcap")
    call_ids = sorted({m.call_id for m in tshark_messages(capture)})
    assert len(call_ids) == 2
    for cid in call_ids:
        assert check_dialog(capture, cid, tmp_path) == 6


def test_messages_spanning_segments(tmp_path: Path) -> None:
    capture = need(CORPUS / "sip_ipv4_tcp_fragmented.pcap")
    seen = tshark_messages(capture, SIP_6060)
    assert len(seen) == 406
    # the dialog with the most messages that span segments, and two more
    spanning: dict[str, int] = {}
    for m in seen:
        spanning[m.call_id] = spanning.get(m.call_id, 0) + (len(m.frames) > 1)
    chosen = sorted(spanning, key=lambda c: (-spanning[c], c))[:3]
    assert spanning[chosen[0]] >= 3
    for cid in chosen:
        check_dialog(capture, cid, tmp_path, SIP_6060)


@pytest.mark.parametrize("name", ["video_call.pcap", "gprshome-wireshark_sip.pcap"])
def test_udp_messages_in_ip_fragments(name: str, tmp_path: Path) -> None:
    capture = need(CORPUS / name)
    seen = tshark_messages(capture)
    fragmented = [m for m in seen if len(m.frames) > 1]
    assert fragmented, "the capture should hold fragmented SIP"
    for cid in sorted({m.call_id for m in fragmented}):
        check_dialog(capture, cid, tmp_path)


def test_payload_frames_name_every_segment() -> None:
    capture = need(CORPUS / "sip_ipv4_tcp_fragmented.pcap")
    want = {(m.frame, m.label, m.cseq): m.frames for m in tshark_messages(capture, SIP_6060)}
    trace = read_trace([str(capture)])
    got = {
        (e.msg.frame, e.msg.label.split()[0], e.msg.cseq): tuple(
            n for _, n in message_frames(e.msg)
        )
        for e in trace.entries.values()
    }
    assert got == want


def test_with_rtp_adds_the_negotiated_streams(tmp_path: Path) -> None:
    capture = need(CORPUS / "sip-rtp-g711.pcap")
    out = tmp_path / "rtp.pcap"

    def streams(path: Path) -> dict[str, list[str]]:
        """SSRC -> addresses, ports, payload, packets and loss, as tshark lists them."""
        args = ["tshark", "-n", "-r", str(path), "-q", "-z", "rtp,streams"]
        text = subprocess.run(args, capture_output=True, text=True, check=True).stdout
        rows = [line.split() for line in text.splitlines() if line.strip()[:1].isdigit()]
        return {r[6]: r[2:6] + r[7:10] for r in rows}

    everything = streams(capture)
    assert len(everything) == 2
    got = {}
    for dialog in (1, 2):
        write(capture, out, "--dialog", str(dialog), "--with-rtp")
        got[dialog] = streams(out)
        # the SIP messages are there too, and only this dialog's
        assert len({m.call_id for m in tshark_messages(out)}) == 1
    # dialog 1 negotiated PCMU (then BYE), dialog 2 PCMA and is still in the call at the end:
    # each gets its own stream whole (same packets, no loss), not the other's
    assert got == {
        1: {"0x343DA99B": everything["0x343DA99B"]},
        2: {"0x343FFA34": everything["0x343FFA34"]},
    }
    assert everything["0x343DA99B"][4] == "g711U"


def test_without_write_pcap_with_rtp_is_refused(tmp_path: Path) -> None:
    capture = need(CAPTURES / "invite-call.pcap")
    result = CliRunner().invoke(cli, ["read", str(capture), "--with-rtp"])
    assert result.exit_code != 0
    assert "--with-rtp goes with --write-pcap" in result.output


def test_several_link_types_make_pcapng(tmp_path: Path) -> None:
    udp = need(CAPTURES / "invite-call.pcap")
    cooked = tmp_path / "cooked.pcap"
    # the same capture as Linux cooked (SLL): 16-byte header instead of Ethernet's 14
    raw = udp.read_bytes()
    head, body = bytearray(raw[:24]), raw[24:]
    assert struct.unpack_from("<I", head, 20)[0] == 1
    struct.pack_into("<I", head, 20, 113)
    recs = bytearray(head)
    pos = 0
    while pos < len(body):
        sec, frac, caplen, orig = struct.unpack_from("<IIII", body, pos)
        data = body[pos + 16 : pos + 16 + caplen]
        sll = b"\x00\x00\x03\x04\x00\x06" + data[6:12] + b"\x00\x00" + data[12:14]
        recs += struct.pack("<IIII", sec + 3600, frac, caplen + 2, orig + 2) + sll + data[14:]
        pos += 16 + caplen
    cooked.write_bytes(bytes(recs))
    out = tmp_path / "both.pcapng"
    result = CliRunner().invoke(
        cli, ["read", str(udp), str(cooked), "--list", "--write-pcap", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "(pcapng)" in result.output
    assert out.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    seen = tshark_messages(out)
    once = tshark_messages(udp)
    assert [(m.label, m.cseq) for m in seen] == [(m.label, m.cseq) for m in once] * 2
    encaps = subprocess.run(
        ["tshark", "-n", "-r", str(out), "-T", "fields", "-e", "frame.encap_type"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert set(encaps) == {"1", "25"}  # Ethernet and Linux cooked


def test_tcp_segment_in_ip_fragments_names_every_fragment() -> None:
    body = b"v=0\r\n" + b"a=x-filler:" + b"x" * 2000 + b"\r\n"
    invite = (
        b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK1\r\n"
        b"From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: frag-1\r\n"
        b"CSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    seg = IP(src="192.0.2.1", dst="192.0.2.2", id=7) / TCP(
        sport=5060, dport=5060, flags="PA", seq=1000
    )
    frames = [bytes(Ether() / f) for f in fragment(seg / Raw(invite), fragsize=800)]
    assert len(frames) == 3
    pipe = Pipeline()
    for n, data in enumerate(frames, 1):
        pipe.feed(Frame(n, 1_700_000_000_000_000_000 + n, 1, data, len(data)))
    pipe.finish()
    (entry,) = pipe.trace().entries.values()
    assert (entry.msg.method, entry.msg.frame) == ("INVITE", 3)
    assert message_frames(entry.msg) == ((0, 1), (0, 2), (0, 3))


def _msg(n: int, body: bytes = b"") -> bytes:
    return (
        f"OPTIONS sip:{n}@example.com SIP/2.0\r\nCall-ID: c{n}\r\nCSeq: {n} OPTIONS\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


@pytest.mark.parametrize("size", [1, 7, 50, 97, 160, 1000])
def test_framer_names_every_piece_of_each_message(size: int) -> None:
    """Pieces of ``size`` bytes, one frame each: each message's frames are exactly the pieces
    that overlap its byte range, also where one piece ends a message and starts the next."""
    messages = [_msg(1), _msg(2, b"x" * 120), _msg(3)]
    stream = b"".join(messages)
    framer = StreamFramer()
    out: list[tuple[bytes, Payload]] = []
    a, b = Endpoint("192.0.2.1", 5060), Endpoint("192.0.2.2", 5060)
    for i in range(0, len(stream), size):
        n = i // size + 1
        out += framer.feed(Payload(n, n, a, b, "tcp", stream[i : i + size], stream=True))
    assert [m for m, _ in out] == messages
    start = 0
    for msg, origin in out:
        end = start + len(msg)
        want = tuple(range(start // size + 1, (end - 1) // size + 2))
        assert (origin.frames or (origin.frame,)) == want
        assert origin.frame == want[-1]
        start = end
