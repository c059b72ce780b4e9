"""The locator: send each player to the nearest healthy region, with a signed URL there.

``GET /v/<path>`` answers a 302 to ``<edge base>/s/<token>/<path>`` once a grant (or
the web app's proxy secret) allows the path; ``GET /api/v1/locate?path=…`` answers the
same choice as JSON, with the other healthy regions as alternates, for apps that fail
over by themselves. With no region healthy, both send the player to S3 instead.

The handlers are adapters: the client's address (`geo.forwarded`), the proof
(`geo.grant`), the placement (`geo.target`) and the URL (`geo.target.edge_url`) are
decided by pure functions; the I/O around them is the GeoIP reader, kept current in
the background, and the health checks (`locator.prober`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from castedge.runner import Listener, serve_forever
from config import Settings
from delivery.admin import ADMIN_TOKEN, bearer_auth
from delivery.limits import request_limits
from geo.address import ClientAddress
from geo.errors import Refused, UnknownRegion, UnsafePath
from geo.grant import Permit, authorise
from geo.health import HealthBoard
from geo.ipcache import NetworkCache
from geo.reader import ReloadingReader
from geo.target import edge_url
from locator.fallback import S3Fallback
from locator.logs import GrantRedactor, LocatorLogFormat
from locator.metrics import S3, LocatorMetrics
from locator.prober import Prober
from locator.settings import locator_settings
from locator.state import LOCATOR, LocatorState
from signer import ClaimError, PathRejected, Purpose, Signer, normalise_path
from signer.scope import path_problem

__all__ = [
    "create_admin_app",
    "create_app",
    "run_locator",
]

log = logging.getLogger("castedge.locator")

#: The signed route's prefix on the locator: ``/v/<path>``.
VIDEO_ROUTE = "/v/"
#: Every refused request gets this body, whatever the reason (no oracle).
FORBIDDEN_BODY = "forbidden\n"
#: A redirect is one player's, made for one address at one moment: no cache may keep
#: it (https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.5), and it varies with
#: the client's address, which no header names, hence "*"
#: (https://www.rfc-editor.org/rfc/rfc9110#section-12.5.5).
PRIVATE = {"Cache-Control": "private, no-store", "Vary": "*"}
#: Loggers outside ours that may quote a request line (and so a grant).
_QUOTING_LOGGERS = ("aiohttp.server", "aiohttp.web", "aiohttp.access")


def create_app(
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """The locator's listener. Raises ConfigError without locator, geo, regions or signing."""
    locator, geo, catalogue = locator_settings(settings)
    names = [region.name for region in catalogue.regions]
    secret = locator.proxy_secret
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
        fallback=S3Fallback(settings.storage.s3),
        metrics=LocatorMetrics(names, registry),
        clock=clock,
    )
    state.metrics.watch(lambda: _snapshot(state))
    app = web.Application(middlewares=[request_limits, _count_responses])
    app[LOCATOR] = state
    app.cleanup_ctx.append(_database_context)
    app.cleanup_ctx.append(_health_context)
    app.cleanup_ctx.append(_fallback_context)
    app.router.add_get("/healthz", public_health)
    app.router.add_get("/api/v1/locate", locate_api)
    # "[\s\S]", not ".": an encoded newline in the path must reach the handler's 400.
    app.router.add_get(VIDEO_ROUTE + r"{tail:[\s\S]*}", video)
    return app


def create_admin_app(media_app: web.Application) -> web.Application:
    """The admin listener: detailed health, metrics, and passive failure reports."""
    state = media_app[LOCATOR]
    app = web.Application(middlewares=[request_limits, bearer_auth])
    token = state.settings.admin.token
    app[ADMIN_TOKEN] = token.reveal().encode() if token is not None else b""
    app[LOCATOR] = state
    app.router.add_get("/healthz", admin_health)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/admin/regions/{name}/failed", report_failure)
    return app


async def run_locator(settings: Settings) -> None:
    """Serve the locator until SIGTERM/SIGINT; ConfigError if a section it needs is missing."""
    locator, _, _ = locator_settings(settings)
    for name in _QUOTING_LOGGERS:
        logging.getLogger(name).addFilter(GrantRedactor())
    app = create_app(settings)
    admin = create_admin_app(app)
    await serve_forever(
        [
            Listener(
                "locator", app, locator.listen, locator.access_log, log_format=LocatorLogFormat
            ),
            Listener("admin", admin, settings.admin.listen),
        ]
    )


# -- background work ------------------------------------------------------------------


