"""Output you can copy: redirected (no terminal, no COLUMNS), nothing is cut and nothing wrapped;
on a terminal, identifiers are never cut, text wraps, and narrow ladders leave out what addresses
share, never what tells them apart. Through real processes, as a shell runs them."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builders import sip_text, write_pcap

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000_000_000_000
CALL_ID = "M2Q0ZDc1ZGM1NzIyMTlhNjE0ZjVhOTk5YzE4ZDU3NTgzMzA5YmJmZWQ.-" + "x7" * 40 + "@10.1.2.3"
SUBJECT = "Subject: " + " ".join(
    ["a long subject that a terminal of eighty columns would fold"] * 2
)
CHAIN = [(f"192.168.5.{n}", 5060) for n in (11, 20, 30, 40, 50, 60)]
"""Six endpoints that differ only in their last number: a proxy chain."""


def chain_capture(path: Path) -> Path:
    """An INVITE with a long Call-ID forwarded along six hops, sent three times by the first
    (answered late: a finding), then a 486 back along the chain."""
    packets = []
    t = T0
    for hop, (src, dst) in enumerate(itertools.pairwise(CHAIN)):
        via = f"Via: SIP/2.0/UDP {src[0]}:5060;branch=z9hG4bK-hop{hop}-" + "b" * 30
        invite = sip_text(
            "INVITE sip:0097239287044@example.com SIP/2.0",
            [
                via,
                "From: <sip:alice@example.com>;tag=from-" + "t" * 30,
                "To: <sip:0097239287044@example.com>",
                f"Call-ID: {CALL_ID}",
                "CSeq: 1 INVITE",
                SUBJECT,
            ],
        )
        copies = 3 if hop == 0 else 1
        for k in range(copies):
            packets.append((t + k * 500_000_000, src, dst, invite))
        t += 1_000_000
    t += 1_500_000_000
    for hop in reversed(range(len(CHAIN) - 1)):
        via = f"Via: SIP/2.0/UDP {CHAIN[hop][0]}:5060;branch=z9hG4bK-hop{hop}-" + "b" * 30
        busy = sip_text(
            "SIP/2.0 486 Busy Here",
            [
                via,
                "From: <sip:alice@example.com>;tag=from-" + "t" * 30,
                "To: <sip:0097239287044@example.com>;tag=busy",
                f"Call-ID: {CALL_ID}",
                "CSeq: 1 INVITE",
            ],
        )
        packets.append((t, CHAIN[hop + 1], CHAIN[hop], busy))
        t += 1_000_000
    return write_pcap(path, packets)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return chain_capture(tmp_path_factory.mktemp("copy") / "chain.pcap")


def sipsniff(*args: str | Path, columns: int | None = None) -> str:
    """What ``sipsniff ARGS > file`` writes (stdout not a terminal), with COLUMNS when given."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    proc = subprocess.run(
        [sys.executable, "-m", "sipsniff", *map(str, args)],
        capture_output=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.decode()


def findings(chain: Path) -> list[dict[str, str]]:
    doc = json.loads(sipsniff("stats", chain, "-f", "json"))
    found: list[dict[str, str]] = doc["findings"]
    assert found, "the capture shows a finding"
    return found


def test_redirected_output_holds_call_ids_and_findings_whole(chain: Path) -> None:
    text = sipsniff("read", chain)
    lines = text.splitlines()
    assert f"Call-ID {CALL_ID}" in text
    for f in findings(chain):
        assert any(line.endswith(f["summary"]) for line in lines), f["summary"]
        assert any(line.endswith(f"→ {f['advice']}") for line in lines), f["advice"]
    assert max(len(line) for line in lines) > 200  # laid out for no width at all
    assert "…" not in text
    head = lines[0].split()
    assert head[head.index("Src") : head.index("Src") + 3] == ["Src", "→", "Dst"]
    (summary,) = [line for line in lines if line.startswith("12 messages")]
    assert summary.endswith("keep-alives")  # one line, not wrapped


def test_redirected_message_text_is_as_captured(chain: Path) -> None:
    text = sipsniff("read", chain, "-v")
    lines = text.splitlines()
    raw = chain_capture_invite_lines()
    for captured in raw:
        assert any(line.strip() == captured for line in lines), captured


def chain_capture_invite_lines() -> list[str]:
    """The header lines of the first INVITE, as captured (the Subject is 125 characters)."""
    return [
        "INVITE sip:0097239287044@example.com SIP/2.0",
        f"Call-ID: {CALL_ID}",
        SUBJECT,
    ]


def test_stats_summary_findings_are_whole_in_json_and_text(chain: Path) -> None:
    expected = findings(chain)
    assert not any(f["summary"].endswith("…") for f in expected)
    text = sipsniff("stats", chain)
    for f in expected:
        assert f["summary"] in text
    assert CALL_ID in text  # the calls by dialog: the Call-ID column whole


def test_stats_follows_the_terminal_width(chain: Path) -> None:
    wide = sipsniff("stats", chain)
    narrow = sipsniff("stats", chain, columns=60)
    assert max(len(line) for line in wide.splitlines()) > 60
    lines = narrow.splitlines()
    assert all(len(line) <= 60 for line in lines), max(lines, key=len)
    # folded, not cut: the words of every finding are all there, in order
    words = " ".join(narrow.split())
    for f in findings(chain):
        assert " ".join(f["summary"].split()) in words, f["summary"]
        assert " ".join(f["advice"].split()) in words, f["advice"]


def test_a_narrow_ladder_leaves_out_what_addresses_share(chain: Path) -> None:
    text = sipsniff("read", chain, columns=60)
    lines = text.splitlines()
    assert "addresses: 192.168.5.… (… stands for what they share)" in lines
    pairs = set(re.findall(r"(…\S+) → (…\S+)", text))
    assert ("…11:5060", "…20:5060") in pairs and ("…20:5060", "…11:5060") in pairs
    assert ("…50:5060", "…60:5060") in pairs
    assert all(len(line) <= 60 for line in lines if not line.startswith("Call-ID "))
    assert "192.…" not in text and "192.1…" not in text
    assert f"Call-ID {CALL_ID}" in lines  # whole, the terminal wraps it
