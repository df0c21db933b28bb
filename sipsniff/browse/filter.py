"""The filter box of the call list: the selection language of the CLI, and free words.

``method:INVITE state:rejected status:4xx user:100 -host:10.0.0.0/8 since:10:00 "alice smith"``:
each ``key:value`` is the command line's ``--key value``; free words are looked for in what a row
shows; ``-`` leaves out what a term picks (``analysis.query`` has the grammar). A filter being
typed that does not parse yet says why in the status line, and filters on the terms it read.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from sipsniff.analysis.query import Query, QueryIndex, parse_query
from sipsniff.model import Dialog, Trace


class Filter:
    def __init__(self, tz: datetime.tzinfo | None = None) -> None:
        self.tz = tz
        """Zone of the times typed (``since:10:00``): the one the call list shows."""
        self.query = Query()
        self.index = QueryIndex()
        """Kept between keys: each one filters from what the last one learnt of the trace."""

    @property
    def trivial(self) -> bool:
        """Nothing to filter on: every row."""
        return self.query.empty

    @property
    def error(self) -> str | None:
        return self.query.error

    def set(self, text: str) -> str | None:
        """Take what the box holds; the error (None: every term was understood)."""
        self.query = parse_query(text, self.tz)
        return self.query.error

    def apply(self, trace: Trace, dialogs: Sequence[Dialog]) -> list[Dialog]:
        """The dialogs of ``dialogs`` (in their order) the filter keeps."""
        return self.query.select(trace, dialogs, index=self.index)

    def forget(self, part: Trace) -> None:
        """Dialogs a live session let go: out of the index too."""
        self.index.forget(part)
