"""The Renderer interface every output format implements, its registry, and shared time formatting.

A renderer turns a report that analysis made into output: ``read``'s renderers a ``TraceReport``
(the dialogs the user picked, their findings and ladders), ``stats``'s a ``StatsReport``, ``auth``'s
an ``AuthReport``. Each kind of document has its registry (``RENDERERS``, ``STATS_RENDERERS``,
``AUTH_RENDERERS``); the CLI takes a command's ``--format`` choices from it and looks the renderer
up by name. A module registers its classes when imported; ``PLUGINS`` names those modules.

Times are integers of nanoseconds all the way: formatting truncates (never rounds) to the capture's
resolution, so a microsecond capture never shows digits it does not have, and ``0.9999996`` never
turns into ``1.000000``.
"""

from __future__ import annotations

import datetime
import functools
import importlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import IO, TYPE_CHECKING, ClassVar, Generic, Protocol, TextIO, TypeVar

from sipsniff.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from sipsniff.analysis.auth import AuthReport
    from sipsniff.analysis.report import TraceReport
    from sipsniff.analysis.summary import StatsReport
    from sipsniff.model import Dialog, Trace

TIME_MODES = ("abs", "rel", "dialog", "delta")
"""Values of ``RenderOptions.time``."""
VIEWS = ("list", "ladder", "both")
"""Values of ``RenderOptions.view``."""
UNBOUNDED = 1_000_000
"""The width of output that is not a terminal (a file, a pipe, without ``COLUMNS``): so wide that
nothing is cut or folded, and layouts take their natural size (rich pads no line to the width).
Text renderers treat a width this large as no width at all (``unbounded``)."""


def unbounded(width: int) -> bool:
    """``width`` is no limit: the output is a file or a pipe, and lines are written whole."""
    return width >= UNBOUNDED


EXPLAIN_LEVELS = ("", "brief", "full")
"""Values of ``RenderOptions.explain`` (``analysis.explain.LEVELS``, and none)."""


@dataclass(frozen=True)
class RenderOptions:
    """What the user asked for, independent of the output format."""

    time: str = "dialog"
    """``abs``: wall clock (local, or UTC with ``utc``); ``rel``: since the first message of the
    capture; ``dialog``: since the dialog's first message, plus the delta to the previous message;
    ``delta``: since the previous message of the dialog."""
    utc: bool = False
    """Show wall-clock times in UTC instead of the local zone."""
    by_host: bool = False
    """One ladder column per IP address instead of one per ip:port."""
    full: bool = False
    """Print each message's text under its arrow."""
    width: int | None = None
    """Output width in cells; None means the console's (terminal) width."""
    tz: datetime.tzinfo | None = None
    """Zone for wall-clock times when not ``utc``; None means the local zone (tests fix one)."""
    view: str = "both"
    """``list``: the call list and summary; ``ladder``: one ladder per dialog; ``both``."""
    explain: str = ""
    """Learn mode (``read --explain``): "" for none, ``brief`` (each message, and the headers a
    learner meets once per dialog) or ``full`` (every header of every message)."""

    def __post_init__(self) -> None:
        if self.time not in TIME_MODES:
            raise UsageError(f"unknown time mode {self.time!r}: use one of {', '.join(TIME_MODES)}")
        if self.view not in VIEWS:
            raise UsageError(f"unknown view {self.view!r}: use one of {', '.join(VIEWS)}")
        if self.explain not in EXPLAIN_LEVELS:
            raise UsageError(
                f"unknown explain level {self.explain!r}: use one of {', '.join(EXPLAIN_LEVELS[1:])}"
            )
        if self.width is not None and self.width < 20:
            raise UsageError(f"width {self.width} is too narrow: use 20 columns or more")


class Renderer:
    """One output format of ``read``: a ``TraceReport`` in, text out. Every renderer of ``read``
    derives from it: it sets ``name`` and ``description`` and defines ``write``."""

    name: ClassVar[str]
    """Format name as the CLI spells it (``text``, ``json``)."""
    description: ClassVar[str] = ""
    """What the format is, for ``--help``: ``a self-contained page``."""
    console: ClassVar[bool] = False
    """It lays text out with rich: the CLI hands it a ``Console`` rather than a stream."""

    def write(self, report: TraceReport, options: RenderOptions, out: TextIO | Console) -> None:
        """Write ``report`` to ``out``."""
        raise NotImplementedError

    def render(
        self,
        trace: Trace,
        dialogs: Sequence[Dialog],
        options: RenderOptions,
        out: TextIO | Console,
    ) -> None:
        """Write ``dialogs`` (a selection of ``trace.dialogs``) to ``out``: the report of them
        (``analysis.report``), then ``write``. For callers that hold a trace, not a report."""
        from sipsniff.analysis.report import TraceReport

        self.write(TraceReport(trace, dialogs, by_host=options.by_host), options, out)


