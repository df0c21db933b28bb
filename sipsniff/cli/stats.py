"""``sipsniff stats``: the figures of ``tshark -z sip,stat`` and call, registration and transaction
KPIs, as text or one JSON document."""

from __future__ import annotations

from typing import Any

import click

from sipsniff.analysis.rtp import RtpObserver
from sipsniff.analysis.summary import Summary
from sipsniff.cli.common import (
    check_outputs,
    cli,
    keep_until_exit,
    limit_options,
    make_selection,
    open_output,
    output_options,
    renderer_target,
    report_damage,
    report_limits,
    report_matches,
    report_no_sip,
    selection_options,
)
from sipsniff.cli.env import Environment, pass_environment
from sipsniff.errors import UsageError
from sipsniff.pipeline import Limits, acyclic, read_trace
from sipsniff.render.base import STATS_RENDERERS, StatsOptions

HOLD = 20_000
"""Default of ``--max-dialogs``: sngrep's default limit of calls; about 100 MB of a capture."""


@cli.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@output_options(STATS_RENDERERS)
@click.option(
    "--top", type=click.IntRange(min=1), default=10, show_default=True, help="Top talkers shown."
)
@click.option(
    "--rtp", is_flag=True, help="RTP streams the SDP announced: packets, loss, delta, jitter."
)
@click.option(
    "--max-dialogs",
    "hold",
    type=click.IntRange(min=1),
    default=HOLD,
    show_default=True,
    metavar="N",
    help="Dialogs held in memory at once, for captures of any size: beyond it, the oldest that "
    "are over are counted and forgotten (a call still in progress only when it must: a warning "
    "says so).",
)
@selection_options
@limit_options
@pass_environment
def stats(
    env: Environment,
    files: tuple[str, ...],
    fmt: str,
    output: str | None,
    top: int,
    rtp: bool,
    hold: int,
    limits: Limits,
    **sel: Any,
) -> None:
    """Count and measure the SIP in FILEs: what tshark -z sip,stat shows, and call KPIs."""
    selection = make_selection(tz=env.tz, **sel)
    observer = RtpObserver() if rtp else None
    summary = Summary(selection, rtp=observer is not None)
    check_outputs([("-o", output)], files)
    with open_output(output, env) as out:
        trace = read_trace(
            files,
            media=[observer] if observer is not None else [],
            limits=limits,
            summarize=summary.add,
            hold=hold,
        )
        keep_until_exit(trace)
        with acyclic():
            summary.add(trace)
        if selection.dialog is not None and not summary.chosen:
            raise UsageError(f"--dialog {selection.dialog}: there are {summary.dialogs} dialogs")
        report_matches(env, selection, summary.chosen, summary.dialogs)
        report = summary.report(trace, top=top, observer=observer)
        renderer = STATS_RENDERERS[fmt]()
        renderer.write(report, StatsOptions(top=top), renderer_target(renderer, out, env))
    cut = trace.counts.dialogs_cut_short
    if cut:
        env.warn(
            f"{cut} dialog{'s' * (cut != 1)} not over yet had to be summed up early, to hold "
            f"{hold} at most (--max-dialogs): messages of theirs that came later count as new "
            "dialogs; raise --max-dialogs for exact figures"
        )
    report_limits(trace, limits)
    if not renderer.console or output is not None:
        report_no_sip(trace)  # the text on a terminal says it already
    report_damage(trace)
