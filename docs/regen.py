"""Re-run the commands shown in the docs and put their real output under them.

Every fenced block whose first line is ``$ sipsniff ...`` (or ``$ echo $?``) is run from the project's
top folder at 80 columns (``# COLUMNS=N`` on the line after the command changes that), and the rest of
the block is replaced by what the command printed (stdout and stderr). ``| head -N`` is honoured.

usage: python docs/regen.py [PAGE.md ...]   (default: the pages in PAGES)

Pages whose commands need a listener, an interface or a file made by hand (live, hep, auth) keep
their output as recorded; run them by hand when those change.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]
PAGES = ("read.md", "export.md", "learn.md")
"""Pages whose every command runs unattended on the captures in captures/."""
BLOCK = re.compile(r"```\n(\$ [^\n]+)\n(.*?)```", re.S)


def run(command: str, columns: int, last_status: list[int]) -> str:
    if command == "echo $?":
        return f"{last_status[0]}\n"
    env = dict(os.environ, COLUMNS=str(columns), NO_COLOR="1", TZ="UTC")
    shell = command.replace("sipsniff ", f"{sys.executable} -m sipsniff ", 1)
    proc = subprocess.run(
        ["bash", "-o", "pipefail", "-c", shell + " 2>&1"],
        cwd=TOP,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    last_status[0] = proc.returncode
    return proc.stdout


def regen(page: Path) -> None:
    text = page.read_text()
    status = [0]

    def replace(m: re.Match[str]) -> str:
        out = []
        for line in m.group(0).split("\n")[1:-1]:
            if line.startswith("$ "):
                out.append(line)
                mcol = re.search(r"# COLUMNS=(\d+)", line)
                cmd = re.sub(r"\s*# COLUMNS=\d+", "", line[2:])
                out.append(run(cmd, int(mcol.group(1)) if mcol else 80, status).rstrip("\n"))
        return "```\n" + "\n".join(out) + "\n```"

    # keep only the command lines of each block, then fill in their output
    def strip(m: re.Match[str]) -> str:
        commands = [ln for ln in m.group(0).split("\n") if ln.startswith("$ ")]
        return "```\n" + "\n".join(commands) + "\n```"

    text = BLOCK.sub(strip, text)
    text = re.sub(r"```\n(\$ [^`]*?)```", replace, text, flags=re.S)
    page.write_text(text)


if __name__ == "__main__":
    pages = [Path(p) for p in sys.argv[1:]] or [TOP / "docs" / p for p in PAGES]
    for p in pages:
        regen(p)
