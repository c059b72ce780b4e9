"""Disk health: whether the store's disk takes writes, and what to do when it does not.

A disk that refuses a write (full, read-only, failing) degrades the store: misses are
served from upstream without caching, and ``/healthz`` says so, until a probe write
succeeds again. Every failure is counted by kind; only the first of an episode is
logged, so a failing disk does not flood the journal.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os

from .cachedir import CacheDir
from .metrics import DeliveryMetrics
from .space import free_space, free_space_margin

__all__ = ["Health", "error_kind"]

# The disk store's logger, whichever of its modules speaks.
log = logging.getLogger("castedge.store")


def error_kind(exc: BaseException) -> str:
    """Name an OS error for logs and metrics: no_space, read_only, permission, io."""
    if isinstance(exc, OSError):
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return "no_space"
        if exc.errno == errno.EROFS:
            return "read_only"
        if exc.errno in (errno.EACCES, errno.EPERM):
            return "permission"
        if exc.errno == errno.EIO:
            return "io"
    return "other"


class Health:
    """Whether the disk takes writes: degraded by a failure, healthy after a good probe."""

    def __init__(self, cache_dir: CacheDir, metrics: DeliveryMetrics) -> None:
        self._dir = cache_dir
        self._metrics = metrics
        self.healthy = True
        self.degraded_reason = ""

    def mark_failed(self, exc: BaseException, op: str) -> None:
        """Note a disk failure: count it always, log it once per episode."""
        kind = error_kind(exc)
        self._metrics.store_errors.labels(self._metrics.service, kind).inc()
        if self.healthy:
            self.healthy = False
            self.degraded_reason = f"{op}: {exc}"
            self._metrics.store_healthy.labels(self._metrics.service).set(0)
            log.error(
                "disk store %s degraded (%s during %s: %s); serving misses from upstream "
                "without caching until a write succeeds again",
                self._dir.root,
                kind,
                op,
                exc,
            )

    def probe(self) -> bool:
        """Try a small write in the store (blocking): True if the disk takes writes again."""
        path = self._dir.tmp / f".probe.{os.getpid()}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, b"\0" * 4096)
                os.fsync(fd)
            finally:
                os.close(fd)
                with contextlib.suppress(OSError):
                    path.unlink()
            free, fs_size = free_space(self._dir.root)
            return free >= free_space_margin(fs_size)
        except OSError:
            return False

    def recovered(self) -> None:
        """Flip back to healthy after a good ``probe`` (event-loop thread)."""
        if not self.healthy:
            self.healthy = True
            self.degraded_reason = ""
            self._metrics.store_healthy.labels(self._metrics.service).set(1)
            log.warning("disk store %s accepts writes again; caching resumed", self._dir.root)
