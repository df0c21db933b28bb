"""RTP streams: the observer on real captures against ``tshark -z rtp,streams``, and crafted
streams whose loss, order and jitter are known."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from itertools import pairwise
from pathlib import Path

import pytest
from click.testing import CliRunner

import sipsniff.cli.stats  # noqa: F401  (registers the command)
from sipsniff.analysis.rtp import RtpObserver, RtpStream, rtp_streams
from sipsniff.cli.common import cli
from sipsniff.model import Endpoint, Payload, Trace
from sipsniff.pipeline import read_trace
from tests.analysis.crafted import trace_of

RTP_CAPTURES = [
    "sip-rtp-g711.pcap",
    "rtp_conversacion.pcap",
    "SIP_CALL_RTP_G711",
    "SIP_DTMF2.cap",
    "voip-extension.pcap",
    "voip-extension2downata.pcap",
    "sip-rtp-opus-hybrid.pcap",
    "Asterisk_ZFONE_XLITE.pcap",
    "gprshome-wireshark_sip.pcap",
    "h263-over-rtp.pcap",
    "sip-2phones-B2BUA-Asterisk.pcapng",
    "sip_ipv4_tcp.pcap",
    "gtp-iphone.pcap",
    "private-test-sip.pcapng",
]

_ROW = re.compile(
    r"^\s*\S+\s+\S+\s+(\S+)\s+(\d+)\s+(\S+)\s+(\d+)\s+0x([0-9A-F]+)\s+(.*?)\s+(\d+)\s+(-?\d+) "
    r"\(-?[\d.]+%\)" + r"\s+(-?[\d.]+)" * 6 + r"\s*X?\s*$"
)


def tshark_streams(path: Path) -> dict[tuple[str, int, str, int, int], tuple[float, ...]]:
    """``tshark -2 -q -z rtp,streams``: (src, sport, dst, dport, ssrc) -> (packets, lost, min,
    mean, max delta, min, mean, max jitter). Two passes: in one, tshark leaves out a stream whose
    only packet it met before the SDP's second mention (sip-2phones-B2BUA-Asterisk.pcapng)."""
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    out = subprocess.run(
        ["tshark", "-n", "-2", "-q", "-r", str(path), "-z", "rtp,streams"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = {}
    for line in out.splitlines():
        m = _ROW.match(line)
        if m is None:
            continue
        g = m.groups()
        key = (g[0], int(g[1]), g[2], int(g[3]), int(g[4], 16))
        rows[key] = (float(g[6]), float(g[7]), *(float(x) for x in g[8:]))
    assert rows or "RTP Streams" in out
    return rows


def _figures(s: RtpStream) -> tuple[float, ...]:
    undefined = -1.0
    return (
        s.packets,
        s.lost,
        undefined if s.min_delta is None else s.min_delta,
        s.mean_delta,
        s.max_delta,
        undefined if s.min_jitter is None else s.min_jitter,
        s.mean_jitter,
        s.max_jitter,
    )


@pytest.mark.parametrize("name", RTP_CAPTURES)
def test_streams_like_tshark(corpus: Path, name: str) -> None:
    """Same streams, same packets and loss, same min/mean/max delta and jitter (to the printed
    0.001 ms; two values land on the other side of a rounding tie, hence one unit of slack).
    SIP_CALL_RTP_G711 has one stream more in tshark: MGCP's SDP (frames 2945-2946) set it up,
    and sipsniff reads only SIP's."""
    path = corpus / name
    theirs = tshark_streams(path)
    observer = RtpObserver()
    trace = read_trace([str(path)], media=[observer])
    ours = {
        (s.src.ip, s.src.port, s.dst.ip, s.dst.port, s.ssrc): s
        for s in rtp_streams(observer, trace)
    }
    if name == "SIP_CALL_RTP_G711":
        mgcp = ("200.57.7.202", 30000, "200.57.7.196", 40362, 0x2E3D)
        assert mgcp in theirs and mgcp not in ours
        del theirs[mgcp]
    assert set(ours) == set(theirs)
    for key, s in ours.items():
        mine = _figures(s)
        assert mine[:2] == theirs[key][:2], key
        for a, b in zip(mine[2:], theirs[key][2:], strict=True):
            assert math.isclose(round(a, 3), b, abs_tol=0.0011), (key, mine, theirs[key])


def test_stats_rtp_json(corpus: Path) -> None:
    r = CliRunner().invoke(
        cli,
        ["stats", str(corpus / "rtp_conversacion.pcap"), "--rtp", "-f", "json"],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    streams = json.loads(r.stdout)["rtp_streams"]
    assert [(s["src"], s["dst"], s["packets"], s["codec"]) for s in streams] == [
        ("192.168.1.78:14970", "192.168.1.64:35112", 1159, "PCMU"),
        ("192.168.1.64:35112", "192.168.1.78:14970", 1151, "PCMU"),
    ]
    assert streams[0]["jitter_ms"]["max"] == 5.106
    assert all(s["dialog"] == 1 and s["lost"] == 0 for s in streams)
    text = CliRunner().invoke(cli, ["stats", str(corpus / "rtp_conversacion.pcap"), "--rtp"])
    assert "RTP streams  2 announced by SDP" in text.stdout


# -- crafted streams ---------------------------------------------------------------------------

A = Endpoint("192.0.2.1", 5060)
B = Endpoint("192.0.2.2", 5060)
MEDIA_A = Endpoint("192.0.2.1", 4000)
MEDIA_B = Endpoint("192.0.2.2", 6000)
T0 = 1_700_000_000_000_000_000


def call_with_sdp() -> Trace:
    body = "v=0\no=- 1 1 IN IP4 192.0.2.2\ns=-\nc=IN IP4 192.0.2.2\nt=0 0\n"
    body += "m=audio 6000 RTP/AVP 0 101\na=rtpmap:101 telephone-event/8000\n"
    wire = body.replace("\n", "\r\n")
    invite = (
        "INVITE sip:bob@192.0.2.2 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKr1\n"
        "From: <sip:alice@example>;tag=a\nTo: <sip:bob@example>\nCall-ID: rtp1\nCSeq: 1 INVITE\n"
        f"Content-Type: application/sdp\nContent-Length: {len(wire)}\n\n{body}"
    )
    return trace_of((A, B, invite))


def rtp(seq: int, ts: int, *, pt: int = 0, marker: bool = False, ssrc: int = 0x1234) -> bytes:
    return (
        bytes([0x80, (0x80 if marker else 0) | pt])
        + seq.to_bytes(2, "big")
        + ts.to_bytes(4, "big")
        + ssrc.to_bytes(4, "big")
        + b"\xff" * 160
    )


def feed(packets: list[tuple[int, bytes]], frame0: int = 10) -> RtpObserver:
    obs = RtpObserver()
    for i, (arrival_ms, data) in enumerate(packets):
        obs(Payload(frame0 + i, T0 + arrival_ms * 1_000_000, MEDIA_A, MEDIA_B, "udp", data))
    return obs


def only(obs: RtpObserver) -> RtpStream:
    (stream,) = rtp_streams(obs, call_with_sdp())
    return stream


def test_loss_reordering_and_wrap() -> None:
    seqs = [65533, 65534, 65535, 1, 0, 2, 4, 5]  # 0 late, 3 lost, wraps at 65535
    obs = feed([(20 * i, rtp(s, 160 * i)) for i, s in enumerate(seqs)])
    s = only(obs)
    assert s.packets == 8
    assert s.lost == 1
    assert s.out_of_order == 1
    assert s.sequence_errors >= 2
    assert (s.codec, s.clock, s.dialog) == ("PCMU", 8000, 1)


def test_jitter_is_rfc3550() -> None:
    """Arrivals 20 ms apart but for one packet 5 ms late: J follows J += (|D| - J) / 16, which the
    test computes on its own."""
    arrivals = [0, 20, 45, 60, 80, 100]
    obs = feed([(t, rtp(i, 160 * i)) for i, t in enumerate(arrivals)])
    s = only(obs)
    j = 0.0
    jitters = []
    for prev, cur in pairwise(arrivals):
        d = abs((cur - prev) - 20)
        j += (d - j) / 16
        jitters.append(j)
    assert math.isclose(s.max_jitter, max(jitters))
    # the mean over the N - 1 estimates (Wireshark's "Mean Jitter")
    assert math.isclose(s.mean_jitter, sum(jitters) / len(jitters))
    assert (s.min_delta, s.max_delta) == (15.0, 25.0)


def test_marker_comfort_noise_and_events_are_left_out() -> None:
    packets = [
        (0, rtp(0, 0)),
        (20, rtp(1, 160)),
        (140, rtp(2, 1120, marker=True)),  # a talk spurt after silence: its delta not counted
        (160, rtp(3, 1280, pt=13)),  # comfort noise
        (500, rtp(4, 4000)),  # follows CN: not counted either
        (520, rtp(5, 4160, pt=101)),  # telephone-event: no clock, no jitter
        (540, rtp(6, 4320)),
    ]
    s = only(feed(packets))
    assert s.max_delta == 20.0
    assert s.packets == 7 and s.lost == 0


def test_what_is_not_rtp() -> None:
    obs = RtpObserver()
    pkt = Payload(1, T0, MEDIA_A, MEDIA_B, "udp", rtp(0, 0))
    obs(pkt._replace(data=b"\x80\x00\x00"))  # too short
    obs(pkt._replace(data=b"\x40" + rtp(0, 0)[1:]))  # version 1
    obs(pkt._replace(data=b"\x80\xc8" + rtp(0, 0)[2:]))  # RTCP sender report (200)
    obs(pkt._replace(transport="tcp"))
    assert obs.streams == {}
    # a stream no SDP announced is left out
    other = Payload(
        2, T0, Endpoint("198.51.100.1", 7000), Endpoint("198.51.100.2", 7002), "udp", rtp(0, 0)
    )
    obs(other)
    assert len(obs.streams) == 1
    assert rtp_streams(obs, call_with_sdp()) == []
