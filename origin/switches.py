"""What the operator's switches do to a media request, and the admin routes that flip them.

``choose`` is the pure decision; the rest are thin adapters: the S3 redirect, the
maintenance page, ``GET/PUT /admin/fallback`` and ``/admin/maintenance``, and the
task that keeps every worker's view of ``state.json`` fresh.
"""

from __future__ import annotations

import asyncio
import enum
import html
import logging
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge

from config import Settings
from delivery.upstream import S3Upstream

from .state import POLL_SECONDS, NodeState, StateError, StateFile

__all__ = [
    "Action",
    "Redirector",
    "Switches",
    "choose",
    "maintenance_page",
    "wants_html",
]

log = logging.getLogger("castedge.origin")


class Action(enum.Enum):
    """How the origin answers a media request, given the switches."""

    SERVE = "serve"
    REDIRECT = "redirect"
    MAINTENANCE_PAGE = "maintenance_page"
    UNAVAILABLE = "unavailable"


def choose(state: NodeState, *, wants_html: bool, can_redirect: bool) -> Action:
    """Pick the answer for a media request (pure)."""
    if state.maintenance:
        if wants_html:
            return Action.MAINTENANCE_PAGE
        return Action.REDIRECT if can_redirect else Action.UNAVAILABLE
    if state.fallback and can_redirect:
        return Action.REDIRECT
    return Action.SERVE


def wants_html(accept: str | None) -> bool:
    """True for a browser's navigation (``Accept: text/html``), not a pod catcher's ``*/*``."""
    return bool(accept) and "text/html" in accept.lower()  # type: ignore[union-attr]


def maintenance_page(message: str, retry_after: int) -> str:
    """The page a browser sees during maintenance: it reloads the same URL by itself."""
    text = html.escape(message)
    # A refresh without a URL reloads the address the visitor asked for, so they land
    # where they were going once maintenance ends.
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>\n"
        f'<meta http-equiv="refresh" content="{retry_after}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>Back in a moment</title>\n"
        "<style>body{font-family:system-ui,sans-serif;max-width:34em;margin:4em auto;"
        "padding:0 1em;color:#222}</style></head>\n"
        f"<body><h1>Back in a moment</h1>\n<p>{text}</p>\n"
        f"<p>This page reloads itself every {retry_after} seconds and takes you where you "
        "were going.</p></body></html>\n"
    )


class Redirector:
    """Where an object lives on S3: the public URL, or a presigned GET URL."""

    def __init__(self, settings: Settings, presign: Callable[[str], Awaitable[str]] | None):
        s3 = settings.storage.s3 if settings.storage is not None else None
        self.public_url = s3.public_url if s3 is not None else None
        self._presign = presign

    @property
    def available(self) -> bool:
        return self.public_url is not None or self._presign is not None

    async def url_for(self, key: str) -> str:
        if self.public_url is not None:
            return f"{self.public_url}/{urllib.parse.quote(key)}"
        if self._presign is None:
            raise LookupError("no S3 to redirect to")
        return await self._presign(key)

    async def redirect(self, request: web.Request, key: str) -> web.Response:
        # 307 keeps the method for anything but GET (HEAD included), as RFC 9110
        # §15.4.8 promises; the client re-sends its Range to S3 itself.
        status = 302 if request.method == "GET" else 307
        return web.Response(
            status=status,
            headers={"Location": await self.url_for(key), "Cache-Control": "no-store"},
        )

    @classmethod
    def for_upstream(cls, settings: Settings, upstream: object) -> Redirector:
        presign = upstream.presigned_url if isinstance(upstream, S3Upstream) else None
        return cls(settings, presign)


