"""SIP over TLS with keys: Wireshark's own decryption, through tshark, as in-order stream pieces.

How this works. Given a capture and a key log file (the NSS ``SSLKEYLOGFILE`` format that
browsers, OpenSSL, Python's ``ssl`` (``SSLContext.keylog_filename``), Kamailio, FreeSWITCH and
Asterisk can write), tshark is run twice:

1. ``tshark -r CAPTURE -Y tls -T fields -e frame.number -e frame.time_epoch -e tcp.stream ...``
   lists the frames that carry TLS, with their TCP stream index, addresses, ports and time;
2. ``tshark -r CAPTURE -o tls.keylog_file:KEYS -q -z follow,tls,yaml,N ...`` (one ``follow`` per
   TCP stream that carries TLS) prints the decrypted application data of each stream, record by
   record, each with the number of the frame that completed its record.

Each decrypted record becomes a ``Payload`` with transport ``tls`` and ``stream=True``, carrying the
frame number, time and addresses of that frame: what ``sipsniff.sip.framing.Framers`` frames into
SIP messages, as it does for a TCP stream. Handshake messages (TLS 1.3's NewSessionTicket and the
like) and alerts are not application data and are not in the output. See docs/tls.md for why
tshark and not a decryption of our own.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import ipaddress
import os
import shutil
import subprocess
from collections.abc import Sequence

from sipsniff.errors import CaptureError
from sipsniff.model import Endpoint, Payload

TSHARK = "tshark"
_STREAMS_PER_RUN = 200
"""``follow`` taps given to one tshark run (each run reads the whole capture once)."""
_FIELDS = (
    "frame.number",
    "frame.time_epoch",
    "tcp.stream",
    "ip.src",
    "ipv6.src",
    "tcp.srcport",
    "ip.dst",
    "ipv6.dst",
    "tcp.dstport",
)


class _Where:
    __slots__ = ("dst", "src", "stream", "ts_ns")

    def __init__(self, stream: int, ts_ns: int, src: Endpoint, dst: Endpoint) -> None:
        self.stream = stream
        self.ts_ns = ts_ns
        self.src = src
        self.dst = dst


def decrypted_pieces(
    capture_path: str, keylog_path: str, *, file: int = 0, tshark: str = TSHARK
) -> list[Payload]:
    """The decrypted application data of every TLS connection of a capture, as stream pieces.

    Args:
        capture_path: a capture file tshark can read (pcap, pcapng, gzipped).
        keylog_path: the key log file (SSLKEYLOGFILE format) of the TLS sessions.
        file: index of the capture among the inputs, set in each ``Payload.file``.
        tshark: the tshark program to run.

    Returns:
        Payloads with transport ``tls`` and ``stream=True``, one per decrypted record (records
        of one frame and direction joined), in frame order: feed each to the SIP framer when
        its frame is read. Empty when nothing could be decrypted (wrong keys, no handshake).

    Raises:
        CaptureError: tshark is not installed, the key file cannot be read, or tshark cannot
            read the capture.
    """
    program = shutil.which(tshark)
    if program is None:
        raise CaptureError(
            "decrypting TLS (--tls-keylog) needs tshark (Wireshark's command-line tool), "
            "not found on PATH"
        )
    try:
        with open(keylog_path, "rb") as f:
            f.read(1)
    except OSError as e:
        raise CaptureError(f"cannot read the TLS key log {keylog_path}: {e.strerror}") from None
    if not os.path.isfile(capture_path):
        raise CaptureError(f"no such file: {capture_path}")
    frames = _tls_frames(program, capture_path)
    streams = sorted({w.stream for w in frames.values()})
    records: list[tuple[int, bytes]] = []
    for at in range(0, len(streams), _STREAMS_PER_RUN):
        batch = streams[at : at + _STREAMS_PER_RUN]
        taps: list[str] = []
        for s in batch:
            taps += ["-z", f"follow,tls,yaml,{s}"]
        out = _run(
            [
                program,
                "-n",
                "-r",
                capture_path,
                "-o",
                f"tls.keylog_file:{keylog_path}",
                "-q",
                *taps,
            ],
            capture_path,
        )
        records += _follow_records(out)
    records.sort(key=lambda r: r[0])  # stable: the order of a stream's records is kept
    pieces: list[Payload] = []
    for number, data in records:
        w = frames.get(number)
        if w is None or not data:
            continue
        last = pieces[-1] if pieces else None
        if last is not None and last.frame == number and last.src == w.src:
            pieces[-1] = last._replace(data=last.data + data)
            continue
        pieces.append(Payload(number, w.ts_ns, w.src, w.dst, "tls", data, file, stream=True))
    return pieces


def _tls_frames(program: str, capture_path: str) -> dict[int, _Where]:
    """Frame number -> TCP stream, time and addresses, for every frame that carries TLS."""
    cmd = [program, "-n", "-r", capture_path, "-Y", "tls", "-T", "fields", "-E", "occurrence=l"]
    for name in _FIELDS:
        cmd += ["-e", name]
    out: dict[int, _Where] = {}
    for line in _run(cmd, capture_path).splitlines():
        cells = line.split("\t")
        if len(cells) != len(_FIELDS):
            continue
        number, epoch, stream, ip4s, ip6s, sport, ip4d, ip6d, dport = cells
        try:
            src = Endpoint(_ip(ip6s or ip4s), int(sport))
            dst = Endpoint(_ip(ip6d or ip4d), int(dport))
            out[int(number)] = _Where(int(stream), _epoch_ns(epoch), src, dst)
        except ValueError:
            continue
    return out


def _follow_records(text: str) -> list[tuple[int, bytes]]:
    """(frame number, bytes) of each packet entry of ``-z follow,tls,yaml`` outputs.

    The format (tshark 3.6 and later)::

        packets:
          - packet: 10
            peer: 0
            timestamp: 1700000000.123456789
            data: !!binary |
              UkVHSVNURVIg...
    """
    out: list[tuple[int, bytes]] = []
    number: int | None = None
    chunks: list[str] = []
    in_data = False

    def close() -> None:
        if number is not None:
            with contextlib.suppress(binascii.Error, ValueError):
                out.append((number, base64.b64decode("".join(chunks), validate=True)))

    for line in text.splitlines():
        stripped = line.strip()
        if in_data and line.startswith("      ") and stripped:
            chunks.append(stripped)
            continue
        in_data = False
        if stripped.startswith("- packet:"):
            close()
            chunks = []
            try:
                number = int(stripped.split(":", 1)[1])
            except ValueError:
                number = None
        elif stripped.startswith("data:") and number is not None:
            value = stripped[5:].strip()
            if value.startswith("!!binary"):
                rest = value[8:].strip()
                if rest in ("|", ""):
                    in_data = True
                else:
                    chunks.append(rest.strip("'\""))
        elif stripped in ("peers:", "packets:"):
            close()
            number = None
            chunks = []
    close()
    return out


def _run(cmd: Sequence[str], capture_path: str) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, check=False)
    except OSError as e:
        raise CaptureError(f"cannot run tshark: {e.strerror}") from None
    out = done.stdout.decode("utf-8", "replace")
    if done.returncode != 0 and not out:
        lines = [
            line
            for line in done.stderr.decode("utf-8", "replace").splitlines()
            if line.strip() and not line.startswith("Running as user")
        ]
        why = lines[0] if lines else f"exit status {done.returncode}"
        raise CaptureError(f"tshark cannot decrypt {capture_path}: {why}")
    return out


def _ip(text: str) -> str:
    """The address as ``model.Endpoint`` spells it (compressed IPv6)."""
    return str(ipaddress.ip_address(text))


def _epoch_ns(text: str) -> int:
    """``1700000000.123456789`` -> nanoseconds, without going through a float."""
    sec, _, frac = text.strip().partition(".")
    return int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])
