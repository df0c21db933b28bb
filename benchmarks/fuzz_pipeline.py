"""Fuzz the whole pipeline (frames -> messages -> dialogs -> JSON) with atheris, for a bounded time.

Seeded from the shared corpus: every frame of the captures in ../shared/corpus/public and, wrapped in
Ethernet/IPv4/UDP, the RFC 4475 torture messages. The first byte of a fuzz input picks what the rest
is: a whole frame of a link type, a UDP payload, or TCP segments of one stream. Any exception is a
crash: its input is saved under --crashes and counted, and the run goes on.

    python benchmarks/fuzz_pipeline.py --seconds 300

Prints the duration, the executions and the crashes. Without atheris (pip install atheris), the same
inputs are mutated by a plain random mutator instead, and the script says so.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import struct
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sipsniff.analysis.select import Selection  # noqa: E402
from sipsniff.analysis.summary import Summary  # noqa: E402
from sipsniff.capture.files import CaptureReader  # noqa: E402
from sipsniff.errors import CaptureError  # noqa: E402
from sipsniff.model import Frame  # noqa: E402
from sipsniff.pipeline import DEFAULT_LIMITS, Limits, Pipeline  # noqa: E402
from sipsniff.render.json import write_json  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
LINKTYPES = (1, 0, 101, 113, 228, 147)
SEED_FRAMES = 200
"""Frames taken as seeds from each capture (the first ones: handshakes, the first dialogs)."""
_ETH = bytes.fromhex("00112233445566778899aabb0800")


def _ipv4(proto: int, payload: bytes) -> bytes:
    return (
        struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(payload),
            0,
            0,
            64,
            proto,
            0,
            b"\x0a\0\0\x01",
            b"\x0a\0\0\x02",
        )
        + payload
    )


def udp(payload: bytes) -> bytes:
    return _ETH + _ipv4(17, struct.pack("!HHHH", 5060, 5060, 8 + len(payload), 0) + payload)


def tcp(payload: bytes, seq: int, flags: int = 0x18) -> bytes:
    header = struct.pack("!HHIIBBHHH", 40000, 5060, seq, 0, 0x50, flags, 65535, 0, 0)
    return _ETH + _ipv4(6, header + payload)


def frames_of(data: bytes) -> list[Frame]:
    """The frames a fuzz input stands for (see the module docstring)."""
    if not data:
        return []
    kind, rest = data[0] % 4, data[1:]
    if kind == 0:  # one raw frame of some link type
        link = LINKTYPES[rest[0] % len(LINKTYPES)] if rest else 1
        return [Frame(1, 0, link, rest[1:], len(rest))]
    if kind == 1:  # one UDP datagram
        f = udp(rest)
        return [Frame(1, 0, 1, f, len(f))]
    # TCP: the payload cut into segments at the bytes 0xff (kind 3: the segments in reverse too)
    pieces = rest.split(b"\xff")
    out, seq = [], 1000
    for i, p in enumerate(pieces, 1):
        f = tcp(p, seq)
        out.append(Frame(i, i, 1, f, len(f)))
        seq += len(p)
    if kind == 3:
        out.reverse()
    return out


TIGHT = Limits(max_message=300, max_buffer=2048, max_dialogs=3)
"""Limits small enough for fuzz inputs to reach them: every other input runs under them."""


def run_one(data: bytes) -> None:
    """The pipeline, then the JSON document and the summary of ``stats``; every other input under
    ``TIGHT`` limits, with dialogs summed up and dropped as they come (as ``stats`` does with a
    capture too big to hold)."""
    tight = len(data) % 2 == 1
    pipe = Pipeline(limits=TIGHT if tight else DEFAULT_LIMITS)
    summary = Summary(Selection(), rtp=False)
    for frame in frames_of(data):
        pipe.feed(frame)
        if tight and len(pipe.correlator.dialogs) > 1:
            summary.add(pipe.correlator.expire_trace(frame.ts_ns, 1))
    pipe.finish()
    trace = pipe.trace()
    write_json(trace, list(trace.dialogs.values()), io.StringIO(), full=True, all_dialogs=True)
    summary.add(trace)
    summary.totals.result()
    summary.findings.result()


def seeds() -> list[bytes]:
    out: list[bytes] = []
    for path in sorted((CORPUS / "public").glob("*")):
        if path.suffix in {".md", ".tsv"} or not path.is_file():
            continue
        try:
            with CaptureReader(str(path)) as reader:
                for frame in reader:
                    if frame.linktype in LINKTYPES and len(frame.data) < 4000:
                        out.append(bytes([0, LINKTYPES.index(frame.linktype)]) + frame.data)
                    if frame.number >= SEED_FRAMES:
                        break
        except CaptureError:
            continue
    for path in sorted((CORPUS / "rfc4475").glob("*.dat")):
        text = path.read_bytes()
        out.append(b"\x01" + text)
        out.append(b"\x02" + text[:40] + b"\xff" + text[40:])
    return out


class Stats:
    def __init__(self, crashes: Path) -> None:
        self.executions = 0
        self.crashes = 0
        self.kinds: dict[str, int] = {}
        self.dir = crashes

    def one(self, data: bytes) -> None:
        self.executions += 1
        try:
            run_one(data)
        except Exception as exc:  # a crash: keep the input, go on
            self.crashes += 1
            key = f"{type(exc).__name__}: {exc}"[:200]
            self.kinds[key] = self.kinds.get(key, 0) + 1
            self.dir.mkdir(parents=True, exist_ok=True)
            name = hashlib.sha1(data).hexdigest()[:16]
            (self.dir / f"crash-{name}.bin").write_bytes(data)
            (self.dir / f"crash-{name}.txt").write_text(traceback.format_exc())


def _mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(6)
        pos = rng.randrange(len(b) + 1)
        if op == 0 and b:
            b[min(pos, len(b) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 2 and b:
            del b[pos : pos + rng.randint(1, 16)]
        elif op == 3:
            other = rng.choice(pool)
            start = rng.randrange(len(other) + 1)
            b[pos:pos] = other[start : start + rng.randint(1, 64)]
        elif op == 4 and b:
            b[min(pos, len(b) - 1)] = rng.choice([0, 0xFF, 0x0D, 0x0A, 0x3A, 0x20, 0x3B, 0x22])
        elif op == 5:
            b[pos:pos] = rng.choice([b"\r\n", b"\r\n\r\n", b"Content-Length: 9999\r\n", b"\xff"])
    return bytes(b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="how long to fuzz")
    ap.add_argument(
        "--crashes", type=Path, default=None, help="where crash inputs go (default: a temp dir)"
    )
    ap.add_argument("--seed", type=int, default=1, help="seed of the fallback mutator")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sipsniff-fuzz-"))
    corpus = seeds()
    stats = Stats(args.crashes or work / "crashes")
    start = time.monotonic()
    try:
        import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        atheris = None
    engine = "atheris" if atheris is not None else "random mutator (atheris is not installed)"
    deadline = start + args.seconds
    if atheris is not None:
        atheris.instrument_all()  # coverage of every loaded Python function, sipsniff's included
        seed_dir = work / "seeds"
        seed_dir.mkdir()
        for i, data in enumerate(corpus):
            (seed_dir / f"seed-{i:05d}").write_bytes(data)

        def target(data: bytes) -> None:
            if time.monotonic() > deadline:
                report(stats, time.monotonic() - start, engine, len(corpus))
                os._exit(1 if stats.crashes else 0)  # libFuzzer would take SystemExit for a crash
            stats.one(data)

        (work / "found").mkdir()
        atheris.Setup(
            [
                sys.argv[0],
                "-max_len=8192",
                "-rss_limit_mb=4096",
                f"-artifact_prefix={work}/",
                str(work / "found"),
                str(seed_dir),
            ],
            target,
        )
        atheris.Fuzz()
    for data in corpus:  # every seed once, as is (libFuzzer does this itself)
        stats.one(data)
    rng = random.Random(args.seed)
    while time.monotonic() < deadline:
        stats.one(_mutate(rng, rng.choice(corpus), corpus))
    report(stats, time.monotonic() - start, engine, len(corpus))
    sys.exit(1 if stats.crashes else 0)


def report(stats: Stats, elapsed: float, engine: str, seeds_count: int) -> None:
    print(
        json.dumps(
            {
                "engine": engine,
                "seeds": seeds_count,
                "duration_s": round(elapsed, 1),
                "executions": stats.executions,
                "crashes": stats.crashes,
                "crash_kinds": stats.kinds,
                "crash_dir": str(stats.dir) if stats.crashes else None,
            },
            indent=2,
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
