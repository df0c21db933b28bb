"""HEP, the Homer Encapsulation Protocol (also EEP): versions 2 and 3, encoded and decoded, sans-IO.

A HEP packet carries one captured message (for sipsniff: one SIP message) with the addresses, ports,
transport and time it was captured with, and the id of the capture agent that saw it. Agents send
them over UDP or TCP to a collector (HOMER's heplify-server, sngrep ``-L``, ``sipsniff hep``).

HEPv3 (the HEP3 draft, https://github.com/sipcapture/HEP/blob/master/docs/HEP3_Network_Protocol_Specification_REV_36.pdf):
``"HEP3"``, the total length (u16), then chunks: vendor id (u16, 0 = generic), type (u16), length
(u16, the 6-byte chunk header included), value. Every number is in network byte order. The generic
chunks this module knows:

====== ===================================== =======================
type   meaning                               value
====== ===================================== =======================
0x0001 IP family                             u8: 2 IPv4, 10 IPv6
0x0002 IP protocol id                        u8: 17 UDP, 6 TCP, 132 SCTP
0x0003 IPv4 source / 0x0004 destination      4 bytes
0x0005 IPv6 source / 0x0006 destination      16 bytes
0x0007 source port / 0x0008 destination port u16
0x0009 timestamp, seconds                    u32
0x000a timestamp, microseconds               u32
0x000b protocol type                         u8: 1 SIP (5 RTCP, 100 log...)
0x000c capture agent id                      u32
0x000e authentication key                    string
0x000f payload                               bytes
0x0010 compressed payload (zlib)             bytes
0x0011 correlation id                        string (the Call-ID for SIP)
====== ===================================== =======================

Unknown chunks and vendor chunks are stepped over. HEPv2 (and v1, the same without the time) is a
fixed header: version (u8), header length (u8), family (u8), protocol (u8), source and destination
ports (u16, network order), source and destination addresses (4 or 16 bytes each), then for v2 the
time (u32 seconds, u32 microseconds) and the agent id (u16) and 2 bytes of padding, then the
payload. The time and agent id of v2 are written in the *sender's host order* by Kamailio's
sipcapture and sngrep (x86 agents: little-endian); they are read that way here, and big-endian
only when that gives an impossible time.

A packet that is not HEP, or is cut short or otherwise broken, decodes to a reason (a ``str``),
never to an exception: the collector turns it into a ``Skipped`` record.
"""

from __future__ import annotations

import socket
import struct
import zlib
from collections.abc import Sequence
from typing import NamedTuple

from sipsniff.model import Counts, Endpoint, Frame, Message, Payload, Skipped

HEP_PORT = 9060
"""The port HOMER (heplify-server) and most agents use."""
HEP_LEADS = frozenset((b"H", b"\x01", b"\x02"))
"""First bytes of a HEP packet (``HEP3``, version 1 or 2): what is worth ``unwrap_hep``."""

PROTO_SIP = 1
"""HEP protocol type of SIP."""

MAX_HEP = 65535
"""HEPv3's length is a u16: no packet is longer."""

AF_INET = 2
AF_INET6 = 10

_TRANSPORTS = {17: "udp", 6: "tcp", 132: "sctp"}
_IP_PROTOS = {"udp": 17, "tcp": 6, "sctp": 132, "ws": 6, "wss": 6, "tls": 6}

_HDR = struct.Struct(">4sH")
_CHUNK = struct.Struct(">HHH")
_V2_HDR = struct.Struct(">BBBBHH")
_V2_TIME_LE = struct.Struct("<IIH2x")
_V2_TIME_BE = struct.Struct(">IIH2x")
_U8 = struct.Struct(">HHHB")
_U16 = struct.Struct(">HHHH")
_U32 = struct.Struct(">HHHI")

_MAX_PAYLOAD_INFLATED = 1 << 20
"""A compressed payload larger than this once inflated is refused (a zip bomb)."""


class HepPacket(NamedTuple):
    """One decoded HEP packet: what the capture agent saw, where and when."""

    version: int
    """1, 2 or 3."""
    src: Endpoint
    dst: Endpoint
    transport: str
    """``udp``, ``tcp``, ``sctp``, or ``ip<N>`` for another IP protocol id."""
    ts_ns: int
    """Capture time, nanoseconds since the Unix epoch (microsecond resolution); 0 when absent."""
    proto_type: int
    """HEP protocol type: 1 SIP; 0 when absent (v1, v2: they carry only SIP)."""
    agent_id: int
    """Capture agent id; 0 when absent."""
    payload: bytes
    """The captured message (inflated when it came compressed)."""
    auth_key: str | None = None
    """Authentication key (chunk 0x000e); None when absent."""
    correlation_id: str | None = None
    """Correlation id (chunk 0x0011); None when absent."""


