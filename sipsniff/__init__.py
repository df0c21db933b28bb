"""sipsniff: a SIP traffic analyzer."""

import importlib
import os
from types import ModuleType

__version__ = "0.1.0"

PURE_PYTHON_VARIABLE = "SIPSNIFF_PURE_PYTHON"
"""Set (to anything but "" or "0") in the environment, sipsniff runs in Python alone."""


def pure_python() -> bool:
    """Whether ``SIPSNIFF_PURE_PYTHON`` asks for Python alone: no C fast path is loaded (the
    parser's, the correlator's, its tables', the framer's, the decoder's, the page's texts', the
    sip,stat replay's, the two-process reader's)."""
    return os.environ.get(PURE_PYTHON_VARIABLE, "") not in ("", "0")


def fast_module(name: str) -> ModuleType | None:
    """The C extension ``sipsniff.<name>`` (``net._fastnet``...), or None: when it was not built
    (no C compiler at install time), or when ``SIPSNIFF_PURE_PYTHON`` is set (``pure_python``)."""
    if pure_python():
        return None
    try:
        return importlib.import_module(f"sipsniff.{name}")
    except ImportError:
        return None
