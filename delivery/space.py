"""Room on disk: which objects the store holds, and evicting some to make room for fills.

The least-recently-used order, counted in bytes, is an ``LruIndex`` (``eviction``
picks the victims). Several worker processes may share one directory, so the file
system is the shared state: the order every worker (and the next start) sees is the
files' mtimes, which a hit touches at most once a minute, and eviction runs under
``evict.lock`` after re-reading the directory, merging what the other workers added
and removed with this process's fresher access times.

A fill reserves its size before it writes. One that does not fit under the size cap,
or in the filesystem's free space less a margin, is streamed uncached instead. The
workers tell each other what they reserve, publish and evict through the store's
``journal`` (``delivery.journal``), so together they stay under the cap too.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Callable
from pathlib import Path

from .cachedir import CacheDir
from .claims import TempObject, unlink
from .errors import CorruptObject
from .eviction import LruIndex
from .journal import Journal
from .metrics import DeliveryMetrics
from .objectfile import HEADER_ALIGN, ObjectMeta, decode_header
from .openfiles import Handle, OpenFiles

__all__ = [
    "FREE_SPACE_MARGIN",
    "RESYNC_SECONDS",
    "TOUCH_SECONDS",
    "Space",
    "free_space",
    "free_space_margin",
]

# The disk store's logger, whichever of its modules speaks.
log = logging.getLogger("castedge.store")

#: A hit moves its file's mtime (the shared LRU order) at most this often.
TOUCH_SECONDS = 60.0
#: A directory re-read for eviction is trusted this long.
RESYNC_SECONDS = 1.0
#: Free space left on the filesystem after a fill, so the machine keeps working:
#: this much, or a twentieth of the filesystem when that is smaller.
FREE_SPACE_MARGIN = 64 * 1024 * 1024


def free_space(root: Path) -> tuple[int, int]:
    """Bytes the filesystem under ``root`` still offers us, and its size (blocking)."""
    st = os.statvfs(root)
    return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize


def free_space_margin(fs_size: int) -> int:
    """Free space to leave on a filesystem of ``fs_size`` bytes (see ``FREE_SPACE_MARGIN``)."""
    return min(FREE_SPACE_MARGIN, fs_size // 20)


class Space:
    """The objects the store holds, in the LRU order its workers share, and room for more.

    ``index`` is this process's view of the directory; it is replaced, not edited,
    when the directory is re-read, so hold on to the ``Space``, never to the index.
    Objects being filled (from ``reserve`` to ``finish``) or read (``files.in_use``)
    are never evicted.
    """

    def __init__(
        self,
        cache_dir: CacheDir,
        max_size: int,
        *,
        high: float,
        low: float,
        files: OpenFiles,
        mark_failed: Callable[[BaseException, str], None],
        metrics: DeliveryMetrics,
        clock: Callable[[], float],
        monotonic: Callable[[], float],
    ) -> None:
        self._dir = cache_dir
        self.max_size = max_size
        self._watermarks = (high, low)
        self.index = LruIndex(max_size, high=high, low=low)
        self._files = files
        self._mark_failed = mark_failed
        self._metrics = metrics
        self._clock = clock
        self._monotonic = monotonic
        self._filling: dict[str, int] = {}
        self._reserved = 0
        self._reserved_by_key: dict[str, int] = {}
        #: path -> (key, body size, file size) of files already read once.
        self._known: dict[str, tuple[str, int, int]] = {}
        self._resynced = -RESYNC_SECONDS
        self._journal = Journal(cache_dir.root / "journal")
        #: Taken before ``evict.lock``: one coroutine of this process at a time waits
        #: for it, so waiting for the other processes holds one executor thread, never
        #: all of them (which would leave none for the holder to finish with).
        self._turn = asyncio.Lock()

    # -- the index and the directory ---------------------------------------------

    def scan(self) -> None:
        """Build the index from the directory, oldest mtime first (blocking, at start)."""
        for entry in sorted(self._listing(), key=lambda e: e[2]):
            self.index.add(entry[0], entry[1], entry[2])
        self.update_gauges()

    def _listing(self) -> list[tuple[str, int, float]]:
        """(key, body size, mtime) of every object on disk (blocking).

        Body sizes, as a publish counts them; a file's header is read again only when its
        size changed (a new version renamed over it).
        """
        found: list[tuple[str, int, float]] = []
        known: dict[str, tuple[str, int, int]] = {}
        for path in self._dir.objects.glob("*/*/*"):
            name = str(path)
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            entry = self._known.get(name)
            if entry is None or entry[2] != st.st_size:
                inspected = self._inspect(path)
                if inspected is None:
                    continue
                entry = (inspected[0].key, inspected[0].size, st.st_size)
            known[name] = entry
            found.append((entry[0], entry[1], st.st_mtime))
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
        if st.st_size != body_offset + meta.size or self._dir.object_path(meta.key) != path:
            log.warning("removing inconsistent cache file %s", path)
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        return meta, st.st_mtime

    async def resync(self, *, force: bool = False) -> None:
        """Re-read the directory: other workers sharing it add and remove objects too."""
        if force or self._monotonic() - self._resynced > RESYNC_SECONDS:
            listing = await asyncio.get_running_loop().run_in_executor(None, self._listing)
            self._merge(listing)
            self._resynced = self._monotonic()

    def _merge(self, listing: list[tuple[str, int, float]]) -> None:
        """Make the index match the directory, keeping this process's fresher access times."""
        seen = {key: last for key, _size, last in self.index.entries()}
        merged = sorted(
            ((max(mtime, seen.get(key, mtime)), key, size) for key, size, mtime in listing),
        )
        high, low = self._watermarks
        self.index = LruIndex(self.max_size, high=high, low=low)
        for last, key, size in merged:
            self.index.add(key, size, last)
        self.update_gauges()

    def hit(self, handle: Handle) -> None:
        """Move a just-read object to the recent end, here and (now and then) on disk."""
        wall = self._clock()
        self.index.touch(handle.key, wall)
        if wall - handle.touched > TOUCH_SECONDS:
            # The mtime is the LRU order every worker (and the next start) sees.
            handle.touched = wall
            with contextlib.suppress(OSError):
                os.utime(handle.fd)

    def found(self, key: str, size: int) -> None:
        """Count an object just opened, which may be new to this process."""
        if key not in self.index:
            # Published by another worker process sharing this directory.
            self.index.add(key, size, self._clock())
            self.update_gauges()

    def gone(self, key: str) -> None:
        """Forget an object whose file is not there any more."""
        if key in self.index:
            self.index.remove(key)
            self.update_gauges()

    def update_gauges(self) -> None:
        """Show the index's bytes and objects on the store's gauges."""
        self._metrics.cached_bytes.labels(self._metrics.service).set(self.index.total)
        self._metrics.cached_objects.labels(self._metrics.service).set(len(self.index))

    # -- room for fills ----------------------------------------------------------

    async def reserve(self, temp: TempObject, size: int) -> bool:
        """Make room for ``size`` more bytes (evicting LRU objects); False if it cannot fit.

        All under ``evict.lock``: what the other workers did is read from the journal
        first, and this reservation is written to it before the lock is let go.
        """
        async with self._turn:
            return await self._reserve_locked(temp, size)

    async def _reserve_locked(self, temp: TempObject, size: int) -> bool:
        loop = asyncio.get_running_loop()
        lock_fd = await loop.run_in_executor(None, self._lock_evictions)
        try:
            news = await loop.run_in_executor(None, self._journal.read)
            if news.replaced:
                await loop.run_in_executor(None, self._announce)
            await self.resync(force=news.changed)
            others = self._journal.others_reserved
            incoming = size + self._reserved + others
            victims = await self._evict(incoming)
            if victims:
                await loop.run_in_executor(None, self._journal.changed)
            if self.index.total + incoming > self.max_size:
                return False
            try:
                free, fs_size = await loop.run_in_executor(None, free_space, self._dir.root)
            except OSError as exc:
                self._mark_failed(exc, "statvfs")
                return False
            # Fills under way will take up to what they reserved; count it as taken.
            if free - self._reserved - others < size + free_space_margin(fs_size):
                # One object that does not fit is no reason to stop caching smaller ones.
                self._metrics.store_errors.labels(self._metrics.service, "no_space").inc()
                log.warning(
                    "no room on disk for %r (%d bytes, %d free); serving it uncached",
                    temp.key,
                    size,
                    free,
                )
                return False
            try:
                await loop.run_in_executor(None, self._journal.reserve, temp.key, size)
                if await loop.run_in_executor(None, self._journal.trim):
                    await loop.run_in_executor(None, self._announce)
            except OSError as exc:
                self._mark_failed(exc, "journal")
                return False
            temp.reserved = size
            self._reserved += size
            self._reserved_by_key[temp.key] = self._reserved_by_key.get(temp.key, 0) + size
            self._filling[temp.key] = self._filling.get(temp.key, 0) + 1
            return True
        finally:
            os.close(lock_fd)

    def _announce(self) -> None:
        """Say again what this worker is filling, in a journal just emptied (blocking)."""
        for key, size in self._reserved_by_key.items():
            self._journal.reserve(key, size)

    async def _evict(self, incoming: int) -> list[str]:
        """Make room for ``incoming`` bytes (``evict.lock`` held, the directory re-read)."""
        loop = asyncio.get_running_loop()
        victims = self.index.victims(incoming, self._pinned())
        for key in victims:
            if await loop.run_in_executor(None, unlink, self._dir.object_path(key)):
                self._metrics.evictions.labels(self._metrics.service).inc()
            self.index.remove(key)
            self._files.forget(key)
        if victims:
            self.update_gauges()
        return victims

    async def publishing(self, key: str, publish: Callable[[], None]) -> None:
        """Run ``publish`` (the rename) under ``evict.lock`` and tell the journal.

        Under the lock, no worker can be between reading the journal and evicting
        while the object appears: it is counted by everyone's next eviction.
        """

        def locked() -> None:
            lock_fd = self._lock_evictions()
            try:
                publish()
                with contextlib.suppress(OSError):
                    self._journal.release(key)
                    self._journal.changed()
            finally:
                os.close(lock_fd)

        async with self._turn:
            await asyncio.get_running_loop().run_in_executor(None, locked)

    def removed(self) -> None:
        """Tell the other workers an object was removed (a purge); blocking, cheap."""
        with contextlib.suppress(OSError):
            self._journal.changed()

    def published(self, temp: TempObject, meta: ObjectMeta) -> None:
        """Count a fill's object as stored, and release its reservation."""
        self.index.add(meta.key, meta.size, self._clock())
        self.finish(temp)
        self.update_gauges()

    def finish(self, temp: TempObject) -> None:
        """Release a fill's reservation and pin (published or not)."""
        if temp.reserved and not temp.published:
            with contextlib.suppress(OSError):
                self._journal.release(temp.key)
        self._reserved -= temp.reserved
        left = self._reserved_by_key.pop(temp.key, 0) - temp.reserved
        if left > 0:
            self._reserved_by_key[temp.key] = left
        temp.reserved = 0
        count = self._filling.get(temp.key, 0) - 1
        if count > 0:
            self._filling[temp.key] = count
        else:
            self._filling.pop(temp.key, None)

    def _lock_evictions(self) -> int:
        """Take the store-wide eviction lock (blocking); closing the descriptor frees it."""
        fd = os.open(self._dir.evict_lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def _pinned(self) -> set[str]:
        pinned = self._files.in_use()
        pinned.update(self._filling)
        return pinned
