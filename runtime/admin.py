"""The node's one admin listener: every role's health, metrics and state-changing endpoints.

It runs on its own address (``admin.listen``, loopback by default), never on a media
listener. Routes under ``/admin/`` need ``Authorization: Bearer <admin.token>``,
compared in constant time; ``/healthz`` and ``/metrics`` are open so balancers and
Prometheus can read them.

Each role brings an ``AdminPart``: how to tell its health, its metrics registry, its
cache engine if it has one (prefetch and purge reach every cache whose prefixes hold
the key) and any routes of its own (the origin's switches, the locator's failure
reports). ``/healthz`` answers ``{"status": …, "roles": {"origin": {…}, …}}`` and 503
while any role is unhealthy.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from config import Secret
from delivery.admin import CACHES, add_cache_routes
from delivery.limits import request_limits
from delivery.serve import Delivery
from signer import RevocationList, RevocationListError

if TYPE_CHECKING:
    # Imported where used: the edge package's own app imports this module.
    from edge.revocations import RevocationFile

    from .https import Secured

__all__ = ["ADMIN_TOKEN", "AdminPart", "bearer_auth", "create_node_admin"]

ADMIN_TOKEN = web.AppKey("admin_token", bytes)
REVOCATION_FILE: web.AppKey[RevocationFile] = web.AppKey("revocation_file")
PARTS: web.AppKey[Sequence[AdminPart]] = web.AppKey("parts")
TLS: web.AppKey[Secured] = web.AppKey("tls")
REGISTRIES: web.AppKey[tuple[CollectorRegistry, ...]] = web.AppKey("registries")
#: The worker's listeners' URLs by name, filled in as they start.
LISTENING: web.AppKey[dict[str, str]] = web.AppKey("listening")

#: A role's health: whether it can serve its clients now, and what to show.
Status = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]


@dataclass(frozen=True)
class AdminPart:
    """One role's share of the admin listener.

    ``engine`` and ``share`` read the role's media app, which starts first: the
    engine exists only once that app runs. ``share`` copies what the role's own
    admin routes read into the admin app; ``routes`` adds them.
    """

    role: str
    status: Status
    registry: CollectorRegistry
    engine: Callable[[], Delivery] | None = None
    routes: Callable[[web.Application], None] | None = None
    share: Callable[[web.Application], None] | None = None


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
    """Every role's health; 503 while any of them cannot serve its clients."""
    roles: dict[str, Any] = {}
    unhealthy = []
    listening = request.app[LISTENING]
    for part in request.app[PARTS]:
        healthy, detail = await part.status()
        roles[part.role] = {"healthy": healthy, **detail}
        if part.role in listening:
            # Where it really listens: the settings may say port 0.
            roles[part.role]["listen"] = listening[part.role]
        if not healthy:
            unhealthy.append(part.role)
    body: dict[str, Any] = {
        "status": "unhealthy" if unhealthy else "ok",
        "unhealthy": unhealthy,
        "roles": roles,
    }
    secured = request.app.get(TLS)
    if secured is not None:
        body["tls"] = secured.status()
    return web.json_response(
        body, status=503 if unhealthy else 200, headers={"Cache-Control": "no-store"}
    )


async def metrics(request: web.Request) -> web.Response:
    """Every role's series; under the supervisor, added up over every worker process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # client_python's multiprocess mode: each worker writes its own files, and
        # any process may read them all for a scrape.
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        registries = [part.registry for part in request.app[PARTS]]
        secured = request.app.get(TLS)
        if secured is not None:
            registries.append(secured.metrics.registry)
        more: tuple[CollectorRegistry, ...] = request.app[REGISTRIES]
        registries.extend(more)
        body = b"".join(generate_latest(registry) for registry in registries)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def put_revocations(request: web.Request) -> web.Response:
    """``PUT /admin/revocations``: merge the fleet's list into ``signing.revocation_file``.

    The sync daemon carries the list from the bucket to every node this way; the
    node's edges and locators then re-read the file by themselves.
    """
    from edge.errors import RevocationFileError

    file = request.app.get(REVOCATION_FILE)
    if file is None:
        return web.json_response(
            {"error": "this node keeps no revocation list (signing.revocation_file)"}, status=404
        )
    try:
        incoming = RevocationList.from_json(await request.read())
    except (RevocationListError, UnicodeDecodeError) as exc:
        return web.json_response({"error": f"not a revocation list: {exc}"}, status=400)
    try:
        merged = await asyncio.to_thread(file.merge, incoming, now=time.time())
    except RevocationFileError as exc:
        return web.json_response({"error": str(exc)}, status=500)
    return web.json_response({"entries": len(merged)})


def create_node_admin(
    parts: Sequence[AdminPart],
    token: Secret | None,
    *,
    revocation_file: Path | None = None,
    tls: Secured | None = None,
    registries: Sequence[CollectorRegistry] = (),
    listening: dict[str, str] | None = None,
) -> web.Application:
    """The admin listener's app over the roles' parts (start their media apps first).

    ``revocation_file`` (``signing.revocation_file``) is where a pushed revocation list
    goes; ``tls``, the worker's TLS listeners, shown in /healthz; ``registries``, more
    of the worker's metrics (its listeners' connections) for /metrics; ``listening``,
    the listeners' URLs by name as ``serve_forever`` fills them in, for each role's
    ``listen`` in /healthz.
    """
    app = web.Application(middlewares=[request_limits, bearer_auth])
    app[REGISTRIES] = tuple(registries)
    app[LISTENING] = listening if listening is not None else {}
    if tls is not None:
        app[TLS] = tls
    app[ADMIN_TOKEN] = token.reveal().encode() if token is not None else b""
    app[PARTS] = tuple(parts)
    if revocation_file is not None:
        from edge.revocations import RevocationFile

        app[REVOCATION_FILE] = RevocationFile(revocation_file)

    async def share(admin: web.Application) -> None:
        admin[CACHES] = tuple(
            (part.role, part.engine()) for part in parts if part.engine is not None
        )
        for part in parts:
            if part.share is not None:
                part.share(admin)

    app.on_startup.append(share)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    add_cache_routes(app)
    app.router.add_put("/admin/revocations", put_revocations)
    for part in parts:
        if part.routes is not None:
            part.routes(app)
    return app
