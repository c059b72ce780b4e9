"""Assembly of the delivery engine from settings, and its life cycle inside an app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from config import S3Settings, Settings, role_cache, role_prefixes

from .admin import DELIVERY
from .fill import FillManager
from .gate import MissGate, forwarded_address, peer_address, watch_listing, watch_listing_file
from .metrics import DeliveryMetrics
from .misses import KeyListing, MissLimiter
from .serve import Delivery
from .store import DiskStore
from .upstream import DirectoryUpstream, RetryPolicy, S3Upstream, Upstream

__all__ = ["delivery_context", "make_upstream", "miss_gate"]

log = logging.getLogger("castedge.engine")

#: How often a degraded store is probed for recovery.
PROBE_SECONDS = 5.0


def make_upstream(settings: Settings, metrics: DeliveryMetrics) -> Upstream:
    """The upstream the settings name: an S3 bucket or a local directory."""
    storage = settings.storage
    if storage is None:
        raise LookupError("the settings have no storage section")
    if storage.s3 is not None:
        up = settings.upstream
        return S3Upstream(
            bucket=storage.s3.bucket,
            region=storage.s3.region,
            endpoint_url=storage.s3.endpoint_url,
            presign_ttl=storage.s3.presign_ttl,
            ca_bundle=storage.s3.ca_bundle,
            policy=RetryPolicy(
                retries=up.retries,
                backoff=up.backoff,
                connect_timeout=up.connect_timeout,
                read_timeout=up.read_timeout,
                fill_deadline=up.fill_deadline,
            ),
            metrics=metrics,
        )
    assert storage.dir is not None, "config guarantees one of s3/dir"
    return DirectoryUpstream(storage.dir)


def delivery_context(
    settings: Settings,
    metrics: DeliveryMetrics,
    *,
    role: str,
    cache_control: str,
    clock: Callable[[], float] = time.time,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` entry that starts ``role``'s engine with the app and stops it after.

    The role's cache directory, size and prefixes come from ``config.roles``.
    """
    cache = role_cache(settings, role)
    prefixes = role_prefixes(settings, role)

    async def context(app: web.Application) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        upstream = make_upstream(settings, metrics)
        await upstream.start()
        store = DiskStore(
            cache.dir,
            cache.max_size,
            metrics=metrics,
            high=cache.high_watermark,
            low=cache.low_watermark,
            clock=clock,
        )
        await loop.run_in_executor(None, store.scan)
        fills = FillManager(
            store,
            upstream,
            metrics,
            negative_ttl=settings.upstream.negative_ttl,
            fill_deadline=settings.upstream.fill_deadline,
        )
        gate, listing = miss_gate(settings, metrics, role=role, prefixes=prefixes)
        app[DELIVERY] = Delivery(
            store, fills, metrics, cache_control, prefixes=prefixes, admit_miss=gate
        )
        housekeeping = asyncio.create_task(_housekeeping(store), name="store housekeeping")
        listed = None
        if listing is not None:
            assert settings.storage is not None and settings.storage.s3 is not None
            interval = settings.storage.list_interval
            if settings.storage.listing_file is not None:
                watch = watch_listing_file(
                    listing, settings.storage.listing_file, _read_listing, interval, metrics
                )
            else:
                lister = _lister(settings.storage.s3, prefixes)
                watch = watch_listing(listing, lister, interval, metrics)
            listed = asyncio.create_task(watch, name="bucket listing")
        log.info(
            "upstream: %s; cache: %s (%d bytes max)", upstream.describe(), cache.dir, cache.max_size
        )
        try:
            yield
        finally:
            for task in (housekeeping, listed):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await fills.close()
            store.close()
            await upstream.close()

    return context


def miss_gate(
    settings: Settings, metrics: DeliveryMetrics, *, role: str, prefixes: tuple[str, ...]
) -> tuple[MissGate | None, KeyListing | None]:
    """What stands between a miss and the upstream, from the settings (None: nothing)."""
    storage = settings.storage
    listing = None
    if storage is not None and (storage.list_keys or storage.listing_file is not None):
        # Three missed listings in a row and the listing is too old to refuse with.
        listing = KeyListing(max_age=storage.list_interval * 3 + 60)
    up = settings.upstream
    limiter = MissLimiter(up.max_miss_rate, up.miss_burst) if up.max_miss_rate else None
    if listing is None and limiter is None:
        return None, None
    address_of: Callable[[web.Request], str] = peer_address
    section = {"origin": settings.origin, "edge": settings.edge}.get(role)
    if section is not None and section.trusted_proxies:
        address_of = forwarded_address(section.trusted_proxies, section.client_ip_header)
    gate = MissGate(metrics, listing=listing, limiter=limiter, address_of=address_of)
    return gate, listing


def _lister(s3: S3Settings, prefixes: tuple[str, ...]) -> Callable[[], list[str]]:
    from sync.bucket import Bucket

    bucket = Bucket(s3, [p for p in prefixes if p])
    return lambda: list(bucket.list())


def _read_listing(text: str) -> tuple[frozenset[str], float | None, tuple[str, ...]]:
    from sync.state import read_listing

    found = read_listing(text)
    return found.keys, found.listed_at, found.prefixes


async def _housekeeping(store: DiskStore) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(PROBE_SECONDS)
        if not store.healthy and await loop.run_in_executor(None, store.probe):
            store.recovered()
