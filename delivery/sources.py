"""Where a response's body comes from: the store, a fill's file, a fill's relay, or a GET.

``serve`` decides what to send (status, span); a ``Source`` then decides where those
bytes come from (``plan``, before the headers go out, so ``Cache-Status`` can say) and
writes them (``write``). Every source but a hit shares its fill's one upstream body
wherever it can; the exceptions are *solo* GETs, each counted in
``castedge_solo_gets_total`` by reason:

- ``ahead``: a range that starts more than ``FOLLOW_WINDOW`` past what the fill has,
  so a player seeking to minute 50 of a file still arriving does not wait for 1-49;
- ``behind``: the bytes it needs had already left a relay's window;
- ``slow``: it held a relay back for longer than the grace the others give it;
- ``disk``: the disk failed under the file it was sending, after the fill was done
  with the upstream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from aiohttp import web

from .byte_range import ByteRange
from .cachestatus import HIT, CacheStatus
from .errors import DiskFailed
from .fill import Fill, MovedToMemory
from .metrics import DeliveryMetrics
from .objectfile import ObjectMeta
from .relay import Detached, Seat
from .sendfile import BodyCutShort, send_range
from .upstream import Upstream

__all__ = ["FOLLOW_WINDOW", "FileSource", "FillSource", "RelaySource", "Source"]

#: A range that starts no further than this past what a fill has written (or a relay
#: has received) waits for it; beyond, it is fetched from the upstream by itself.
FOLLOW_WINDOW = 4 * 1024 * 1024
#: The most a relay reader hands the response at a time.
RELAY_READ = 512 * 1024


class Counted(Protocol):
    """The response being written: aiohttp's ``write``, and its count of bytes sent."""

    def count(self, sent: int) -> None: ...

    def received_from(self, before: int) -> Callable[[int], None]: ...

    @property
    def sent(self) -> int: ...

    async def write(self, data: bytes) -> None: ...


class Source(Protocol):
    """The bytes of one object for one response."""

    def plan(self, start: int, length: int) -> CacheStatus:
        """Choose where bytes [start, start+length) come from; how the cache handled it."""
        ...

    async def write(self, resp: Counted, request: web.Request, start: int, length: int) -> None:
        """Send those bytes; raises BodyCutShort (or a DeliveryError) if it cannot."""
        ...


def _transport(request: web.Request) -> asyncio.Transport:
    transport = request.transport
    if transport is None or transport.is_closing():
        raise ConnectionResetError("client went away")
    return transport


class FileSource:
    """A hit: the cached file, sent with sendfile."""

    def __init__(self, fd: int, body_offset: int) -> None:
        self.fd = fd
        self.body_offset = body_offset

    def plan(self, start: int, length: int) -> CacheStatus:
        return HIT

    async def write(self, resp: Counted, request: web.Request, start: int, length: int) -> None:
        await send_range(
            _transport(request),
            self.fd,
            self.body_offset + start,
            length,
            on_sent=resp.count,
            on_reset=resp.received_from(resp.sent),
            write=resp.write,
        )


class Solo:
    """GETs of a span by one request alone (counted), pinned to the version it is sending."""

    def __init__(self, upstream: Upstream, meta: ObjectMeta, metrics: DeliveryMetrics) -> None:
        self.upstream = upstream
        self.meta = meta
        self.metrics = metrics

    async def write(
        self, resp: Counted, start: int, length: int, *, reason: str | None = None
    ) -> None:
        if reason is not None:
            self.metrics.solo(reason)
        body = await self.upstream.open(self.meta.key, ByteRange(start, start + length - 1))
        if body.meta.etag != self.meta.etag:
            # Replaced upstream since the headers went out: what follows would be
            # another version's bytes under this one's ETag.
            await body.close()
            raise BodyCutShort(0, length)
        sent = 0
        try:
            async for chunk in body.chunks():
                await resp.write(chunk)
                sent += len(chunk)
                resp.count(len(chunk))
        finally:
            await body.close()
        if sent < length:
            raise BodyCutShort(sent, length)


def _miss(fill: Fill) -> CacheStatus:
    """A miss, stored as it is sent or (while the fill cannot keep it) not, and why."""
    return CacheStatus(fwd="miss", stored=fill.cacheable, detail=fill.uncached)


async def _from_relay(seat: Seat, resp: Counted, solo: Solo, pos: int, end: int) -> None:
    """Send bytes [pos, end) from a relay; the rest by a solo GET if the seat is let go."""
    try:
        seat.position(pos)
        while pos < end:
            data = await seat.read(min(RELAY_READ, end - pos))
            await resp.write(data)  # type: ignore[arg-type]  # aiohttp takes any buffer
            resp.count(len(data))
            pos += len(data)
    except Detached as exc:
        await solo.write(resp, exc.pos, end - exc.pos, reason=exc.reason)
    except EOFError as exc:
        raise BodyCutShort(0, end - pos) from exc
    finally:
        seat.close()


class RelaySource:
    """A miss the store does not keep: the fill's one body, from its relay in memory."""

    def __init__(self, fill: Fill, seat: Seat, solo: Solo) -> None:
        self.fill = fill
        self.seat = seat
        self.solo = solo
        self._alone: str | None = None

    def plan(self, start: int, length: int) -> CacheStatus:
        relay = self.fill.relay
        status = _miss(self.fill)
        if length == 0:
            return status.joined(self.fill.collapsed(self.seat) or None)
        if self.seat.detached is not None or not relay.holds(start):
            self._alone = self.seat.detached or "behind"
        elif start > relay.head + FOLLOW_WINDOW:
            self._alone = "ahead"
        else:
            # From here on the window keeps the bytes this reader needs.
            self.seat.position(start)
            return status.joined(self.fill.collapsed(self.seat) or None)
        self.seat.close()
        return status.joined(False)

    async def write(self, resp: Counted, request: web.Request, start: int, length: int) -> None:
        if self._alone is not None:
            await self.solo.write(resp, start, length, reason=self._alone)
            return
        await _from_relay(self.seat, resp, self.solo, start, start + length)


class FillSource:
    """A miss being stored: the fill's growing file (zero-copy), as far as it has got."""

    def __init__(self, fill: Fill, fd: int, seat: Seat, solo: Solo) -> None:
        self.fill = fill
        self.fd = fd
        self.seat = seat
        self.solo = solo
        self._ahead = False

    def plan(self, start: int, length: int) -> CacheStatus:
        status = _miss(self.fill)
        if length and start > self.fill.written + FOLLOW_WINDOW:
            self._ahead = True
            self.seat.close()
            return status.joined(False)
        return status.joined(self.fill.collapsed(self.seat) or None)

    async def write(self, resp: Counted, request: web.Request, start: int, length: int) -> None:
        if self._ahead:
            await self.solo.write(resp, start, length, reason="ahead")
            return
        fill = self.fill

        async def readable(sent: int) -> int:
            return await fill.readable(start + sent) - start

        try:
            await send_range(
                _transport(request),
                self.fd,
                fill.body_offset + start,
                length,
                available=readable,
                on_sent=resp.count,
                on_reset=resp.received_from(resp.sent),
                write=resp.write,
            )
        except BodyCutShort as exc:
            cause = exc.__cause__
            at = start + exc.sent
            if isinstance(cause, MovedToMemory):
                # The disk failed midway; the fill goes on from memory.
                await _from_relay(self.seat, resp, self.solo, at, start + length)
            elif isinstance(cause, DiskFailed):
                # Our disk failed after the upstream was done: fetch the rest directly,
                # and the client never notices.
                await self.solo.write(resp, at, length - exc.sent, reason="disk")
            else:
                raise
