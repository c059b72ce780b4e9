"""The edge: signed course video as aiohttp apps (media and admin).

``GET /s/<token>/<path>`` is served through the delivery engine (ranges, conditionals,
zero-copy, pull-through from S3 on a miss) once the token grants the path; paths under
``edge.public_prefixes`` are served without one; anything else is refused. Every refusal
is the same 403 with the same body whatever the reason, so a client cannot probe which
check failed; the reason goes to the log and to ``castedge_token_rejections_total``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from config import ConfigError, EdgeSettings, Settings
from delivery.admin import DELIVERY, store_status
from delivery.answer import Answer
from delivery.engine import delivery_context
from delivery.errors import BadKey
from delivery.fastpath import FAST_ROUTE, FastHit, FastRequest
from delivery.gate import Peer, forwarded_address
from delivery.keys import object_key
from delivery.limits import request_limits
from delivery.metrics import DeliveryMetrics, HeldCounts
from runtime.admin import AdminPart, create_node_admin
from runtime.tasks import background
from signer import Signer, TokenRejected, fingerprint

from .access import authorise, is_public, split_signed
from .cors import CorsPolicy
from .metrics import NO_TOKEN, EdgeMetrics
from .revocations import RevocationFile, RevocationWatcher

__all__ = [
    "EDGE",
    "FORBIDDEN_BODY",
    "REGION_HEADER",
    "SETTINGS",
    "EdgeState",
    "admin_part",
    "create_admin_app",
    "create_app",
    "edge_settings",
]

log = logging.getLogger("castedge.edge")

#: The header naming the edge's region on every media answer (exposed to pages by CORS).
REGION_HEADER = "X-Castedge-Region"
#: The one body every refused request gets, whatever the reason (no oracle).
FORBIDDEN_BODY = "forbidden\n"
#: How often free space under the cache is sampled for /healthz and /metrics.
FREE_SPACE_SECONDS = 5.0


@dataclass
class EdgeState:
    """What the edge's handlers share: its settings, the signer and the revocation list."""

    settings: EdgeSettings
    signer: Signer
    revocations: RevocationWatcher
    #: How often the revocation file is checked for a change (``signing.revocation_interval``).
    revocation_interval: float
    cors: CorsPolicy
    metrics: EdgeMetrics
    clock: Callable[[], float]
    #: The client's address: the peer's, or the one a trusted balancer forwards.
    client_of: Callable[[Peer], str | None] = lambda request: request.remote
    #: Bytes free under the cache at the last sample; None until the first, or if it failed.
    free_bytes: int | None = None


SETTINGS = web.AppKey("settings", Settings)
EDGE = web.AppKey("edge", EdgeState)


def edge_settings(settings: Settings) -> tuple[EdgeSettings, Signer]:
    """The edge section and a signer from the signing section; ConfigError if either lacks."""
    if settings.edge is None:
        raise ConfigError(
            settings.source, "edge", "missing; castedge edge needs an 'edge' section (region)"
        )
    if settings.signing is None:
        raise ConfigError(
            settings.source,
            "signing",
            "missing; castedge edge needs the 'signing' section (the keys tokens are checked with)",
        )
    return settings.edge, Signer.from_settings(settings)


def _client_of(edge: EdgeSettings) -> Callable[[Peer], str | None]:
    """Who the client is: the peer, or behind ``trusted_proxies`` whom they name."""
    if not edge.trusted_proxies:
        return lambda request: request.remote
    address_of = forwarded_address(edge.trusted_proxies, edge.client_ip_header)
    return lambda request: None if request.remote is None else address_of(request)


