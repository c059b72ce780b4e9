"""The locator's answers: the redirect, the same choice as JSON, health, and the admin's.

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

import logging
import math
from typing import Any

from aiohttp import web

from geo.address import ClientAddress
from geo.errors import Refused, UnknownRegion, UnsafePath
from geo.grant import Permit, authorise
from geo.target import edge_url
from locator.metrics import S3
from locator.state import LOCATOR, LocatorState
from signer import ClaimError, PathRejected, normalise_path
from signer.scope import path_problem

__all__ = [
    "VIDEO_ROUTE",
    "admin_status",
    "locate_api",
    "public_health",
    "public_status",
    "report_failure",
    "video",
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
            revoked=state.revocations.current,
        )
    except Refused as exc:
        return _forbidden(state, exc, json=json)
    return permit, address


def _url_ttl(state: LocatorState, permit: Permit, now: float) -> float:
    """``url_ttl``, but never past ``max_ttl`` from the grant's issue time.

    Counted from the grant's issue time, a longer lifetime would outlive the revocation
    entries that cover it (they are pruned ``max_ttl`` after they are made).
    """
    if permit.issued_at is None:
        return state.url_ttl
    return min(state.url_ttl, permit.issued_at + state.url_signer.max_ttl - now)


def _mint(state: LocatorState, permit: Permit, now: float) -> str:
    """The edge token: the grant's scope, address binding and subject, for url_ttl.

    It carries the grant's issue time and names the grant as its parent, so a
    revocation of the student (by subject) or of the grant (by token) voids it too:
    a URL never outlives a revocation of the grant it came from.
    """
    return state.url_signer.mint(
        permit.scope,
        now=now,
        ttl=_url_ttl(state, permit, now),
        ip=permit.ip,
        subject=permit.subject,
        issued_at=permit.issued_at,
        parent=permit.parent,
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
    serving = state.place(address).serving(state.holders(path))
    target = serving[0] if serving else None
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
    healthy = state.place(address).serving(state.holders(path))
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
        "expires_at": math.ceil(now + _url_ttl(state, permit, now)),
        "alternates": [{"region": name, "url": other} for name, other in alternates],
        "fallback": None,
    }
    return web.json_response(body, headers=PRIVATE)


def public_status(state: LocatorState) -> tuple[int, dict[str, Any]]:
    """What a balancer sees: 200 while players can be sent somewhere, 503 when nowhere."""
    healthy = len(state.board.healthy_names())
    total = len(state.catalogue.regions)
    if healthy == total:
        status = "ok"
    elif healthy:
        status = "degraded"
    else:
        status = "fallback" if state.fallback.available else "unavailable"
    body = {"status": status, "regions_healthy": healthy, "regions": total}
    return (503 if status == "unavailable" else 200), body


async def public_health(request: web.Request) -> web.Response:
    """A balancer's check on the locator's own port (see `public_status`)."""
    code, body = public_status(request.app[LOCATOR])
    return web.json_response(body, status=code, headers={"Cache-Control": "no-store"})


def admin_status(state: LocatorState) -> dict[str, Any]:
    """Everything an operator asks first: each region's health, the database, the cache."""
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
    revocations = state.revocations
    return {
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
        "revocations": {
            "file": str(revocations.file.path) if revocations.file is not None else None,
            "entries": len(revocations.current),
            "loaded_at": revocations.loaded_at,
        },
        "holdings": _describe_holdings(state),
    }


def _describe_holdings(state: LocatorState) -> dict[str, Any] | None:
    watcher = state.holdings
    if watcher is None:
        return None
    known = watcher.current
    return {
        "url": watcher.url,
        "objects": len(known.objects) if known is not None else None,
        "last_error": watcher.last_error,
    }


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
