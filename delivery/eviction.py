"""Choosing which cached objects to evict: least recently used first, counted in bytes.

Eviction starts when the store would pass the high watermark and frees space down to
the low one, so a busy store evicts in batches instead of one object per fill; the
defaults are Squid's ``cache_swap_high 95`` and ``cache_swap_low 90``.  ``LruIndex``
only keeps the order and picks victims; the store deletes the files and then calls
``remove``.  It never reads the clock: every timestamp is passed in.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Container

__all__ = ["LruIndex"]


class LruIndex:
    """The recency order and total size of the cached objects, for picking victims.

    ``add`` and ``touch`` are O(1); ``victims`` walks from the least recently used end
    and stops as soon as enough is freed.
    """

    def __init__(self, max_size: int, *, high: float = 0.95, low: float = 0.90) -> None:
        if max_size <= 0:
            raise ValueError(f"max_size must be positive, got {max_size}")
        if not 0 < low <= high <= 1:
            raise ValueError(f"watermarks need 0 < low <= high <= 1, got low={low} high={high}")
        self.max_size = max_size
        # For an integer total, "total <= high * max_size" is "total <= floor(...)".
        self.high_bytes = math.floor(high * max_size)
        self.low_bytes = math.floor(low * max_size)
        # key -> (size, last_access), least recently used first.
        self._entries: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._total = 0

    def add(self, key: str, size: int, now: float) -> None:
        """Record a newly stored (or replaced) object as the most recently used."""
        if size < 0:
            raise ValueError(f"size of {key!r} is negative: {size}")
        old = self._entries.get(key)
        if old is not None:
            self._total -= old[0]
        self._entries[key] = (size, now)
        self._entries.move_to_end(key)
        self._total += size

    def touch(self, key: str, now: float) -> None:
        """Mark ``key`` as just used; a key the index does not hold is ignored."""
        entry = self._entries.get(key)
        if entry is None:
            return
        self._entries[key] = (entry[0], now)
        self._entries.move_to_end(key)

    def remove(self, key: str) -> int:
        """Forget ``key``; returns the bytes it accounted for (0 if it was not held)."""
        entry = self._entries.pop(key, None)
        if entry is None:
            return 0
        self._total -= entry[0]
        return entry[0]

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def total(self) -> int:
        """Bytes of all objects in the index."""
        return self._total

    def victims(self, incoming: int, pinned: Container[str]) -> list[str]:
        """Pick the objects to evict before ``incoming`` more bytes are stored.

        Nothing while ``total + incoming`` stays within the high watermark; otherwise
        the least recently used keys not in ``pinned`` (objects being filled or read),
        in that order, until ``total + incoming`` minus their sizes is within the low
        watermark or no unpinned key is left.  The keys are not removed: the caller
        deletes each file and then calls ``remove``, and decides whether ``incoming``
        fits when too few could be freed.
        """
        if self._total + incoming <= self.high_bytes:
            return []
        excess = self._total + incoming - self.low_bytes
        chosen: list[str] = []
        for key, (size, _last_access) in self._entries.items():
            if excess <= 0:
                break
            if key in pinned:
                continue
            chosen.append(key)
            excess -= size
        return chosen

    def entries(self) -> list[tuple[str, int, float]]:
        """Every (key, size, last_access), least recently used first, for persisting.

        Adding them back in this order to a fresh index restores the same order.
        """
        return [(key, size, last_access) for key, (size, last_access) in self._entries.items()]
