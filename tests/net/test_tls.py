"""SIP over TLS: connections listed without keys, SIP given back with them.

Three angles: handshakes made in memory by Python's ``ssl`` (no network, no root) fed whole and one
byte at a time; the public captures against tshark's own counts; and a REGISTER/401/REGISTER/200
exchange over real TLS 1.3 and 1.2 on the loopback, recorded by tcpdump, decrypted with the key
log Python's ssl wrote and compared with what tshark decrypts.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from sipsniff.capture.files import read_frames
from sipsniff.capture.tls_keys import _follow_records, decrypted_pieces
from sipsniff.cli import cli
from sipsniff.errors import CaptureError
from sipsniff.model import Counts, Endpoint, Message, Payload, TlsConnection
from sipsniff.net.decode import Decoder
from sipsniff.net.tcp import TcpReassembler
from sipsniff.net.tls import TlsConnections, looks_like_tls, tls_dict
from sipsniff.sip.framing import Framers
from sipsniff.sip.parser import parse_message
from tests.conftest import CORPUS, need

CLIENT = Endpoint("192.0.2.10", 40000)
SERVER = Endpoint("192.0.2.1", 5061)
T0 = 1_700_000_000_000_000_000
SNI = "sip.example.test"

REGISTER = (
    "REGISTER sip:example.test SIP/2.0\r\n"
    "Via: SIP/2.0/TLS 127.0.0.1:{port};branch=z9hG4bK-tls-{n}\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:alice@example.test>;tag=a1\r\n"
    "To: <sip:alice@example.test>\r\n"
    "Call-ID: tls-register-1\r\n"
    "CSeq: {n} REGISTER\r\n"
    "Contact: <sips:alice@127.0.0.1:{port}>\r\n"
    "{auth}"
    "Content-Length: 0\r\n\r\n"
)
AUTH = (
    'Authorization: Digest username="alice", realm="example.test", nonce="abc", '
    'uri="sip:example.test", response="0123456789abcdef0123456789abcdef"\r\n'
)
RESPONSE = (
    "SIP/2.0 {code}\r\n"
    "Via: SIP/2.0/TLS 127.0.0.1:{port};branch=z9hG4bK-tls-{n}\r\n"
    "From: <sip:alice@example.test>;tag=a1\r\n"
    "To: <sip:alice@example.test>;tag=s1\r\n"
    "Call-ID: tls-register-1\r\n"
    "CSeq: {n} REGISTER\r\n"
    "{extra}"
    "Content-Length: 0\r\n\r\n"
)
CHALLENGE = 'WWW-Authenticate: Digest realm="example.test", nonce="abc"\r\n'


# -- certificates and in-memory handshakes ----------------------------------------------------


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and its key (cryptography when installed, else openssl)."""
    where = tmp_path_factory.mktemp("cert")
    crt, key = where / "cert.pem", where / "key.pem"
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        if shutil.which("openssl") is None:
            pytest.skip("neither the cryptography package nor openssl to make a certificate")
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "1",
                "-subj",
                f"/CN={SNI}",
                "-keyout",
                str(key),
                "-out",
                str(crt),
            ],
            check=True,
            capture_output=True,
        )
        return crt, key
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SNI)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(private, hashes.SHA256())
    )
    crt.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return crt, key


def contexts(
    cert: tuple[Path, Path], version: ssl.TLSVersion, keylog: Path | None = None
) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(str(cert[0]), str(cert[1]))
    server.set_alpn_protocols(["sip"])
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    client.maximum_version = version
    client.set_alpn_protocols(["sip", "h2"])
    if keylog is not None:
        client.keylog_filename = str(keylog)
    return client, server


def memory_handshake(cert: tuple[Path, Path], version: ssl.TLSVersion) -> list[tuple[bool, bytes]]:
    """A whole handshake and one SIP message each way through memory BIOs: the flights in order,
    (True for the client's, bytes)."""
    cctx, sctx = contexts(cert, version)
    cin, cout, sin, sout = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = cctx.wrap_bio(cin, cout, server_hostname=SNI)
    server = sctx.wrap_bio(sin, sout, server_side=True)
    flights: list[tuple[bool, bytes]] = []

    def pump() -> None:
        for data, to, is_client in ((cout.read(), sin, True), (sout.read(), cin, False)):
            if data:
                flights.append((is_client, data))
                to.write(data)

    for _ in range(10):
        for side in (client, server):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
        pump()
    client.write(REGISTER.format(port=40000, n=1, auth="").encode())
    pump()
    server.read(4096)
    server.write(RESPONSE.format(code="401 Unauthorized", port=40000, n=1, extra="").encode())
    pump()
    return flights


