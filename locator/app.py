"""The locator's apps: the listener players ask, the admin listener, and their background work."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry

from config import Settings
from delivery.limits import request_limits
from edge.revocations import RevocationFile, RevocationWatcher
from geo.health import HealthBoard
from geo.ipcache import NetworkCache
from geo.reader import ReloadingReader
from locator.fallback import S3Fallback
from locator.handlers import (
    VIDEO_ROUTE,
    admin_status,
    locate_api,
    public_health,
    public_status,
    report_failure,
    video,
)
from locator.holdings import HoldingsWatcher
from locator.metrics import LocatorMetrics
from locator.prober import Prober
from locator.settings import locator_settings
from locator.state import LOCATOR, LocatorState
from runtime.admin import AdminPart, create_node_admin
from runtime.tasks import background
from signer import Purpose, Signer

__all__ = ["admin_part", "create_admin_app", "create_app"]

log = logging.getLogger("castedge.locator")


def create_app(
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """The locator's listener. Raises ConfigError without locator, geo, regions or signing."""
    locator, geo, catalogue = locator_settings(settings)
    assert settings.signing is not None, "locator_settings checked it"
    names = [region.name for region in catalogue.regions]
    secret = locator.proxy_secret
    metrics = LocatorMetrics(names, registry)
    revocation_file = settings.signing.revocation_file
    revocations = RevocationWatcher(
        RevocationFile(revocation_file) if revocation_file is not None else None,
        metrics=metrics,
        clock=clock,
    )
    state = LocatorState(
        settings=settings,
        catalogue=catalogue,
        board=HealthBoard(names, rise=geo.health.rise, fall=geo.health.fall),
        cache=NetworkCache(geo.cache_size),
        url_signer=Signer.from_settings(settings),
        grant_signer=Signer.from_settings(settings, purpose=Purpose.GRANT),
        url_ttl=settings.signing.default_ttl if settings.signing is not None else 0,
        trusted=geo.trusted_proxies,
        forwarded_header=geo.client_ip_header,
        grant_header=locator.grant_header,
        proxy_secret_header=locator.proxy_secret_header,
        proxy_secret=secret.reveal().encode() if secret is not None else None,
        fallback=S3Fallback(settings.storage.s3 if settings.storage is not None else None),
        metrics=metrics,
        clock=clock,
        revocations=revocations,
        revocation_interval=settings.signing.revocation_interval,
    )
    if locator.holdings_url is not None:
        token = settings.admin.token
        state.holdings = HoldingsWatcher(
            locator.holdings_url,
            token.reveal() if token is not None else None,
            locator.holdings_interval,
            ca_bundle=settings.ca_bundle,
        )
    app = web.Application(middlewares=[request_limits, _count_responses])
    app[LOCATOR] = state
    # The revocation list first: a locator that cannot read it must not mint URLs.
    app.cleanup_ctx.append(_revocation_context)
    app.cleanup_ctx.append(_database_context)
    app.cleanup_ctx.append(_health_context)
    app.cleanup_ctx.append(_fallback_context)
    app.cleanup_ctx.append(_holdings_context)
    app.router.add_get("/healthz", public_health)
    app.router.add_get("/api/v1/locate", locate_api)
    # "[\s\S]", not ".": an encoded newline in the path must reach the handler's 400.
    app.router.add_get(VIDEO_ROUTE + r"{tail:[\s\S]*}", video)
    return app


def admin_part(media_app: web.Application) -> AdminPart:
    """The locator's share of the node's admin listener: health and failure reports."""
    state = media_app[LOCATOR]

    async def status() -> tuple[bool, dict[str, Any]]:
        # As the locator's own /healthz: unhealthy only when players can go nowhere.
        code, _ = public_status(state)
        return code == 200, admin_status(state)

    def routes(admin: web.Application) -> None:
        admin.router.add_post("/admin/regions/{name}/failed", report_failure)

    def share(admin: web.Application) -> None:
        admin[LOCATOR] = state

    return AdminPart(
        role="locator",
        status=status,
        registry=state.metrics.registry,
        routes=routes,
        share=share,
    )


def create_admin_app(media_app: web.Application) -> web.Application:
    """An admin listener for a locator alone (start the media app first)."""
    return create_node_admin([admin_part(media_app)], media_app[LOCATOR].settings.admin.token)


# -- background work ------------------------------------------------------------------


async def _revocation_context(app: web.Application) -> AsyncIterator[None]:
    state = app[LOCATOR]
    async with state.revocations.running(state.revocation_interval):
        yield


async def _database_context(app: web.Application) -> AsyncIterator[None]:
    """Open the City database before serving, and pick up replacements of it meanwhile."""
    state = app[LOCATOR]
    geo = state.settings.geo
    assert geo is not None
    # check_interval 0: the task below sets the pace.
    reader = await asyncio.to_thread(ReloadingReader, geo.database, check_interval=0.0)
    state.reader = reader
    metadata = reader.metadata()
    state.metrics.database_build.set(metadata.build_epoch)
    log.info(
        "GeoIP database %s: %s built %s",
        reader.path,
        metadata.database_type,
        time.strftime("%Y-%m-%d", time.gmtime(metadata.build_epoch)),
    )
    async with background(_reload_forever(state, reader, geo.reload_interval), "geoip reload"):
        yield


async def _reload_forever(state: LocatorState, reader: ReloadingReader, interval: float) -> None:
    failures = reader.failed_reloads
    while True:
        await asyncio.sleep(interval)
        try:
            changed = await asyncio.to_thread(reader.maybe_reload, force=True)
        except Exception:
            log.exception("checking %s for a new GeoIP database failed", reader.path)
            continue
        if changed:
            state.forget_placements()
            state.metrics.database_reloads.inc()
            state.metrics.database_build.set(reader.metadata().build_epoch)
            build = time.gmtime(reader.metadata().build_epoch)
            log.info(
                "GeoIP database reloaded: %s built %s", reader.path, time.strftime("%F", build)
            )
        elif reader.failed_reloads != failures:
            state.metrics.database_reload_failures.inc(reader.failed_reloads - failures)
            log.error("GeoIP database not reloaded, the old one serves on: %s", reader.last_error)
        failures = reader.failed_reloads


async def _health_context(app: web.Application) -> AsyncIterator[None]:
    state = app[LOCATOR]
    geo = state.settings.geo
    assert geo is not None
    prober = Prober(
        state.catalogue.health_urls,
        state.board,
        interval=geo.health.interval,
        timeout=geo.health.timeout,
        metrics=state.metrics,
        on_change=state.region_changed,
        ca_bundle=state.settings.ca_bundle,
    )
    state.prober = prober
    async with background(prober.run(), "health checks"):
        yield


async def _holdings_context(app: web.Application) -> AsyncIterator[None]:
    watcher = app[LOCATOR].holdings
    if watcher is None:
        yield
        return
    async with background(watcher.run(), "holdings"):
        yield


async def _fallback_context(app: web.Application) -> AsyncIterator[None]:
    await app[LOCATOR].fallback.start()
    yield


# -- middleware -----------------------------------------------------------------------


@web.middleware
async def _count_responses(request: web.Request, handler: Handler) -> web.StreamResponse:
    metrics = request.app[LOCATOR].metrics
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        metrics.responded(exc.status)
        raise
    metrics.responded(response.status)
    return response