class StatsRenderer(Protocol):
    """One output format of ``stats``."""

    name: ClassVar[str]
    description: ClassVar[str]
    console: ClassVar[bool]

    def write(self, report: StatsReport, options: StatsOptions, out: TextIO | Console) -> None:
        """Write ``report`` to ``out``."""


@dataclass(frozen=True)
class StatsOptions:
    """What the user asked of ``stats`` output."""

    top: int = 10
    """Rows of the peers table in text (JSON lists every peer)."""


class AuthRenderer(Protocol):
    """One output format of ``auth``."""

    name: ClassVar[str]
    description: ClassVar[str]
    console: ClassVar[bool]

    def write(
        self, trace: Trace, report: AuthReport, options: AuthOptions, out: TextIO | Console
    ) -> None:
        """Write ``report`` (of ``trace``) to ``out``."""


@dataclass(frozen=True)
class AuthOptions:
    """What the user asked of ``auth`` output."""

    show_password: bool = False
    """Show passwords in the computation (masked otherwise)."""


PLUGINS = ("terminal", "json", "html", "diagram", "ndjson", "stats", "auth")
"""Modules of ``sipsniff.render`` that register renderers, in the order their formats are
listed (``Registry.names``, and so ``--format`` and its help)."""

T = TypeVar("T")
C = TypeVar("C", bound=type)


