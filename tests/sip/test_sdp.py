"""SDP bodies: every SDP of the public corpus against tshark's dissection, crafted bodies for what
the corpus lacks (SDES keys, direction overrides, rejected streams, multipart), and the ladder's
one-line label."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsniff.errors import SipsniffError
from sipsniff.model import Endpoint, Message, Payload
from sipsniff.pipeline import read_trace
from sipsniff.sip.headers import header_value
from sipsniff.sip.parser import parse_message
from sipsniff.sip.sdp import (
    _SDP_LINE,
    _sdp_lines,
    has_sdp,
    media_summary,
    parse_sdp,
    sdp_flags,
    sdp_of,
)
from tests.conftest import CAPTURES

SDP_CAPTURES = [
    "Asterisk_ZFONE_XLITE.pcap",
    "DTMFsipinfo.pcap",
    "FAX-Call-t38-CA-TDM-SIP-FB-1.pcap",
    "MSCML.pcap",
    "SIP_CALL_RTP_G711",
    "SIP_DTMF2.cap",
    "T38.pcap",
    "aaa.pcap",
    "erspan_sip_ipv4_udp.pcapng",
    "gprshome-wireshark_sip.pcap",
    "gtp-iphone.pcap",
    "h263-over-rtp.pcap",
    "ipip.pcap",
    "ipv6frag.pcap",
    "private-test-sip.pcapng",
    "rtp_conversacion.pcap",
    "sip-2phones-B2BUA-Asterisk.pcapng",
    "sip-488-Not-Acceptable-Here-codec-null.pcapng",
    "sip-rtp-g711.pcap",
    "sip-rtp-opus-hybrid.pcap",
    "sip_ipv4_tcp.pcap",
    "sip_ipv6_udp.pcap",
    "sip_sctp.pcap",
    "sip_tcp_websocket.pcap",
    "video_call.pcap",
    "voip-extension.pcap",
    "voip-extension2downata.pcap",
    "wireuploaded.pcap",
]


def tshark_sdp(path: Path) -> dict[int, tuple[list[str], list[str], list[str]]]:
    """frame -> (m= lines, c= addresses, rtpmap encoding names) as tshark dissects them."""
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    fields = ["frame.number", "sdp.media", "sdp.connection_info.address", "sdp.mime.type"]
    args = ["tshark", "-n", "-r", str(path), "-Y", "sip && sdp", "-T", "fields"]
    args += ["-E", "occurrence=a", "-E", "aggregator=|"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(
        args,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = {}
    for line in out.splitlines():
        frame, media, addresses, mimes = line.split("\t")
        result[int(frame)] = (_split(media), _split(addresses), _split(mimes))
    return result


def _split(value: str) -> list[str]:
    return [x for x in value.split("|") if x]


@pytest.mark.parametrize("name", SDP_CAPTURES)
def test_every_sdp_of_the_corpus_like_tshark(corpus: Path, name: str) -> None:
    path = corpus / name
    theirs = tshark_sdp(path)
    trace = read_trace([str(path)])
    ours = {}
    for e in trace.entries.values():
        sdp = sdp_of(e.msg)
        if sdp is not None:
            ours[e.msg.frame] = sdp
            # tshark dissects a body as SDP only when Content-Type says so; sipsniff also takes
            # a body without Content-Type that starts with v= (sip_ipv6_udp.pcap's 200 OK)
            if header_value(e.msg.raw, "Content-Type") is None:
                assert e.msg.frame not in theirs
                del ours[e.msg.frame]
    assert set(ours) == set(theirs)
    for frame, sdp in ours.items():
        lines, addresses, mimes = theirs[frame]
        assert [
            " ".join([m.kind, _port(m.port, m.port_count), m.proto, *m.formats]) for m in sdp.media
        ] == lines, frame
        ours_addresses = ([sdp.address] if sdp.address else []) + [
            m.address for m in sdp.media if m.address and m.address != sdp.address
        ]
        assert set(ours_addresses) == set(addresses), frame
        # dynamic payload types are named by a=rtpmap only (tshark also lists rtpmap lines of
        # types the m= line does not carry, which sipsniff leaves out)
        dynamic = {c.name for m in sdp.media for c in m.codecs if c.pt >= 96 and c.name}
        assert dynamic <= set(mimes), frame
        assert not sdp.problems, (frame, sdp.problems)


def _port(port: int, count: int) -> str:
    return f"{port}/{count}" if count != 1 else str(port)


def test_summaries_of_real_calls(corpus: Path) -> None:
    def labels(path: Path) -> list[str | None]:
        trace = read_trace([str(path)])
        return [s for e in trace.entries.values() if (s := media_summary(e.msg)) is not None]

    assert labels(CAPTURES / "invite-call.pcap") == [
        "PCMU · 127.0.0.1:6004",
        "PCMU · 127.0.0.1:6000",
    ]
    assert labels(corpus / "sip-rtp-g711.pcap")[:2] == [
        "PCMU · 10.0.2.20:6000 (recvonly)",
        "PCMU telephone-event · 10.0.2.15:27942 (sendonly)",
    ]
    t38 = labels(corpus / "T38.pcap")
    assert t38[0] == "G729 telephone-event · 84.44.107.78:10964"
    assert "T.38 · 212.15.13.21:46012" in t38
    video = labels(corpus / "video_call.pcap")
    assert video[-1] == (
        "opus speex PCMU PCMA telephone-event · 192.168.1.210:7078 "
        "+ VP8 · 192.168.1.210:9078 (video)"
    )
    # WebRTC: DTLS-SRTP (UDP/TLS/RTP/SAVPF with a fingerprint)
    assert labels(corpus / "sip_tcp_websocket.pcap")[0].endswith("(SRTP)")  # type: ignore[union-attr]
    # multipart/mixed SDP + ISUP (SIP-I)
    assert labels(corpus / "sip_sctp.pcap") == ["PCMA CN telephone-event · 10.249.30.145:38060"]
    ipv6 = labels(corpus / "gtp-iphone.pcap")
    assert ipv6[1] == "AMR telephone-event · [fd01::183]:19956"


def message(body: str, content_type: str = "application/sdp") -> Message:
    wire = body.replace("\n", "\r\n")
    raw = (
        "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
        "From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: x\r\n"
        f"CSeq: 1 INVITE\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(wire.encode())}\r\n\r\n{wire}"
    ).encode()
    pkt = Payload(1, 0, Endpoint("192.0.2.1", 5060), Endpoint("192.0.2.2", 5060), "udp", raw)
    msg = parse_message(raw, pkt)
    assert isinstance(msg, Message)
    return msg


OFFER = """v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=-
c=IN IP4 192.0.2.10
t=0 0
a=sendonly
m=audio 49170 RTP/SAVP 0 8 97 101
a=rtpmap:97 iLBC/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:30
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32
m=video 51372 RTP/AVP 96
c=IN IP6 2001:db8::2
a=rtpmap:96 H264/90000
a=fmtp:96 profile-level-id=42e01f
a=recvonly
m=audio 0 RTP/AVP 0
"""


def test_a_crafted_offer() -> None:
    sdp = parse_sdp(OFFER)
    assert sdp is not None and sdp.problems == ()
    audio, video, rejected = sdp.media
    assert [(c.pt, c.name, c.clock) for c in audio.codecs] == [
        (0, "PCMU", 8000),
        (8, "PCMA", 8000),
        (97, "iLBC", 8000),
        (101, "telephone-event", 8000),
    ]
    assert audio.codec(101) is not None and audio.codec(101).fmtp == "0-15"  # type: ignore[union-attr]
    assert (audio.address, audio.direction, audio.ptime) == ("192.0.2.10", "sendonly", 30)
    assert audio.crypto and audio.secure and not audio.fingerprint
    assert (video.address, video.direction, video.secure) == ("2001:db8::2", "recvonly", False)
    assert video.codecs[0].fmtp == "profile-level-id=42e01f"
    assert rejected.port == 0
    assert media_summary(message(OFFER)) == (
        "PCMU PCMA iLBC telephone-event · 192.0.2.10:49170 (sendonly, SRTP) "
        "+ H264 · [2001:db8::2]:51372 (video, recvonly)"
    )


def test_multipart_rejected_and_lenient() -> None:
    body = (
        "--b1\nContent-Type: application/isup\n\n\x01\x02\n--b1\n"
        "Content-Type: application/sdp\n\nv=0\nc=IN IP4 192.0.2.7\nm=audio 0 RTP/AVP 0\n"
        "--b1--\n"
    )
    msg = message(body, 'multipart/mixed;boundary="b1"')
    sdp = sdp_of(msg)
    assert sdp is not None and sdp.media[0].port == 0
    assert media_summary(msg) == "media rejected"
    odd = parse_sdp("v=0\nthis is not sdp\nc=IN\nm=audio x RTP/AVP 0\na=rtpmap:zz\n")
    assert odd is not None
    assert len(odd.problems) == 4
    assert parse_sdp("hello") is None
    assert sdp_of(message("")) is None
    assert media_summary(message("v=0\ns=-\n")) == "no media"
    # no Content-Type, yet the body is SDP
    assert sdp_of(message(OFFER, "application/SDP")) is not None


@given(st.text(max_size=300))
def test_parse_never_raises(text: str) -> None:
    parse_sdp("v=0\n" + text)
    parse_sdp(text)


# -- the SDP flag of many messages at once -------------------------------------------------------


def _flags(msgs: list[Message]) -> list[bool]:
    return sdp_flags(msgs, b"".join([b"\n", b"\n".join(m.raw for m in msgs)]).lower())


def test_sdp_flags_as_has_sdp_on_every_capture(corpus: Path) -> None:
    """The flags of a whole capture's messages at once (the HTML page's chunks) are ``has_sdp``
    of each, on every capture of the corpus, of captures/ and of the scenarios."""
    paths = [*sorted(corpus.iterdir()), *sorted(CAPTURES.rglob("*.pcap*"))]
    checked = flagged = 0
    for path in paths:
        if not path.is_file() or path.suffix not in (".pcap", ".pcapng", ".cap", ""):
            continue
        try:
            trace = read_trace([str(path)])
        except SipsniffError:  # not a capture sipsniff reads: nothing to compare
            continue
        msgs = [e.msg for e in trace.entries.values()]
        expected = [has_sdp(m) for m in msgs]
        assert _flags(msgs) == expected, path.name
        checked += len(msgs)
        flagged += sum(expected)
    assert checked > 10_000 and 1_000 < flagged < checked


_LINES = st.sampled_from(
    [
        "Content-Type: application/sdp",
        "content-type:application/SDP",
        "CONTENT-TYPE :\t Application/Sdp",
        "c: application/sdp",
        "c :application/sdp;charset=x",
        "Content-Type: application/sdpx",
        "Content-Type: application/sdp_x",
        "Content-Type: multipart/mixed;boundary=x",
        "Accept: application/sdp",
        "X-C: application/sdp",
        "cc: application/sdp",
        "Content-Type: text/plain",
        "Subject: c: application/sdp",
    ]
)


@given(
    st.lists(
        st.tuples(
            st.lists(_LINES, max_size=3), st.sampled_from(["", "v=0\r\n", "c: application/sdp\r\n"])
        ),
        min_size=1,
        max_size=6,
    )
)
def test_sdp_flags_as_has_sdp_on_crafted_headers(specs: list[tuple[list[str], str]]) -> None:
    """Header lines that say application/sdp or nearly, in the header section or in the body
    only, with a body or none: the flags of the messages together are ``has_sdp`` of each."""
    msgs = []
    for lines, body in specs:
        head = "".join(f"{line}\r\n" for line in lines)
        raw = (
            "INVITE sip:bob@example.com SIP/2.0\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n"
            f"{head}Content-Length: {len(body)}\r\n\r\n{body}"
        ).encode()
        pkt = Payload(1, 0, Endpoint("192.0.2.1", 5060), Endpoint("192.0.2.2", 5060), "udp", raw)
        msg = parse_message(raw, pkt)
        assert isinstance(msg, Message)
        msgs.append(msg)
    assert _flags(msgs) == [has_sdp(m) for m in msgs]


@given(
    st.lists(
        st.sampled_from(
            [b"\n", b"content-type", b"c", b" ", b"\t", b":", b"x", b"application/sdp", b";"]
        ),
        max_size=16,
    ).map(b"".join)
)
def test_the_lines_tried_are_those_the_pattern_finds(low: bytes) -> None:
    """``_sdp_lines`` tries the pattern only on the lines that hold ``application/sdp`` (once a
    line, however many times it does): the matches are those of a search of every line."""
    found = [(m.start(), m.end()) for m in _sdp_lines(low)]
    assert found == [(m.start(), m.end()) for m in _SDP_LINE.finditer(low)]