# -- encoding -------------------------------------------------------------------------------------


def _chunk(ctype: int, value: bytes) -> bytes:
    return _CHUNK.pack(0, ctype, 6 + len(value)) + value


def _addr(ip: str) -> tuple[int, bytes]:
    """(family, packed address) of a printable IPv4 or IPv6 address; ValueError when neither."""
    try:
        return AF_INET, socket.inet_pton(socket.AF_INET, ip)
    except OSError:
        pass
    try:
        return AF_INET6, socket.inet_pton(socket.AF_INET6, ip)
    except OSError:
        raise ValueError(f"not an IP address: {ip!r}") from None


def encode_hep3(
    src: Endpoint,
    dst: Endpoint,
    payload: bytes,
    *,
    ts_ns: int,
    transport: str = "udp",
    agent_id: int = 0,
    password: str | None = None,
    correlation_id: str | None = None,
    proto_type: int = PROTO_SIP,
) -> bytes:
    """One HEPv3 packet.

    Args:
        src, dst: the captured message's addresses; both IPv4 or both IPv6.
        transport: ``udp``, ``tcp``, ``sctp`` (``ws``, ``wss``, ``tls``: sent as TCP).
        ts_ns: capture time, nanoseconds since the epoch (sent with microsecond resolution).
        agent_id: capture agent id (u32).
        password: the collector's authentication key, when it wants one.
        correlation_id: for SIP, the Call-ID.

    Raises:
        ValueError: an address is not IPv4 or IPv6, the two differ in family, or the packet would
            be longer than 65535 bytes.
    """
    fam, sraw = _addr(src.ip)
    dfam, draw = _addr(dst.ip)
    if fam != dfam:
        raise ValueError(f"source {src.ip} and destination {dst.ip} differ in IP family")
    secs, nsecs = divmod(ts_ns, 1_000_000_000)
    v4 = fam == AF_INET
    parts = [
        _U8.pack(0, 0x0001, 7, fam),
        _U8.pack(0, 0x0002, 7, _IP_PROTOS.get(transport, 17)),
        _chunk(0x0003 if v4 else 0x0005, sraw),
        _chunk(0x0004 if v4 else 0x0006, draw),
        _U16.pack(0, 0x0007, 8, src.port),
        _U16.pack(0, 0x0008, 8, dst.port),
        _U32.pack(0, 0x0009, 10, secs),
        _U32.pack(0, 0x000A, 10, nsecs // 1000),
        _U8.pack(0, 0x000B, 7, proto_type),
        _U32.pack(0, 0x000C, 10, agent_id & 0xFFFFFFFF),
    ]
    if password is not None:
        parts.append(_chunk(0x000E, password.encode("utf-8")))
    parts.append(_chunk(0x000F, payload))
    if correlation_id:
        parts.append(_chunk(0x0011, correlation_id.encode("utf-8")))
    body = b"".join(parts)
    total = 6 + len(body)
    if total > MAX_HEP:
        raise ValueError(f"a HEPv3 packet of {total} bytes is over the 65535 the format allows")
    return _HDR.pack(b"HEP3", total) + body


def encode_message(msg: Message, *, agent_id: int = 0, password: str | None = None) -> bytes:
    """A SIP message as the agent sends it: HEPv3, protocol SIP, the Call-ID as correlation id."""
    return encode_hep3(
        msg.src,
        msg.dst,
        msg.raw,
        ts_ns=msg.ts_ns,
        transport=msg.transport,
        agent_id=agent_id,
        password=password,
        correlation_id=msg.call_id or None,
    )


def encode_hep2(
    src: Endpoint,
    dst: Endpoint,
    payload: bytes,
    *,
    ts_ns: int,
    transport: str = "udp",
    agent_id: int = 0,
    version: int = 2,
) -> bytes:
    """One HEPv2 (or v1) packet, with time and agent id little-endian as x86 agents write them.

    Raises:
        ValueError: as ``encode_hep3``, or an agent id over 65535 (v2 has 16 bits for it).
    """
    fam, sraw = _addr(src.ip)
    dfam, draw = _addr(dst.ip)
    if fam != dfam:
        raise ValueError(f"source {src.ip} and destination {dst.ip} differ in IP family")
    if not 0 <= agent_id <= 0xFFFF:
        raise ValueError(f"agent id {agent_id}: HEPv2 has 16 bits for it")
    hlen = 8 + 2 * len(sraw) + (12 if version == 2 else 0)
    head = _V2_HDR.pack(version, hlen, fam, _IP_PROTOS.get(transport, 17), src.port, dst.port)
    head += sraw + draw
    if version == 2:
        secs, nsecs = divmod(ts_ns, 1_000_000_000)
        head += _V2_TIME_LE.pack(secs, nsecs // 1000, agent_id)
    return head + payload


# -- decoding -------------------------------------------------------------------------------------


def _ntop(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


def looks_like_hep(data: bytes, *, v2: bool = True) -> bool:
    """True when ``data`` starts like a HEP packet: ``HEP3``, or (``v2``) a v1/v2 header whose
    version, length and family agree. Cheap: for deciding what to try ``decode_hep`` on."""
    if data[:4] == b"HEP3":
        return True
    if not v2 or len(data) < 16:
        return False
    version, hlen, fam = data[0], data[1], data[2]
    if fam == AF_INET:
        want = 16 if version == 1 else 28
    elif fam == AF_INET6:
        want = 40 if version == 1 else 52
    else:
        return False
    return version in (1, 2) and hlen == want and len(data) >= hlen


def decode_hep(data: bytes) -> HepPacket | str:
    """Decode one HEP packet (v1, v2 or v3).

    Returns:
        The packet, or one sentence saying why ``data`` is not a usable HEP packet. Never raises.
    """
    if data[:4] == b"HEP3":
        return _decode3(data)
    if data[:1] in (b"\x01", b"\x02"):
        return _decode2(data)
    if not data:
        return "empty HEP packet"
    return f"not a HEP packet (starts with {data[:4]!r})"


def _decode3(data: bytes) -> HepPacket | str:
    if len(data) < 6:
        return f"HEPv3 header cut short: {len(data)} of 6 bytes"
    total = data[4] << 8 | data[5]
    if total < 6:
        return f"HEPv3 length {total} below its 6-byte header"
    if total > len(data):
        return f"HEPv3 packet cut short: {len(data)} of {total} bytes"
    fam = ip_proto = sport = dport = secs = usecs = ptype = agent = 0
    src4 = dst4 = src6 = dst6 = b""
    payload: bytes | None = None
    auth: str | None = None
    corr: str | None = None
    p = 6
    while p < total:
        if total - p < 6:
            return f"HEPv3 chunk header cut short at offset {p}"
        vendor, ctype, clen = _CHUNK.unpack_from(data, p)
        if clen < 6 or p + clen > total:
            return f"HEPv3 chunk 0x{ctype:04x} at offset {p}: length {clen} does not fit"
        v = data[p + 6 : p + clen]
        p += clen
        if vendor != 0:
            continue
        n = len(v)
        if ctype == 0x0001 and n == 1:
            fam = v[0]
        elif ctype == 0x0002 and n == 1:
            ip_proto = v[0]
        elif ctype == 0x0003 and n == 4:
            src4 = v
        elif ctype == 0x0004 and n == 4:
            dst4 = v
        elif ctype == 0x0005 and n == 16:
            src6 = v
        elif ctype == 0x0006 and n == 16:
            dst6 = v
        elif ctype == 0x0007 and n == 2:
            sport = v[0] << 8 | v[1]
        elif ctype == 0x0008 and n == 2:
            dport = v[0] << 8 | v[1]
        elif ctype == 0x0009 and n == 4:
            secs = int.from_bytes(v, "big")
        elif ctype == 0x000A and n == 4:
            usecs = int.from_bytes(v, "big")
        elif ctype == 0x000B and n == 1:
            ptype = v[0]
        elif ctype == 0x000C and n in (2, 4):  # some old agents send a u16
            agent = int.from_bytes(v, "big")
        elif ctype == 0x000E:
            auth = v.decode("utf-8", "replace")
        elif ctype == 0x000F:
            payload = v
        elif ctype == 0x0010 and payload is None:
            try:
                z = zlib.decompressobj()
                payload = z.decompress(v, _MAX_PAYLOAD_INFLATED)
            except zlib.error as exc:
                return f"HEPv3 compressed payload does not inflate: {exc}"
        elif ctype == 0x0011:
            corr = v.decode("utf-8", "replace")
    if payload is None:
        return "HEPv3 packet without a payload chunk"
    if src6 and dst6 and fam != AF_INET:
        sraw, draw = src6, dst6
    elif src4 and dst4:
        sraw, draw = src4, dst4
    elif src6 and dst6:
        sraw, draw = src6, dst6
    else:
        return "HEPv3 packet without source and destination addresses"
    return HepPacket(
        3,
        Endpoint(_ntop(sraw), sport),
        Endpoint(_ntop(draw), dport),
        _TRANSPORTS.get(ip_proto, f"ip{ip_proto}"),
        secs * 1_000_000_000 + usecs * 1000,
        ptype,
        agent,
        payload,
        auth,
        corr,
    )


def _decode2(data: bytes) -> HepPacket | str:
    if len(data) < 8:
        return f"HEPv{data[0]} header cut short: {len(data)} of 8 bytes"
    version, hlen, fam, ip_proto, sport, dport = _V2_HDR.unpack_from(data)
    alen = 4 if fam == AF_INET else 16 if fam == AF_INET6 else 0
    if not alen:
        return f"HEPv{version} address family {fam} is neither IPv4 (2) nor IPv6 (10)"
    need = 8 + 2 * alen + (12 if version == 2 else 0)
    if hlen != need:
        return f"HEPv{version} header length {hlen}, not the {need} of its family"
    if len(data) < need:
        return f"HEPv{version} header cut short: {len(data)} of {need} bytes"
    src = Endpoint(_ntop(data[8 : 8 + alen]), sport)
    dst = Endpoint(_ntop(data[8 + alen : 8 + 2 * alen]), dport)
    ts_ns = agent = 0
    if version == 2:
        off = 8 + 2 * alen
        secs, usecs, agent = _V2_TIME_LE.unpack_from(data, off)
        if usecs >= 1_000_000:  # not little-endian after all
            secs, usecs, agent = _V2_TIME_BE.unpack_from(data, off)
        ts_ns = secs * 1_000_000_000 + usecs % 1_000_000 * 1000
    return HepPacket(
        version,
        src,
        dst,
        _TRANSPORTS.get(ip_proto, f"ip{ip_proto}"),
        ts_ns,
        0,
        agent,
        data[need:],
    )


# -- inside captures ------------------------------------------------------------------------------


def hep_payload(pkt: HepPacket, frame: int, *, file: int = 0, ts_ns: int = 0) -> Payload:
    """The ``Payload`` of the message a HEP packet carries, with the agent's addresses and time.

    Args:
        frame: the number to give it (the frame that carried the HEP packet, or a count).
        ts_ns: time to use when the packet has none (HEPv1).
    """
    return Payload(
        frame,
        pkt.ts_ns or ts_ns,
        pkt.src,
        pkt.dst,
        pkt.transport,
        pkt.payload,
        file,
    )


def unwrap_hep(data: bytes, outer: Frame | Payload) -> Payload | Skipped | None:
    """The SIP message inside a HEP packet found in a capture (a UDP payload).

    Args:
        data: the UDP payload.
        outer: the captured frame, or the UDP ``Payload`` that carried it. HEPv1/v2, which have no
            magic bytes, are tried only when ``outer`` is a ``Payload`` to or from port 9060.

    Returns:
        None when ``data`` is not HEP (decode it as usual); a ``Payload`` with the original
        addresses, ports, transport and capture time (frame number and file of ``outer``); a
        ``Skipped`` when it is HEP-shaped but broken, or carries something other than SIP.
    """
    if isinstance(outer, Frame):
        number, file, ts_ns, src, dst = outer.number, outer.file, outer.ts_ns, None, None
        v2 = True
    else:
        number, file, ts_ns, src, dst = outer.frame, outer.file, outer.ts_ns, outer.src, outer.dst
        v2 = HEP_PORT in (outer.src.port, outer.dst.port)
    if not looks_like_hep(data, v2=v2):
        return None
    pkt = decode_hep(data)
    if isinstance(pkt, str):
        return Skipped(number, ts_ns, pkt, file, src, dst, "udp", data)
    if pkt.proto_type not in (0, PROTO_SIP):
        return Skipped(
            number,
            ts_ns,
            f"HEP packet of protocol type {pkt.proto_type}, not SIP",
            file,
            pkt.src,
            pkt.dst,
            pkt.transport,
            pkt.payload,
        )
    return hep_payload(pkt, number, file=file, ts_ns=ts_ns)


class HepIntake:
    """What a collector does with each HEP packet it receives, before the pipeline: decode it,
    check its password and agent, and take out the SIP message, of a size the limits allow.

    What is refused is counted (``counts.hep_bad``, ``hep_other_agent``, ``hep_types``,
    ``hep_oversize``, ``not_sip``, ``keepalive``) and, when it is an error, recorded in ``skipped``
    (the session bounds what it keeps of it). Sans-IO: the listener passes each packet with the
    time it arrived and who sent it.

    Args:
        agents: only these agent ids (empty: every agent).
        password: when set, packets whose authentication key differs are refused.
        max_message: a SIP message over this many bytes is dropped.
    """

    def __init__(
        self,
        counts: Counts,
        skipped: list[Skipped],
        *,
        agents: Sequence[int] = (),
        password: str | None = None,
        max_message: int,
    ) -> None:
        self.counts = counts
        self.skipped = skipped
        self.only = frozenset(agents)
        self.password = password
        self.max_message = max_message
        self.packets = 0
        """HEP packets received (what the frame numbers of the payloads count)."""

    def take(
        self, data: bytes | str, received_ns: int, peer: Endpoint | None
    ) -> tuple[Payload, int] | None:
        """The SIP in one received packet, with the agent id; None when there is none to use.

        Args:
            data: the packet, or the reason a TCP stream broke (``HepStream``).
            received_ns: when it arrived: the time of the message (agents' clocks differ).
            peer: who sent it.
        """
        self.packets += 1
        number = self.packets
        if isinstance(data, str):
            self._bad(number, received_ns, data, peer)
            return None
        pkt = decode_hep(data)
        if isinstance(pkt, str):
            self._bad(number, received_ns, pkt, peer, data)
            return None
        if self.password is not None and pkt.auth_key != self.password:
            self._bad(number, received_ns, "HEP packet with a wrong or no password", peer)
            return None
        if self.only and pkt.agent_id not in self.only:
            self.counts.hep_other_agent += 1
            return None
        if pkt.proto_type not in (0, PROTO_SIP):
            types = self.counts.hep_types
            types[pkt.proto_type] = types.get(pkt.proto_type, 0) + 1
            return None
        p = hep_payload(pkt, number, ts_ns=received_ns)
        raw = p.data
        if len(raw) > self.max_message:
            self.counts.hep_oversize += 1
            self.skipped.append(
                Skipped(
                    number,
                    p.ts_ns,
                    f"SIP message of {len(raw)} bytes is over the {self.max_message}-byte limit "
                    f"in HEP from agent {pkt.agent_id} ({p.src} -> {p.dst}): dropped",
                    0,
                    p.src,
                    p.dst,
                    p.transport,
                    raw,
                )
            )
            return None
        return p, pkt.agent_id

    def _bad(
        self, number: int, ts_ns: int, reason: str, peer: Endpoint | None, data: bytes = b""
    ) -> None:
        self.counts.hep_bad += 1
        where = f" from {peer}" if peer is not None else ""
        self.skipped.append(Skipped(number, ts_ns, reason + where, 0, peer, None, "hep", data))


# -- HEP over TCP ---------------------------------------------------------------------------------


class HepStream:
    """Cuts a TCP byte stream into HEPv3 packets (their length field frames them).

    ``feed`` returns whole packets and, for each run of bytes that are not HEP, one reason (the
    stream is searched for the next ``HEP3``). Holds at most one packet's worth of bytes.
    """

    def __init__(self) -> None:
        self._buf = b""
        self._junk = 0
        """Bytes skipped since the last packet, not reported yet."""

    def feed(self, data: bytes) -> list[bytes | str]:
        buf = self._buf + data
        out: list[bytes | str] = []
        p = 0
        n = len(buf)
        while n - p >= 6:
            if buf[p : p + 4] != b"HEP3":
                nxt = buf.find(b"HEP3", p + 1)
                stop = nxt if nxt >= 0 else n - 3  # the last 3 bytes may start a "HEP3"
                self._junk += stop - p
                p = stop
                continue
            total = buf[p + 4] << 8 | buf[p + 5]
            if total < 6:
                self._junk += 4
                p += 4
                continue
            if n - p < total:
                break
            if self._junk:
                out.append(f"{self._junk} bytes of the TCP stream are not HEPv3; skipped")
                self._junk = 0
            out.append(buf[p : p + total])
            p += total
        self._buf = buf[p:]
        return out

    @property
    def pending(self) -> int:
        """Bytes held or skipped and not reported: what a close now would lose."""
        return len(self._buf) + self._junk

    @property
    def held(self) -> int:
        """Bytes held in memory (the start of a packet, at most one packet's worth)."""
        return len(self._buf)
