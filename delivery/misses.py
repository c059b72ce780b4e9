"""Keeping scanners from costing S3 money: which misses may reach the upstream at all.

A request for a key nobody has asked for yet is a miss, and a miss is an S3 GET
(billed, and slow). Scanners ask for thousands of keys that do not exist, each once,
so the negative cache never helps. Two defences, either or both:

* ``KeyListing``: the bucket's keys, listed every ``storage.list_interval`` when
  ``storage.list_keys`` is on, or read from a sync daemon's state file on the same
  host (``storage.listing_file``). A key outside the listing is a 404 without a GET.
* ``MissLimiter``: a token bucket per client address (``upstream.max_miss_rate``
  misses a second, ``upstream.miss_burst`` at once). Past it, a miss is a 429.

Only misses that would start a fetch are counted: a hit, or a request that joins a
fill already running (a podcast release's stampede), is never refused. Both are pure:
they take ``now`` and keys, and do no I/O.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

__all__ = ["MAX_ADDRESSES", "KeyListing", "MissLimiter"]

#: Client addresses whose buckets are remembered; the least recently seen go first.
#: 100,000 entries is a few MB, and far more than the addresses of one scan.
MAX_ADDRESSES = 100_000


class MissLimiter:
    """A token bucket per client address: ``rate`` misses a second, ``burst`` at most."""

    def __init__(self, rate: float, burst: int, *, max_addresses: int = MAX_ADDRESSES) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be above 0 and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._max = max_addresses
        #: address -> (tokens left, when they were counted)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def admit(self, address: str, now: float) -> bool:
        """Take one miss for ``address`` at ``now``; False when its budget is spent."""
        tokens, then = self._buckets.pop(address, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - then) * self.rate)
        admitted = tokens >= 1.0
        if admitted:
            tokens -= 1.0
        self._buckets[address] = (tokens, now)
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return admitted

    def retry_after(self, address: str, now: float) -> int:
        """Whole seconds until ``address`` may miss again (for ``Retry-After``)."""
        tokens, then = self._buckets.get(address, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - then) * self.rate)
        missing = max(0.0, 1.0 - tokens)
        return max(1, int(-(-missing // self.rate)))


class KeyListing:
    """The bucket's keys as last listed; a key outside them is not fetched.

    Until the first listing arrives, or once the last good one is older than
    ``max_age`` (the bucket could not be listed for a while), the listing knows
    nothing and every key may be fetched: a stale listing would hide new episodes.
    """

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._keys: frozenset[str] = frozenset()
        self._prefixes: tuple[str, ...] = ("",)
        self._added: set[str] = set()
        self._listed_at: float | None = None

    def replace(self, keys: Iterable[str], now: float, prefixes: tuple[str, ...] = ("",)) -> None:
        """Take a new listing, made at ``now``, of the folders ``prefixes`` (all: ``("",)``)."""
        self._keys = frozenset(keys)
        self._prefixes = prefixes
        self._added.clear()
        self._listed_at = now

    def add(self, key: str) -> None:
        """A key known to exist since the listing (a prefetch found it)."""
        self._added.add(key)

    def discard(self, key: str) -> None:
        """A key known to be gone since the listing (a purge of a deleted object)."""
        self._added.discard(key)

    def holds(self, key: str, now: float) -> bool | None:
        """Whether the bucket holds ``key``: True, False, or None while unknown."""
        if self._listed_at is None or now - self._listed_at > self.max_age:
            return None
        if key in self._keys or key in self._added:
            return True
        # A key in a folder the listing did not cover is unknown to it, not absent.
        return False if key.startswith(self._prefixes) else None

    def fresh(self, now: float) -> bool:
        """Whether the listing is there and young enough to refuse keys with."""
        return self._listed_at is not None and now - self._listed_at <= self.max_age

    @property
    def size(self) -> int:
        return len(self._keys) + len(self._added)
