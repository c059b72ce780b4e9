"""The sync role as an app: the daemon in the background, its part of the admin listener.

It has no listener of its own. On the node's admin listener it adds
``POST /admin/sync/nudge`` (start a pass now: ``castedge publish`` calls it),
``GET /admin/sync/status`` (each region's backlog: ``castedge sync status``) and
``GET /admin/sync/holdings`` (which region holds which version: the locator routes by
it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from config import ConfigError, Settings, SyncSettings
from edge.revocations import RevocationFile
from runtime.admin import AdminPart
from runtime.tasks import background
from signer import Signer
from tls.context import client_context

from .balanced import BalancedRegion
from .bucket import Bucket
from .daemon import Daemon
from .metrics import SyncMetrics
from .regions import Region, RegionClient
from .state import StateFile

__all__ = ["SYNC", "admin_part", "create_app", "sync_settings"]

SYNC = web.AppKey("sync", Daemon)
_SETTINGS = web.AppKey("sync_settings", Settings)
_METRICS = web.AppKey("sync_metrics", SyncMetrics)
_CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("sync_clock")
_TASK: web.AppKey[asyncio.Task[None]] = web.AppKey("sync_task")


def sync_settings(settings: Settings) -> SyncSettings:
    """The sync section; ConfigError naming it when the file has none."""
    if settings.sync is None:
        raise ConfigError(settings.source, "sync", "missing; castedge sync needs a 'sync' section")
    return settings.sync


def create_app(
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """The daemon's app (started without a listener); ConfigError without a sync section."""
    sync_settings(settings)
    names = [region.name for region in settings.regions or ()]
    app = web.Application()
    app[_SETTINGS] = settings
    app[_METRICS] = SyncMetrics(names, registry)
    app[_CLOCK] = clock
    app.cleanup_ctx.append(_daemon_context)
    return app


async def _daemon_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[_SETTINGS]
    sync = sync_settings(settings)
    assert settings.storage is not None and settings.storage.s3 is not None  # config checked
    admin_token = settings.admin.token
    # A region's admin listener over https is verified: the system's CAs and ca_bundle.
    connector = aiohttp.TCPConnector(ssl=client_context(settings.ca_bundle))
    async with aiohttp.ClientSession(connector=connector) as session:

        def client(name: str, url: str, token: Any) -> RegionClient:
            secret = token if token is not None else admin_token
            return RegionClient(
                name,
                url,
                secret.reveal() if secret is not None else None,
                session,
                transfer_timeout=sync.transfer_timeout,
            )

        regions: dict[str, Region] = {}
        for region in settings.regions or ():
            if not region.members:
                regions[region.name] = client(
                    region.name, region.admin_url or "", region.admin_token
                )
                continue
            # Behind a balancer: media through it, changes to every member (docs/scaling.md).
            regions[region.name] = BalancedRegion(
                region.name,
                region.base_url,
                [client(region.name, url, region.admin_token) for url in region.members],
                Signer.from_settings(settings),
                session,
                transfer_timeout=sync.transfer_timeout,
                clock=app[_CLOCK],
            )
        nodes = tuple(client(url, url, None) for url in sync.nodes)
        revocation_file = settings.signing.revocation_file if settings.signing else None
        daemon = Daemon(
            sync,
            bucket=await asyncio.to_thread(Bucket, settings.storage.s3, sync.prefixes),
            regions=regions,
            nodes=nodes,
            state_file=StateFile(sync.state_file),
            metrics=app[_METRICS],
            revocation_file=RevocationFile(revocation_file) if revocation_file else None,
            clock=app[_CLOCK],
        )
        await daemon.start()
        app[SYNC] = daemon
        async with background(daemon.run(), "sync daemon") as task:
            app[_TASK] = task
            yield


def admin_part(app: web.Application) -> AdminPart:
    """The daemon's share of the node's admin listener."""

    async def status() -> tuple[bool, dict[str, Any]]:
        daemon = app[SYNC]
        detail = daemon.describe()
        running = not app[_TASK].done()
        detail["running"] = running
        # Unhealthy when it stopped or cannot see the bucket: nothing new reaches a region.
        return running and daemon.listing_error is None, detail

    def routes(admin: web.Application) -> None:
        admin.router.add_post("/admin/sync/nudge", nudge)
        admin.router.add_get("/admin/sync/status", sync_status)
        admin.router.add_get("/admin/sync/holdings", holdings)

    def share(admin: web.Application) -> None:
        admin[SYNC] = app[SYNC]

    return AdminPart(
        role="sync", status=status, registry=app[_METRICS].registry, routes=routes, share=share
    )


async def nudge(request: web.Request) -> web.Response:
    """``POST /admin/sync/nudge``: list the bucket now instead of at the next interval."""
    return web.json_response({"pass": request.app[SYNC].nudge()}, status=202)


async def sync_status(request: web.Request) -> web.Response:
    """``GET /admin/sync/status``: each region's backlog, errors and last success."""
    return web.json_response(request.app[SYNC].describe(), headers={"Cache-Control": "no-store"})


async def holdings(request: web.Request) -> web.Response:
    """``GET /admin/sync/holdings``: which regions hold the listed version of each key."""
    return web.json_response(request.app[SYNC].holdings(), headers={"Cache-Control": "no-store"})
