"""The revocation file: read at start, re-read when it changes, rewritten atomically.

``castedge revoke`` changes it under a lock, by writing a temporary file beside it,
fsyncing and renaming it over the old one, so a reader never sees half a file. Every
role that checks or mints tokens (the edge, the locator) looks at the file's identity
(inode, size, modification time) every ``signing.revocation_interval`` seconds and
re-reads it when that changed. A file that does not parse is logged and ignored: the
reader keeps the list it had, rather than forgetting every revocation because of one
bad edit. The format is ``RevocationList.to_json`` (docs/signed-urls.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Protocol

from runtime.tasks import background
from signer import RevocationList, RevocationListError

from .errors import RevocationFileError

__all__ = ["RevocationFile", "RevocationMetrics", "RevocationWatcher"]

log = logging.getLogger("castedge.edge.revocation")

#: Larger than any list the business produces (each entry is about 80 bytes, and
#: entries leave the list when their tokens expire); a bigger file is a mistake.
MAX_FILE_BYTES = 16 * 1024 * 1024


class RevocationMetrics(Protocol):
    """What a role counts of its revocation file (EdgeMetrics, LocatorMetrics)."""

    def revocation_loaded(self, outcome: str, entries: int) -> None: ...


Stamp = tuple[int, int, int]
"""A file's identity as far as change detection goes: inode, size, mtime in ns."""


def _stamp(st: os.stat_result) -> Stamp:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class RevocationFile:
    """The file at ``path``: reading it, and changing it the way the edges expect."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def stamp(self) -> Stamp | None:
        """The file's identity now, or None when there is no file (blocking)."""
        try:
            return _stamp(os.stat(self.path))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise RevocationFileError(f"{self.path}: cannot stat: {exc.strerror}") from None

    def read(self) -> tuple[RevocationList, Stamp | None]:
        """The list in the file and the identity of what was read; empty when absent.

        Raises RevocationFileError for a file that cannot be read or does not parse.
        """
        try:
            with open(self.path, "rb") as file:
                st = os.fstat(file.fileno())
                if st.st_size > MAX_FILE_BYTES:
                    raise RevocationFileError(
                        f"{self.path}: {st.st_size} bytes, more than {MAX_FILE_BYTES}"
                    )
                data = file.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            return RevocationList(), None
        except OSError as exc:
            raise RevocationFileError(f"{self.path}: cannot read: {exc.strerror}") from None
        try:
            return RevocationList.from_json(data), _stamp(st)
        except RevocationListError as exc:
            raise RevocationFileError(f"{self.path}: {exc}") from None

    def merge(self, incoming: RevocationList, *, now: float) -> RevocationList:
        """Add every entry of ``incoming`` (the fleet's list) to the file's; see ``update``."""
        return self.update(lambda current: RevocationList([*current, *incoming]), now=now)

    def update(
        self, change: Callable[[RevocationList], RevocationList], *, now: float
    ) -> RevocationList:
        """Applies ``change`` to the list, drops expired entries and replaces the file.

        Holds an exclusive lock on ``<file>.lock`` throughout, so two operators revoking
        at once both land. An unreadable file is never overwritten.
        """
        with self._locked():
            current, _ = self.read()
            updated = change(current).pruned(now)
            self._replace(updated.to_json().encode("utf-8"))
        return updated

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise RevocationFileError(f"{lock_path}: cannot open: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _replace(self, data: bytes) -> None:
        directory = self.path.parent
        temp = directory / f".{self.path.name}.{os.getpid()}.tmp"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, self.path)
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise RevocationFileError(f"{self.path}: cannot write: {exc.strerror}") from None


class RevocationWatcher:
    """Holds the list a role checks tokens against, kept in step with the file.

    Without a file (``signing.revocation_file`` unset) the list is empty and never changes.
    """

    def __init__(
        self,
        file: RevocationFile | None,
        *,
        metrics: RevocationMetrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.file = file
        self.current = RevocationList()
        self.loaded_at: float | None = None
        self._stamp: Stamp | None = None
        self._metrics = metrics
        self._clock = clock

    def load(self) -> None:
        """Reads the file at start (blocking); raises RevocationFileError if it is broken.

        A role that cannot tell which tokens are revoked must not start as if none were.
        A missing file is an empty list: nothing has been revoked yet.
        """
        if self.file is None:
            return
        revoked, self._stamp = self.file.read()
        self._take(revoked)
        if self._stamp is None:
            log.info("revocation file %s does not exist yet: nothing is revoked", self.file.path)

    def poll(self) -> bool:
        """Re-reads the file if it changed (blocking); True when a new list was taken."""
        if self.file is None:
            return False
        try:
            stamp = self.file.stamp()
            if stamp == self._stamp:
                return False
            if stamp is None:
                # Written by rename, the file never goes missing in normal operation.
                log.warning(
                    "revocation file %s vanished; keeping the %d entries held",
                    self.file.path,
                    len(self.current),
                )
                self._stamp = None
                self._count("vanished")
                return False
            revoked, self._stamp = self.file.read()
        except RevocationFileError as exc:
            # Remember the broken version so it is reported once, not every interval.
            with contextlib.suppress(RevocationFileError):
                self._stamp = self.file.stamp()
            log.error("%s; keeping the %d entries held", exc, len(self.current))
            self._count("failed")
            return False
        self._take(revoked)
        log.info("revocation list reloaded from %s: %d entries", self.file.path, len(revoked))
        return True

    async def watch(self, interval: float) -> None:
        """Polls every ``interval`` seconds until cancelled (run it as a background task)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            await loop.run_in_executor(None, self.poll)

    @contextlib.asynccontextmanager
    async def running(self, interval: float) -> AsyncIterator[None]:
        """Load the file, then keep the list in step with it until the block ends.

        For an app's ``cleanup_ctx``: raises RevocationFileError before the app serves
        when the file is broken.
        """
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.load)
        if self.file is None:
            yield
            return
        log.info(
            "revocation list %s: %d entries, checked every %g s",
            self.file.path,
            len(self.current),
            interval,
        )
        async with background(self.watch(interval), "revocation watcher"):
            yield

    def _take(self, revoked: RevocationList) -> None:
        now = self._clock()
        self.current = revoked.pruned(now)
        self.loaded_at = now
        self._count("loaded")

    def _count(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.revocation_loaded(outcome, len(self.current))
