"""``sipsniff auth``: every Digest challenge, the request that answers it, the outcome, and whether a
password fits, with the computation step by step."""

from __future__ import annotations

from typing import Any

import click

from sipsniff.analysis.auth import analyze, parse_credentials_file
from sipsniff.analysis.select import select
from sipsniff.cli.common import (
    check_outputs,
    cli,
    keep_until_exit,
    make_selection,
    open_output,
    output_options,
    renderer_target,
    report_damage,
    report_matches,
    selection_options,
)
from sipsniff.cli.env import Environment, pass_environment
from sipsniff.errors import UsageError
from sipsniff.pipeline import read_trace
from sipsniff.render.base import AUTH_RENDERERS, AuthOptions


def load_credentials(path: str) -> dict[str, str]:
    """Read a ``user:password`` file; a bad line is a usage error that names it."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise UsageError(f"--credentials: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--credentials: {path} is not UTF-8 text") from None
    try:
        return parse_credentials_file(text)
    except ValueError as exc:
        raise UsageError(f"--credentials: {path}: {exc}") from None


@cli.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--password", default=None, help="The password of every user.")
@click.option(
    "--credentials",
    "credentials_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="A file of user:password lines, one per user.",
)
@click.option(
    "--show-password", is_flag=True, help="Show passwords in the computation (masked otherwise)."
)
@output_options(AUTH_RENDERERS)
@selection_options
@pass_environment
def auth(
    env: Environment,
    files: tuple[str, ...],
    password: str | None,
    credentials_file: str | None,
    show_password: bool,
    fmt: str,
    output: str | None,
    **sel: Any,
) -> None:
    """Explain Digest authentication in FILEs: challenges, answers, outcomes, password checks."""
    if password is not None and credentials_file is not None:
        raise UsageError("--password and --credentials exclude each other")
    passwords = load_credentials(credentials_file) if credentials_file is not None else {}
    selection = make_selection(tz=env.tz, **sel)
    check_outputs([("-o", output)], [*files, *filter(None, [credentials_file])])
    with open_output(output, env) as out:
        trace = read_trace(files)
        keep_until_exit(trace)
        dialogs = select(trace, selection)
        if selection.dialog is not None and not dialogs:
            raise UsageError(f"--dialog {selection.dialog}: there are {len(trace.dialogs)} dialogs")
        report_matches(env, selection, len(dialogs), len(trace.dialogs))
        report = analyze(trace, passwords=passwords, default_password=password)
        if not selection.empty:
            report = report.of_dialogs(dialogs)
        renderer = AUTH_RENDERERS[fmt]()
        options = AuthOptions(show_password=show_password)
        renderer.write(trace, report, options, renderer_target(renderer, out, env))
    report_damage(trace)
