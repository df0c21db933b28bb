"""Every command as it runs on Windows and macOS, simulated on this Linux machine
(tests/simulate_os.py: what each system lacks taken out of the standard library, Windows' cp1252
stdout, worker processes spawned instead of forked, the pcap backend chosen by ``auto``): the
output is byte for byte Linux's, or the documented error of that system.

What this cannot show (there is no Windows or macOS machine here): Npcap's and macOS's own
capture (drivers, loopback adapters, timestamps), Windows' console and file system; docs/windows.md
and docs/macos.md list what a first run there should check.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from sipsniff.model import Endpoint
from sipsniff.net.hep import encode_hep3
from tests.builders import options_capture, options_pair
from tests.conftest import CAPTURES, ROOT
from tests.simulate_os import npcap_stand_in
from tests.tools import free_ports, wait_line

OTHERS = ("windows", "macos")
BIG_DIALOGS = 34_000
"""OPTIONS dialogs of the big capture: 18 MiB, past the 16 MiB at which mapped pages are released
(``madvise``, which Windows has not), and read by two processes (spawned there)."""


class Run:
    def __init__(self, p: subprocess.CompletedProcess[bytes]) -> None:
        self.status = p.returncode
        self.stdout = p.stdout
        self.stderr = p.stderr.decode()

    def __repr__(self) -> str:
        return f"Run({self.status}, {self.stderr!r})"


@pytest.fixture(scope="module")
def windir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Windows folder whose Npcap is this machine's libpcap."""
    try:
        return npcap_stand_in(tmp_path_factory.mktemp("windows"))
    except FileNotFoundError as exc:
        pytest.skip(f"libpcap is needed as Npcap's stand-in: {exc}")


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("portable") / "big.pcap"
    options_capture(path, BIG_DIALOGS)
    assert path.stat().st_size > 16 << 20
    return path


def simulated(
    system: str, *args: str, windir: Path | None = None, prefix: tuple[str, ...] = ()
) -> Run:
    """``sipsniff ARGS`` run as on ``system``; ``prefix`` runs it through a shell command."""
    env = dict(os.environ, COLUMNS="100", PYTHONPATH=str(ROOT))
    env.pop("SIPSNIFF_SIMULATE_OS", None)
    if windir is not None:
        env["WINDIR"] = str(windir)
    cmd = [sys.executable, "-m", "tests.simulate_os", system, *args]
    if prefix:
        cmd = [*prefix, " ".join(cmd)]
    p = subprocess.run(cmd, capture_output=True, cwd=ROOT, env=env, timeout=300, check=False)
    return Run(p)


@cache
def linux(*args: str) -> Run:
    return simulated("linux", *args)


def commands(big: Path) -> list[tuple[str, ...]]:
    reg = str(CAPTURES / "register-407.pcap")
    return [
        ("read", str(big), "--dialog", "7"),
        ("read", str(big), "-f", "json", "--dialog", "7"),
        ("read", str(big), "-f", "mermaid", "--dialog", "9"),
        ("stats", str(big)),
        ("read", reg, "-v"),
        ("auth", reg, "--password", "101"),
    ]


@pytest.mark.parametrize("system", OTHERS)
def test_files_read_as_on_linux(system: str, big: Path, windir: Path) -> None:
    for args in commands(big):
        got = simulated(system, *args, windir=windir)
        want = linux(*args)
        assert want.status == 0, want
        assert (got.status, got.stderr) == (want.status, want.stderr), args
        assert got.stdout == want.stdout, args
    # not vacuous: the glyphs went through Windows' cp1252 stdout, as UTF-8
    assert "──▶".encode() in linux(*commands(big)[0]).stdout


@pytest.mark.parametrize("system", OTHERS)
def test_the_interfaces_as_libpcap_lists_them(system: str, windir: Path) -> None:
    """``auto`` is the pcap backend there: the listing and the errors of names and filters are
    those of ``--backend pcap`` on Linux."""
    for args in (
        ("live", "-D"),
        ("live", "-i", "nosuch0", "--duration", "1"),
        ("live", "-i", "lo", "--duration", "1", "udp prt"),
    ):
        got = simulated(system, *args, windir=windir)
        want = linux(args[0], "--backend", "pcap", *args[1:])
        assert (got.status, got.stdout, got.stderr) == (want.status, want.stdout, want.stderr)
    assert b"loopback, up, running" in linux("live", "--backend", "pcap", "-D").stdout


@pytest.mark.parametrize("system", OTHERS)
def test_the_ring_is_linuxs(system: str, windir: Path) -> None:
    got = simulated(system, "live", "--backend", "ring", "-D", windir=windir)
    assert (got.status, got.stdout) == (2, b"")
    assert got.stderr == (
        "sipsniff: error: --backend ring is Linux's packet socket, which this system has not: "
        "use --backend pcap (or auto)\n"
    )


def test_windows_without_npcap_says_what_to_install(tmp_path: Path) -> None:
    for args in (("live", "-D"), ("live", "-i", "Ethernet")):
        got = simulated("windows", *args, windir=tmp_path)
        assert (got.status, got.stdout) == (3, b"")
        assert got.stderr == (
            "sipsniff: error: live capture on Windows needs Npcap: install it from "
            'https://npcap.com with "Support loopback traffic" ticked (docs/windows.md)\n'
        )


@pytest.mark.parametrize(
    ("system", "fix"),
    [
        ("windows", "run it from a terminal opened as Administrator"),
        ("macos", "install Wireshark's ChmodBPF, or add yourself to the access_bpf group"),
        ("linux", "sudo setcap cap_net_raw,cap_net_admin=eip"),
    ],
)
def test_no_permission_names_the_fix_of_the_system(system: str, fix: str, windir: Path) -> None:
    if os.geteuid() != 0 or shutil.which("capsh") is None:
        pytest.skip("dropping CAP_NET_RAW needs root and capsh (libcap2-bin)")
    prefix = ("capsh", "--drop=cap_net_raw", "--", "-c")
    args = ("live", "--backend", "pcap", "-i", "lo", "--duration", "1")
    got = simulated(system, *args, windir=windir, prefix=prefix)
    assert got.status == 3, got
    (line,) = got.stderr.splitlines()
    assert line.startswith("sipsniff: error: no permission to capture on lo: ")
    assert fix in line


def _hep_packets(n: int) -> list[bytes]:
    a, b = Endpoint("10.0.0.1", 5060), Endpoint("10.0.0.2", 5060)
    packets = []
    for k in range(n):
        request, reply = (f[42:] for f in options_pair(k))
        ts = 1_700_000_000_000_000_000 + k * 1_000_000
        packets += [
            encode_hep3(a, b, request, ts_ns=ts, agent_id=7),
            encode_hep3(b, a, reply, ts_ns=ts + 500_000, agent_id=7),
        ]
    return packets


def test_hep_collects_as_on_linux() -> None:
    outputs = {}
    for system in ("linux", *OTHERS):
        (port,) = free_ports(1)
        cmd = [sys.executable, "-m", "tests.simulate_os", system, "hep", "--listen"]
        cmd += [f"udp:127.0.0.1:{port}", "--count", "10", "--duration", "60", "-f", "ndjson"]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        with subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env
        ) as proc:
            wait_line(proc, b"listening for HEP", timeout=60)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                for packet in _hep_packets(5):
                    s.sendto(packet, ("127.0.0.1", port))
            out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        outputs[system] = out
    assert len(outputs["linux"].splitlines()) == 10
    assert outputs["windows"] == outputs["macos"] == outputs["linux"]
