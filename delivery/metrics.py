"""Prometheus metrics of one delivery service, each app in its own registry."""

from __future__ import annotations

import asyncio
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["DeliveryMetrics", "HeldCounts"]


class _Incrementable(Protocol):
    def inc(self, amount: float = 1) -> None: ...


class HeldCounts:
    """Counter increments held for the end of the loop's turn, then made once per counter.

    A multiprocess counter's ``inc`` takes a lock, asks the kernel for the process id and
    writes its file: about a microsecond, five times per HLS segment. The fast path's
    answers of one turn add here instead, and the sums go in before the turn's answers
    are handed to the transport (``FastPath.flush``), or, for bodies the kernel took
    during the turn, when it ends, before the loop waits for more to read (so a scrape
    this worker reads after such an answer counts it). Outside a running loop an add is
    made at once.
    """

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: dict[_Incrementable, float] = {}

    def add(self, counter: _Incrementable, amount: float = 1) -> None:
        counts = self._counts
        if not counts:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop: nothing would end the turn
                counter.inc(amount)
                return
        counts[counter] = counts.get(counter, 0) + amount

    def flush(self) -> None:
        """Make the increments held so far."""
        if self._counts:
            counts, self._counts = self._counts, {}
            for counter, amount in counts.items():
                counter.inc(amount)


class DeliveryMetrics:
    """The counters an operator reads on /metrics.

    One instance per app and one ``CollectorRegistry`` per instance, so tests can
    build many apps in one process (client_python's own advice).
    """

    def __init__(self, registry: CollectorRegistry | None = None, *, service: str) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "castedge_requests",
            "Media requests answered, by status code.",
            ["service", "status"],
            registry=r,
        )
        self.sent_bytes = Counter(
            "castedge_sent_bytes", "Body bytes sent to clients.", ["service"], registry=r
        )
        self.cache_lookups = Counter(
            "castedge_cache_lookups",
            "Media lookups by result: hit (on disk), miss (filled or joined a fill), "
            "stream (served from upstream without caching), negative (remembered 404).",
            ["service", "result"],
            registry=r,
        )
        self.upstream_fetch_seconds = Histogram(
            "castedge_upstream_fetch_seconds",
            "Seconds from the start of an upstream fetch to its end, by outcome.",
            ["service", "outcome"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=r,
        )
        self.upstream_errors = Counter(
            "castedge_upstream_errors",
            "Upstream failures by kind (retried ones included).",
            ["service", "kind"],
            registry=r,
        )
        self.solo_gets = Counter(
            "castedge_solo_gets",
            "Upstream GETs a request made by itself while a fill of the same object ran, by "
            "reason: ahead (its range starts far past the fill), behind (the bytes it needs "
            "had left the shared stream's memory), slow (it held a shared stream back too "
            "long), disk (the disk failed under the file it was sending).",
            ["service", "reason"],
            registry=r,
        )
        self.fills_in_progress = Gauge(
            "castedge_fills_in_progress",
            "Objects being fetched into the cache now.",
            ["service"],
            multiprocess_mode="livesum",
            registry=r,
        )
        self.fills = Counter(
            "castedge_fills",
            "Finished fills by outcome (cached, failed, uncacheable).",
            ["service", "outcome"],
            registry=r,
        )
        self.cached_bytes = Gauge(
            "castedge_cached_bytes",
            "Bytes held in the disk store.",
            ["service"],
            multiprocess_mode="livemax",
            registry=r,
        )
        self.cached_objects = Gauge(
            "castedge_cached_objects",
            "Objects held in the disk store.",
            ["service"],
            multiprocess_mode="livemax",
            registry=r,
        )
        self.misses_refused = Counter(
            "castedge_misses_refused",
            "Misses answered without an upstream fetch, by reason: unlisted (the bucket's "
            "listing lacks the key: 404), rate (the client address is past "
            "upstream.max_miss_rate: 429).",
            ["service", "reason"],
            registry=r,
        )
        self.listed_keys = Gauge(
            "castedge_listed_keys",
            "Keys in the bucket's last listing (storage.list_keys); 0 when not listing.",
            ["service"],
            multiprocess_mode="liveall",
            registry=r,
        )
        self.evictions = Counter(
            "castedge_evictions",
            "Objects removed from the store to make room.",
            ["service"],
            registry=r,
        )
        self.purges = Counter(
            "castedge_purges", "Objects removed by an operator.", ["service"], registry=r
        )
        self.store_errors = Counter(
            "castedge_store_errors",
            "Disk store failures by kind (no_space, io, read_only, permission, other).",
            ["service", "kind"],
            registry=r,
        )
        self.store_healthy = Gauge(
            "castedge_store_healthy",
            "1 while the disk store accepts writes, 0 while degraded.",
            ["service"],
            multiprocess_mode="livemin",
            registry=r,
        )
        self.service = service
        self.store_healthy.labels(service).set(1)
        # Bound children: the hot path must not pay for a label lookup per request.
        self._sent = self.sent_bytes.labels(service)
        self._by_status: dict[int, Counter] = {}
        self._by_lookup = {
            result: self.cache_lookups.labels(service, result)
            for result in ("hit", "miss", "stream", "negative")
        }

    def request_done(self, status: int, sent: int, held: HeldCounts | None = None) -> None:
        """Count one answered media request and the body bytes it carried (into ``held``)."""
        child = self._by_status.get(status)
        if child is None:
            child = self._by_status[status] = self.requests.labels(self.service, str(status))
        if held is not None:
            held.add(child)
            if sent:
                held.add(self._sent, sent)
            return
        child.inc()
        if sent:
            self._sent.inc(sent)

    def solo(self, reason: str) -> None:
        """Count one GET a request made outside the fill it found (see ``solo_gets``)."""
        self.solo_gets.labels(self.service, reason).inc()

    def lookup(self, result: str, held: HeldCounts | None = None) -> None:
        """Count one cache lookup: hit, miss, stream or negative (into ``held``)."""
        if held is not None:
            held.add(self._by_lookup[result])
        else:
            self._by_lookup[result].inc()
