"""The disk store: cached objects on local disk, least recently used evicted by bytes.

Where each file lives under the directory is ``cachedir``'s to say. Hits never
leave the event-loop thread: ``openfiles`` keeps their descriptors. A fill claims
its temporary file and publishes it with ``claims``.

Several worker processes may share one directory. The file system is then the
shared state: the least-recently-used order is the files' mtimes (a hit touches
its file at most once a minute), and eviction runs under ``evict.lock`` after
re-reading the directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from . import claims
from .cachedir import CacheDir
from .claims import TempObject
from .errors import CorruptObject
from .eviction import LruIndex
from .metrics import DeliveryMetrics
from .objectfile import HEADER_ALIGN, ObjectMeta, decode_header
from .openfiles import Handle, OpenFiles

__all__ = ["DiskStore", "Handle", "TempObject", "error_kind"]

log = logging.getLogger("castedge.store")

#: A hit moves its file's mtime (the shared LRU order) at most this often.
TOUCH_SECONDS = 60.0
#: A directory re-read for eviction is trusted this long.
RESYNC_SECONDS = 1.0
#: Free space left on the filesystem after a fill, so the machine keeps working:
#: this much, or a twentieth of the filesystem when that is smaller.
FREE_SPACE_MARGIN = 64 * 1024 * 1024


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


class DiskStore:
    """Cached objects on local disk with an LRU-by-bytes size cap."""

    def __init__(
        self,
        root: Path,
        max_size: int,
        *,
        metrics: DeliveryMetrics,
        high: float = 0.95,
        low: float = 0.90,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._dir = CacheDir(root)
        self.root = root
        self.objects_dir = self._dir.objects
        self.tmp_dir = self._dir.tmp
        self.evict_lock_path = self._dir.evict_lock
        self.max_size = max_size
        self._watermarks = (high, low)
        self._lru = LruIndex(max_size, high=high, low=low)
        self._clock = clock
        self._monotonic = monotonic
        self._metrics = metrics
        self._files = OpenFiles(self._dir.object_path)
        self._filling: dict[str, int] = {}
        self._reserved = 0
        self._known: dict[str, str] = {}
        self._resynced = -RESYNC_SECONDS
        self.healthy = True
        self.degraded_reason = ""

    # -- start and stop (blocking: run in an executor) ---------------------------

    def scan(self) -> None:
        """Create the layout, drop crash leftovers, and rebuild the index from disk."""
        self.objects_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        leftovers = claims.sweep(self.tmp_dir)
        if leftovers:
            log.warning("removed %d unfinished fill(s) left by a stopped process", leftovers)
        for entry in sorted(self._listing(), key=lambda e: e[2]):
            self._lru.add(entry[0], entry[1], entry[2])
        self._publish_gauges()
        log.info("store %s: %d objects, %d bytes", self.root, len(self._lru), self._lru.total)

    def _listing(self) -> list[tuple[str, int, float]]:
        """(key, size, mtime) of every object on disk; headers read once per file (blocking)."""
        found: list[tuple[str, int, float]] = []
        known: dict[str, str] = {}
        for path in self.objects_dir.glob("*/*/*"):
            name = str(path)
            key = self._known.get(name)
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            if key is None:
                entry = self._inspect(path)
                if entry is None:
                    continue
                key = entry[0].key
            known[name] = key
            found.append((key, st.st_size, st.st_mtime))
        self._known = known
        return found

    def _inspect(self, path: Path) -> tuple[ObjectMeta, float] | None:
        try:
            with open(path, "rb") as f:
                meta, body_offset = decode_header(f.read(HEADER_ALIGN))
                st = os.fstat(f.fileno())
        except (OSError, CorruptObject) as exc:
            log.warning("removing unreadable cache file %s: %s", path, exc)
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        if st.st_size != body_offset + meta.size or self.path_for(meta.key) != path:
            log.warning("removing inconsistent cache file %s", path)
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        return meta, st.st_mtime

    def close(self) -> None:
        """Close every cached descriptor."""
        self._files.close()

    # -- lookups (event-loop thread, no blocking beyond a local open/stat) -------

    def path_for(self, key: str) -> Path:
        """Where the object for ``key`` lives; a hash, so no key can escape the store."""
        return self._dir.object_path(key)

    def lookup(self, key: str) -> Handle | None:
        """Return an open handle on the cached object (call ``release``), or None."""
        now = self._monotonic()
        handle = self._files.get(key, now)
        if handle is None:
            handle = self._open(key, now)
            if handle is None:
                return None
        handle.refs += 1
        wall = self._clock()
        self._lru.touch(key, wall)
        if wall - handle.touched > TOUCH_SECONDS:
            # The mtime is the LRU order every worker (and the next start) sees.
            handle.touched = wall
            with contextlib.suppress(OSError):
                os.utime(handle.fd)
        return handle

    def release(self, handle: Handle) -> None:
        """Give back a handle from ``lookup``."""
        self._files.release(handle)

    def _open(self, key: str, now: float) -> Handle | None:
        try:
            handle = self._files.open(key, now)
        except FileNotFoundError:
            if key in self._lru:
                self._lru.remove(key)
                self._publish_gauges()
            return None
        except OSError as exc:
            self.mark_failed(exc, "open")
            return None
        if handle is None:
            # Its header cannot be trusted: drop the file, and a fill replaces it.
            claims.unlink(self.path_for(key))
            self._lru.remove(key)
            return None
        if key not in self._lru:
            # Published by another worker process sharing this directory.
            self._lru.add(key, handle.meta.size, self._clock())
            self._publish_gauges()
        return handle

    def __contains__(self, key: str) -> bool:
        return key in self._lru

    @property
    def total_bytes(self) -> int:
        """Bytes of all objects in the store."""
        return self._lru.total

    def __len__(self) -> int:
        return len(self._lru)

    def keys(self) -> list[str]:
        """Every cached key, least recently used first."""
        return [key for key, _size, _t in self._lru.entries()]

    # -- fills -------------------------------------------------------------------

    def part_path(self, key: str) -> Path:
        """Where the fill of ``key`` writes, whichever process runs it."""
        return self._dir.part_path(key)

    def claim(self, key: str) -> TempObject | None:
        """Claim the fill of ``key`` for this process, or None if another one holds it.

        The claim is an exclusive ``flock`` on the temporary file itself: the kernel
        drops it when the process dies, and whoever opens the file can test it.
        Blocking (two opens and a stat); raises OSError when the disk refuses.
        """
        return claims.claim(key, self.part_path(key))

    def free_space(self) -> tuple[int, int]:
        """Bytes the filesystem under the store still offers us, and its size (blocking)."""
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize

    async def reserve(self, temp: TempObject, size: int) -> bool:
        """Make room for ``size`` more bytes (evicting LRU objects); False if it cannot fit."""
        loop = asyncio.get_running_loop()
        lock_fd = await loop.run_in_executor(None, self._lock_evictions)
        try:
            await self.resync()
            incoming = size + self._reserved
            victims = self._lru.victims(incoming, self._pinned())
            for key in victims:
                if await loop.run_in_executor(None, claims.unlink, self.path_for(key)):
                    self._metrics.evictions.labels(self._metrics.service).inc()
                self._lru.remove(key)
                self._files.forget(key)
        finally:
            os.close(lock_fd)
        if victims:
            self._publish_gauges()
        if self._lru.total + incoming > self.max_size:
            return False
        try:
            free, fs_size = await loop.run_in_executor(None, self.free_space)
        except OSError as exc:
            self.mark_failed(exc, "statvfs")
            return False
        # Fills under way will take up to what they reserved; count it as taken.
        if free - self._reserved < size + min(FREE_SPACE_MARGIN, fs_size // 20):
            # One object that does not fit is no reason to stop caching smaller ones.
            self._metrics.store_errors.labels(self._metrics.service, "no_space").inc()
            log.warning(
                "no room on disk for %r (%d bytes, %d free); serving it uncached",
                temp.key,
                size,
                free,
            )
            return False
        temp.reserved = size
        self._reserved += size
        self._filling[temp.key] = self._filling.get(temp.key, 0) + 1
        return True

    async def resync(self, *, force: bool = False) -> None:
        """Re-read the directory: other workers sharing it add and remove objects too."""
        if force or self._monotonic() - self._resynced > RESYNC_SECONDS:
            listing = await asyncio.get_running_loop().run_in_executor(None, self._listing)
            self._merge(listing)
            self._resynced = self._monotonic()

    def _lock_evictions(self) -> int:
        """Take the store-wide eviction lock (blocking); closing the descriptor frees it."""
        fd = os.open(self.evict_lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def _merge(self, listing: list[tuple[str, int, float]]) -> None:
        """Make the index match the directory, keeping this process's fresher access times."""
        seen = {key: last for key, _size, last in self._lru.entries()}
        merged = sorted(
            ((max(mtime, seen.get(key, mtime)), key, size) for key, size, mtime in listing),
        )
        high, low = self._watermarks
        self._lru = LruIndex(self.max_size, high=high, low=low)
        for last, key, size in merged:
            self._lru.add(key, size, last)
        self._publish_gauges()

    def _pinned(self) -> set[str]:
        pinned = self._files.in_use()
        pinned.update(self._filling)
        return pinned

    def publish(self, temp: TempObject, meta: ObjectMeta) -> None:
        """Make a verified, fsynced temporary file the cached object (blocking)."""
        claims.publish(temp, self.path_for(meta.key))

    def published(self, temp: TempObject, meta: ObjectMeta) -> None:
        """Record a publication in the index (event-loop thread, after ``publish``)."""
        self._files.forget(meta.key)
        self._lru.add(meta.key, meta.size, self._clock())
        self.finish(temp)
        self._publish_gauges()

    def finish(self, temp: TempObject) -> None:
        """Release a fill's reservation and pin (published or not)."""
        self._reserved -= temp.reserved
        temp.reserved = 0
        count = self._filling.get(temp.key, 0) - 1
        if count > 0:
            self._filling[temp.key] = count
        else:
            self._filling.pop(temp.key, None)

    def discard(self, temp: TempObject) -> None:
        """Remove an unfinished fill's file (blocking, cheap)."""
        claims.discard(temp)

    # -- removal -----------------------------------------------------------------

    def remove(self, key: str) -> bool:
        """Delete one cached object; True if it was there."""
        existed = claims.unlink(self.path_for(key))
        self._files.forget(key)
        if self._lru.remove(key) or existed:
            self._publish_gauges()
            return True
        return False

    def remove_prefix(self, prefix: str) -> int:
        """Delete every cached object whose key starts with ``prefix``."""
        return sum(self.remove(key) for key in self.keys() if key.startswith(prefix))

    # -- health ------------------------------------------------------------------

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
                self.root,
                kind,
                op,
                exc,
            )

    def probe(self) -> bool:
        """Try a small write in the store (blocking): True if the disk takes writes again."""
        path = self.tmp_dir / f".probe.{os.getpid()}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, b"\0" * 4096)
                os.fsync(fd)
            finally:
                os.close(fd)
                with contextlib.suppress(OSError):
                    path.unlink()
            free, fs_size = self.free_space()
            return free >= min(FREE_SPACE_MARGIN, fs_size // 20)
        except OSError:
            return False

    def recovered(self) -> None:
        """Flip back to healthy after a good ``probe`` (event-loop thread)."""
        if not self.healthy:
            self.healthy = True
            self.degraded_reason = ""
            self._metrics.store_healthy.labels(self._metrics.service).set(1)
            log.warning("disk store %s accepts writes again; caching resumed", self.root)

    def _publish_gauges(self) -> None:
        self._metrics.cached_bytes.labels(self._metrics.service).set(self._lru.total)
        self._metrics.cached_objects.labels(self._metrics.service).set(len(self._lru))
