"""Prometheus metrics of an edge: requests and bytes by region and status, refusals by reason.

They live in the same registry as the delivery engine's (``castedge_requests_total``
with ``service="edge"`` and the cache counters), so one scrape of the admin listener's
/metrics shows both.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from delivery.metrics import HeldCounts
from signer import Reason

__all__ = ["NO_TOKEN", "REJECTION_REASONS", "EdgeMetrics"]

#: A request for a path outside the public folders that carries no token at all.
NO_TOKEN = "no_token"  # noqa: S105 -- a metric label, not a credential
#: Every rejection label, so each series exists (at 0) from the first scrape.
REJECTION_REASONS = (*(reason.value for reason in Reason), NO_TOKEN)


class EdgeMetrics:
    """The edge's own counters, registered in the app's registry."""

    def __init__(self, registry: CollectorRegistry, *, region: str) -> None:
        self.registry = registry
        self.region = region
        self.requests = Counter(
            "castedge_edge_requests",
            "Requests the edge answered on its media listener, by region and status code.",
            ["region", "status"],
            registry=registry,
        )
        self.sent_bytes = Counter(
            "castedge_edge_sent_bytes",
            "Body bytes the edge sent to clients, by region and status code.",
            ["region", "status"],
            registry=registry,
        )
        self.rejections = Counter(
            "castedge_token_rejections",
            "Requests refused with the uniform 403, by reason "
            "(malformed, unknown_key, bad_signature, expired, revoked, out_of_scope, "
            "ip_mismatch, no_token).",
            ["region", "reason"],
            registry=registry,
        )
        self.revocation_entries = Gauge(
            "castedge_revocation_entries",
            "Entries in the revocation list the edge holds.",
            ["region"],
            # Every worker reads the same file; the largest is the newest list.
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.revocation_loads = Counter(
            "castedge_revocation_loads",
            "Reads of the revocation file by outcome (loaded, failed, vanished).",
            ["region", "outcome"],
            registry=registry,
        )
        self.free_bytes = Gauge(
            "castedge_store_free_bytes",
            "Bytes still free on the filesystem under the cache, as last sampled.",
            ["region"],
            # One filesystem: the lowest sample of any live worker is the freshest worry.
            multiprocess_mode="livemin",
            registry=registry,
        )
        # Bound children: the hot path must not pay for a label lookup per request.
        self._rejected = {
            reason: self.rejections.labels(region, reason) for reason in REJECTION_REASONS
        }
        self._by_status: dict[int, tuple[Counter, Counter]] = {}
        self._entries = self.revocation_entries.labels(region)
        self._free = self.free_bytes.labels(region)

    def request_done(self, status: int, sent: int, held: HeldCounts | None = None) -> None:
        """Count one answered request and the body bytes it carried (into ``held``)."""
        children = self._by_status.get(status)
        if children is None:
            label = str(status)
            children = self._by_status[status] = (
                self.requests.labels(self.region, label),
                self.sent_bytes.labels(self.region, label),
            )
        if held is not None:
            held.add(children[0])
            if sent:
                held.add(children[1], sent)
            return
        children[0].inc()
        if sent:
            children[1].inc(sent)

    def rejected(self, reason: str) -> None:
        """Count one uniform 403 by its reason (a ``signer.Reason`` value or NO_TOKEN)."""
        self._rejected[reason].inc()

    def revocation_loaded(self, outcome: str, entries: int | None = None) -> None:
        """Count one read of the revocation file; ``entries`` is the list now held."""
        self.revocation_loads.labels(self.region, outcome).inc()
        if entries is not None:
            self._entries.set(entries)

    def free_space(self, free: int) -> None:
        """Record the latest free-space sample."""
        self._free.set(free)
