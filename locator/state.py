"""What the locator's handlers share, under one typed key on each app."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from config import Settings
from edge.revocations import RevocationWatcher
from geo.address import ClientAddress
from geo.forwarded import FORWARDED, Network, client_address, forwarded_for, x_forwarded_for
from geo.health import HealthBoard
from geo.ipcache import NetworkCache
from geo.locate import Reason, locate, unplaced
from geo.reader import ReloadingReader
from geo.target import Placement, place_client
from locator.fallback import S3Fallback
from locator.holdings import HoldingsWatcher
from locator.metrics import LocatorMetrics
from locator.prober import Prober
from locator.settings import Catalogue
from signer import Signer

__all__ = ["LOCATOR", "LocatorState"]


@dataclass
class LocatorState:
    """What the locator's handlers share."""

    settings: Settings
    catalogue: Catalogue
    board: HealthBoard
    cache: NetworkCache[Placement]
    url_signer: Signer
    grant_signer: Signer
    url_ttl: float
    trusted: tuple[Network, ...]
    forwarded_header: str
    grant_header: str
    proxy_secret_header: str
    proxy_secret: bytes | None
    fallback: S3Fallback
    metrics: LocatorMetrics
    clock: Callable[[], float]
    #: The list ``castedge revoke`` writes: revoked grants are refused.
    revocations: RevocationWatcher
    revocation_interval: float
    #: Which region holds which file, from the sync daemon; None without holdings_url.
    holdings: HoldingsWatcher | None = None
    reader: ReloadingReader | None = None
    prober: Prober | None = field(default=None, repr=False)

    def client(self, request: web.BaseRequest) -> ClientAddress | None:
        """The client's address, through the trusted proxies (see `geo.forwarded`)."""
        headers = request.headers
        if self.forwarded_header == FORWARDED:
            hops = forwarded_for(headers.getall("Forwarded", ()))
        else:
            hops = x_forwarded_for(headers.getall("X-Forwarded-For", ()))
        return client_address(request.remote, hops, self.trusted)

    def place(self, address: ClientAddress | None) -> Placement:
        """Where the client should go, from the lookup cache when its network is there."""
        started = time.perf_counter()
        placement = self.cache.get(address) if address is not None else None
        cached = placement is not None
        if placement is None:
            assert self.reader is not None, "the database opens before the listener starts"
            if address is None:
                location = unplaced(Reason.INVALID_ADDRESS)
            else:
                location = locate(self.reader, str(address))
            healthy = self.board.healthy_names()
            placement = place_client(
                self.catalogue.regions, location, healthy, self.catalogue.default
            )
            if address is not None:
                self.cache.put(address, placement)
                self.metrics.cache_entries.set(len(self.cache))
        self.metrics.decided(time.perf_counter() - started, cached=cached)
        self.metrics.placed(placement.location.kind, placement.location.reason)
        return placement

    def holders(self, path: str) -> frozenset[str] | None:
        """The regions holding ``path``'s current version; None when unknown."""
        return self.holdings.holders(path) if self.holdings is not None else None

    def region_changed(self, name: str, healthy: bool) -> None:
        """A region went up or down: every cached ranking is stale."""
        self.forget_placements()

    def forget_placements(self) -> None:
        """Empty the lookup cache (a region's health or the database changed)."""
        self.cache.clear()
        self.metrics.cache_entries.set(0)

    def describe_regions(self) -> dict[str, Any]:
        return {
            region.name: {
                "healthy": state.healthy,
                "successes": state.successes,
                "failures": state.failures,
                "base_url": region.base_url,
                "health_url": self.catalogue.health_urls[region.name],
            }
            for region, state in zip(
                self.catalogue.regions, self.board.states().values(), strict=True
            )
        }


LOCATOR = web.AppKey("locator", LocatorState)
