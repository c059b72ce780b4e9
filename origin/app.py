"""The origin: the podcast pull-through cache as aiohttp apps (media and admin)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from config import ConfigError, OriginSettings, Settings, role_cache
from delivery.admin import DELIVERY, store_status
from delivery.answer import Answer
from delivery.engine import delivery_context
from delivery.errors import BadKey
from delivery.fastpath import FAST_ROUTE, FastHit, FastRequest
from delivery.keys import object_key
from delivery.limits import oversized
from delivery.metrics import DeliveryMetrics, HeldCounts
from runtime.admin import AdminPart, create_node_admin
from runtime.tasks import background

from .downloads import DownloadLog
from .state import StateFile
from .stats import STATS, StatsService, add_stats_routes
from .switches import (
    REDIRECTOR,
    SWITCHES,
    Action,
    Redirector,
    Switches,
    add_switch_routes,
    choose,
    maintenance_page,
    wants_html,
)

__all__ = [
    "DOWNLOADS",
    "METRICS",
    "SETTINGS",
    "admin_part",
    "create_admin_app",
    "create_app",
    "origin_settings",
]

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", DeliveryMetrics)
DOWNLOADS = web.AppKey("downloads", DownloadLog)


def origin_settings(settings: Settings) -> OriginSettings:
    """The origin section; ConfigError naming it when the file has none."""
    if settings.origin is None:
        raise ConfigError(
            settings.source, "origin", "missing; castedge origin needs an 'origin' section"
        )
    return settings.origin


def create_app(
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """The media listener's app: every path under ``origin.prefixes`` is an object key."""
    origin = origin_settings(settings)
    app = web.Application()
    metrics = DeliveryMetrics(registry, service="origin")
    app[SETTINGS] = settings
    app[METRICS] = metrics
    # The switches live beside the origin's own objects, apart from any other role's.
    state_file = StateFile(role_cache(settings, "origin").dir / "state.json")
    app[SWITCHES] = Switches(state_file, metrics.registry, clock=clock)
    app[STATS] = StatsService(settings, clock=clock)
    app.cleanup_ctx.append(
        delivery_context(
            settings, metrics, role="origin", cache_control=origin.cache_control, clock=clock
        )
    )
    app.cleanup_ctx.append(_switches_context)
    app.cleanup_ctx.append(_downloads_context(settings, clock))
    app.router.add_get("/healthz", public_health)
    app.router.add_get("/{tail:.*}", media)
    app[FAST_ROUTE] = OriginHits
    return app


class OriginHits:
    """The origin's plain hits for the fast path: what ``media`` would serve from disk.

    Anything ``media`` answers otherwise (a bad key, another role's folder, a switch
    that redirects or drains) is left to it.
    """

    def __init__(self, app: web.Application) -> None:
        self.delivery = app[DELIVERY]
        self._switches = app[SWITCHES]
        self._redirector = app[REDIRECTOR]
        self._downloads = app.get(DOWNLOADS)
        self._none: dict[str, str] = {}

    def route(self, request: FastRequest) -> FastHit | None:
        path = request.path
        if path == "/healthz":
            return None
        try:
            key = object_key(path[1:])
        except BadKey:
            return None
        if not self.delivery.serves(key):
            return None
        action = choose(
            self._switches.state,
            wants_html=wants_html(request.headers.get("Accept")),
            can_redirect=self._redirector.available,
        )
        if action is not Action.SERVE:
            return None
        downloads = self._downloads
        return FastHit(key, self._none, downloads.clock() if downloads is not None else 0.0)

    def done(
        self, request: FastRequest, hit: FastHit, answer: Answer, sent: int, held: HeldCounts
    ) -> None:
        self.delivery.metrics.request_done(answer.status, sent, held)
        if self._downloads is not None:
            self._downloads.record_answer(
                request.method, request.remote, request.headers, hit.key, answer.status,
                answer.headers.get("Content-Range"), answer.content_length, sent, hit.started,
            )  # fmt: skip


async def _switches_context(app: web.Application) -> AsyncIterator[None]:
    delivery = app[DELIVERY]
    switches = app[SWITCHES]
    redirector = Redirector.for_upstream(app[SETTINGS], delivery.fills.upstream)
    app[REDIRECTOR] = redirector
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, switches.refresh)
    if origin_settings(app[SETTINGS]).fallback == "auto" and redirector.available:

        async def degraded_miss(request: web.Request, key: str) -> web.StreamResponse:
            switches.redirects.labels("auto").inc()
            return await redirector.redirect(request, key)

        delivery.on_degraded_miss = degraded_miss
    switches.store_healthy = lambda: delivery.store.healthy
    async with background(switches.watch(), "switches"):
        yield