def pieces_of(flights: list[tuple[bool, bytes]], *, step: int = 0) -> list[Payload]:
    out: list[Payload] = []
    for i, (is_client, data) in enumerate(flights):
        src, dst = (CLIENT, SERVER) if is_client else (SERVER, CLIENT)
        chunks = [data] if not step else [data[k : k + step] for k in range(0, len(data), step)]
        for chunk in chunks:
            n = len(out) + 1
            out.append(Payload(n, T0 + i * 1000 + n, src, dst, "tcp", chunk, stream=True))
    return out


@pytest.mark.parametrize(
    ("version", "name"), [(ssl.TLSVersion.TLSv1_3, "TLS 1.3"), (ssl.TLSVersion.TLSv1_2, "TLS 1.2")]
)
def test_a_handshake_in_memory_whole_and_byte_by_byte(
    cert: tuple[Path, Path], version: ssl.TLSVersion, name: str
) -> None:
    flights = memory_handshake(cert, version)
    results: list[TlsConnection] = []
    for step in (0, 1, 7):
        tls = TlsConnections()
        pieces = pieces_of(flights, step=step)
        assert all(tls.feed(p) for p in pieces)
        (c,) = tls.connections()
        results.append(c)
        assert (c.client, c.server) == (CLIENT, SERVER)
        assert (c.sni, c.alpn, c.version, c.handshake) == (SNI, ("sip", "h2"), name, True)
        assert c.cipher is not None and c.cipher.startswith("TLS_")
        assert c.client_bytes == sum(len(d) for up, d in flights if up)
        assert c.server_bytes == sum(len(d) for up, d in flights if not up)
        assert (c.first_frame, c.last_frame) == (1, len(pieces))
        assert tls.counts.tls_connections == 1
    # Whole or in pieces: the same records, the same everything but frame numbers and times.
    assert {(c.client_records, c.server_records, c.sni, c.cipher) for c in results} == {
        (results[0].client_records, results[0].server_records, SNI, results[0].cipher)
    }
    assert results[0].client_records >= 3  # ClientHello, ... , the REGISTER
    d = tls_dict(results[0])
    assert d["client"] == str(CLIENT) and d["sni"] == SNI and d["alpn"] == ["sip", "h2"]


def test_sip_over_tcp_is_not_claimed_and_costs_one_look() -> None:
    tls = TlsConnections()
    sip = REGISTER.format(port=40000, n=1, auth="").encode()
    first = Payload(1, T0, CLIENT, SERVER, "tcp", sip[:30], stream=True)
    # Later bytes of a plain stream are never looked at, even when they look like TLS.
    later = Payload(2, T0 + 1, CLIENT, SERVER, "tcp", b"\x16\x03\x01\x00\x05hello", stream=True)
    assert not tls.feed(first)
    assert not tls.feed(later)
    assert not tls.feed(Payload(3, T0, CLIENT, SERVER, "udp", b"\x17\x03\x03\x00\x01x"))
    assert not tls.feed(
        Payload(4, T0, CLIENT, SERVER, "tls", b"\x17\x03\x03\x00\x01x", stream=True)
    )
    assert tls.connections() == []
    assert not looks_like_tls(b"\x16\x03\x05") and not looks_like_tls(b"\x17\x02")
    assert looks_like_tls(b"\x17") and not looks_like_tls(b"")


