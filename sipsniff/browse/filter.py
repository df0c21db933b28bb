"""The filter box of the call list: free words and the selection language of the CLI.

Free words match, case-insensitively, anywhere in what a row shows (From, To, Call-ID, method,
state, addresses); a word with a leading ``-`` must not match. ``key:value`` terms are the CLI's
selection options (``analysis.query``). A filter being typed that does not parse yet is an error
shown in the box, never an exception, and the rows stay as they were.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from sipsniff.browse.rows import Cells
from sipsniff.model import Dialog, Trace


class Filter:
    def __init__(self) -> None:
        self.text = ""
        self.words: list[str] = []
        self.unwanted: list[str] = []
        self.error: str | None = None

    @property
    def trivial(self) -> bool:
        """Nothing to filter on: every row."""
        return not self.words and not self.unwanted

    def set(self, text: str) -> str | None:
        """Take what the box holds; the error (None: it parses)."""
        self.text = text
        try:
            tokens = shlex.split(text)
        except ValueError as exc:
            self.error = f"filter: {exc}"
            return self.error
        self.error = None
        self.words = [t.lower() for t in tokens if not t.startswith("-")]
        self.unwanted = [t[1:].lower() for t in tokens if t.startswith("-") and len(t) > 1]
        return None

    def apply(self, trace: Trace, dialogs: Sequence[Dialog], cells: Cells) -> list[Dialog]:
        words, unwanted = self.words, self.unwanted
        out = []
        for d in dialogs:
            text = cells.text(d)
            if all(w in text for w in words) and not any(u in text for u in unwanted):
                out.append(d)
        return out
