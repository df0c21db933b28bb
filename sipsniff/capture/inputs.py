"""The bytes of a capture input, before any format: a regular file mapped, standard input or a pipe
read whole, a gzip input decompressed; and the one line that says what an input is when it is no
capture (another capture format, a compressed or archived file, text, a web page, a Git LFS
pointer), with what to do about it.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import zlib
from typing import Final

from sipsniff.errors import CaptureError

STDIN: Final = "-"
"""The path that names standard input."""
GZIP: Final = b"\x1f\x8b"
"""The magic of a gzip member."""
_CHUNK: Final = 1 << 20
"""Bytes of compressed input fed to zlib at a time (so damage keeps what came before it)."""


def load(path: str, name: str) -> tuple[bytes | mmap.mmap, mmap.mmap | None]:
    """The whole input: its buffer, and the map when the buffer is one (a regular file).

    Raises:
        CaptureError: missing, unreadable, a directory.
    """
    if path == STDIN:
        try:
            return sys.stdin.buffer.read(), None
        except (AttributeError, OSError) as e:
            raise CaptureError(f"cannot read standard input: {e}") from None
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if stat.S_ISREG(st.st_mode) and st.st_size > 0:
                try:
                    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                    return m, m
                except (OSError, ValueError):
                    pass  # a file system that cannot map: read it instead
            return f.read(), None
    except FileNotFoundError:
        raise CaptureError(f"no such file: {path}") from None
    except PermissionError:
        raise CaptureError(f"cannot read {path}: permission denied") from None
    except IsADirectoryError:
        raise CaptureError(f"{path} is a directory, not a capture file") from None
    except OSError as e:
        reason = (e.strerror or str(e)).lower()
        raise CaptureError(f"cannot read {path}: {reason}") from None


def gunzip(src: bytes | mmap.mmap, name: str) -> tuple[bytes, str]:
    """The decompressed content (whole, in memory), and the warning of damage ("" when none).

    Several gzip members follow one another as ``zcat`` does; bytes after the last member are
    ignored. A stream cut short or damaged keeps what decompressed before the damage.

    Raises:
        CaptureError: damage before any data.
    """
    out: list[bytes] = []
    start = 0
    damage = ""
    while True:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        pos = start
        try:
            while not d.eof and pos < len(src):
                out.append(d.decompress(src[pos : pos + _CHUNK]))
                pos += _CHUNK
            if not d.eof:
                out.append(d.flush())
                damage = "cut short"
                break
        except zlib.error as e:
            damage = f"damaged ({str(e).rpartition(': ')[2]})"
            break
        start = min(pos, len(src)) - len(d.unused_data)
        if src[start : start + 2] != GZIP:
            break
    data = b"".join(out)
    if damage and not data:
        if damage == "cut short":
            raise CaptureError(f"{name} is a gzip file cut short before any of its data")
        raise CaptureError(f"{name} is a damaged gzip file {damage[8:]}")
    if damage:
        return data, (
            f"{name}: the gzip data is {damage} after {len(data)} bytes of capture; read up to there"
        )
    return data, ""


# -- formats we recognise but do not read ------------------------------------------------------
_CONVERT: Final = "convert it with: editcap -F pcap {path} out.pcap"
"""The hint for a capture format editcap reads (``through_editcap`` does it when editcap is
installed)."""
_FOREIGN: Final = (
    # (magic at offset 0, what it is, what to do)
    (b"snoop\x00\x00\x00", "a Sun snoop capture", _CONVERT),
    (b"XCP\x00", "a NetXRay / Windows Sniffer capture", _CONVERT),
    (b"TRSNIFF data    \x1a", "a Network General Sniffer capture", _CONVERT),
    (b"iptrace ", "an AIX iptrace capture", _CONVERT),
    (b"\xa1\xb2\xcd\x34", "a modified (Kuznetzov) pcap capture", _CONVERT),
    (b"\x34\xcd\xb2\xa1", "a modified (Kuznetzov) pcap capture", _CONVERT),
    (b"\xfd7zXZ\x00", "an xz-compressed file", "decompress it first with: xz -dk {path}"),
    (b"BZh", "a bzip2-compressed file", "decompress it first with: bzip2 -dk {path}"),
    (b"\x28\xb5\x2f\xfd", "a zstd-compressed file", "decompress it first with: zstd -d {path}"),
    (b"\x04\x22\x4d\x18", "an lz4-compressed file", "decompress it first with: lz4 -d {path}"),
    (b"PK\x03\x04", "a zip archive", "extract the capture first with: unzip {path}"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "extract the capture first with: 7z x {path}"),
)
_TEXT_CONTROLS: Final = frozenset(range(32)) - {9, 10, 12, 13, 27}
"""Bytes that do not occur in text: control characters other than tab, newlines, form feed, ESC."""


PCAPNG_MAGIC: Final = b"\x0a\x0d\x0d\x0a"
EDITCAP_TIMEOUT_S: Final = 300


def through_editcap(path: str, data: bytes | mmap.mmap, *, gz: bool) -> tuple[bytes, str] | None:
    """Another capture format Wireshark reads (snoop, ERF, NetXRay, iptrace...), converted to
    pcapng by editcap when it is installed; None when it is not, or when editcap cannot read it
    either (the caller then says what the file is and how to convert it).

    Returns:
        The pcapng bytes, and what the input was (``a Sun snoop capture``).
    """
    head = bytes(data[:512])
    what = next((w for magic, w, hint in _FOREIGN if head.startswith(magic)), None)
    if what is None:
        if not _TEXT_CONTROLS.intersection(head) or len(head) < 4:
            return None  # text, or nothing: no capture format
        what = "a capture format sipsniff does not read itself"
    elif not any(head.startswith(m) for m, _, hint in _FOREIGN if hint == _CONVERT):
        return None  # an archive or a compressed file: the user decompresses it
    editcap = shutil.which("editcap")
    if editcap is None:
        return None
    with contextlib.ExitStack() as stack:
        source = path
        if path == STDIN or gz:  # editcap reads files: the bytes at hand go to one
            tmp = stack.enter_context(tempfile.NamedTemporaryFile(suffix=".capture"))
            tmp.write(data)
            tmp.flush()
            source = tmp.name
        try:
            done = subprocess.run(
                [editcap, "-F", "pcapng", source, "-"],
                capture_output=True,
                timeout=EDITCAP_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
    if done.returncode != 0 or not done.stdout.startswith(PCAPNG_MAGIC):
        return None
    return done.stdout, what


def not_a_capture(name: str, path: str, head: bytes, *, gz: bool) -> CaptureError:
    """The error for an input that starts with ``head`` (its first 512 bytes, decompressed when
    ``gz``) and is neither pcap nor pcapng."""
    for magic, what, hint in _FOREIGN:
        if head.startswith(magic):
            todo = hint.format(path=shlex.quote(path))
            if gz:
                return CaptureError(
                    f"{name} is gzip-compressed, and inside is {what}, not pcap or pcapng; {todo}"
                )
            return CaptureError(f"{name} is {what}, not pcap or pcapng; {todo}")
    if not _TEXT_CONTROLS.intersection(head):
        lead = head.lstrip().lower()
        if lead.startswith(b"version https://git-lfs"):
            return CaptureError(
                f"{name} is a Git LFS pointer, not the capture itself; fetch it with: git lfs pull"
            )
        if lead.startswith((b"<!doctype html", b"<html")):
            return CaptureError(
                f"{name} is an HTML page, not a capture (a web page saved instead of the file?)"
            )
        if gz:
            return CaptureError(f"{name} is gzip-compressed text, not a capture")
        return CaptureError(f"{name} looks like text, not a capture")
    if len(head) < 4:
        inside = "once decompressed " if gz else ""
        return CaptureError(f"{name} is too short to be a capture: {inside}{len(head)} bytes")
    start = head[:4].hex(" ")
    if gz:
        return CaptureError(
            f"{name} is gzip-compressed but holds no pcap or pcapng capture "
            f"(its content starts with bytes {start})"
        )
    return CaptureError(f"{name} is not a pcap or pcapng capture (it starts with bytes {start})")
