"""Assembly of the delivery engine from settings, and its life cycle inside an app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from config import Settings, role_cache, role_prefixes

from .admin import DELIVERY
from .fill import FillManager
from .metrics import DeliveryMetrics
from .serve import Delivery
from .store import DiskStore
from .upstream import DirectoryUpstream, RetryPolicy, S3Upstream, Upstream

__all__ = ["delivery_context", "make_upstream"]

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
        app[DELIVERY] = Delivery(store, fills, metrics, cache_control, prefixes=prefixes)
        housekeeping = asyncio.create_task(_housekeeping(store), name="store housekeeping")
        log.info(
            "upstream: %s; cache: %s (%d bytes max)", upstream.describe(), cache.dir, cache.max_size
        )
        try:
            yield
        finally:
            housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await housekeeping
            await fills.close()
            store.close()
            await upstream.close()

    return context


async def _housekeeping(store: DiskStore) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(PROBE_SECONDS)
        if not store.healthy and await loop.run_in_executor(None, store.probe):
            store.recovered()
