"""The cache's admin endpoints: its health detail, prefetch, what it holds, and purge.

They are mounted on the node's one admin listener (``runtime.admin``), behind its
bearer token. A node may run two caches (an origin and an edge, each over its own
folders of the bucket): a key is prefetched or purged in every cache whose
prefixes hold it, and a key no cache serves is refused.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from .errors import BadKey
from .keys import object_key
from .serve import Delivery

__all__ = ["CACHES", "DELIVERY", "add_cache_routes", "plain_key", "store_status"]

#: A media app's engine, set when the app starts.
DELIVERY = web.AppKey("delivery", Delivery)
#: The engines an admin app manages, with their roles' names.
CACHES: web.AppKey[Sequence[tuple[str, Delivery]]] = web.AppKey("caches")

#: Keys in one prefetch request, at most: a season of episodes, not the whole bucket.
MAX_PREFETCH = 1000


def plain_key(key: str) -> str:
    """Validate a key given as plain text (admin API, CLI) by the same rules as URLs."""
    return object_key(urllib.parse.quote(key, safe="/"))


async def store_status(delivery: Delivery) -> dict[str, Any]:
    """What /healthz says of one cache: its store, its upstream, its fills."""
    store = delivery.store
    # With several workers the directory is the truth; this worker's index may lag.
    await store.resync()
    return {
        "status": "ok" if store.healthy else "degraded",
        "store": {
            "healthy": store.healthy,
            "reason": store.degraded_reason or None,
            "objects": len(store),
            "bytes": store.total_bytes,
            "max_bytes": store.max_size,
            "dir": str(store.root),
        },
        "prefixes": [prefix for prefix in delivery.prefixes if prefix],
        "upstream": delivery.fills.upstream.describe(),
        "fills_in_progress": len(delivery.fills),
    }


def _engines_for(request: web.Request, key: str) -> list[Delivery]:
    return [delivery for _, delivery in request.app[CACHES] if delivery.serves(key)]


def _held(engines: list[Delivery], key: str) -> dict[str, Any] | None:
    """The version of ``key`` the node holds (every engine that serves it), or None."""
    found = None
    for delivery in engines:
        handle = delivery.store.lookup(key)
        if handle is None:
            return None
        try:
            found = {"etag": handle.meta.etag, "size": handle.meta.size}
        finally:
            delivery.store.release(handle)
    return found


async def cached(request: web.Request) -> web.Response:
    """``GET /admin/cache/{key}``: the ETag and size held, or 404 when not held."""
    try:
        key = plain_key(request.match_info["key"])
    except BadKey as exc:
        return web.json_response({"error": exc.reason}, status=400)
    engines = _engines_for(request, key)
    held = _held(engines, key) if engines else None
    if held is None:
        return web.json_response({"key": key, "held": False}, status=404)
    return web.json_response({"key": key, "held": True, **held})


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
    # "held" gives the version each key is held at, for the sync daemon's bookkeeping.
    result: dict[str, Any] = {"cached": [], "started": [], "invalid": [], "held": {}}
    waits: dict[str, list[asyncio.Future[None]]] = {}
    for raw in keys:
        try:
            key = plain_key(raw)
        except BadKey as exc:
            result["invalid"].append({"key": raw, "reason": exc.reason})
            continue
        engines = _engines_for(request, key)
        if not engines:
            result["invalid"].append({"key": raw, "reason": "no cache of this node serves it"})
            continue
        missing = [delivery for delivery in engines if key not in delivery.store]
        if not missing:
            result["cached"].append(key)
            held = _held(engines, key)
            if held is not None:
                result["held"][key] = held
            continue
        for delivery in missing:
            delivery.fills.forget(key)
            waits.setdefault(key, []).append(delivery.fills.start(key).completed)
        result["started"].append(key)
    if request.query.get("wait") in ("1", "true", "yes"):
        result["failed"] = []
        for key, futures in waits.items():
            # Shielded: a caller that gives up (or an edge that drains) must not cancel
            # the fill every reader shares.
            outcomes = await asyncio.gather(
                *(asyncio.shield(future) for future in futures), return_exceptions=True
            )
            errors = [str(o) for o in outcomes if isinstance(o, BaseException)]
            held = None if errors else _held(_engines_for(request, key), key)
            if held is not None:
                result["held"][key] = held
            elif not errors:
                # Filled but not kept (too large for the disk, say): not held here.
                errors = ["filled but not cached"]
            if errors:
                result["failed"].append({"key": key, "error": errors[0]})
        status = 200
    else:
        status = 202
    return web.json_response(result, status=status)


async def purge(request: web.Request) -> web.Response:
    """``DELETE /admin/cache/{key}``; a key ending in ``*`` purges that prefix."""
    raw = request.match_info["key"]
    prefix = raw.endswith("*")
    text = raw[:-1] if prefix else raw
    try:
        # A prefix may end at a folder ("season1/*") or inside a name ("season1/ep*").
        key = plain_key(text.rstrip("/")) + ("/" if text.endswith("/") else "") if text else ""
    except BadKey as exc:
        return web.json_response({"error": exc.reason}, status=400)
    if prefix:
        removed = 0
        for _, delivery in request.app[CACHES]:
            if not any(p.startswith(key) or key.startswith(p) for p in delivery.prefixes):
                continue
            # Objects another worker filled are on disk but maybe not in our index yet.
            await delivery.store.resync(force=True)
            count = delivery.store.remove_prefix(key)
            delivery.metrics.purges.labels(delivery.metrics.service).inc(count)
            removed += count
        return web.json_response({"prefix": key, "removed": removed})
    removed_one = 0
    for delivery in _engines_for(request, key):
        gone = delivery.store.remove(key)
        delivery.fills.forget(key)
        if gone:
            delivery.metrics.purges.labels(delivery.metrics.service).inc()
            removed_one += 1
    return web.json_response(
        {"key": key, "removed": removed_one}, status=200 if removed_one else 404
    )


def add_cache_routes(app: web.Application) -> None:
    """Prefetch and purge, over the engines in ``app[CACHES]``."""
    app.router.add_post("/admin/prefetch", prefetch)
    app.router.add_get("/admin/cache/{key:.*}", cached)
    app.router.add_delete("/admin/cache/{key:.*}", purge)
