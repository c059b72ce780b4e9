"""Reading download logs as logrotate leaves them: the live file, rotated copies, gzipped ones.

A log file is known by its first line, not its name: logrotate renames
``downloads.log`` to ``downloads.log.1``, then compresses it to ``downloads.log.2.gz``,
and each is still the file that began with that line. So the store remembers, for each
first line, how far into the (decompressed) file it has read, and a rotated or
compressed copy is read on from there. ``copytruncate`` starts a file with a new first
line, which is read from the beginning.

Only whole lines are read: the last one of a live file may still be being written.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["fingerprint", "lines_from", "rotated"]

_GZIP_MAGIC = b"\x1f\x8b"
#: A first line longer than this is not a download row; the file is not a download log.
MAX_LINE = 64 * 1024


def _open(path: Path) -> BinaryIO:
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == _GZIP_MAGIC:
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def fingerprint(path: Path) -> str | None:
    """The SHA-256 of the file's first whole line, or None while it has none."""
    try:
        with _open(path) as f:
            first = f.readline(MAX_LINE)
    except (OSError, EOFError):
        return None
    if not first.endswith(b"\n"):
        return None
    return hashlib.sha256(first).hexdigest()


def lines_from(path: Path, offset: int) -> Iterator[tuple[bytes, int]]:
    """Each whole line from ``offset`` on (without its newline), and the offset after it.

    A gzip file cut short (being written, or broken) ends where it can be read.
    """
    with _open(path) as f:
        f.seek(offset)
        position = offset
        try:
            for raw in f:
                if not raw.endswith(b"\n"):
                    return
                position += len(raw)
                yield raw[:-1], position
        except (EOFError, gzip.BadGzipFile):
            return


def rotated(path: Path) -> list[Path]:
    """``path`` and the copies logrotate made of it beside it (``.1``, ``.2.gz``, ``-20261101``)."""
    found = [p for p in path.parent.glob(path.name + "*") if p.is_file() and p != path]
    copies = sorted(p for p in found if p.name[len(path.name)] in ".-_")
    return ([path] if path.is_file() else []) + copies
