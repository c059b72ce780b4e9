"""Prometheus metrics of the replication daemon, in the app's own registry."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["SyncMetrics"]


class SyncMetrics:
    """How far behind each region is, and what the daemon asked of it."""

    def __init__(self, regions: Sequence[str], registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        # The daemon runs in one process: its value is the max over live processes.
        self.lag = Gauge(
            "castedge_replication_lag_seconds",
            "Age of the oldest change in the bucket the region does not hold yet; 0 when "
            "caught up.",
            ["region"],
            multiprocess_mode="livemax",
            registry=r,
        )
        self.pending_objects = Gauge(
            "castedge_replication_pending_objects",
            "Objects the region still has to fetch or purge.",
            ["region"],
            multiprocess_mode="livemax",
            registry=r,
        )
        self.pending_bytes = Gauge(
            "castedge_replication_pending_bytes",
            "Bytes the region still has to fetch from S3.",
            ["region"],
            multiprocess_mode="livemax",
            registry=r,
        )
        self.prefetches = Counter(
            "castedge_replication_prefetches",
            "Prefetches asked of a region, by result (ok, failed).",
            ["region", "result"],
            registry=r,
        )
        self.purges = Counter(
            "castedge_replication_purges",
            "Purges asked of a region, by result (ok, failed).",
            ["region", "result"],
            registry=r,
        )
        self.passes = Counter(
            "castedge_replication_passes",
            "Listings of the main bucket, by result (ok, failed, deletes_held).",
            ["result"],
            registry=r,
        )
        self.listed_objects = Gauge(
            "castedge_replication_listed_objects",
            "Objects in the main bucket under sync.prefixes at the last listing.",
            multiprocess_mode="livemax",
            registry=r,
        )
        for name in regions:
            self.lag.labels(name).set(0)
            for result in ("ok", "failed"):
                self.prefetches.labels(name, result)
                self.purges.labels(name, result)
