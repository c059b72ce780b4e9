"""A request head read by the fast path, and what a role says of it.

``read_head`` parses one complete head with llhttp (``httptools``) and keeps only what
is plainly a GET or HEAD without a body: anything else (another method, a body,
``Expect``, ``Upgrade``, an absolute or odd target, a head the parser refuses) is
None, and the connection goes to aiohttp, which answers it as it always has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import httptools
from aiohttp import web
from multidict import CIMultiDict

from ..answer import Answer
from ..metrics import HeldCounts
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

    def done(
        self, request: FastRequest, hit: FastHit, answer: Answer, sent: int, held: HeldCounts
    ) -> None:
        """Count ``answer``, ``sent`` bytes of its body sent, as the role's handler does.

        Its counters go into ``held``, which makes them at the end of the turn.
        """
        ...


#: Builds the role's route once its app has started (its engine exists then).
FastRouteFactory = Callable[[web.Application], FastRoute]

_METHODS = {b"GET": "GET", b"HEAD": "HEAD"}
_VERSIONS = {"1.1": (1, 1), "1.0": (1, 0)}
# Headers after which aiohttp must take the request: a body, or a change of protocol.
_HANDED = frozenset({b"content-length", b"transfer-encoding", b"expect", b"upgrade"})


class _Nothing:
    """llhttp callbacks for reading a head only to see whether it could still be one."""


class HeadProbe:
    """Reads a head as its bytes arrive, only to tell whether it can still become a request.

    It says no once llhttp refuses what is there (a TLS hello on a plain port, a bad
    method, a malformed header line), so the connection goes to aiohttp at once for
    its 400, not after ``header_timeout``. Each byte is read once, however the head is
    cut up.
    """

    __slots__ = ("_fed", "_parser")

    def __init__(self) -> None:
        self._parser = httptools.HttpRequestParser(_Nothing())
        self._fed = 0

    def could_be(self, head: bytes) -> bool:
        """Whether ``head`` (the bytes so far, those seen before included) may still be one."""
        try:
            self._parser.feed_data(head[self._fed :])
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            return False
        self._fed = len(head)
        return True


class HeadReader:
    """Reads heads one at a time with one llhttp parser (a connection's)."""

    __slots__ = ("_complete", "_fields", "_keep_alive", "_method", "_odd", "_parser", "_url",
                 "_version")  # fmt: skip

    def __init__(self) -> None:
        self._parser = httptools.HttpRequestParser(self)
        self._fields: list[tuple[str, str]] = []
        self._url = b""
        self._odd = False
        self._complete = False
        self._method = b""
        self._version = ""
        self._keep_alive = False

    # llhttp's callbacks
    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() in _HANDED and not (name.lower() == b"content-length" and value == b"0"):
            self._odd = True
        self._fields.append(
            (name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
        )

    def on_headers_complete(self) -> None:
        # The parser forgets these once the message is complete: read them now.
        parser = self._parser
        self._method = parser.get_method()
        self._version = parser.get_http_version()
        self._keep_alive = parser.should_keep_alive()
        if parser.should_upgrade():
            self._odd = True

    def on_message_complete(self) -> None:
        self._complete = True

    def read(self, head: bytes, remote: str | None) -> FastRequest | None:
        """The request in ``head`` (one whole head, up to its blank line), or None.

        After None the reader is spent: the connection is aiohttp's from there on.
        """
        self._fields = []
        self._url = b""
        self._odd = self._complete = False
        try:
            self._parser.feed_data(head)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            # llhttp stops at a change of protocol (Connection: upgrade) with the latter.
            return None
        method = _METHODS.get(self._method)
        version = _VERSIONS.get(self._version)
        url = self._url
        if (
            self._odd
            or not self._complete
            or method is None
            or version is None
            or not url.startswith(b"/")
            # Dot segments, empty segments and fragments: left to aiohttp's URL rules.
            or b"/." in url
            or b"//" in url
            or b"#" in url
        ):
            return None
        try:
            target = url.decode("ascii")
        except UnicodeDecodeError:
            return None
        path = target.partition("?")[0]
        return FastRequest(
            method,
            target,
            path,
            version,
            CIMultiDict(self._fields),
            remote,
            self._keep_alive,
        )
