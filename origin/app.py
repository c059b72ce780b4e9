"""The origin: the podcast pull-through cache as aiohttp apps (media and admin)."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CollectorRegistry

from config import Settings
from delivery.admin import DELIVERY
from delivery.admin import create_admin_app as create_admin
from delivery.engine import delivery_context
from delivery.errors import BadKey
from delivery.keys import object_key
from delivery.limits import request_limits
from delivery.metrics import DeliveryMetrics

__all__ = ["METRICS", "SETTINGS", "create_admin_app", "create_app"]

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", DeliveryMetrics)


def create_app(
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """The media listener's app: every path is an object key."""
    app = web.Application(middlewares=[request_limits])
    metrics = DeliveryMetrics(registry, service="origin")
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app.cleanup_ctx.append(
        delivery_context(
            settings, metrics, cache_control=settings.origin.cache_control, clock=clock
        )
    )
    app.router.add_get("/healthz", public_health)
    app.router.add_get("/{tail:.*}", media)
    return app


def create_admin_app(media_app: web.Application) -> web.Application:
    """The admin listener's app, sharing the media app's engine (start the media app first)."""
    return create_admin(media_app, media_app[SETTINGS].admin.token)


async def media(request: web.Request) -> web.StreamResponse:
    """GET/HEAD of one episode (any other method gets 405 with ``Allow``)."""
    delivery = request.app[DELIVERY]
    try:
        key = object_key(request.rel_url.raw_path[1:])
    except BadKey as exc:
        delivery.metrics.request_done(400, 0)
        return web.Response(status=400, text=f"bad request: {exc.reason}\n")
    resp = await delivery.serve(request, key)
    delivery.metrics.request_done(resp.status, getattr(resp, "sent", 0))
    return resp


async def public_health(request: web.Request) -> web.Response:
    """A balancer's liveness check on the media port: 200 while the node should get traffic."""
    return web.json_response({"status": "ok"}, headers={"Cache-Control": "no-store"})
