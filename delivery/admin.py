"""The admin listener: health, metrics, prefetch and purge, behind a bearer token.

It runs on its own port (loopback by default), never on the media listener. Routes
under ``/admin/`` need ``Authorization: Bearer <token>``; ``/healthz`` and
``/metrics`` are open so balancers and Prometheus can read them.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import urllib.parse
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from config import Secret

from .errors import BadKey
from .keys import object_key
from .limits import request_limits
from .serve import Delivery

__all__ = ["ADMIN_TOKEN", "DELIVERY", "HEALTH", "bearer_auth", "create_admin_app", "plain_key"]

DELIVERY = web.AppKey("delivery", Delivery)
ADMIN_TOKEN = web.AppKey("admin_token", bytes)
#: Extra fields a service adds to /healthz (mode, region, ...).
HEALTH: web.AppKey[Callable[[], dict[str, Any]]] = web.AppKey("health")

#: Keys in one prefetch request, at most: a season of episodes, not the whole bucket.
MAX_PREFETCH = 1000


def plain_key(key: str) -> str:
    """Validate a key given as plain text (admin API, CLI) by the same rules as URLs."""
    return object_key(urllib.parse.quote(key, safe="/"))


@web.middleware
async def bearer_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Demand the admin token on /admin/ routes; compare in constant time."""
    if request.path.startswith("/admin/"):
        expected = request.app[ADMIN_TOKEN]
        given = request.headers.get("Authorization", "")
        scheme, _, token = given.partition(" ")
        ok = (
            bool(expected)
            and scheme.lower() == "bearer"
            and hmac.compare_digest(token.strip().encode(), expected)
        )
        if not ok:
            return web.json_response(
                {"error": "missing or wrong admin token"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="castedge-admin"'},
            )
    return await handler(request)


async def healthz(request: web.Request) -> web.Response:
    delivery = request.app[DELIVERY]
    store = delivery.store
    # With several workers the directory is the truth; this worker's index may lag.
    await store.resync()
    body: dict[str, Any] = {
        "status": "ok" if store.healthy else "degraded",
        "store": {
            "healthy": store.healthy,
            "reason": store.degraded_reason or None,
            "objects": len(store),
            "bytes": store.total_bytes,
            "max_bytes": store.max_size,
        },
        "upstream": delivery.fills.upstream.describe(),
        "fills_in_progress": len(delivery.fills),
    }
    extra = request.app.get(HEALTH)
    if extra is not None:
        body.update(extra())
    return web.json_response(body, headers={"Cache-Control": "no-store"})


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[DELIVERY].metrics.registry
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several workers: add up what every process recorded (client_python's
        # multiprocess mode); any worker may answer the scrape.
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return web.Response(
        body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


async def prefetch(request: web.Request) -> web.Response:
    """``POST /admin/prefetch`` with ``{"keys": [...]}``; ``?wait=1`` waits for the fills."""
    try:
        doc = await request.json()
    except (ValueError, UnicodeDecodeError):
        return web.json_response({"error": "body must be JSON"}, status=400)
    keys = doc.get("keys") if isinstance(doc, dict) else doc
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        return web.json_response({"error": 'expected {"keys": ["a.mp3", ...]}'}, status=400)
    if len(keys) > MAX_PREFETCH:
        return web.json_response({"error": f"at most {MAX_PREFETCH} keys at once"}, status=413)
    delivery = request.app[DELIVERY]
    result: dict[str, Any] = {"cached": [], "started": [], "invalid": []}
    waits: dict[str, asyncio.Future[None]] = {}
    for raw in keys:
        try:
            key = plain_key(raw)
        except BadKey as exc:
            result["invalid"].append({"key": raw, "reason": exc.reason})
            continue
        if key in delivery.store:
            result["cached"].append(key)
            continue
        delivery.fills.forget(key)
        waits[key] = delivery.fills.start(key).completed
        result["started"].append(key)
    if request.query.get("wait") in ("1", "true", "yes"):
        outcomes = await asyncio.gather(*waits.values(), return_exceptions=True)
        result["failed"] = [
            {"key": key, "error": str(outcome)}
            for key, outcome in zip(waits, outcomes, strict=True)
            if isinstance(outcome, BaseException)
        ]
        status = 200
    else:
        status = 202
    return web.json_response(result, status=status)


async def purge(request: web.Request) -> web.Response:
    """``DELETE /admin/cache/{key}``; a key ending in ``*`` purges that prefix."""
    raw = request.match_info["key"]
    delivery = request.app[DELIVERY]
    prefix = raw.endswith("*")
    text = raw[:-1] if prefix else raw
    try:
        # A prefix may end at a folder ("season1/*") or inside a name ("season1/ep*").
        key = plain_key(text.rstrip("/")) + ("/" if text.endswith("/") else "") if text else ""
    except BadKey as exc:
        return web.json_response({"error": exc.reason}, status=400)
    if prefix:
        # Objects another worker filled are on disk but maybe not in our index yet.
        await delivery.store.resync(force=True)
        removed = delivery.store.remove_prefix(key)
        delivery.metrics.purges.labels(delivery.metrics.service).inc(removed)
        return web.json_response({"prefix": key, "removed": removed})
    removed_one = delivery.store.remove(key)
    delivery.fills.forget(key)
    if removed_one:
        delivery.metrics.purges.labels(delivery.metrics.service).inc()
    return web.json_response(
        {"key": key, "removed": int(removed_one)}, status=200 if removed_one else 404
    )


def create_admin_app(
    media_app: web.Application,
    token: Secret | None,
    *,
    health: Callable[[], dict[str, Any]] | None = None,
) -> web.Application:
    """The admin listener's app, sharing ``media_app``'s engine (start the media app first).

    ``health`` adds service-specific fields (mode, region, ...) to /healthz. A service
    adds its own routes to the returned app before it starts.
    """
    app = web.Application(middlewares=[request_limits, bearer_auth])
    app[ADMIN_TOKEN] = token.reveal().encode() if token is not None else b""
    if health is not None:
        app[HEALTH] = health

    async def share_engine(admin: web.Application) -> None:
        admin[DELIVERY] = media_app[DELIVERY]

    app.on_startup.append(share_engine)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/admin/prefetch", prefetch)
    app.router.add_delete("/admin/cache/{key:.*}", purge)
    return app
