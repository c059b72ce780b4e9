"""The disk store: cached objects on local disk, least recently used evicted by bytes.

``DiskStore`` is what the rest of the engine talks to; it puts together the parts,
each in its own module:

- ``cachedir``: where objects, fills and the eviction lock live under the directory;
- ``openfiles``: descriptors kept open for hits, so hits never leave the event loop;
- ``claims``: which process fills an object, its temporary file and its publication;
- ``space``: the LRU order all workers share, eviction and free space;
- ``health``: whether the disk takes writes, and the degraded mode when it does not.

Several worker processes may share one directory; the file system is then the shared
state, and each of those modules says what it keeps there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from . import claims, space
from .cachedir import CacheDir
from .claims import TempObject
from .health import Health, error_kind
from .metrics import DeliveryMetrics
from .objectfile import ObjectMeta
from .openfiles import Handle, OpenFiles
from .space import Space

__all__ = ["DiskStore", "Handle", "TempObject", "error_kind"]

log = logging.getLogger("castedge.store")


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
        self._monotonic = monotonic
        self._files = OpenFiles(self._dir.object_path)
        self._health = Health(self._dir, metrics)
        self._space = Space(
            self._dir,
            max_size,
            high=high,
            low=low,
            files=self._files,
            mark_failed=self._health.mark_failed,
            metrics=metrics,
            clock=clock,
            monotonic=monotonic,
        )

    # -- start and stop (blocking: run in an executor) ---------------------------

    def scan(self) -> None:
        """Create the layout, drop crash leftovers, and rebuild the index from disk."""
        self.objects_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        leftovers = claims.sweep(self.tmp_dir)
        if leftovers:
            log.warning("removed %d unfinished fill(s) left by a stopped process", leftovers)
        self._space.scan()
        log.info("store %s: %d objects, %d bytes", self.root, len(self), self.total_bytes)

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
        self._space.hit(handle)
        return handle

    def release(self, handle: Handle) -> None:
        """Give back a handle from ``lookup``."""
        self._files.release(handle)

    def _open(self, key: str, now: float) -> Handle | None:
        try:
            handle = self._files.open(key, now)
        except FileNotFoundError:
            self._space.gone(key)
            return None
        except OSError as exc:
            self.mark_failed(exc, "open")
            return None
        if handle is None:
            # Its header cannot be trusted: drop the file, and a fill replaces it.
            claims.unlink(self.path_for(key))
            self._space.index.remove(key)
            return None
        self._space.found(key, handle.meta.size)
        return handle

    def __contains__(self, key: str) -> bool:
        return key in self._space.index

    @property
    def total_bytes(self) -> int:
        """Bytes of all objects in the store."""
        return self._space.index.total

    def __len__(self) -> int:
        return len(self._space.index)

    def keys(self) -> list[str]:
        """Every cached key, least recently used first."""
        return [key for key, _size, _t in self._space.index.entries()]

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
        return space.free_space(self.root)

    async def reserve(self, temp: TempObject, size: int) -> bool:
        """Make room for ``size`` more bytes (evicting LRU objects); False if it cannot fit."""
        return await self._space.reserve(temp, size)

    async def resync(self, *, force: bool = False) -> None:
        """Re-read the directory: other workers sharing it add and remove objects too."""
        await self._space.resync(force=force)

    async def publish(self, temp: TempObject, meta: ObjectMeta) -> None:
        """Make a verified, fsynced temporary file the cached object."""
        final = self.path_for(meta.key)
        await self._space.publishing(meta.key, lambda: claims.publish(temp, final))

    def published(self, temp: TempObject, meta: ObjectMeta) -> None:
        """Record a publication in the index (event-loop thread, after ``publish``)."""
        self._files.forget(meta.key)
        self._space.published(temp, meta)

    def finish(self, temp: TempObject) -> None:
        """Release a fill's reservation and pin (published or not)."""
        self._space.finish(temp)

    def discard(self, temp: TempObject) -> None:
        """Remove an unfinished fill's file (blocking, cheap)."""
        claims.discard(temp)

    # -- removal -----------------------------------------------------------------

    def remove(self, key: str) -> bool:
        """Delete one cached object; True if it was there."""
        existed = claims.unlink(self.path_for(key))
        if existed:
            self._space.removed()
        self._files.forget(key)
        if self._space.index.remove(key) or existed:
            self._space.update_gauges()
            return True
        return False

    def remove_prefix(self, prefix: str) -> int:
        """Delete every cached object whose key starts with ``prefix``."""
        return sum(self.remove(key) for key in self.keys() if key.startswith(prefix))

    # -- health ------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """False while the disk refuses writes: misses are then served uncached."""
        return self._health.healthy

    @property
    def degraded_reason(self) -> str:
        """What failed, and during what, while the store is not ``healthy``."""
        return self._health.degraded_reason

    def mark_failed(self, exc: BaseException, op: str) -> None:
        """Note a disk failure: count it always, log it once per episode."""
        self._health.mark_failed(exc, op)

    def probe(self) -> bool:
        """Try a small write in the store (blocking): True if the disk takes writes again."""
        return self._health.probe()

    def recovered(self) -> None:
        """Flip back to healthy after a good ``probe`` (event-loop thread)."""
        self._health.recovered()