async def _database_context(app: web.Application) -> AsyncIterator[None]:
    """Open the City database before serving, and pick up replacements of it meanwhile."""
    state = app[LOCATOR]
    geo = state.settings.geo
    assert geo is not None
    # check_interval 0: the task below sets the pace.
    reader = await asyncio.to_thread(ReloadingReader, geo.database, check_interval=0.0)
    state.reader = reader
    metadata = reader.metadata()
    log.info(
        "GeoIP database %s: %s built %s",
        reader.path,
        metadata.database_type,
        time.strftime("%Y-%m-%d", time.gmtime(metadata.build_epoch)),
    )
    task = asyncio.create_task(_reload_forever(state, reader, geo.reload_interval))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


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
            state.cache.clear()
            build = time.gmtime(reader.metadata().build_epoch)
            log.info(
                "GeoIP database reloaded: %s built %s", reader.path, time.strftime("%F", build)
            )
        elif reader.failed_reloads != failures:
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
    )
    state.prober = prober
    task = asyncio.create_task(prober.run(), name="health checks")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _fallback_context(app: web.Application) -> AsyncIterator[None]:
    await app[LOCATOR].fallback.start()
    yield


def _snapshot(state: LocatorState) -> Iterator[tuple[str, str, str, float]]:
    cache = state.cache
    yield ("counter", "castedge_locator_cache_hits", "Lookups answered by the cache.", cache.hits)
    yield (
        "counter",
        "castedge_locator_cache_misses",
        "Lookups that asked the database.",
        cache.misses,
    )
    yield ("gauge", "castedge_locator_cache_entries", "Networks in the lookup cache.", len(cache))
    reader = state.reader
    if reader is not None:
        yield (
            "counter",
            "castedge_locator_database_reloads",
            "New GeoIP database files swapped in.",
            reader.reloads,
        )
        yield (
            "counter",
            "castedge_locator_database_reload_failures",
            "New GeoIP database files refused (the old one kept serving).",
            reader.failed_reloads,
        )
        yield (
            "gauge",
            "castedge_locator_database_build_timestamp_seconds",
            "When the GeoIP database in use was built (unix seconds).",
            reader.metadata().build_epoch,
        )


# -- handlers -------------------------------------------------------------------------


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


def _forbidden(state: LocatorState, exc: Refused, *, json: bool) -> web.Response:
    state.metrics.refusals.labels(exc.reason).inc()
    log.debug("refused: %s", exc)
    headers = {"Cache-Control": "no-store"}
    if json:
        return web.json_response({"error": "forbidden"}, status=403, headers=headers)
    return web.Response(status=403, text=FORBIDDEN_BODY, headers=headers)


def _bad_request(reason: str, *, json: bool) -> web.Response:
    headers = {"Cache-Control": "no-store"}
    if json:
        return web.json_response({"error": reason}, status=400, headers=headers)
    return web.Response(status=400, text=f"bad request: {reason}\n", headers=headers)


def _admit(
    state: LocatorState, request: web.Request, path: str, *, json: bool
) -> tuple[Permit, ClientAddress | None] | web.Response:
    """Who asks (through trusted proxies) and whether the grant covers the path."""
    address = state.client(request)
    try:
        permit = authorise(
            path,
            grant=request.query.get("grant") or request.headers.get(state.grant_header),
            signer=state.grant_signer,
            now=state.clock(),
            client_ip=str(address) if address is not None else None,
            presented_secret=request.headers.get(state.proxy_secret_header),
            proxy_secret=state.proxy_secret,
        )
    except Refused as exc:
        return _forbidden(state, exc, json=json)
    return permit, address


def _mint(state: LocatorState, permit: Permit, now: float) -> str:
    """The edge token: the grant's scope, address binding and subject, for url_ttl."""
    return state.url_signer.mint(
        permit.scope, now=now, ttl=state.url_ttl, ip=permit.ip, subject=permit.subject
    )


async def _s3_url(state: LocatorState, path: str, now: float) -> tuple[str, int | None] | None:
    """Where to send a player when no region is healthy; None when S3 cannot take it."""
    try:
        url, expires_at = await state.fallback.url_for(path, now=now)
    except (LookupError, OSError) as exc:
        log.error("no region is healthy and S3 cannot take the player: %s", exc)
        return None
    state.metrics.redirected(S3)
    return url, expires_at


async def video(request: web.Request) -> web.StreamResponse:
    """``GET /v/<path>``: a 302 to the nearest healthy region's signed URL for the path."""
    state = request.app[LOCATOR]
    raw = request.rel_url.raw_path
    # The router matched the decoded path; "/v%2Fx" decodes to "/v/x" but is not ours.
    if not raw.startswith(VIDEO_ROUTE):
        return web.Response(status=404, text="not found\n")
    try:
        path = normalise_path(raw[len(VIDEO_ROUTE) :])
    except PathRejected:
        return _bad_request("the path is not a plain relative path", json=False)
    admitted = _admit(state, request, path, json=False)
    if isinstance(admitted, web.Response):
        return admitted
    permit, address = admitted
    target = state.place(address).target
    now = state.clock()
    if target is None:
        fallback = await _s3_url(state, path, now)
        if fallback is None:
            return _unavailable(state)
        return web.Response(status=302, headers={"Location": fallback[0], **PRIVATE})
    try:
        location = edge_url(target.region.base_url, _mint(state, permit, now), path)
    except (ClaimError, UnsafePath) as exc:
        log.warning("cannot sign %s for %s: %s", path[:80], target.region.name, exc)
        return _bad_request("the path cannot be signed", json=False)
    state.metrics.redirected(target.region.name)
    return web.Response(status=302, headers={"Location": location, **PRIVATE})


