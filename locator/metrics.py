"""Prometheus metrics of the locator, each app in its own registry."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

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

    Hot-path children are bound once, so a request pays for no label lookup.
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
        """Record how long locating and ranking took."""
        self._decisions[cached].observe(seconds)

    def watch(self, describe: Callable[[], Iterable[tuple[str, str, str, float]]]) -> None:
        """Export values read at scrape time: (kind, name, help, value) from `describe`."""
        self.registry.register(_Snapshot(describe))


class _Snapshot(Collector):
    """Values owned elsewhere (the lookup cache, the database reader), read when scraped."""

    def __init__(self, describe: Callable[[], Iterable[tuple[str, str, str, float]]]) -> None:
        self._describe = describe

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        for kind, name, documentation, value in self._describe():
            family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            yield family(name, documentation, value=value)
