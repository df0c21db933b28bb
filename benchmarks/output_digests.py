"""Digests of every output of every command on every capture: the check that a refactoring changed
nothing a user sees.

    python benchmarks/output_digests.py write BEFORE.json      # before the change
    python benchmarks/output_digests.py compare BEFORE.json    # after: the outputs that differ

Each capture of ``captures/`` (and ``captures/scenarios/``) and of the public corpus beside the
project (``../shared/corpus/public``) is run through ``read`` in every format (text at 100 columns,
with ``-v`` and ``--time abs --utc`` too), ``stats`` (text and JSON), and ``auth`` (text and JSON),
in this process through click's runner with a fixed time zone; the SHA-256 of stdout, stderr and
the exit status is kept per (capture, command). ``compare`` prints the commands whose output
changed (run them in a worktree of the old commit to see how).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COMMANDS: tuple[tuple[str, ...], ...] = (
    ("read",),
    ("read", "-v", "--time", "abs", "--utc"),
    ("read", "-f", "json"),
    ("read", "-f", "json", "-v"),
    ("read", "-f", "ndjson"),
    ("read", "-f", "csv"),
    ("read", "-f", "html"),
    ("read", "-f", "mermaid"),
    ("read", "-f", "plantuml"),
    ("read", "--calls", "-f", "json"),
    ("stats",),
    ("stats", "-f", "json"),
    ("auth",),
    ("auth", "-f", "json"),
)
"""What runs on each capture (the capture's path goes after the command's name)."""


def captures() -> list[Path]:
    found = sorted((ROOT / "captures").glob("*.pcap*"))
    found += sorted((ROOT / "captures" / "scenarios").glob("*.pcap"))
    corpus = ROOT.parent / "shared" / "corpus" / "public"
    if corpus.is_dir():
        found += sorted(
            p for p in corpus.iterdir() if p.is_file() and p.suffix not in (".md", ".tsv")
        )
    return found


def run(args: list[str]) -> tuple[str, str, int]:
    from click.testing import CliRunner

    from sipsniff.cli import cli

    result = CliRunner().invoke(cli, args, catch_exceptions=True, env={"COLUMNS": "100"})
    err = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        err += f"\nEXCEPTION {type(result.exception).__name__}: {result.exception}"
    return result.stdout, err, result.exit_code


def key(capture: Path, command: tuple[str, ...]) -> str:
    """``captures/x.pcap :: read -f json``: the same in any checkout of the project."""
    where = capture.relative_to(ROOT) if capture.is_relative_to(ROOT) else capture.name
    return f"{where} :: {' '.join(command)}"


def digest(out: str, err: str, status: int) -> str:
    return hashlib.sha256(f"{status}\0{out}\0{err}".encode()).hexdigest()


def outputs() -> dict[str, str]:
    os.environ["TZ"] = "UTC"
    time.tzset()
    os.chdir(ROOT)  # paths as a user types them, the same in any checkout: they are in outputs
    found: dict[str, str] = {}
    for capture in captures():
        path = os.path.relpath(capture, ROOT)
        for command in COMMANDS:
            args = [command[0], path, *command[1:]]
            found[key(capture, command)] = digest(*run(args))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("write", "compare"))
    parser.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    now = outputs()
    if args.action == "write":
        args.file.write_text(json.dumps(now, indent=0, sort_keys=True))
        print(f"{len(now)} outputs written to {args.file}")
        return 0
    before: dict[str, str] = json.loads(args.file.read_text())
    changed = sorted(k for k in now if before.get(k) != now[k])
    gone = sorted(set(before) - set(now))
    for k in changed:
        print(f"changed: {k}")
    for k in gone:
        print(f"gone: {k}")
    print(f"{len(now)} outputs, {len(changed)} changed, {len(gone)} gone")
    return 1 if changed or gone else 0


if __name__ == "__main__":
    sys.exit(main())
