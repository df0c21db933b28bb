"""``sipsniff read``: capture files in, call list and ladders (or a document) out."""

from __future__ import annotations

import datetime
from contextlib import ExitStack
from typing import Any

import click

from sipsniff.analysis.frames import MediaLog, dialog_frames, media_frames
from sipsniff.analysis.select import select
from sipsniff.capture.outfile import OutputFile
from sipsniff.capture.pcapwriter import write_frames
from sipsniff.cli.common import (
    LADDER_LIMIT,
    check_outputs,
    cli,
    keep_until_exit,
    ladder_limit_hint,
    limit_options,
    link_header_option,
    make_selection,
    open_output,
    output_options,
    report_damage,
    report_limits,
    report_matches,
    report_no_sip,
    selection_options,
    write_output,
)
from sipsniff.cli.env import Environment, pass_environment
from sipsniff.cli.hep import close_agent, hep_agent, hep_options
from sipsniff.errors import UsageError
from sipsniff.pipeline import DEFAULT_LINK_HEADERS, Limits, read_trace
from sipsniff.render.base import EXPLAIN_LEVELS, RENDERERS, TIME_MODES, RenderOptions

MAX_DIALOGS = 100_000
"""``read --max-dialogs``: dialogs kept by default; a message kept costs about 2 KiB of memory."""


class _ReadCommand(click.Command):
    """``read``, whose ``--explain`` takes an optional value: ``--explain capture.pcap`` is the
    option without one, only ``--explain=full`` (or ``--explain full``) gives one."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, optional_value(args, "--explain", EXPLAIN_LEVELS[1:]))


def optional_value(args: list[str], option: str, values: tuple[str, ...]) -> list[str]:
    """``args`` with ``option`` written ``option=default`` where the next argument is not one of
    ``values`` (so that click does not take a file name for the option's value)."""
    out: list[str] = []
    for k, arg in enumerate(args):
        if arg == "--":
            return out + args[k:]
        if arg == option and (k + 1 >= len(args) or args[k + 1] not in values):
            arg = f"{option}={values[0]}"
        out.append(arg)
    return out


@cli.command(cls=_ReadCommand)
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@output_options(RENDERERS)
@click.option(
    "--time",
    "time_mode",
    type=click.Choice(TIME_MODES),
    default="dialog",
    show_default=True,
    help="Time column: wall clock, since the capture's start, since the dialog's start (+delta), "
    "or since the previous message.",
)
@click.option("--utc", is_flag=True, help="Absolute times in UTC instead of local time.")
@click.option("--by-host", is_flag=True, help="One ladder column per IP address, ports merged.")
@click.option("-v", "--full", is_flag=True, help="Print each message's text under its arrow.")
@click.option("--list", "list_only", is_flag=True, help="The call list only, no ladders.")
@click.option(
    "--explain",
    type=click.Choice(EXPLAIN_LEVELS[1:]),
    is_flag=False,
    flag_value="brief",
    default=None,
    help="Learn mode: under each arrow, what the message is and why it is there, with the RFC "
    "sections; a paragraph of what happened per dialog. --explain=full tells every header of "
    "every message.",
)
@link_header_option
@click.option(
    "--tls-keylog",
    "tls_keylog",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    metavar="FILE",
    help="Decrypt SIP over TLS 1.2/1.3 with this key log (SSLKEYLOGFILE format; needs tshark).",
)
@click.option(
    "--write-pcap",
    "write_pcap",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    metavar="OUT",
    help="Also write the frames that carry the chosen dialogs' messages (every TCP segment and "
    "IP fragment of them) to OUT: pcap, or pcapng when they span several link types.",
)
@click.option(
    "--with-rtp",
    is_flag=True,
    help="With --write-pcap: add the RTP and RTCP of the media the dialogs' SDP negotiated.",
)
@click.option(
    "--max-dialogs",
    type=click.IntRange(min=0),
    default=MAX_DIALOGS,
    show_default=True,
    metavar="N",
    help="Keep the first N dialogs (0: no limit); messages of later dialogs are counted, not "
    "kept, and a warning says so. `sipsniff stats` reads captures of any size.",
)
@limit_options
@selection_options
@hep_options
@pass_environment
def read(
    env: Environment,
    files: tuple[str, ...],
    fmt: str,
    output: str | None,
    time_mode: str,
    utc: bool,
    by_host: bool,
    full: bool,
    list_only: bool,
    explain: str | None,
    link_headers: tuple[str, ...],
    tls_keylog: str | None,
    write_pcap: str | None,
    with_rtp: bool,
    max_dialogs: int,
    limits: Limits,
    hep: str | None,
    hep_id: int,
    hep_password: str | None,
    **sel: Any,
) -> None:
    """Read pcap/pcapng FILEs (gzip too; - for stdin), several merged in time order."""
    selection = make_selection(tz=datetime.UTC if utc else env.tz, **sel)
    if with_rtp and write_pcap is None:
        raise UsageError("--with-rtp goes with --write-pcap OUT")
    if write_pcap is not None and "-" in files:
        raise UsageError("--write-pcap reads the inputs twice: standard input (-) cannot be used")
    check_outputs(
        [("-o", output), ("--write-pcap", write_pcap)], [*files, *filter(None, [tls_keylog])]
    )
    log = MediaLog() if with_rtp else None
    # Every output is opened, and the HEP collector resolved, before the capture is read; the
    # files take the place of the old ones only when all went well (``OutputFile``).
    with ExitStack() as stack:
        out = stack.enter_context(open_output(output, env))
        pcap = stack.enter_context(OutputFile(write_pcap, binary=True)) if write_pcap else None
        sender = hep_agent(hep, hep_id, hep_password)
        trace = read_trace(
            files,
            link_headers=link_headers or DEFAULT_LINK_HEADERS,
            media=() if log is None else (log,),
            tls_keylog=tls_keylog,
            limits=limits._replace(max_dialogs=max_dialogs),
        )
        keep_until_exit(trace)
        dialogs = select(trace, selection)
        if selection.dialog is not None and not dialogs:
            raise UsageError(f"--dialog {selection.dialog}: there are {len(trace.dialogs)} dialogs")
        report_matches(env, selection, len(dialogs), len(trace.dialogs))
        terminal = RENDERERS[fmt].console  # text laid out for a person, not a document
        view = "list" if list_only else "both"
        if terminal and view == "both" and selection.empty and len(dialogs) > LADDER_LIMIT:
            view = "list"
            env.warn(ladder_limit_hint(len(dialogs)))
        options = RenderOptions(
            time=time_mode,
            utc=utc,
            by_host=by_host,
            full=full,
            view=view,
            tz=env.tz,
            explain=explain or "",
        )
        write_output(
            trace, dialogs, fmt=fmt, out=out, selection=selection, options=options, env=env
        )
        if pcap is not None:
            wanted = dialog_frames(trace, dialogs)
            if log is not None:
                wanted |= media_frames(trace, dialogs, log)
            count, kind = write_frames(files, wanted, pcap.binary)
            pcap.commit()
            s = "" if len(dialogs) == 1 else "s"
            env.say(f"wrote {count} frames of {len(dialogs)} dialog{s} to {write_pcap} ({kind})")
        if sender is not None:
            for e in trace.entries.values():
                sender.send(e, block=True)  # a file: wait for room rather than drop
            close_agent(sender)
    report_limits(trace, limits._replace(max_dialogs=max_dialogs))
    if not terminal or output is not None:
        report_no_sip(trace)  # the text on a terminal says it already
    report_damage(trace)