class Registry(Generic[T]):
    """The renderers of one kind of document, by format name.

    ``register`` is a class decorator; a name is taken once. ``names`` lists the formats in the
    order of ``PLUGINS`` (then registration), whatever order the modules were imported in.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        """What the renderers render: ``trace`` (``read``), ``stats``, ``auth``."""
        self._classes: dict[str, type[T]] = {}

    def register(self, cls: C) -> C:
        """Make ``cls`` available under its ``name``.

        Raises:
            ValueError: another class already registered that name.
        """
        name: str = cls.name  # type: ignore[attr-defined]
        other = self._classes.get(name)
        if other is not None and other is not cls:
            raise ValueError(
                f"{self.kind} renderer {name!r} is already registered by {other.__qualname__}"
            )
        self._classes[name] = cls
        return cls

    def __getitem__(self, name: str) -> type[T]:
        return self._classes[name]

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._classes)

    def names(self) -> tuple[str, ...]:
        """The format names, in the order of ``PLUGINS`` (loads them first)."""
        load_plugins()
        modules = {f"{__package__}.{m}": k for k, m in enumerate(PLUGINS)}
        ranked = sorted(
            enumerate(self._classes.items()),
            key=lambda item: (modules.get(item[1][1].__module__, len(PLUGINS)), item[0]),
        )
        return tuple(name for _, (name, _) in ranked)

    def help(self) -> str:
        """``text: call list and ladders in the terminal; json: ...; mermaid, plantuml: sequence
        diagrams.``: each format with its ``description``, names of one description together."""
        groups: list[tuple[list[str], str]] = []
        for name in self.names():
            description = getattr(self._classes[name], "description", "")
            if groups and groups[-1][1] == description:
                groups[-1][0].append(name)
            else:
                groups.append(([name], description))
        return (
            "; ".join(f"{', '.join(names)}: {d}" if d else ", ".join(names) for names, d in groups)
            + "."
        )


def stream_of(out: TextIO | Console) -> IO[str]:
    """The stream under ``out``: a renderer of plain text writes there, not through rich."""
    from rich.console import Console

    return out.file if isinstance(out, Console) else out


def console_of(out: TextIO | Console, width: int | None = None) -> Console:
    """``out`` when it is a console; else a console writing to it, without markup, emoji or
    highlighting (packet text is never markup), ``width`` cells wide (None: the terminal's)."""
    from rich.console import Console

    if isinstance(out, Console):
        return out
    return Console(file=out, width=width, markup=False, emoji=False, highlight=False)


def load_plugins() -> None:
    """Import the modules of ``PLUGINS`` (each registers its renderers as it is imported)."""
    for module in PLUGINS:
        importlib.import_module(f"{__package__}.{module}")


RENDERERS: Registry[Renderer] = Registry("trace")
"""Renderers of ``read``, by format name."""
STATS_RENDERERS: Registry[StatsRenderer] = Registry("stats")
"""Renderers of ``stats``, by format name."""
AUTH_RENDERERS: Registry[AuthRenderer] = Registry("auth")
"""Renderers of ``auth``, by format name."""


def register(cls: C) -> C:
    """Class decorator: make a renderer of ``read`` available under its ``name``.

    Raises:
        ValueError: another class already registered that name.
    """
    return RENDERERS.register(cls)


# -- time formatting --------------------------------------------------------------------------

_NS = 1_000_000_000


def _digits(resolution: int) -> int:
    return min(max(resolution, 0), 9)


def clock(
    ts_ns: int,
    resolution: int = 6,
    tz: datetime.tzinfo | None = None,
    *,
    date: bool = False,
) -> str:
    """Wall-clock time ``HH:MM:SS.ffffff`` (as many fraction digits as ``resolution``).

    Args:
        ts_ns: nanoseconds since the Unix epoch.
        resolution: fraction digits, 0 to 9.
        tz: the zone; None for the local zone.
        date: prefix ``YYYY-MM-DD``.
    """
    secs, frac = divmod(ts_ns, _NS)
    # The local zone is part of the key: a process may change it (TZ and time.tzset).
    text = _wall(secs, tz, date, None if tz else (time.tzname, time.timezone))
    digits = _digits(resolution)
    if digits:
        text += f".{frac // 10 ** (9 - digits):0{digits}d}"
    return text


@functools.lru_cache(maxsize=1024)
def _wall(secs: int, tz: datetime.tzinfo | None, date: bool, local: object) -> str:
    """``clock`` to the second: messages come many to a second, and strftime is slow."""
    when = datetime.datetime.fromtimestamp(secs, tz) if tz else _local(secs)
    return when.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S")


def _local(secs: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(secs).astimezone()


def utc_offset(secs: int, tz: datetime.tzinfo | None = None) -> int:
    """Seconds ``tz`` (local when None) is ahead of UTC at ``secs`` since the epoch: ``clock``
    shows the UTC time of ``secs + utc_offset(secs, tz)``."""
    when = datetime.datetime.fromtimestamp(secs, tz) if tz else _local(secs)
    offset = when.utcoffset() or datetime.timedelta(0)
    return int(offset.total_seconds())


def zone_name(ts_ns: int, tz: datetime.tzinfo | None = None) -> str:
    """``UTC`` or ``UTC+01:00``: the offset of ``tz`` (local when None) at ``ts_ns``."""
    offset = utc_offset(ts_ns // _NS, tz)
    if not offset:
        return "UTC"
    minutes = offset // 60
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{mins:02d}"


def seconds(ns: int, resolution: int = 6, *, sign: bool = False) -> str:
    """A span as seconds with ``resolution`` fraction digits: ``0.003412``, ``+12.000100``.

    Args:
        sign: prefix ``+`` to positive values (negative ones always carry ``-``).
    """
    prefix = "-" if ns < 0 else "+" if sign else ""
    whole, frac = divmod(abs(ns), _NS)
    digits = _digits(resolution)
    if not digits:
        return f"{prefix}{whole}"
    return f"{prefix}{whole}.{frac // 10 ** (9 - digits):0{digits}d}"


def _significant(value: int, unit: int, max_decimals: int) -> str:
    """``value / unit`` truncated to 4 significant digits, at most ``max_decimals`` decimals."""
    whole = value // unit
    decimals = min(max(0, 4 - len(str(whole))), max(max_decimals, 0))
    scaled = value * 10**decimals // unit
    if not decimals:
        return str(scaled)
    return f"{scaled // 10**decimals}.{scaled % 10**decimals:0{decimals}d}"


def duration(ns: int, resolution: int = 6, *, sign: bool = False) -> str:
    """A span for people: ``152 µs``, ``3.412 ms``, ``12.40 s``, ``16m40s``, ``1h02m03s``.

    Four significant digits, truncated, never finer than ``resolution``.

    Args:
        sign: prefix ``+`` to positive values (negative ones always carry ``-``).
    """
    prefix = "-" if ns < 0 else "+" if sign else ""
    value = abs(ns)
    digits = _digits(resolution)
    if value == 0:
        body = "0 s"
    elif value < 1_000:
        body = f"{value} ns"
    elif value < 1_000_000:
        body = f"{_significant(value, 1_000, digits - 6)} µs"
    elif value < _NS:
        body = f"{_significant(value, 1_000_000, digits - 3)} ms"
    elif value < 1_000 * _NS:
        body = f"{_significant(value, _NS, digits)} s"
    else:
        total = value // _NS
        hours, rest = divmod(total, 3600)
        mins, secs = divmod(rest, 60)
        body = f"{hours}h{mins:02d}m{secs:02d}s" if hours else f"{mins}m{secs:02d}s"
    return prefix + body


_TIME = attrgetter("ts_ns")
"""The time of an entry's message."""


@dataclass(frozen=True)
class TimeFormat:
    """The time columns a renderer shows, per ``RenderOptions.time``."""

    mode: str
    resolution: int
    """Fraction digits (6 for microsecond captures, 9 for nanosecond ones)."""
    tz: datetime.tzinfo | None
    """Zone of wall-clock times; None for the local zone."""
    origin_ns: int
    """Time of the first message of the capture (``rel`` counts from it)."""

    @classmethod
    def of(cls, trace: Trace, options: RenderOptions) -> TimeFormat:
        tz = datetime.UTC if options.utc else options.tz
        first = min(map(_TIME, trace.entries.values()), default=None)
        if first is None:
            first = min((d.start_ns for d in trace.dialogs.values()), default=0)
        return cls(options.time, trace.resolution, tz, first)

    @property
    def has_delta(self) -> bool:
        """True when a separate delta column follows the time column (``dialog`` mode)."""
        return self.mode == "dialog"

    def title(self, ts_ns: int) -> str:
        """Heading of the time column; for wall clock it names the zone at ``ts_ns``."""
        if self.mode == "abs":
            return f"time {zone_name(ts_ns, self.tz)}"
        return {"rel": "since start", "dialog": "time", "delta": "delta"}[self.mode]

    def stamp(self, ts_ns: int, dialog_start_ns: int, prev_ns: int | None) -> str:
        """The time column of one message.

        Args:
            dialog_start_ns: time of the dialog's first message.
            prev_ns: time of the previous message shown in the dialog; None for the first.
        """
        if self.mode == "abs":
            return clock(ts_ns, self.resolution, self.tz)
        if self.mode == "rel":
            return seconds(ts_ns - self.origin_ns, self.resolution)
        if self.mode == "delta":
            if prev_ns is None:
                return seconds(0, self.resolution)
            return seconds(ts_ns - prev_ns, self.resolution, sign=True)
        return seconds(ts_ns - dialog_start_ns, self.resolution)

    def delta(self, ts_ns: int, prev_ns: int | None) -> str:
        """The delta column: ``+3.412 ms`` after the previous message; "" for the first."""
        if prev_ns is None:
            return ""
        return duration(ts_ns - prev_ns, self.resolution, sign=True)

    def start(self, ts_ns: int, *, date: bool = False) -> str:
        """When a dialog started, for a list: wall clock in ``abs`` mode, else since the capture."""
        if self.mode == "abs":
            return clock(ts_ns, self.resolution, self.tz, date=date)
        return seconds(ts_ns - self.origin_ns, self.resolution)


def no_sip(trace: Trace) -> str | None:
    """The sentence that says plainly a capture holds no SIP (None when it holds some)."""
    if trace.entries:
        return None
    frames = trace.counts.frames or sum(i.frames for i in trace.inputs)
    text = f"No SIP in this capture: {frames} frame{'s' * (frames != 1)} read, none carried a SIP message"
    if frames:
        text += " (sipsniff looks for SIP by content, on every port)"
    if trace.tls:
        n = len(trace.tls)
        text += (
            f"; {n} encrypted TLS connection{'s' * (n != 1)} may carry some "
            "(--tls-keylog FILE decrypts them)"
        )
    if n := trace.skipped_total:
        text += f"; {n} record{'s' * (n != 1)} could not be read (-f json lists them)"
    return text + "."
