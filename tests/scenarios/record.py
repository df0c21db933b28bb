"""Record the labelled scenarios: ``python -m tests.scenarios.record [NAME...]`` (as root).

Each recipe (a function in one of the ``recipes_*`` modules, registered with ``@recipe``) runs real
peers in network namespaces of its own and writes one pcap. Without names, every recipe runs;
``--list`` names them; ``--out DIR`` writes elsewhere than ``captures/scenarios`` (the tests
re-record into a temporary directory). The labels (``NAME.toml``) are written by hand from what
the recipe does, never from this output.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from tests.scenarios.harness import RECIPES, Recipe, missing_tools

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "captures" / "scenarios"

MODULES = ("recipes_register", "recipes_calls", "recipes_features", "recipes_attacks")
"""The modules that hold recipes (absent ones are skipped: a new group starts empty)."""


def load_recipes() -> dict[str, Recipe]:
    for module in MODULES:
        try:
            importlib.import_module(f"tests.scenarios.{module}")
        except ModuleNotFoundError as e:
            if e.name != f"tests.scenarios.{module}":
                raise
    return RECIPES


def record(name: str, out_dir: Path = OUT) -> Path:
    """Run one recipe; the pcap it wrote."""
    recipes = load_recipes()
    out = out_dir / f"{name}.pcap"
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".pcap.part")
    recipes[name](tmp)
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="scenarios to record (default: all)")
    parser.add_argument("--out", type=Path, default=OUT, help="directory for the pcaps")
    parser.add_argument("--list", action="store_true", help="name the scenarios and stop")
    args = parser.parse_args(argv)
    recipes = load_recipes()
    if args.list:
        print("\n".join(sorted(recipes)))
        return 0
    missing = missing_tools()
    if missing:
        print(f"record: needs {', '.join(missing)}", file=sys.stderr)
        return 2
    names = args.names or sorted(recipes)
    unknown = [n for n in names if n not in recipes]
    if unknown:
        print(f"record: no recipe named {', '.join(unknown)}", file=sys.stderr)
        return 2
    for name in names:
        start = time.monotonic()
        path = record(name, args.out)
        print(f"{name}: {path} ({path.stat().st_size} bytes, {time.monotonic() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