class Switches:
    """The node's switches as every request and admin call sees them."""

    def __init__(
        self, state_file: StateFile, registry: CollectorRegistry, *, clock: Callable[[], float]
    ):
        self.file = state_file
        self.clock = clock
        # Two admin calls at once must not interleave read-modify-write of the state.
        self.lock = asyncio.Lock()
        self.auto_active = False
        #: The disk store's health; automatic fallback is on while it is False.
        self.store_healthy: Callable[[], bool] = lambda: True
        self.manual = Gauge(
            "castedge_fallback_manual",
            "1 while the S3 fallback switch is on.",
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.auto = Gauge(
            "castedge_fallback_auto",
            "1 while misses are redirected to S3 because the disk store fails.",
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.maintenance = Gauge(
            "castedge_maintenance",
            "1 while maintenance mode is on.",
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.transitions = Counter(
            "castedge_fallback_transitions",
            "Switch changes by kind (manual, auto, maintenance) and direction (on, off).",
            ["kind", "to"],
            registry=registry,
        )
        self.redirects = Counter(
            "castedge_redirects",
            "Media requests redirected to S3, by reason (fallback, auto, maintenance).",
            ["reason"],
            registry=registry,
        )

    @property
    def state(self) -> NodeState:
        return self.file.state

    def refresh(self) -> None:
        """Re-read state.json if another process changed it; log and count transitions."""
        before = self.file.state
        after = self.file.load()
        self._observe(before, after)

    def set(self, state: NodeState) -> None:
        before = self.file.state
        self.file.save(state)
        self._observe(before, state)

    def note_store(self, healthy: bool) -> None:
        """Follow the store's health for automatic fallback (logged once per change)."""
        active = not healthy
        if active != self.auto_active:
            self.auto_active = active
            self.auto.set(int(active))
            self.transitions.labels("auto", "on" if active else "off").inc()
            if active:
                log.error("automatic fallback ON: the disk store fails, misses go to S3")
            else:
                log.warning("automatic fallback OFF: the disk store works again")

    def _observe(self, before: NodeState, after: NodeState) -> None:
        self.manual.set(int(after.fallback))
        self.maintenance.set(int(after.maintenance))
        if before.fallback != after.fallback:
            to = "on" if after.fallback else "off"
            self.transitions.labels("manual", to).inc()
            log.warning("S3 fallback switched %s by %s", to.upper(), after.fallback_by or "?")
        if before.maintenance != after.maintenance:
            to = "on" if after.maintenance else "off"
            self.transitions.labels("maintenance", to).inc()
            log.warning("maintenance mode %s by %s", to.upper(), after.maintenance_by or "?")

    def describe(self) -> dict[str, Any]:
        s = self.state
        return {
            "fallback": {
                "on": s.fallback,
                "since": _iso(s.fallback_since),
                "by": s.fallback_by,
                "auto": not self.store_healthy(),
            },
            "maintenance": {
                "on": s.maintenance,
                "since": _iso(s.maintenance_since),
                "by": s.maintenance_by,
                "message": s.maintenance_message,
                "retry_after": s.maintenance_retry_after,
            },
        }

    async def watch(self) -> None:
        """Poll state.json and the store's health (a background task)."""
        while True:
            self.refresh()
            self.note_store(self.store_healthy())
            await asyncio.sleep(POLL_SECONDS)


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


# -- admin routes ------------------------------------------------------------------

SWITCHES = web.AppKey("switches", Switches)
REDIRECTOR = web.AppKey("redirector", Redirector)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        doc = await request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise StateError("body must be a JSON object") from exc
    if not isinstance(doc, dict):
        raise StateError("body must be a JSON object")
    mode = doc.get("mode")
    if mode not in ("on", "off"):
        raise StateError('expected "mode": "on" or "off"')
    by = doc.get("by", "admin API")
    if not isinstance(by, str) or len(by) > 100 or not by.isprintable():
        raise StateError('"by" must be a short line of text')
    return doc


async def get_fallback(request: web.Request) -> web.Response:
    return web.json_response(request.app[SWITCHES].describe()["fallback"])


async def put_fallback(request: web.Request) -> web.Response:
    switches = request.app[SWITCHES]
    try:
        doc = await _body(request)
    except StateError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    if doc["mode"] == "on" and not request.app[REDIRECTOR].available:
        return web.json_response(
            {"error": "storage is a local directory: there is no S3 to fall back to"},
            status=409,
        )
    new = switches.state.with_fallback(
        doc["mode"] == "on", now=switches.clock(), by=doc.get("by", "admin API")
    )
    await asyncio.get_running_loop().run_in_executor(None, switches.set, new)
    return web.json_response(switches.describe()["fallback"])


async def get_maintenance(request: web.Request) -> web.Response:
    return web.json_response(request.app[SWITCHES].describe()["maintenance"])


async def put_maintenance(request: web.Request) -> web.Response:
    switches = request.app[SWITCHES]
    async with switches.lock:
        return await _set_maintenance(request, switches)


async def _set_maintenance(request: web.Request, switches: Switches) -> web.Response:
    try:
        doc = await _body(request)
        message = doc.get("message")
        retry_after = doc.get("retry_after")
        if message is not None and not isinstance(message, str):
            raise StateError('"message" must be text')
        if retry_after is not None and (
            isinstance(retry_after, bool) or not isinstance(retry_after, int)
        ):
            raise StateError('"retry_after" must be a whole number of seconds')
        new = switches.state.with_maintenance(
            doc["mode"] == "on",
            now=switches.clock(),
            by=doc.get("by", "admin API"),
            message=message,
            retry_after=retry_after,
        )
    except StateError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    await asyncio.get_running_loop().run_in_executor(None, switches.set, new)
    return web.json_response(switches.describe()["maintenance"])


def add_switch_routes(admin: web.Application) -> None:
    admin.router.add_get("/admin/fallback", get_fallback)
    admin.router.add_put("/admin/fallback", put_fallback)
    admin.router.add_get("/admin/maintenance", get_maintenance)
    admin.router.add_put("/admin/maintenance", put_maintenance)
