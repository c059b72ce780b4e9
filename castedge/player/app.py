"""The demo's player page: pick a city, watch the lesson from the edge the locator picks.

The page asks its own server (``GET /play?city=…``), which asks the locator for the
lesson as a student at that city's sample address would (the address in
``X-Forwarded-For``, which the demo's locator trusts from loopback) and hands back the
redirect's target, a signed URL on one region's edge. Asking from the server keeps
the page free of the locator's origin and its grant handling; the page then plays the
signed URL with hls.js (natively on Safari) and reads the edge's ``X-Castedge-Region``.
"""

from __future__ import annotations

import html
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import aiohttp
from aiohttp import web

from castedge.samples import LESSON_PLAYLIST

__all__ = ["STATIC", "player_app"]

STATIC = Path(__file__).with_name("static")
#: The locator answers from memory in about a millisecond; five seconds means it is gone.
LOCATOR_TIMEOUT = aiohttp.ClientTimeout(total=5)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NO_CACHE = {"Cache-Control": "no-cache"}


@dataclass
class _Player:
    play_url: Callable[[], str]
    cities: Mapping[str, str]
    ssl: ssl.SSLContext | None
    page: str
    session: aiohttp.ClientSession | None = field(default=None)


PLAYER = web.AppKey("player", _Player)


def player_app(
    locator_url: str,
    cities: Mapping[str, str],
    *,
    path: str = LESSON_PLAYLIST,
    grant: Callable[[], str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> web.Application:
    """The page and its ``/play`` endpoint for ``cities`` (name → sample address).

    ``locator_url`` is the locator's base URL, the player asking for ``/v/<path>``
    with a grant from ``grant()`` each time; or a whole play URL
    (``…/v/<path>?grant=…``), asked as it is. ``ssl_context`` verifies an HTTPS
    locator (the demo's own CA).
    """
    if urlsplit(locator_url).path.startswith("/v/"):

        def play_url() -> str:
            return locator_url

    else:
        base = locator_url.rstrip("/")

        def play_url() -> str:
            query = f"?grant={quote(grant(), safe='')}" if grant is not None else ""
            return f"{base}/v/{quote(path)}{query}"

    options = "".join(
        f'<option value="{html.escape(name)}">{html.escape(name)}</option>' for name in cities
    )
    page = (STATIC / "index.html").read_text().replace("<!--cities-->", options)
    app = web.Application()
    app[PLAYER] = _Player(play_url, dict(cities), ssl_context, page)
    app.cleanup_ctx.append(_session)
    app.router.add_get("/", index)
    app.router.add_get("/play", play)
    for name in ("hls.min.js", "player.js"):
        app.router.add_get(f"/static/{name}", _static(STATIC / name))
    return app


async def _session(app: web.Application) -> AsyncIterator[None]:
    player = app[PLAYER]
    async with aiohttp.ClientSession(timeout=LOCATOR_TIMEOUT) as session:
        player.session = session
        yield
    player.session = None


async def index(request: web.Request) -> web.Response:
    """The page, with a choice of every city."""
    page = request.app[PLAYER].page
    return web.Response(text=page, content_type="text/html", headers=_NO_CACHE)


def _static(file: Path) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(file, headers=_NO_CACHE)

    return handler


def _error(status: int, message: str) -> web.Response:
    return web.json_response(
        {"error": message}, status=status, headers={"Cache-Control": "no-store"}
    )


async def play(request: web.Request) -> web.Response:
    """``GET /play?city=…``: where the locator sends a student in that city, as JSON."""
    player = request.app[PLAYER]
    city = request.query.get("city", "")
    address = player.cities.get(city)
    if address is None:
        known = ", ".join(player.cities)
        return _error(400, f"no city {city[:80]!r} here; choose one of: {known}")
    assert player.session is not None, "the session lives as long as the app runs"
    try:
        async with player.session.get(
            player.play_url(),
            headers={"X-Forwarded-For": address},
            allow_redirects=False,
            ssl=player.ssl if player.ssl is not None else True,
        ) as resp:
            location = resp.headers.get("Location")
            status = resp.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        return _error(502, f"the locator did not answer: {exc or type(exc).__name__}")
    if status not in _REDIRECTS or not location:
        return _error(502, f"the locator answered {status}, not a redirect")
    body = {"city": city, "address": address, "url": location}
    return web.json_response(body, headers={"Cache-Control": "no-store"})