def test_mid_connection_application_data_gaps_and_the_other_side() -> None:
    """A capture that starts after the handshake; a direction that starts mid-record; a gap."""
    tls = TlsConnections()
    record = b"\x17\x03\x03\x00\x20" + bytes(range(32))
    # The server's first bytes are the tail of a record: claimed once the peer is TLS.
    assert not tls.feed(Payload(1, T0, SERVER, CLIENT, "tcp", bytes(10), stream=True))
    assert tls.feed(Payload(2, T0 + 10, CLIENT, SERVER, "tcp", record * 2, stream=True))
    assert tls.feed(Payload(3, T0 + 20, SERVER, CLIENT, "tcp", bytes(5) + record, stream=True))
    assert tls.feed(Payload(4, T0 + 30, SERVER, CLIENT, "tcp", record, stream=True))
    # After a gap, boundaries are lost until a piece starts with a record header.
    assert tls.feed(Payload(5, T0 + 40, CLIENT, SERVER, "tcp", record[7:], gap=True, stream=True))
    assert tls.feed(Payload(6, T0 + 50, CLIENT, SERVER, "tcp", record[:9], stream=True))
    assert tls.feed(Payload(7, T0 + 60, CLIENT, SERVER, "tcp", record[9:], stream=True))
    (c,) = tls.connections()
    assert (c.client, c.server, c.handshake, c.version, c.sni) == (
        CLIENT,
        SERVER,
        False,
        None,
        None,
    )
    assert (c.client_records, c.server_records) == (3, 1)
    assert (c.client_bytes, c.server_bytes) == (3 * 37 + 30, 5 + 37 + 37)
    assert (c.first_frame, c.last_frame, c.start_ns, c.end_ns) == (2, 7, T0 + 10, T0 + 60)


# -- the public captures against tshark --------------------------------------------------------


def tshark_or_skip() -> None:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (apt-get install tshark)")


def our_connections(path: Path) -> list[TlsConnection]:
    counts = Counts()
    tcp = TcpReassembler(counts, [])
    decoder = Decoder(counts, [], tcp=tcp)
    tls = TlsConnections(counts)
    _, frames = read_frames([str(path)])
    for frame in frames:
        for p in decoder.decode(frame):
            tls.feed(p)
    for p in decoder.flush() + tcp.flush():
        tls.feed(p)
    return tls.connections()


RETRANSMISSIONS_OUT = (
    "tcp.len > 0 and not tcp.analysis.retransmission and not tcp.analysis.spurious_retransmission"
)


