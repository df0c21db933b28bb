"""Labels of the scenario corpus, and the comparison of what sipsniff concludes with them.

A label file (``captures/scenarios/NAME.toml``, beside ``NAME.pcap``) is written from what the
scenario *did* (the recipe in ``tests/scenarios/recipes_*.py``), never from sipsniff's output. Its
fields (captures/scenarios/README.md shows a whole file):

* ``title``, ``story``, ``recipe``, ``peers``: what ran, in words;
* ``healthy``: true when nothing is wrong in the network or in any configuration: no warning and
  no error may be reported;
* ``[[dialog]]``: one entry per dialog (every dialog of the capture must be matched by exactly one
  entry): ``match`` picks it (``method``: the method of its first request; ``from`` / ``to``: user
  parts; ``src`` / ``dst``: ``ip`` or ``ip:port`` of its first message; ``nth``: the n-th of the
  matches, 1-based, in capture order; ``count``: the entry is about every match, and there are
  exactly this many), then ``state`` (as the call list shows it), ``outcome``, ``call`` (whether it
  is a call), and optionally ``pdd_ms``, ``setup_ms``, ``duration_ms`` as ``[low, high]`` ranges,
  ``ended_by`` (``caller`` or ``callee``) and ``messages`` (SIP messages in it, resent ones too);
* ``[[finding]]``: findings that must be reported: ``kind``, ``severity``, and ``dialog`` (a
  ``match`` table as above) or ``capture = true``, and optionally ``text``: substrings of the
  summary;
* ``[[may]]``: findings that may be reported and are true (neither required, nor false alarms):
  same fields, each optional but ``kind``.

``check`` compares: a list of mismatches, empty when sipsniff agrees with the label. ``score``
counts per detector: true positives (a required finding reported), misses (a required finding not
reported) and false positives (a reported finding that no ``finding`` or ``may`` entry allows).
"""

from __future__ import annotations

import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sipsniff.analysis.findings import Finding, findings
from sipsniff.analysis.stats import CallKpi, kpis
from sipsniff.correlate.states import Outcome
from sipsniff.model import Dialog, Trace
from sipsniff.pipeline import read_trace
from sipsniff.sip.uri import user_part

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "captures" / "scenarios"

OUTCOMES = frozenset(str(o) for o in Outcome)
"""The outcomes a label may name (docs/states.md defines each)."""

_DIALOG_KEYS = frozenset(
    {
        "match",
        "state",
        "outcome",
        "call",
        "pdd_ms",
        "setup_ms",
        "duration_ms",
        "ended_by",
        "messages",
    }
)
_MATCH_KEYS = frozenset({"method", "from", "to", "src", "dst", "nth", "count"})
_FINDING_KEYS = frozenset({"kind", "severity", "dialog", "capture", "text"})


class LabelError(ValueError):
    """A label file that does not follow the format."""


@dataclass
class Scenario:
    name: str
    pcap: Path
    label: dict[str, Any]

    @property
    def healthy(self) -> bool:
        return bool(self.label.get("healthy"))


def scenarios() -> list[Scenario]:
    """Every labelled scenario in ``captures/scenarios``, by name."""
    out = []
    for toml in sorted(SCENARIOS.glob("*.toml")):
        pcap = toml.with_suffix(".pcap")
        out.append(Scenario(toml.stem, pcap, load(toml)))
    return out


def load(path: Path) -> dict[str, Any]:
    """A label file, checked for the format."""
    with path.open("rb") as f:
        label = tomllib.load(f)
    for key in ("title", "story", "recipe", "peers", "healthy"):
        if key not in label:
            raise LabelError(f"{path.name}: no {key!r}")
    for d in label.get("dialog", []):
        unknown = set(d) - _DIALOG_KEYS
        if unknown:
            raise LabelError(f"{path.name}: dialog keys {sorted(unknown)} unknown")
        for key in ("match", "state", "outcome", "call"):
            if key not in d:
                raise LabelError(f"{path.name}: a dialog without {key!r}")
        if d["outcome"] not in OUTCOMES:
            raise LabelError(f"{path.name}: outcome {d['outcome']!r} is not one of {OUTCOMES}")
        _check_match(path, d["match"])
    for section in ("finding", "may"):
        for f in label.get(section, []):
            unknown = set(f) - _FINDING_KEYS
            if unknown or "kind" not in f:
                raise LabelError(f"{path.name}: {section} {f}: keys {sorted(unknown)} or no kind")
            if section == "finding" and (
                "severity" not in f or ("dialog" in f) == ("capture" in f)
            ):
                raise LabelError(f"{path.name}: finding {f} needs severity, and dialog or capture")
            if "dialog" in f:
                _check_match(path, f["dialog"])
    return label


def _check_match(path: Path, match: dict[str, Any]) -> None:
    unknown = set(match) - _MATCH_KEYS
    if unknown:
        raise LabelError(f"{path.name}: match keys {sorted(unknown)} unknown")


# -- matching ------------------------------------------------------------------------------------


def _endpoint_matches(want: str, ip: str, port: int) -> bool:
    if want.count(":") == 1 or want.startswith("["):
        return want in (f"{ip}:{port}", f"[{ip}]:{port}")
    return want == ip


def matching(trace: Trace, match: dict[str, Any]) -> list[Dialog]:
    """The dialogs of ``trace`` a ``match`` table picks (before ``nth`` / ``count``)."""
    out = []
    for d in trace.dialogs.values():
        if "method" in match and d.first_method.upper() != match["method"].upper():
            continue
        if "from" in match and user_part(d.from_uri) != match["from"]:
            continue
        if "to" in match and user_part(d.to_uri) != match["to"]:
            continue
        if "src" in match and not _endpoint_matches(match["src"], d.src.ip, d.src.port):
            continue
        if "dst" in match and not _endpoint_matches(match["dst"], d.dst.ip, d.dst.port):
            continue
        out.append(d)
    return out


