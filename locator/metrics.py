"""Prometheus metrics of the locator, each app in its own registry."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from geo.locate import Kind, Reason

__all__ = ["PROBE_RESULTS", "S3", "LocatorMetrics"]

#: The `region` label of redirects that went to S3 because no region was healthy.
S3 = "s3"
#: How a probe of a region's /healthz ended.
PROBE_RESULTS = ("ok", "bad_status", "timeout", "connect_error", "error")

# Lookup and choice take microseconds on a cache hit, tens of microseconds on a miss;
# a millisecond means the database is paging in from disk.
_DECISION_BUCKETS = (5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 1e-2)


class LocatorMetrics:
    """The counters an operator reads on the locator's /metrics.

    Hot-path children are bound once, so a request pays for no label lookup. Every
    value is set where it changes, not read at scrape time, so that under the
    supervisor (client_python's multiprocess mode) each worker's part adds up.
    """

    def __init__(self, regions: Sequence[str], registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.responses = Counter(
            "castedge_locator_responses",
            "Requests answered by the locator's listener, by status code.",
            ["status"],
            registry=r,
        )
        self.redirects = Counter(
            "castedge_locator_redirects",
            "Players sent to a region (or to s3 when no region was healthy), by region.",
            ["region"],
            registry=r,
        )
        self.locations = Counter(
            "castedge_locator_locations",
            "Requests by how precisely the client was placed: city, or a fallback "
            "(country, continent, default).",
            ["kind"],
            registry=r,
        )
        self.unplaced = Counter(
            "castedge_locator_unplaced",
            "Requests sent to the default region, by why the address could not be placed.",
            ["reason"],
            registry=r,
        )
        self.refusals = Counter(
            "castedge_locator_refusals",
            "Requests refused with 403, by reason (no_grant, bad_proxy_secret, expired, ...).",
            ["reason"],
            registry=r,
        )
        self.decision_seconds = Histogram(
            "castedge_locator_decision_seconds",
            "Seconds to locate a client and rank the regions, by lookup cache result.",
            ["cache"],
            buckets=_DECISION_BUCKETS,
            registry=r,
        )
        self.region_healthy = Gauge(
            "castedge_locator_region_healthy",
            "1 while the region receives players, 0 while its health checks fail.",
            ["region"],
            # Each worker checks on its own; a region is up only where all see it up.
            multiprocess_mode="livemin",
            registry=r,
        )
        self.cache_hits = Counter(
            "castedge_locator_cache_hits", "Lookups answered by the cache.", registry=r
        )
        self.cache_misses = Counter(
            "castedge_locator_cache_misses", "Lookups that asked the database.", registry=r
        )
        self.cache_entries = Gauge(
            "castedge_locator_cache_entries",
            "Networks in the lookup cache (of every worker).",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.database_reloads = Counter(
            "castedge_locator_database_reloads", "New GeoIP database files swapped in.", registry=r
        )
        self.database_reload_failures = Counter(
            "castedge_locator_database_reload_failures",
            "New GeoIP database files refused (the old one kept serving).",
            registry=r,
        )
        self.database_build = Gauge(
            "castedge_locator_database_build_timestamp_seconds",
            "When the GeoIP database in use was built (unix seconds).",
            multiprocess_mode="livemin",
            registry=r,
        )
        self.revocation_entries = Gauge(
            "castedge_locator_revocation_entries",
            "Entries in the revocation list the locator holds.",
            multiprocess_mode="livemax",
            registry=r,
        )
        self.revocation_loads = Counter(
            "castedge_locator_revocation_loads",
            "Reads of the revocation file by outcome (loaded, failed, vanished).",
            ["outcome"],
            registry=r,
        )
        self.probes = Counter(
            "castedge_locator_probes",
            "Health checks of each region's edge, by result "
            "(ok, bad_status, timeout, connect_error, error).",
            ["region", "result"],
            registry=r,
        )
        self.transitions = Counter(
            "castedge_locator_health_transitions",
            "Regions marked up or down.",
            ["region", "to"],
            registry=r,
        )
        self.passive_failures = Counter(
            "castedge_locator_passive_failures",
            "Failures reported against a region from outside its health checks.",
            ["region"],
            registry=r,
        )
        for name in regions:
            self.region_healthy.labels(name).set(1)
            for result in PROBE_RESULTS:
                self.probes.labels(name, result)
        self._redirects = {name: self.redirects.labels(name) for name in (*regions, S3)}
        self._locations = {kind: self.locations.labels(kind.value) for kind in Kind}
        self._unplaced = {reason: self.unplaced.labels(reason.value) for reason in Reason}
        self._decisions = {
            True: self.decision_seconds.labels("hit"),
            False: self.decision_seconds.labels("miss"),
        }
        self._responses: dict[int, Counter] = {}

    def responded(self, status: int) -> None:
        """Count one answered request."""
        child = self._responses.get(status)
        if child is None:
            child = self._responses[status] = self.responses.labels(str(status))
        child.inc()

    def redirected(self, region: str) -> None:
        """Count one player sent to `region` (or to S3)."""
        self._redirects[region].inc()

    def placed(self, kind: Kind, reason: Reason | None) -> None:
        """Count how precisely one request's client was placed."""
        self._locations[kind].inc()
        if reason is not None:
            self._unplaced[reason].inc()

    def decided(self, seconds: float, *, cached: bool) -> None:
        """Record how long locating and ranking took, and whether the cache answered."""
        self._decisions[cached].observe(seconds)
        (self.cache_hits if cached else self.cache_misses).inc()

    def revocation_loaded(self, outcome: str, entries: int) -> None:
        """Count one read of the revocation file, and how many entries are now held."""
        self.revocation_loads.labels(outcome).inc()
        self.revocation_entries.set(entries)
