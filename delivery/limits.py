"""Request-size limits with the right status codes: 414 for a long URL, 431 for headers.

aiohttp's parser answers 400 to anything over its own limits, so services raise those
(``PARSER_LIMITS``) above ours and this middleware gives the precise answer first.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

__all__ = [
    "MAX_HEADERS_BYTES",
    "MAX_HEADER_LINE",
    "MAX_URL",
    "PARSER_LIMITS",
    "oversized",
    "request_limits",
]

#: nginx's default large_client_header_buffers is 4 × 8k: an 8 KiB request line or
#: header line; Apache's LimitRequestLine and LimitRequestFieldSize are 8190 bytes.
MAX_URL = 8192
MAX_HEADER_LINE = 8192
#: All header lines together (nginx: 4 buffers of 8k).
MAX_HEADERS_BYTES = 32 * 1024
#: Pass to AppRunner / TestServer so aiohttp's parser lets our checks speak first.
PARSER_LIMITS = {"max_line_size": 65536, "max_field_size": 65536}


def oversized(request: web.Request) -> web.Response | None:
    """The 414 or 431 answer for an oversized request, or None when it is within limits.

    Hot handlers call this directly; other apps use the ``request_limits`` middleware
    (a middleware layer costs a few percent of a small hit's time).
    """
    if len(request.raw_path) > MAX_URL:
        # https://www.rfc-editor.org/rfc/rfc9110#section-15.5.15
        return web.Response(status=414, text="URI too long\n")
    total = 0
    for name, value in request.raw_headers:
        line = len(name) + len(value) + 4
        total += line
        if line > MAX_HEADER_LINE or total > MAX_HEADERS_BYTES:
            # https://www.rfc-editor.org/rfc/rfc6585#section-5
            return web.Response(status=431, text="request header fields too large\n")
    return None


@web.middleware
async def request_limits(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse oversized request lines (414) and header sections (431)."""
    return oversized(request) or await handler(request)
