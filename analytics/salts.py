"""The daily salts that hashed addresses are made with, shared by a node's workers.

A salt is 32 random bytes for one UTC day, in a file named by the day. The first
worker to need it makes it (written aside, then linked into place, so two workers
racing agree on one); the others read it. A salt is kept through the next day, for
responses that began before midnight, then deleted: after that, no one can tell which
address a hash stood for, not even castedge.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path

__all__ = ["SALT_BYTES", "DailySalts"]

SALT_BYTES = 32
_DAY = re.compile(r"\d{4}-\d\d-\d\d")


class DailySalts:
    """One salt per UTC day (``YYYY-MM-DD``), in ``directory``."""

    def __init__(
        self, directory: Path, *, entropy: Callable[[int], bytes] = secrets.token_bytes
    ) -> None:
        self.directory = directory
        self._entropy = entropy
        self._salts: dict[str, bytes] = {}

    def salt(self, day: str) -> bytes:
        """The salt of ``day``, made if no worker has made it yet."""
        found = self._salts.get(day)
        if found is not None:
            return found
        path = self.directory / day
        try:
            found = path.read_bytes()
        except FileNotFoundError:
            found = self._make(path)
        if len(found) != SALT_BYTES:
            # A file cut short by a crash: a new salt only changes today's hashes.
            path.unlink(missing_ok=True)
            found = self._make(path)
        self._salts[day] = found
        self._forget(before=day)
        return found

    def _make(self, path: Path) -> bytes:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        aside = self.directory / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, self._entropy(SALT_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(aside, path)
        except FileExistsError:
            pass  # Another worker made it first: theirs is the day's salt.
        finally:
            aside.unlink(missing_ok=True)
        return path.read_bytes()

    def _forget(self, *, before: str) -> None:
        """Delete the salts of days before the day before ``before``, in memory and on disk."""
        cutoff = (datetime.date.fromisoformat(before) - datetime.timedelta(days=1)).isoformat()
        for day in [day for day in self._salts if day < cutoff]:
            del self._salts[day]
        with contextlib.suppress(OSError):
            for entry in self.directory.iterdir():
                if _DAY.fullmatch(entry.name) and entry.name < cutoff:
                    entry.unlink(missing_ok=True)