def tshark_directions(path: Path) -> dict[tuple[str, str], tuple[int, int]]:
    """(src, dst) -> (TCP payload bytes, TLS records), retransmissions left out, by tshark."""
    out = subprocess.run(
        [
            "tshark",
            "-n",
            "-r",
            str(path),
            "-Y",
            RETRANSMISSIONS_OUT,
            "-T",
            "fields",
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=,",
            "-e",
            "ip.src",
            "-e",
            "tcp.srcport",
            "-e",
            "ip.dst",
            "-e",
            "tcp.dstport",
            "-e",
            "tcp.len",
            "-e",
            "tls.record.length",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    got: dict[tuple[str, str], list[int]] = collections.defaultdict(lambda: [0, 0])
    for line in out.splitlines():
        sip, sport, dip, dport, n, records = line.split("\t")
        key = (str(Endpoint(sip, int(sport))), str(Endpoint(dip, int(dport))))
        got[key][0] += int(n)
        got[key][1] += len([r for r in records.split(",") if r])
    return {k: (v[0], v[1]) for k, v in got.items()}


@pytest.mark.tools
@pytest.mark.parametrize(
    ("name", "connections", "version"),
    [("tlssaved.pcap", 2, None), ("ajbanjara-Wireshark_sip.pcap", 2, "TLS 1.3 (draft 21)")],
)
def test_public_captures_list_their_connections(
    name: str, connections: int, version: str | None
) -> None:
    tshark_or_skip()
    path = need(CORPUS / name)
    ours = our_connections(path)
    assert len(ours) == connections
    want = tshark_directions(path)
    got: dict[tuple[str, str], tuple[int, int]] = {}
    for c in ours:
        assert c.version == version
        assert c.server.port in (5061, 15081)
        got[str(c.client), str(c.server)] = (c.client_bytes, c.client_records)
        got[str(c.server), str(c.client)] = (c.server_bytes, c.server_records)
    assert got == want
    if version is not None:  # the cipher suite tshark read in the ServerHello
        suites = subprocess.run(
            [
                "tshark",
                "-n",
                "-r",
                str(path),
                "-Y",
                "tls.handshake.type == 2",
                "-T",
                "fields",
                "-e",
                "tls.handshake.ciphersuite",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert [int(s, 16) for s in suites] == [0x1302] * connections
        assert {c.cipher for c in ours} == {"TLS_AES_256_GCM_SHA384"}


def test_follow_yaml_parsing() -> None:
    text = (
        "peers:\n  - peer: 0\n    host: 127.0.0.1\n    port: 5061\npackets:\n"
        "  - packet: 10\n    peer: 1\n    timestamp: 1.5\n    data: !!binary |\n"
        "      U0lQLzIu\n      MCAyMDA=\n"
        "  - packet: 12\n    peer: 0\n    timestamp: 2.5\n    data: !!binary |\n      QUJD\n"
        "peers:\npackets:\n"
    )
    assert _follow_records(text) == [(10, b"SIP/2.0 200"), (12, b"ABC")]


# -- a real exchange over TLS on the loopback, recorded and decrypted --------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def recorder() -> Iterator[None]:
    if os.geteuid() != 0:
        pytest.skip("recording on the loopback with tcpdump needs root")
    for tool in ("tcpdump", "tshark"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt-get install tcpdump tshark)")
    yield


def record_exchange(
    tmp_path: Path, cert: tuple[Path, Path], version: ssl.TLSVersion
) -> tuple[Path, Path, int]:
    """REGISTER / 401 / REGISTER / 200 over TLS on 127.0.0.1, recorded by tcpdump."""
    pcap, keys = tmp_path / "tls.pcap", tmp_path / "keys.txt"
    cctx, sctx = contexts(cert, version, keys)
    listener = socket.create_server(("127.0.0.1", 0))
    port: int = listener.getsockname()[1]
    proc = subprocess.Popen(
        [
            "tcpdump",
            "-Z",
            "root",
            "--immediate-mode",
            "-i",
            "lo",
            "-U",
            "-w",
            str(pcap),
            "tcp",
            "port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    proc.stderr.readline()  # "listening on lo": the filter is attached
    errors: list[BaseException] = []

    def read_message(s: ssl.SSLSocket) -> bytes:
        buf = b""
        while not buf.endswith(b"\r\n\r\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        return buf

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            with sctx.wrap_socket(conn, server_side=True) as s:
                for n, code, extra in ((1, "401 Unauthorized", CHALLENGE), (2, "200 OK", "")):
                    read_message(s)
                    s.sendall(RESPONSE.format(code=code, port=port, n=n, extra=extra).encode())
                read_message(s)  # until the client closes
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    server = threading.Thread(target=serve)
    server.start()
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            cctx.wrap_socket(raw, server_hostname=SNI) as s,
        ):
            s.sendall(REGISTER.format(port=port, n=1, auth="").encode())
            read_message(s)
            second = REGISTER.format(port=port, n=2, auth=AUTH).encode()
            s.sendall(second[:100])  # two TLS records for one message: framing across them
            s.sendall(second[100:])
            read_message(s)
    finally:
        server.join(10)
        listener.close()
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert not errors, errors
    return pcap, keys, port


def tshark_sip(pcap: Path, keys: Path, port: int) -> list[tuple[int, str]]:
    out = subprocess.run(
        [
            "tshark",
            "-n",
            "-r",
            str(pcap),
            "-o",
            f"tls.keylog_file:{keys}",
            "-o",
            f"sip.tls.port:{port}",
            "-Y",
            "sip",
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            "sip.Method",
            "-e",
            "sip.Status-Code",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    return [(int(f), m or s) for f, m, s in rows]


@pytest.mark.tools
@pytest.mark.parametrize(
    ("version", "name"), [(ssl.TLSVersion.TLSv1_3, "TLS 1.3"), (ssl.TLSVersion.TLSv1_2, "TLS 1.2")]
)
def test_a_recorded_exchange_listed_then_decrypted(
    tmp_path: Path, cert: tuple[Path, Path], recorder: None, version: ssl.TLSVersion, name: str
) -> None:
    pcap, keys, port = record_exchange(tmp_path, cert, version)
    # Without keys: one encrypted connection, with the SNI the client sent.
    (c,) = our_connections(pcap)
    assert (c.server, c.sni, c.version, c.alpn) == (
        Endpoint("127.0.0.1", port),
        SNI,
        name,
        ("sip", "h2"),
    )
    assert c.client.port != port and c.handshake
    want_dirs = tshark_directions(pcap)
    assert want_dirs[str(c.client), str(c.server)] == (c.client_bytes, c.client_records)
    assert want_dirs[str(c.server), str(c.client)] == (c.server_bytes, c.server_records)
    # With keys: the four SIP messages, on the frames tshark puts them on.
    framers = Framers()
    messages: list[Message] = []
    for piece in decrypted_pieces(str(pcap), str(keys)):
        assert piece.transport == "tls" and piece.stream
        for raw, origin in framers.feed(piece):
            parsed = parse_message(raw, origin, framed=True)
            assert isinstance(parsed, Message)
            messages.append(parsed)
    assert framers.flush() == []
    want = tshark_sip(pcap, keys, port)
    assert [(m.frame, m.method or str(m.status)) for m in messages] == want
    assert [m.label for m in messages] == ["REGISTER", "401 Unauthorized", "REGISTER", "200 OK"]
    assert [m.cseq for m in messages] == ["1 REGISTER", "1 REGISTER", "2 REGISTER", "2 REGISTER"]
    assert {(m.src, m.dst) for m in messages if m.is_request} == {(c.client, c.server)}
    assert all(c.start_ns <= m.ts_ns <= c.end_ns for m in messages)


def test_decrypted_pieces_says_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="cannot read the TLS key log"):
        decrypted_pieces(str(tmp_path / "none.pcap"), str(tmp_path / "missing.keys"))
    keys = tmp_path / "keys.txt"
    keys.write_text("")
    with pytest.raises(CaptureError, match="needs tshark"):
        decrypted_pieces(str(tmp_path / "none.pcap"), str(keys), tshark="no-such-tshark-here")
    if shutil.which("tshark") is not None:
        with pytest.raises(CaptureError, match="no such file"):
            decrypted_pieces(str(tmp_path / "none.pcap"), str(keys))
        junk = tmp_path / "junk.pcap"
        junk.write_bytes(b"this is not a capture file at all")
        with pytest.raises(CaptureError, match="tshark cannot decrypt"):
            decrypted_pieces(str(junk), str(keys))


@pytest.mark.tools
def test_read_command_lists_then_decrypts(
    tmp_path: Path, cert: tuple[Path, Path], recorder: None
) -> None:
    """End to end through ``sipsniff read``: the connection listed without keys; with
    ``--tls-keylog`` the dialog, transport tls, and the connection still listed."""
    pcap, keys, port = record_exchange(tmp_path, cert, ssl.TLSVersion.TLSv1_3)
    runner = CliRunner()
    plain = runner.invoke(cli, ["read", str(pcap), "-f", "json"])
    assert plain.exit_code == 0, plain.output
    doc = json.loads(plain.stdout)
    assert doc["messages"] == []
    assert [(c["server"], c["sni"], c["version"]) for c in doc["tls"]] == [
        (f"127.0.0.1:{port}", SNI, "TLS 1.3")
    ]
    text = runner.invoke(cli, ["read", str(pcap)]).stdout
    assert f"→ 127.0.0.1:{port}  TLS 1.3 SNI {SNI}" in text
    opened = runner.invoke(cli, ["read", str(pcap), "-f", "json", "--tls-keylog", str(keys)])
    assert opened.exit_code == 0, opened.output
    doc = json.loads(opened.stdout)
    assert [(m["frame"], m["method"] or m["status"]) for m in doc["messages"]] == [
        (f, int(x) if x.isdigit() else x) for f, x in tshark_sip(pcap, keys, port)
    ]
    assert {m["transport"] for m in doc["messages"]} == {"tls"}
    assert [(d["first_method"], d["messages"]) for d in doc["dialogs"]] == [
        ("REGISTER", [1, 2, 3, 4])
    ]
