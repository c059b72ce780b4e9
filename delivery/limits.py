"""Request-size limits with the right status codes: 414 for a long URL, 431 for headers.

aiohttp's parser answers 400 to anything over its own limits, so services raise those
(``PARSER_LIMITS``) above ours and this middleware gives the precise answer first;
what the parser still refuses is answered by ``refusal_for`` (the listener's protocol
calls it), so a request line of any length gets its 414. Either way the answer is a
``Refusal``: a fixed line of text, never an echo of what the client sent.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.typedefs import Handler

__all__ = [
    "MAX_HEADERS_BYTES",
    "MAX_HEADER_LINE",
    "MAX_URL",
    "PARSER_LIMITS",
    "REASONS",
    "Refusal",
    "oversized",
    "refusal_for",
    "request_limits",
]

#: nginx's default large_client_header_buffers is 4 × 8k: an 8 KiB request line or
#: header line; Apache's LimitRequestLine and LimitRequestFieldSize are 8190 bytes.
MAX_URL = 8192
MAX_HEADER_LINE = 8192
#: All header lines together (nginx: 4 buffers of 8k).
MAX_HEADERS_BYTES = 32 * 1024
#: Pass to AppRunner / TestServer so aiohttp's parser lets our checks speak first. The
#: two differ so that its LineTooLong, the same error for both, tells which it hit;
#: a header line over 48 KiB is over MAX_HEADERS_BYTES anyway.
PARSER_LIMITS = {"max_line_size": 64 * 1024, "max_field_size": 48 * 1024}

#: Why a request was refused, by status: the ``reason`` of castedge_bad_requests_total.
REASONS = {
    400: "bad_request",
    408: "header_timeout",
    414: "request_line_too_long",
    431: "headers_too_large",
}
_TEXT = {
    400: "bad request\n",
    408: "request timeout\n",
    414: "URI too long\n",
    431: "request header fields too large\n",
}


class Refusal(web.Response):
    """The short answer to a request refused for its form (a status of ``REASONS``).

    ``parsed`` False is a request that could not be read at all: nothing of it is
    known, and the connection is closed after the answer, as the rest of what the
    client sent cannot be told apart from a next request.
    """

    def __init__(self, status: int, *, parsed: bool = True) -> None:
        super().__init__(status=status, text=_TEXT[status])
        #: The ``reason`` label it is counted under.
        self.why = REASONS[status]
        self.parsed = parsed
        if not parsed:
            self.force_close()


def refusal_for(error: HttpProcessingError) -> Refusal:
    """The answer to a request aiohttp's parser refused."""
    if isinstance(error, LineTooLong):
        # LineTooLong(line, limit, actual): the limit it names is the one it hit.
        limit = str(error.args[1]) if len(error.args) > 1 else ""
        if limit == str(PARSER_LIMITS["max_line_size"]):
            # https://www.rfc-editor.org/rfc/rfc9110#section-15.5.15
            return Refusal(414, parsed=False)
        return Refusal(431, parsed=False)
    if error.message.startswith("Too many headers"):
        # https://www.rfc-editor.org/rfc/rfc6585#section-5
        return Refusal(431, parsed=False)
    return Refusal(400, parsed=False)


def oversized(request: web.Request) -> web.Response | None:
    """The 414 or 431 answer for an oversized request, or None when it is within limits.

    Hot handlers call this directly; other apps use the ``request_limits`` middleware
    (a middleware layer costs a few percent of a small hit's time).
    """
    if len(request.raw_path) > MAX_URL:
        # https://www.rfc-editor.org/rfc/rfc9110#section-15.5.15
        return Refusal(414)
    total = 0
    for name, value in request.raw_headers:
        line = len(name) + len(value) + 4
        total += line
        if line > MAX_HEADER_LINE or total > MAX_HEADERS_BYTES:
            # https://www.rfc-editor.org/rfc/rfc6585#section-5
            return Refusal(431)
    return None


@web.middleware
async def request_limits(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse oversized request lines (414) and header sections (431)."""
    return oversized(request) or await handler(request)
