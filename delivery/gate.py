"""The door a miss passes before it costs an upstream fetch: the listing, then the rate.

``MissGate`` is the adapter over ``delivery.misses``' pure parts: it reads the
client's address and the clock, counts refusals, and keeps the listing fresh in the
background (``watch_listing``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Protocol

from aiohttp import web
from multidict import MultiMapping

from .errors import DeliveryError, ObjectNotFound, TooManyMisses
from .metrics import DeliveryMetrics
from .misses import KeyListing, MissLimiter

__all__ = [
    "MissGate",
    "Peer",
    "forwarded_address",
    "peer_address",
    "watch_listing",
    "watch_listing_file",
]

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


#: Reads a sync daemon's listing from the text of its state file (``sync.state``):
#: its keys, when it was made (unix time) and the folders it covers.
ReadListing = Callable[[str], tuple[Iterable[str], float | None, tuple[str, ...]]]


async def watch_listing_file(
    listing: KeyListing,
    path: Path,
    read: ReadListing,
    interval: float,
    metrics: DeliveryMetrics,
    *,
    wall: Callable[[], float] = time.time,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Take the listing a sync daemon on this host keeps in ``path``, every ``interval``.

    The daemon replaces the file atomically after each pass, so it is read whole or
    not at all, and only when it changed. A listing older than ``listing.max_age``
    (the daemon stopped, or cannot list) refuses nothing: misses go by the miss rate
    again. Each change between usable and not is logged once.
    """
    loop = asyncio.get_running_loop()
    seen: tuple[int, int] | None = None
    trouble: str | None = None
    while True:
        problem = None
        try:
            st = await loop.run_in_executor(None, os.stat, path)
            if (st.st_ino, st.st_mtime_ns) != seen:
                text = await loop.run_in_executor(None, path.read_text, "utf-8")
                keys, listed_at, prefixes = read(text)
                seen = (st.st_ino, st.st_mtime_ns)
                if listed_at is not None:
                    # Its age by the wall clock, kept on the monotonic one from here on.
                    listing.replace(keys, clock() - max(0.0, wall() - listed_at), prefixes)
                    metrics.listed_keys.labels(metrics.service).set(listing.size)
        except OSError as exc:
            problem = f"cannot read it ({exc.strerror or exc})"
        except (ValueError, KeyError, TypeError) as exc:
            problem = f"it is not a sync state file ({exc})"
        if problem is None and not listing.fresh(clock()):
            problem = f"its listing is missing or older than {listing.max_age:g} s"
        if problem != trouble:
            if problem is not None:
                log.warning(
                    "not using the sync daemon's listing in %s: %s; misses go by "
                    "upstream.max_miss_rate until it is usable",
                    path,
                    problem,
                )
            else:
                log.info("using the sync daemon's listing in %s: %d keys", path, listing.size)
            trouble = problem
        await asyncio.sleep(interval)
