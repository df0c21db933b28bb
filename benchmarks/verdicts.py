"""Precision and recall of every detector, states and outcomes, on the labelled scenarios.

    python benchmarks/verdicts.py            # the table of docs/findings.md, and every miss
    python benchmarks/verdicts.py --markdown # the same table as Markdown, for the docs

For each scenario of ``captures/scenarios`` (recorded from real peers, labelled from what the
recipe did: captures/scenarios/README.md), sipsniff's findings are compared with the label: a
required finding reported is a true positive, one not reported a miss, a reported finding that no
``[[finding]]`` or ``[[may]]`` entry allows a false positive. States, outcomes and KPIs of every
dialog are compared too, and warnings or errors on the scenarios labelled healthy are counted.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sipsniff.analysis.findings import KINDS  # every detector's kinds, in the order of the docs
from tests.scenarios.labels import check_dialogs, conclude, scenarios, score


def _ratio(a: int, b: int) -> str:
    return "-" if b == 0 else f"{a / b:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)
    tp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    where: dict[str, set[str]] = {k: set() for k in KINDS}
    problems: list[str] = []
    dialogs = wrong_dialogs = healthy = noisy = 0
    found = scenarios()
    for sc in found:
        v = conclude(sc.pcap)
        bad = check_dialogs(sc.label, v)
        dialogs += len(v.trace.dialogs)
        wrong_dialogs += len(bad)
        problems += [f"{sc.name}: {p}" for p in bad]
        s = score(sc.label, v)
        tp += s.tp
        fn += s.fn
        fp += s.fp
        for kind in {*s.tp, *s.fn}:
            where.setdefault(kind, set()).add(sc.name)
        problems += [f"{sc.name}: {p}" for p in s.misses + s.false_alarms]
        if sc.healthy:
            healthy += 1
            loud = [f for f in v.found if f.severity in ("error", "warning")]
            if loud:
                noisy += 1
                problems += [f"{sc.name} (healthy): {f.severity} {f.kind}" for f in loud]
    rows: list[tuple[str, ...]] = []
    for kind in KINDS:
        rows.append(
            (
                kind,
                str(len(where.get(kind, ()))),
                str(tp[kind]),
                str(fp[kind]),
                str(fn[kind]),
                _ratio(tp[kind], tp[kind] + fp[kind]),
                _ratio(tp[kind], tp[kind] + fn[kind]),
            )
        )
    total = ("all", str(len(found)), *map(str, (tp.total(), fp.total(), fn.total())))
    rows.append(
        (
            *total,
            _ratio(tp.total(), tp.total() + fp.total()),
            _ratio(tp.total(), tp.total() + fn.total()),
        )
    )
    head = ("detector", "scenarios", "true +", "false +", "missed", "precision", "recall")
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|---|" + "---:|" * (len(head) - 1))
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
        for r in (head, *rows):
            print(
                "  ".join(
                    c.ljust(w) if i == 0 else c.rjust(w)
                    for i, (c, w) in enumerate(zip(r, widths, strict=True))
                )
            )
    print()
    print(
        f"{len(found)} scenarios, {dialogs} dialogs: {wrong_dialogs} disagreements on states, "
        f"outcomes and KPIs; {noisy} of {healthy} healthy scenarios with a warning or an error"
    )
    for p in problems:
        print("  " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