def _downloads_context(
    settings: Settings, clock: Callable[[], float]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """Opens the download log (``analytics.log``) with the app, and closes it after."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        downloads = DownloadLog.for_settings(settings, clock=clock)
        if downloads is None:
            yield
            return
        app[DOWNLOADS] = downloads
        try:
            yield
        finally:
            downloads.close()

    return context


def admin_part(media_app: web.Application) -> AdminPart:
    """The origin's share of the node's admin listener: health, switches, its cache, stats."""
    switches = media_app[SWITCHES]

    async def status() -> tuple[bool, dict[str, Any]]:
        detail = await store_status(media_app[DELIVERY])
        detail.update(switches.describe())
        # As the media port's /healthz: a node in maintenance is drained on purpose.
        return not switches.state.maintenance, detail

    def share(admin: web.Application) -> None:
        admin[SWITCHES] = switches
        admin[REDIRECTOR] = media_app[REDIRECTOR]
        admin[STATS] = media_app[STATS]

    def routes(admin: web.Application) -> None:
        add_switch_routes(admin)
        add_stats_routes(admin)

    return AdminPart(
        role="origin",
        status=status,
        registry=media_app[METRICS].registry,
        engine=lambda: media_app[DELIVERY],
        routes=routes,
        share=share,
    )


def create_admin_app(media_app: web.Application) -> web.Application:
    """An admin listener for an origin alone (start the media app first)."""
    return create_node_admin([admin_part(media_app)], media_app[SETTINGS].admin.token)


async def media(request: web.Request) -> web.StreamResponse:
    """GET/HEAD of one episode (any other method gets 405 with ``Allow``)."""
    delivery = request.app[DELIVERY]
    refused = oversized(request)
    if refused is not None:
        delivery.metrics.request_done(refused.status, 0)
        return refused
    try:
        key = object_key(request.rel_url.raw_path[1:])
    except BadKey as exc:
        delivery.metrics.request_done(400, 0)
        return web.Response(status=400, text=f"bad request: {exc.reason}\n")
    downloads = request.app.get(DOWNLOADS)
    started = downloads.clock() if downloads is not None else 0.0
    if not delivery.serves(key):
        # Not the origin's to serve (another role's folder, the fleet's own files):
        # never redirected to S3 either, whatever the switches say.
        delivery.metrics.request_done(404, 0)
        return web.Response(status=404, text="not found\n", headers={"Cache-Control": "no-store"})
    switches = request.app[SWITCHES]
    redirector = request.app[REDIRECTOR]
    state = switches.state
    action = choose(
        state,
        wants_html=wants_html(request.headers.get("Accept")),
        can_redirect=redirector.available,
    )
    resp: web.StreamResponse | None = None
    answered: list[web.StreamResponse] = []
    try:
        if action is Action.SERVE:
            resp = await delivery.serve(request, key, on_response=answered.append)
        elif action is Action.REDIRECT:
            switches.redirects.labels("maintenance" if state.maintenance else "fallback").inc()
            resp = await redirector.redirect(request, key)
        else:
            retry = str(state.maintenance_retry_after)
            headers = {"Retry-After": retry, "Cache-Control": "no-store"}
            if action is Action.MAINTENANCE_PAGE:
                page = maintenance_page(state.maintenance_message, state.maintenance_retry_after)
                resp = web.Response(
                    status=503, text=page, content_type="text/html", headers=headers
                )
            else:
                resp = web.Response(
                    status=503, text=state.maintenance_message + "\n", headers=headers
                )
        return resp
    finally:
        # Also when the handler is cancelled mid-body: what was sent still counts.
        final = answered[-1] if answered else resp
        if final is not None:
            delivery.metrics.request_done(final.status, getattr(final, "sent", 0) or 0)
            if downloads is not None:
                downloads.record(request, key, final, started)


async def public_health(request: web.Request) -> web.Response:
    """A balancer's check on the media port: 503 in maintenance so it drains the node."""
    state = request.app[SWITCHES].state
    if state.maintenance:
        status, code = "maintenance", 503
    elif state.fallback:
        status, code = "fallback", 200
    elif not request.app[DELIVERY].store.healthy:
        status, code = "degraded", 200
    else:
        status, code = "ok", 200
    return web.json_response({"status": status}, status=code, headers={"Cache-Control": "no-store"})