def pick(trace: Trace, match: dict[str, Any]) -> list[Dialog]:
    """The dialogs a ``match`` table names, after ``nth`` / ``count``; [] when it names none."""
    found = matching(trace, match)
    if "nth" in match:
        n = match["nth"]
        return found[n - 1 : n] if 0 < n <= len(found) else []
    if "count" in match:
        return found if len(found) == match["count"] else []
    return found[:1] if len(found) == 1 else []


# -- comparing -----------------------------------------------------------------------------------


@dataclass
class Verdicts:
    """What sipsniff concludes of one capture."""

    trace: Trace
    calls: dict[int, CallKpi]
    """Call KPIs by ``Dialog.number``."""
    found: list[Finding]


def conclude(pcap: Path) -> Verdicts:
    trace = read_trace([str(pcap)], parallel=False)
    stats = kpis(trace)
    return Verdicts(trace, {c.dialog: c for c in stats.calls}, list(findings(trace)))


def _in(value_ns: int | None, bounds: list[float]) -> bool:
    return value_ns is not None and bounds[0] <= value_ns / 1e6 <= bounds[1]


def check_dialogs(label: dict[str, Any], v: Verdicts) -> list[str]:
    """Mismatches between the dialogs of the label and those sipsniff found."""
    problems: list[str] = []
    covered: Counter[int] = Counter()
    for entry in label.get("dialog", []):
        match = entry["match"]
        chosen = pick(v.trace, match)
        if not chosen:
            n = len(matching(v.trace, match))
            problems.append(f"dialog {match}: {n} dialogs match, the label names one or a count")
            continue
        for d in chosen:
            covered[d.id] += 1
            where = f"dialog {d.id} ({match})"
            if d.state != entry["state"]:
                problems.append(f"{where}: state {d.state!r}, label {entry['state']!r}")
            if d.outcome != entry["outcome"]:
                problems.append(f"{where}: outcome {d.outcome!r}, label {entry['outcome']!r}")
            if d.call != entry["call"]:
                problems.append(f"{where}: call {d.call}, label {entry['call']}")
            if "messages" in entry and len(d.messages) != entry["messages"]:
                problems.append(f"{where}: {len(d.messages)} messages, label {entry['messages']}")
            kpi = v.calls.get(d.id)
            for key, attr in (("pdd_ms", "pdd_ns"), ("setup_ms", "setup_ns")):
                if key in entry:
                    got = None if kpi is None else getattr(kpi, attr)
                    if not _in(got, entry[key]):
                        shown = None if got is None else round(got / 1e6, 1)
                        problems.append(f"{where}: {key} {shown}, label {entry[key]}")
            if "duration_ms" in entry:
                got = None if kpi is None else kpi.duration_ns
                if not _in(got, entry["duration_ms"]):
                    shown = None if got is None else round(got / 1e6, 1)
                    problems.append(f"{where}: duration_ms {shown}, label {entry['duration_ms']}")
            if "ended_by" in entry:
                got_by = None if kpi is None else kpi.ended_by
                if got_by != entry["ended_by"]:
                    problems.append(f"{where}: ended_by {got_by!r}, label {entry['ended_by']!r}")
    for d in v.trace.dialogs.values():
        if covered[d.id] == 0:
            problems.append(
                f"dialog {d.id} ({d.first_method} {d.from_uri} -> {d.to_uri}, {d.state}) "
                "has no label"
            )
        elif covered[d.id] > 1:
            problems.append(f"dialog {d.id} is labelled {covered[d.id]} times")
    return problems


def _finding_matches(spec: dict[str, Any], f: Finding, v: Verdicts) -> bool:
    if spec["kind"] != f.kind:
        return False
    if "severity" in spec and spec["severity"] != f.severity:
        return False
    if spec.get("capture") and f.dialog is not None:
        return False
    if "dialog" in spec:
        numbers = {d.id for d in pick(v.trace, spec["dialog"])}
        if f.dialog not in numbers:
            return False
    return all(t in f.summary for t in spec.get("text", []))


@dataclass
class Score:
    """Per detector kind: required findings reported, required ones missed, false alarms."""

    tp: Counter[str] = field(default_factory=Counter)
    fn: Counter[str] = field(default_factory=Counter)
    fp: Counter[str] = field(default_factory=Counter)
    misses: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)


def score(label: dict[str, Any], v: Verdicts) -> Score:
    s = Score()
    required = label.get("finding", [])
    allowed = label.get("may", [])
    used: set[int] = set()
    for spec in required:
        hit = [i for i, f in enumerate(v.found) if _finding_matches(spec, f, v)]
        if hit:
            s.tp[spec["kind"]] += 1
            used.update(hit)
        else:
            s.fn[spec["kind"]] += 1
            s.misses.append(f"missing {spec}")
    for i, f in enumerate(v.found):
        if i in used or any(_finding_matches(spec, f, v) for spec in allowed):
            continue
        s.fp[f.kind] += 1
        where = "capture" if f.dialog is None else f"dialog {f.dialog}"
        s.false_alarms.append(f"unexpected {f.severity} {f.kind} ({where}): {f.summary}")
    return s


def check(scenario: Scenario) -> list[str]:
    """Every way sipsniff's conclusions on the scenario differ from its label."""
    v = conclude(scenario.pcap)
    problems = check_dialogs(scenario.label, v)
    s = score(scenario.label, v)
    problems += s.misses + s.false_alarms
    if scenario.healthy:
        problems += [
            f"healthy scenario, yet {f.severity} {f.kind}: {f.summary}"
            for f in v.found
            if f.severity in ("error", "warning")
        ]
    return problems
