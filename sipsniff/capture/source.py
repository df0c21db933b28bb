"""Sources as iterators: what a capture that runs on (the live ring, the HEP listener) hands over,
a batch at a time, until it is told to stop.

``batches`` turns a source's ``read(timeout)`` into an iterator of batches: one at least every
``tick`` seconds (maybe empty, so the caller can look at the clock, the signals and the screen),
until ``stopped()`` is true or ``deadline`` has passed; then what ``drain()`` still holds (the
kernel's last block), so that nothing captured is lost, and the end. A caller that has had enough
(``--count``) simply stops iterating.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")


def batches(
    read: Callable[[float], list[T]],
    *,
    stopped: Callable[[], bool],
    deadline: float | None = None,
    tick: float = 0.1,
    drain: Callable[[], list[T]] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[list[T]]:
    """Batches of ``read(wait)``, then of ``drain()``; see the module's docstring.

    Args:
        deadline: a time of ``clock`` (seconds) after which no more is read but the drain.
    """
    while not stopped():
        now = clock()
        if deadline is not None and now >= deadline:
            break
        wait = tick if deadline is None else max(0.0, min(tick, deadline - now))
        yield read(wait)
    if drain is not None:
        yield drain()
