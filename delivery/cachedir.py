"""The cache directory: where the disk store keeps each kind of file under its root.

::

    <dir>/objects/ab/cd/<sha256 of key>   one file per object (see ``objectfile``)
    <dir>/tmp/<sha256 of key>.part        fills in progress (see ``claims``)
    <dir>/evict.lock                      taken by whichever worker evicts (see ``space``)

Files are named by a hash of the key, so no key, however hostile, can name a path
outside the store, and every worker process sharing the directory finds a key's files
in the same place. Nothing here touches the disk.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["CacheDir"]


class CacheDir:
    """The paths of one store's directory, for every part of the store to agree on."""

    __slots__ = ("evict_lock", "objects", "root", "tmp")

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self.tmp = root / "tmp"
        self.evict_lock = root / "evict.lock"

    def object_path(self, key: str) -> Path:
        """Where the object for ``key`` lives; a hash, so no key can escape the store."""
        digest = _digest(key)
        return self.objects / digest[:2] / digest[2:4] / digest

    def part_path(self, key: str) -> Path:
        """Where the fill of ``key`` writes, whichever process runs it."""
        return self.tmp / (_digest(key) + ".part")


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
