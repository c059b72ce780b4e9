"""The aiohttp adapter: answer GET/HEAD for one object key from the store or a fill.

The pure ``conditional.decide`` says what to send; a ``sources.Source`` says where the
bytes come from (a hit, a fill's file, a fill's relay when the store cannot keep the
object, or now and then a GET of the request's own) and this module writes them,
with a ``Cache-Status`` header (RFC 9211) saying which it was.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from aiohttp import web

from .answer import answer
from .cachestatus import NEGATIVE, CacheStatus
from .errors import (
    DeliveryError,
    ObjectNotFound,
    RangeNotSatisfiable,
    TooManyMisses,
    UpstreamUnavailable,
)
from .fill import FillManager
from .keys import RESERVED_PREFIX
from .metrics import DeliveryMetrics
from .objectfile import ObjectMeta
from .sendfile import SMALL_BODY, BodyCutShort
from .sources import FileSource, FillSource, RelaySource, Solo, Source
from .store import DiskStore

__all__ = ["Delivery", "MediaResponse", "OnResponse", "SmallMediaResponse", "error_response"]

log = logging.getLogger("castedge.serve")


class MediaResponse(web.StreamResponse):
    """A response that counts the body bytes it really sent (for logs, metrics, downloads)."""

    sent = 0

    def count(self, sent: int) -> None:
        """Add bytes just written to the client."""
        self.sent += sent

    def received_from(self, before: int) -> Callable[[int], None]:
        """For a range begun after ``before`` bytes: when the client resets, credit it
        with ``before`` and what its TCP acknowledged of the range, not what the
        kernel was handed (see ``delivery.acked``)."""

        def received(acknowledged: int) -> None:
            self.sent = min(self.sent, before + acknowledged)

        return received


class SmallMediaResponse(web.Response):
    """A short body sent together with its headers; ``sent`` as for MediaResponse."""

    sent = 0


@dataclass
class Delivery:
    """Everything a media handler needs: the store, the fills, the metrics."""

    store: DiskStore
    fills: FillManager
    metrics: DeliveryMetrics
    cache_control: str
    #: Called instead of fetching a miss while the disk store fails (the origin
    #: redirects to S3); None streams such misses from the upstream uncached.
    on_degraded_miss: Callable[[web.Request, str], Awaitable[web.StreamResponse]] | None = None
    #: The folders of keys this engine serves and fetches; ``("",)`` is every key.
    prefixes: tuple[str, ...] = ("",)
    #: Asked before a miss starts a fetch: an error to answer instead (a key the
    #: bucket's listing lacks, a client past its miss rate), or None to go ahead.
    admit_miss: Callable[[web.Request, str], DeliveryError | None] | None = None

    def serves(self, key: str) -> bool:
        """Whether ``key`` is this engine's to serve: anything else is never fetched."""
        return key.startswith(self.prefixes) and not key.startswith(RESERVED_PREFIX)

    def extra_headers(self, headers: Mapping[str, str] | None) -> dict[str, str]:
        """The headers a service adds to every answer, with the engine's Cache-Control."""
        extra = dict(headers) if headers else {}
        extra.setdefault("Cache-Control", self.cache_control)
        return extra

    async def serve(
        self,
        request: web.Request,
        key: str,
        *,
        headers: Mapping[str, str] | None = None,
        on_response: OnResponse | None = None,
    ) -> web.StreamResponse:
        """Answer a GET or HEAD for ``key``; ``headers`` are added to every answer.

        ``on_response`` is given the object's response as soon as it exists, before
        its body is written: a server may cancel a handler whose client left
        (aiohttp's ``handler_cancellation``), and whoever accounts for the request
        (metrics, the download log) still finds the response and what it sent.
        """
        extra = self.extra_headers(headers)
        # What an error answer says of the cache's part (empty: one it made up itself).
        found: list[CacheStatus] = []
        try:
            if not self.serves(key):
                # Another role's folder (the edge's paid video on an origin, say), or
                # the fleet's own files: as absent as a key the bucket does not hold,
                # and never fetched.
                raise ObjectNotFound(key)
            return await self._serve(request, key, extra, on_response, found)
        except DeliveryError as exc:
            resp = error_response(exc, extra)
            if found and resp.status == 404:
                # Storage's own answer (or a remembered one), not one castedge made up.
                # https://www.rfc-editor.org/rfc/rfc9211#section-2
                resp.headers["Cache-Status"] = str(found[-1])
            return resp

    async def _serve(
        self,
        request: web.Request,
        key: str,
        extra: dict[str, str],
        on_response: OnResponse | None,
        found: list[CacheStatus],
    ) -> web.StreamResponse:
        store = self.store
        for _ in range(3):
            handle = store.lookup(key)
            if handle is not None:
                self.metrics.lookup("hit")
                try:
                    return await self._answer(
                        request,
                        handle.meta,
                        extra,
                        FileSource(handle.fd, handle.body_offset),
                        small=(handle.fd, handle.body_offset),
                        on_response=on_response,
                    )
                finally:
                    store.release(handle)
            if self.fills.known_missing(key):
                self.metrics.lookup("negative")
                found.append(NEGATIVE)
                raise ObjectNotFound(key)
            if not store.healthy and self.on_degraded_miss is not None:
                return await self.on_degraded_miss(request, key)
            if self.admit_miss is not None and not self.fills.running(key):
                refusal = self.admit_miss(request, key)
                if refusal is not None:
                    raise refusal
            fill, seat = self.fills.join(key)
            try:
                try:
                    meta = await fill.meta()
                except ObjectNotFound:
                    status = CacheStatus(fwd="miss", fwd_status=404)
                    found.append(status.joined(fill.collapsed(seat) or None))
                    raise
                if not fill.cacheable and not store.healthy and self.on_degraded_miss is not None:
                    return await self.on_degraded_miss(request, key)
                solo = Solo(self.fills.upstream, meta, self.metrics)
                if fill.streaming:
                    self.metrics.lookup("stream")
                    return await self._answer(
                        request, meta, extra, RelaySource(fill, seat, solo), on_response=on_response
                    )
                fd = fill.open_reader()
                if fd is None:
                    # Done between our lookup and now: a hit on the next turn, or its error.
                    if fill.error is not None:
                        raise fill.error
                    continue
                self.metrics.lookup("miss")
                try:
                    source = FillSource(fill, fd, seat, solo)
                    return await self._answer(request, meta, extra, source, on_response=on_response)
                finally:
                    os.close(fd)
            finally:
                seat.close()
        raise UpstreamUnavailable(f"object {key!r} kept changing while being served")

    # -- the answer ----------------------------------------------------------------

    async def _answer(
        self,
        request: web.Request,
        meta: ObjectMeta,
        extra: dict[str, str],
        source: Source,
        *,
        small: tuple[int, int] | None = None,
        on_response: OnResponse | None = None,
    ) -> web.StreamResponse:
        """Decide, then write. ``small`` is a hit's (descriptor, body offset)."""
        plan = answer(request.method, meta, request.headers, extra, source.plan)
        status, headers, start, length = plan.status, plan.headers, plan.start, plan.length
        if small is not None and plan.body and length <= SMALL_BODY:
            # A probe: headers and body in one write (one syscall, one packet).
            data = os.pread(small[0], length, small[1] + start)
            if len(data) == length:
                quick = SmallMediaResponse(status=status, headers=headers, body=data)
                quick.sent = length
                if on_response is not None:
                    on_response(quick)
                return quick
        resp = MediaResponse(status=status, headers=headers)
        if on_response is not None:
            on_response(resp)
        if plan.content_length is not None:
            resp.content_length = plan.content_length
        await resp.prepare(request)
        if plan.body:
            try:
                await source.write(resp, request, start, length)
            except (BodyCutShort, DeliveryError) as exc:
                # Headers promised `length` bytes: closing short is how the client
                # learns the copy is incomplete and retries.
                # The key, not the request path: an edge's path holds a token.
                log.warning("closing %s %s short: %s", request.method, meta.key, exc)
                _abort(request)
                return resp
            except (ConnectionResetError, BrokenPipeError) as exc:
                log.debug("client left %s %s: %s", request.method, meta.key, exc)
                _abort(request)
                return resp
        await resp.write_eof()
        return resp


#: Told of an object's response before its body is written (see ``Delivery.serve``).
OnResponse = Callable[[web.StreamResponse], None]


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        # close() still flushes what the transport holds, then sends FIN: the client
        # receives fewer bytes than Content-Length and knows the copy is short.
        transport.close()


def error_response(exc: DeliveryError, headers: Mapping[str, str]) -> web.Response:
    """The short plain-text answer for an error from the delivery engine."""
    status = exc.status_hint if 400 <= exc.status_hint < 600 else 502
    resp = web.Response(status=status, text=f"{_REASONS.get(status, 'error')}\n")
    if "Cache-Control" in headers:
        # A 404 may be cached briefly by clients; failures of ours must not be.
        resp.headers["Cache-Control"] = "max-age=10" if status == 404 else "no-store"
    if isinstance(exc, UpstreamUnavailable | TooManyMisses):
        resp.headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, RangeNotSatisfiable):
        resp.headers["Content-Range"] = exc.content_range
    return resp


_REASONS = {
    400: "bad request",
    404: "not found",
    429: "too many requests for objects not cached here; retry later",
    416: "range not satisfiable",
    502: "upstream error",
    503: "upstream unavailable, retry later",
    504: "upstream timed out, retry later",
}
