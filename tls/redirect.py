"""The plain-HTTP twin of a TLS listener: 301 to HTTPS, and ACME HTTP-01 challenges.

A browser or pod catcher given ``http://`` is sent to the same URL over HTTPS, as
nginx's ``return 301 https://$host$request_uri`` does. Challenges are answered from
``<acme_webroot>/.well-known/acme-challenge/<token>``, where certbot's ``--webroot``
mode (and any ACME client's) writes them, so no other web server needs port 80.
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

from delivery.limits import request_limits

__all__ = ["ACME_PREFIX", "https_url", "redirect_app"]

ACME_PREFIX = "/.well-known/acme-challenge/"

# RFC 8555 section 8.3: a token is base64url characters only, so it can name a file.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
# A host as a client may write it (RFC 3986 host, optional port); anything else would
# make the Location header say what an attacker chose.
_HOST = re.compile(
    r"(?P<name>[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])"
    r"(?::[0-9]{1,5})?"
)


def https_url(host_header: str | None, https_port: int, path_qs: str) -> str | None:
    """The HTTPS URL for a request that arrived over plain HTTP, or None for a bad Host."""
    if not host_header:
        return None
    match = _HOST.fullmatch(host_header.strip())
    if match is None:
        return None
    host = match["name"]
    port = "" if https_port == 443 else f":{https_port}"
    return f"https://{host}{port}{path_qs}"


def redirect_app(https_port: int, acme_webroot: Path | None = None) -> web.Application:
    """The app of ``tls.redirect_http``: redirects to ``https_port``, serves challenges."""
    app = web.Application(middlewares=[request_limits])

    async def answer(request: web.Request) -> web.StreamResponse:
        if acme_webroot is not None and request.path.startswith(ACME_PREFIX):
            token = request.path[len(ACME_PREFIX) :]
            if request.method in ("GET", "HEAD") and _TOKEN.fullmatch(token):
                challenge = acme_webroot / ".well-known" / "acme-challenge" / token
                try:
                    body = challenge.read_bytes()
                except OSError:
                    body = None
                if body is not None:
                    return web.Response(body=body, content_type="text/plain")
            return web.Response(status=404, text="no such challenge\n")
        if request.raw_path.startswith("/"):
            host, path_qs = request.headers.get("Host"), request.raw_path
        else:
            # An absolute-form target (what a client that takes this for a proxy sends)
            # names the host, which counts instead of Host; its path is what is kept.
            # https://www.rfc-editor.org/rfc/rfc9112#section-3.2.2
            host, path_qs = request.url.raw_authority, request.rel_url.raw_path_qs
        target = https_url(host, https_port, path_qs)
        if target is None:
            return web.Response(status=400, text="bad or missing Host header\n")
        # 301 is what browsers and pod catchers cache; 308 keeps a POST a POST.
        status = 301 if request.method in ("GET", "HEAD") else 308
        return web.Response(
            status=status,
            headers={"Location": target, "Cache-Control": "max-age=3600"},
            text="moved to HTTPS\n",
        )

    app.router.add_route("*", "/{tail:.*}", answer)
    return app
