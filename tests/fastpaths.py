"""What the tests of the C fast paths (net/_fastnet.c, sip/_fastsip.c, correlate/_fastcorr.c,
render/_fasttext.c, analysis/_faststats.c, pipeline/_fastinbox.c) share: the captures they compare the C and Python
paths on, and a run of a test module with its C extension built under ASan and UBSan, in a child
process (the fast paths read packets from anywhere: an overread or an overflow there would go
unseen by tests that compare results only).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import sipsniff
from tests.conftest import CORPUS, ROOT


def needs_c(fast: object, python: str = "the Python code") -> pytest.MarkDecorator:
    """Skip a module of comparisons of a C fast path with its Python code where ``fast`` (what
    the package loaded of it) is None: not built, or ``SIPSNIFF_PURE_PYTHON`` set."""
    return pytest.mark.skipif(
        fast is None,
        reason="the C fast path is not built here (no C compiler at install time, or "
        f"SIPSNIFF_PURE_PYTHON is set): {python} alone runs, nothing to compare",
    )


def captures() -> list[Path]:
    """Every capture of captures/ (the labelled scenarios included) and of the public corpus."""
    found = [p for p in sorted(ROOT.glob("captures/**/*")) if p.suffix in (".pcap", ".pcapng")]
    if CORPUS.is_dir():
        found += [
            p
            for p in sorted(CORPUS.iterdir())
            if p.is_file() and p.suffix not in (".md", ".tsv", ".txt")
        ]
    return found


def run_sanitized(
    tmp_path: Path, source: str, module: str, tests: list[Path], only: str = ""
) -> None:
    """Build ``source`` (relative to the project) as ``module`` with ASan and UBSan, and run
    ``tests`` (pytest files, but their sanitizer tests; with ``only``, those whose names have it)
    with it in a child process: they must pass without a single report."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed: no sanitizer build")
    runtimes = [
        subprocess.run(
            [gcc, f"-print-file-name={lib}"], check=True, capture_output=True, text=True
        ).stdout
        for lib in ("libasan.so", "libubsan.so")
    ]
    if not all(os.path.isabs(r.strip()) for r in runtimes):
        pytest.skip("gcc has no libasan / libubsan here")
    built = tmp_path / f"{module.rpartition('.')[2]}.so"
    subprocess.run(
        [
            gcc,
            "-shared",
            "-fPIC",
            "-g",
            "-O1",
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=undefined",
            "-fno-omit-frame-pointer",
            f"-I{sysconfig.get_paths()['include']}",
            str(ROOT / source),
            "-o",
            str(built),
        ],
        check=True,
    )
    select = "not sanitizers" + (f" and {only}" if only else "")
    script = (
        "import importlib, importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location({module!r}, {str(built)!r})\n"
        "mod = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(mod)\n"
        f"sys.modules[{module!r}] = mod\n"
        "import pytest\n"
        f"assert importlib.import_module({module!r}).__file__ == {str(built)!r}\n"
        f"sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '-k', {select!r},"
        f" *{[str(t) for t in tests]!r}]))\n"
    )
    env = {
        **os.environ,
        "LD_PRELOAD": ":".join(r.strip() for r in runtimes),
        "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:exitcode=99",
    }
    env.pop(sipsniff.PURE_PYTHON_VARIABLE, None)
    run = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "runtime error" not in run.stderr and "AddressSanitizer" not in run.stderr
