"""Wiring of the stages: sources in, correlated traces out.

* ``stages``: ``Pipeline``, the stages in order (decode, reassemble, frame, parse, correlate) and
  the ``Limits`` of what it may hold;
* ``session``: ``Session``, the one engine every command runs (``read``, ``stats``, ``live``,
  ``hep``): a pipeline, what it keeps in memory (``Retention``) and who watches;
* ``read``: ``read_trace``, capture files into a trace, in one process or two;
* ``parallel``: the worker process of ``read_trace`` and what crosses to it.
"""

from sipsniff.pipeline.read import PARALLEL_MIN_BYTES, acyclic, read_trace
from sipsniff.pipeline.session import Retention, Session, SkippedLog
from sipsniff.pipeline.stages import DEFAULT_LIMITS, DEFAULT_LINK_HEADERS, Limits, MiB, Pipeline

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_LINK_HEADERS",
    "PARALLEL_MIN_BYTES",
    "Limits",
    "MiB",
    "Pipeline",
    "Retention",
    "Session",
    "SkippedLog",
    "acyclic",
    "read_trace",
]
