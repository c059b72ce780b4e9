"""The door a miss passes before it costs an upstream fetch: the listing, then the rate.

``MissGate`` is the adapter over ``delivery.misses``' pure parts: it reads the
client's address and the clock, counts refusals, and keeps the listing fresh in the
background (``watch_listing``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from typing import Protocol

from aiohttp import web
from multidict import MultiMapping

from .errors import DeliveryError, ObjectNotFound, TooManyMisses
from .metrics import DeliveryMetrics
from .misses import KeyListing, MissLimiter

__all__ = ["MissGate", "Peer", "forwarded_address", "peer_address", "watch_listing"]

log = logging.getLogger("castedge.engine")


class Peer(Protocol):
    """What names a client: an aiohttp request, or a head the fast path read itself."""

    @property
    def remote(self) -> str | None: ...

    @property
    def headers(self) -> MultiMapping[str]: ...


def peer_address(request: web.Request) -> str:
    """The address of whoever is connected (no proxy in front)."""
    return request.remote or "-"


def forwarded_address(
    trusted: Sequence[IPv4Network | IPv6Network], header: str
) -> Callable[[Peer], str]:
    """The client behind ``trusted`` proxies (a balancer), as their ``header`` names it."""
    from geo.forwarded import client_address, forwarded_for, x_forwarded_for

    def address_of(request: Peer) -> str:
        if header == "forwarded":
            hops = forwarded_for(request.headers.getall("Forwarded", ()))
        else:
            hops = x_forwarded_for(request.headers.getall("X-Forwarded-For", ()))
        found = client_address(request.remote, hops, trusted)
        return str(found) if found is not None else (request.remote or "-")

    return address_of


@dataclass
class MissGate:
    """Decides whether a miss may be fetched; see ``Delivery.admit_miss``."""

    metrics: DeliveryMetrics
    listing: KeyListing | None = None
    limiter: MissLimiter | None = None
    address_of: Callable[[web.Request], str] = peer_address
    clock: Callable[[], float] = time.monotonic

    def __call__(self, request: web.Request, key: str) -> DeliveryError | None:
        now = self.clock()
        service = self.metrics.service
        if self.listing is not None and self.listing.holds(key, now) is False:
            self.metrics.misses_refused.labels(service, "unlisted").inc()
            return ObjectNotFound(key)
        if self.limiter is not None:
            address = self.address_of(request)
            if not self.limiter.admit(address, now):
                self.metrics.misses_refused.labels(service, "rate").inc()
                return TooManyMisses(address, retry_after=self.limiter.retry_after(address, now))
        return None


async def watch_listing(
    listing: KeyListing,
    list_keys: Callable[[], Iterable[str]],
    interval: float,
    metrics: DeliveryMetrics,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """List the bucket now and every ``interval`` seconds, until cancelled.

    ``list_keys`` blocks (it runs in a thread). A failed listing keeps the last one
    until it is too old (``KeyListing.max_age``), then every key may be fetched again.
    """
    loop = asyncio.get_running_loop()
    failing = False
    while True:
        started = clock()
        try:
            keys = await loop.run_in_executor(None, lambda: list(list_keys()))
        except Exception as exc:  # a listing that fails must not stop the next one
            if not failing:
                log.warning(
                    "cannot list the bucket (%s); keys outside the last listing are "
                    "still refused until it is %g s old",
                    exc,
                    listing.max_age,
                )
            failing = True
        else:
            listing.replace(keys, started)
            metrics.listed_keys.labels(metrics.service).set(listing.size)
            if failing:
                log.info("the bucket is listed again: %d keys", listing.size)
            failing = False
        await asyncio.sleep(interval)