def _unavailable(state: LocatorState) -> web.Response:
    geo = state.settings.geo
    retry = math.ceil(geo.health.interval) if geo is not None else 5
    return web.Response(
        status=503,
        text="no region can serve this now\n",
        headers={"Retry-After": str(retry), "Cache-Control": "no-store"},
    )


async def locate_api(request: web.Request) -> web.StreamResponse:
    """``GET /api/v1/locate?path=…``: the redirect as JSON, with the alternates in order."""
    state = request.app[LOCATOR]
    path = request.query.get("path")
    if path is None:
        return _bad_request("the query parameter 'path' is required", json=True)
    if path_problem(path) is not None:
        return _bad_request("the path is not a plain relative path", json=True)
    admitted = _admit(state, request, path, json=True)
    if isinstance(admitted, web.Response):
        return admitted
    permit, address = admitted
    healthy = state.place(address).healthy
    now = state.clock()
    body: dict[str, Any]
    if not healthy:
        fallback = await _s3_url(state, path, now)
        if fallback is None:
            return _unavailable(state)
        url, expires_at = fallback
        body = {"region": None, "url": url, "expires_at": expires_at, "alternates": []}
        body["fallback"] = S3
        return web.json_response(body, headers=PRIVATE)
    try:
        token = _mint(state, permit, now)
        urls = [
            (entry.region.name, edge_url(entry.region.base_url, token, path)) for entry in healthy
        ]
    except (ClaimError, UnsafePath) as exc:
        log.warning("cannot sign %s: %s", path[:80], exc)
        return _bad_request("the path cannot be signed", json=True)
    (region, url), *alternates = urls
    state.metrics.redirected(region)
    body = {
        "region": region,
        "url": url,
        # As Signer.mint computes the token's expiry.
        "expires_at": math.ceil(now + state.url_ttl),
        "alternates": [{"region": name, "url": other} for name, other in alternates],
        "fallback": None,
    }
    return web.json_response(body, headers=PRIVATE)


async def public_health(request: web.Request) -> web.Response:
    """A balancer's check: 200 while players can be sent somewhere, 503 when nowhere."""
    state = request.app[LOCATOR]
    healthy = len(state.board.healthy_names())
    total = len(state.catalogue.regions)
    if healthy == total:
        status = "ok"
    elif healthy:
        status = "degraded"
    else:
        status = "fallback" if state.fallback.available else "unavailable"
    body = {"status": status, "regions_healthy": healthy, "regions": total}
    code = 503 if status == "unavailable" else 200
    return web.json_response(body, status=code, headers={"Cache-Control": "no-store"})


async def admin_health(request: web.Request) -> web.Response:
    """Everything an operator asks first: each region's health, the database, the cache."""
    state = request.app[LOCATOR]
    reader = state.reader
    database: dict[str, Any] | None = None
    if reader is not None:
        metadata = reader.metadata()
        database = {
            "path": reader.path,
            "type": metadata.database_type,
            "build_epoch": metadata.build_epoch,
            "reloads": reader.reloads,
            "failed_reloads": reader.failed_reloads,
            "last_error": str(reader.last_error) if reader.last_error is not None else None,
        }
    healthy = len(state.board.healthy_names())
    body = {
        "status": "ok" if healthy else "fallback",
        "regions": state.describe_regions(),
        "default_region": state.catalogue.default.name,
        "database": database,
        "cache": {
            "entries": len(state.cache),
            "max_entries": state.cache.maxsize,
            "hits": state.cache.hits,
            "misses": state.cache.misses,
        },
        "fallback": state.fallback.describe(),
    }
    return web.json_response(body, headers={"Cache-Control": "no-store"})


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[LOCATOR].metrics.registry
    return web.Response(
        body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


async def report_failure(request: web.Request) -> web.Response:
    """``POST /admin/regions/{name}/failed``: count a failure seen outside the health checks."""
    state = request.app[LOCATOR]
    name = request.match_info["name"]
    prober = state.prober
    try:
        if prober is None:
            raise UnknownRegion(name)
        prober.mark_failed(name)
        health = state.board.state(name)
    except UnknownRegion:
        return web.json_response({"error": "no such region"}, status=404)
    return web.json_response(
        {"region": name, "healthy": health.healthy, "failures": health.failures}
    )