def create_app(
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """The media listener's app. Raises ConfigError without ``edge`` or ``signing``."""
    edge, signer = edge_settings(settings)
    assert settings.signing is not None, "edge_settings checked it"
    registry = registry if registry is not None else CollectorRegistry()
    delivery_metrics = DeliveryMetrics(registry, service="edge")
    metrics = EdgeMetrics(registry, region=edge.region)
    revocation_file = settings.signing.revocation_file
    file = RevocationFile(revocation_file) if revocation_file is not None else None
    state = EdgeState(
        settings=edge,
        signer=signer,
        revocations=RevocationWatcher(file, metrics=metrics, clock=clock),
        revocation_interval=settings.signing.revocation_interval,
        cors=CorsPolicy(edge.cors_origins),
        metrics=metrics,
        clock=clock,
        client_of=_client_of(edge),
    )
    app = web.Application(middlewares=[request_limits])
    app[SETTINGS] = settings
    app[EDGE] = state
    # The revocation list first: an edge that cannot read it must not start serving.
    app.cleanup_ctx.append(_revocation_context)
    app.cleanup_ctx.append(
        delivery_context(
            settings,
            delivery_metrics,
            role="edge",
            cache_control=edge.public_cache_control,
            clock=clock,
        )
    )
    app.cleanup_ctx.append(_free_space_context)
    app.router.add_get("/healthz", public_health)
    app.router.add_route("OPTIONS", "/{tail:.*}", preflight)
    app.router.add_get("/{tail:.*}", media)
    app[FAST_ROUTE] = EdgeHits
    return app


def admin_part(media_app: web.Application) -> AdminPart:
    """The edge's share of the node's admin listener: health, revocations, its cache."""
    state = media_app[EDGE]

    async def status() -> tuple[bool, dict[str, Any]]:
        delivery = media_app[DELIVERY]
        revocations = state.revocations
        detail = await store_status(delivery)
        detail.update(
            region=state.settings.region,
            free_bytes=state.free_bytes,
            revocations={
                "file": str(revocations.file.path) if revocations.file is not None else None,
                "entries": len(revocations.current),
                "loaded_at": revocations.loaded_at,
            },
        )
        # As the media port's /healthz, which the locator checks.
        return delivery.store.healthy, detail

    return AdminPart(
        role="edge",
        status=status,
        registry=state.metrics.registry,
        engine=lambda: media_app[DELIVERY],
    )


def create_admin_app(media_app: web.Application) -> web.Application:
    """An admin listener for an edge alone (start the media app first)."""
    return create_node_admin([admin_part(media_app)], media_app[SETTINGS].admin.token)


# -- handlers ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refused:
    """Why a request may not have what it asks for: a bad path, or the uniform 403."""

    bad: BadKey | None = None
    reason: str = ""
    detail: str = ""
    token: str | None = None


def admit(state: EdgeState, raw_path: str, remote: str | None) -> tuple[str, bool] | Refused:
    """The object key ``raw_path`` names and whether it came signed, or why it is refused.

    Counts nothing and logs nothing: the caller answers (``media``) or, on the fast
    path, leaves any refusal to ``media``.
    """
    signed = split_signed(raw_path)
    if signed is None:
        try:
            key = object_key(raw_path[1:])
        except BadKey as exc:
            return Refused(bad=exc)
        if not is_public(key, state.settings.public_prefixes):
            detail = f"no token, and {key!r} is not in a public folder"
            return Refused(reason=NO_TOKEN, detail=detail)
        return key, False
    token, rest = signed
    try:
        authorise(
            state.signer,
            token,
            rest,
            now=state.clock(),
            client_ip=remote,
            revoked=state.revocations.current,
        )
    except TokenRejected as exc:
        return Refused(reason=exc.reason.value, detail=exc.detail, token=token)
    try:
        return object_key(rest), True
    except BadKey as exc:
        return Refused(bad=exc)


def media_headers(state: EdgeState, signed: bool, cors: dict[str, str]) -> dict[str, str]:
    """The headers a hit carries beside the engine's: CORS, and a signed path's caching."""
    return {"Cache-Control": state.settings.cache_control, **cors} if signed else cors


async def media(request: web.Request) -> web.StreamResponse:
    """GET/HEAD of a signed path or a public one; everything else gets the uniform 403."""
    state = request.app[EDGE]
    # Every answer names the region, refusals included: which edge said no is the
    # first question about a failing player, and the locator's redirect does not say.
    common = {REGION_HEADER: state.settings.region}
    common.update(state.cors.headers(request.headers.get("Origin")))
    admitted = admit(state, request.rel_url.raw_path, state.client_of(request))
    if isinstance(admitted, Refused):
        if admitted.bad is not None:
            return _done(request, _bad_request(admitted.bad, common))
        refusal = _refuse(request, admitted.reason, admitted.detail, admitted.token, common)
        return _done(request, refusal)
    key, signed = admitted
    headers = media_headers(state, signed, common)
    resp = await request.app[DELIVERY].serve(request, key, headers=headers)
    if not resp.prepared:
        # An error answer from the engine: a browser player must be able to read it too.
        resp.headers.update(common)
    return _done(request, resp)


class EdgeHits:
    """The edge's plain hits for the fast path: what ``media`` would serve from disk.

    A refusal of any kind (bad path, token rejected) is left to ``media``, which
    answers, counts and logs it.
    """

    def __init__(self, app: web.Application) -> None:
        self.delivery = app[DELIVERY]
        self._state = app[EDGE]

    def route(self, request: FastRequest) -> FastHit | None:
        if request.path == "/healthz":
            return None
        state = self._state
        admitted = admit(state, request.path, state.client_of(request))
        if isinstance(admitted, Refused):
            return None
        key, signed = admitted
        common = {REGION_HEADER: state.settings.region}
        common.update(state.cors.headers(request.headers.get("Origin")))
        return FastHit(key, media_headers(state, signed, common))

    def done(
        self, request: FastRequest, hit: FastHit, answer: Answer, sent: int, held: HeldCounts
    ) -> None:
        self._state.metrics.request_done(answer.status, sent, held)
        self.delivery.metrics.request_done(answer.status, sent, held)


async def preflight(request: web.Request) -> web.StreamResponse:
    """``OPTIONS``: a CORS preflight's answer (no token needed), or just ``Allow``."""
    state = request.app[EDGE]
    return _done(request, web.Response(status=204, headers=state.cors.preflight(request.headers)))


async def public_health(request: web.Request) -> web.Response:
    """What the locator checks: region, store health and free space; 503 while degraded."""
    state = request.app[EDGE]
    store = request.app[DELIVERY].store
    body = {
        "status": "ok" if store.healthy else "degraded",
        "region": state.settings.region,
        "store": {"healthy": store.healthy, "free_bytes": state.free_bytes},
    }
    return web.json_response(
        body, status=200 if store.healthy else 503, headers={"Cache-Control": "no-store"}
    )


# -- answers -------------------------------------------------------------------------


def _refuse(
    request: web.Request, reason: str, detail: str, token: str | None, common: dict[str, str]
) -> web.Response:
    """The uniform 403: the reason is counted and logged, never told to the client."""
    request.app[EDGE].metrics.rejected(reason)
    # The fingerprint, never the token: a logged token is a working URL until it expires.
    shown = f"token fp:{fingerprint(token)}" if token else "no token"
    client = request.app[EDGE].client_of(request)
    log.info("403 %s from %s, %s: %s: %s", request.method, client, shown, reason, detail)
    return web.Response(
        status=403,
        text=FORBIDDEN_BODY,
        headers={"Cache-Control": "no-store", **common},
    )


def _bad_request(exc: BadKey, common: dict[str, str]) -> web.Response:
    headers = {"Cache-Control": "no-store", **common}
    return web.Response(status=400, text=f"bad request: {exc.reason}\n", headers=headers)


def _done(request: web.Request, resp: web.StreamResponse) -> web.StreamResponse:
    """Count an answer by status and body bytes: by region, and as the engine counts."""
    # MediaResponse and the engine's one-write answers to small ranges carry ``sent``.
    sent: int = getattr(resp, "sent", 0) or 0
    request.app[EDGE].metrics.request_done(resp.status, sent)
    request.app[DELIVERY].metrics.request_done(resp.status, sent)
    return resp


# -- background ----------------------------------------------------------------------


async def _revocation_context(app: web.Application) -> AsyncIterator[None]:
    state = app[EDGE]
    async with state.revocations.running(state.revocation_interval):
        yield


async def _free_space_context(app: web.Application) -> AsyncIterator[None]:
    state = app[EDGE]
    store = app[DELIVERY].store
    loop = asyncio.get_running_loop()

    async def sample() -> None:
        try:
            free, _ = await loop.run_in_executor(None, store.free_space)
        except OSError as exc:
            log.warning("cannot read free space under %s: %s", store.root, exc)
            state.free_bytes = None
            return
        state.free_bytes = free
        state.metrics.free_space(free)

    async def sampler() -> None:
        while True:
            await asyncio.sleep(FREE_SPACE_SECONDS)
            await sample()

    await sample()
    async with background(sampler(), "free space sampler"):
        yield
