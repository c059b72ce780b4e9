"""A request head read by the fast path, and what a role says of it.

``HeadReader`` reads one complete head and keeps only what is plainly a GET or HEAD
without a body: anything else (another method, a body, ``Expect``, ``Upgrade``, an
absolute or odd target, a line out of the strictest form) is None, and the connection
goes to aiohttp, whose parser (llhttp) reads it and answers it as it always has. One
regular expression over the whole head costs half of what feeding llhttp through
``httptools``' Python callbacks did (benchmarks/README.md, "Hit path").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web
from multidict import CIMultiDict

from ..answer import Answer
from ..serve import Delivery

__all__ = ["FastHit", "FastRequest", "FastRoute", "FastRouteFactory", "HeadReader"]


@dataclass(slots=True)
class FastRequest:
    """A plain GET or HEAD, as far as the fast path needs to know it."""

    method: str
    #: The request-target as sent (path and query, still percent-encoded).
    target: str
    #: Its path alone: aiohttp's ``request.rel_url.raw_path``.
    path: str
    version: tuple[int, int]
    headers: CIMultiDict[str]
    remote: str | None
    keep_alive: bool


@dataclass(slots=True)
class FastHit:
    """A request a role would answer from its store: the key, and its extra headers."""

    key: str
    headers: dict[str, str]
    #: The role's own clock when the request came (the download log's row time).
    started: float = 0.0


class FastRoute(Protocol):
    """A role's share of the fast path: which requests are plain hits, and their tally.

    ``route`` answers None for anything the role's aiohttp handler must see (a refusal,
    a redirect, a switch): it must never answer or count such a request itself.
    """

    delivery: Delivery

    def route(self, request: FastRequest) -> FastHit | None: ...

    def done(self, request: FastRequest, hit: FastHit, answer: Answer, sent: int) -> None:
        """Count ``answer``, ``sent`` bytes of its body sent, as the role's handler does."""
        ...


#: Builds the role's route once its app has started (its engine exists then).
FastRouteFactory = Callable[[web.Application], FastRoute]

# https://www.rfc-editor.org/rfc/rfc9110#section-5.6.2: a field name is a token.
_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
#: The heads the fast path reads: GET or HEAD of an origin-form target made of URI
#: characters only (RFC 3986 unreserved, sub-delims, ":", "@", "/", "?", "%"), HTTP/1.0
#: or 1.1, and field lines of a token, a colon and visible text (no obs-fold, no bare
#: CR or LF, no control character but HTAB). A strict subset of what RFC 9112 allows:
#: anything else is aiohttp's to read, and to refuse if it must.
_HEAD = re.compile(
    rb"(GET|HEAD) (/[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*) HTTP/1\.([01])\r\n"
    rb"((?:" + _TOKEN + rb":[\t\x20-\x7e\x80-\xff]*\r\n)*)\r\n"
)
# A field line of the block _HEAD matched, its value without the whitespace before it
# (a value with whitespace after it is aiohttp's to read).
_FIELD = re.compile(r"([^:]+):[\t ]*([^\r]*)\r\n")
# After any of these, aiohttp must read the request: a body, or a change of protocol.
_HANDED = frozenset({"content-length", "transfer-encoding", "expect", "upgrade"})


class HeadReader:
    """Reads one whole request head at a time, or says it is not one for the fast path."""

    __slots__ = ()

    def read(self, head: bytes, remote: str | None) -> FastRequest | None:
        """The request in ``head`` (one whole head, up to its blank line), or None."""
        m = _HEAD.fullmatch(head)
        if m is None:
            return None
        target = m[2].decode("ascii")
        if "/." in target or "//" in target:
            # Dot segments and empty segments: left to aiohttp's URL rules.
            return None
        block = m[4]
        if b" \r\n" in block or b"\t\r\n" in block:
            return None
        # Values as aiohttp decodes them: UTF-8, and any other byte kept as it came.
        fields = _FIELD.findall(block.decode("utf-8", "surrogateescape"))
        headers: CIMultiDict[str] = CIMultiDict(fields)
        if any(name.lower() in _HANDED for name, _ in fields):
            return None
        http11 = m[3] == b"1"
        keep_alive = http11
        connection = headers.getall("Connection", ())
        if len(connection) > 1:
            return None
        if connection:
            # https://www.rfc-editor.org/rfc/rfc9112#section-9.3: "close" ends a 1.1
            # connection, "keep-alive" keeps a 1.0 one; anything else, aiohttp reads.
            option = connection[0].lower()
            if option == "close":
                keep_alive = False
            elif option == "keep-alive":
                keep_alive = True
            else:
                return None
        return FastRequest(
            "GET" if m[1] == b"GET" else "HEAD",
            target,
            target.partition("?")[0],
            (1, 1) if http11 else (1, 0),
            headers,
            remote,
            keep_alive,
        )
