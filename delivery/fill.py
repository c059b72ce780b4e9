"""Single-flight fills: one upstream GET per missing object, streamed to every waiter.

The first request for a missing key starts a ``Fill``; every request for the same key
while it runs joins it. The fill writes the object into a temporary file and
announces its progress; waiters send from that file (zero-copy) up to what has been
written, so the first byte does not wait for the last. Only a fill whose byte count
and MD5 (where the ETag is one) check out, and which reached the disk (fsync), is
published; otherwise the temporary file is removed and waiters are cut short, so
their clients know to retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from .errors import DeliveryError, DiskFailed, FillFailed, ObjectNotFound
from .metrics import DeliveryMetrics
from .objectfile import ObjectMeta, encode_header
from .store import DiskStore, TempObject
from .upstream import Upstream, UpstreamBody, md5_of_etag

__all__ = ["Fill", "FillManager"]

log = logging.getLogger("castedge.fill")

#: Remembered upstream 404s, at most (oldest forgotten first).
NEGATIVE_ENTRIES = 10_000


class Fill:
    """One object on its way from the upstream into the store."""

    def __init__(self, key: str) -> None:
        loop = asyncio.get_running_loop()
        self.key = key
        self.meta_ready: asyncio.Future[ObjectMeta] = loop.create_future()
        self.completed: asyncio.Future[None] = loop.create_future()
        self.cacheable = True
        self.fd = -1
        self.body_offset = 0
        self.written = 0
        self.error: BaseException | None = None
        self._progress = asyncio.Event()
        # Nobody may be waiting on these; retrieving the exception keeps asyncio from
        # logging "exception was never retrieved" for them.
        self.meta_ready.add_done_callback(_consume)
        self.completed.add_done_callback(_consume)

    @property
    def done(self) -> bool:
        """True once the fill has published its object or failed."""
        return self.completed.done()

    async def meta(self) -> ObjectMeta:
        """The object's metadata, as soon as the upstream's headers arrive."""
        return await asyncio.shield(self.meta_ready)

    def open_reader(self) -> int | None:
        """A descriptor of its own on the growing file for one waiter, or None once over."""
        return os.dup(self.fd) if self.fd >= 0 else None

    async def readable(self, pos: int) -> int:
        """Wait until byte ``pos`` of the body is on disk; return how many bytes are.

        Raises the fill's error when it failed before reaching ``pos``.
        """
        while self.written <= pos and not self.done:
            event = self._progress
            await event.wait()
        if self.written <= pos and self.error is not None:
            raise self.error
        return self.written

    def _advance(self, written: int) -> None:
        self.written = written
        event, self._progress = self._progress, asyncio.Event()
        event.set()

    def _finish(self, error: BaseException | None) -> None:
        self.error = error
        if not self.meta_ready.done():
            self.meta_ready.set_exception(error or FillFailed(self.key, "no metadata"))
        if error is None:
            self.completed.set_result(None)
        else:
            self.completed.set_exception(error)
        self._advance(self.written)


def _consume(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


def _write_chunk(fd: int, data: bytes, offset: int, md5: Any) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view = view[n:]
        offset += n
    if md5 is not None:
        md5.update(data)


class FillManager:
    """Runs fills, at most one per key, and remembers upstream 404s for a while."""

    def __init__(
        self,
        store: DiskStore,
        upstream: Upstream,
        metrics: DeliveryMetrics,
        *,
        negative_ttl: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.upstream = upstream
        self._metrics = metrics
        self._negative_ttl = negative_ttl
        self._monotonic = monotonic
        self._fills: dict[str, Fill] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._negative: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._fills)

    def known_missing(self, key: str) -> bool:
        """True while an upstream 404 for ``key`` is remembered."""
        until = self._negative.get(key)
        if until is None:
            return False
        if self._monotonic() < until:
            return True
        del self._negative[key]
        return False

    def forget(self, key: str) -> None:
        """Drop a remembered 404 (after a purge or a prefetch)."""
        self._negative.pop(key, None)

    def current(self, key: str) -> Fill | None:
        """The fill running for ``key``, if any."""
        return self._fills.get(key)

    def start(self, key: str) -> Fill:
        """Join the fill of ``key``, starting one if none runs."""
        fill = self._fills.get(key)
        if fill is None:
            fill = self._fills[key] = Fill(key)
            task = asyncio.create_task(self._run(fill), name=f"fill {key}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return fill

    async def close(self) -> None:
        """Stop every fill (shutdown); their temporary files are removed."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, fill: Fill) -> None:
        service = self._metrics.service
        gauge = self._metrics.fills_in_progress.labels(service)
        gauge.inc()
        started = self._monotonic()
        outcome = "failed"
        try:
            outcome = await self._fetch(fill)
            fill._finish(None)
        except asyncio.CancelledError:
            fill._finish(FillFailed(fill.key, "server shutting down"))
            raise
        except ObjectNotFound as exc:
            outcome = "not_found"
            self._negative[fill.key] = self._monotonic() + self._negative_ttl
            while len(self._negative) > NEGATIVE_ENTRIES:
                self._negative.popitem(last=False)
            fill._finish(exc)
        except DeliveryError as exc:
            log.warning("fill of %r failed: %s", fill.key, exc)
            fill._finish(exc)
        finally:
            gauge.dec()
            self._metrics.fills.labels(service, outcome).inc()
            self._metrics.upstream_fetch_seconds.labels(service, outcome).observe(
                self._monotonic() - started
            )
            if self._fills.get(fill.key) is fill:
                del self._fills[fill.key]

    async def _fetch(self, fill: Fill) -> str:
        body = await self.upstream.open(fill.key)
        try:
            temp = await self._make_temp(fill.key, body.meta.size)
            if temp is not None and not await self._write_header(temp, body.meta):
                temp = None
            if temp is None:
                fill.cacheable = False
                fill.meta_ready.set_result(body.meta)
                return "uncacheable"
            try:
                await self._fill_file(fill, body, temp)
            except BaseException:
                self.store.finish(temp)
                with contextlib.suppress(OSError):
                    self.store.discard(temp)
                raise
            finally:
                # Waiters check ``fd`` before dup'ing it; after this they find the
                # published object in the store (or the fill's error) instead.
                fill.fd = -1
                os.close(temp.fd)
            return "cached"
        finally:
            await body.close()

    async def _make_temp(self, key: str, size: int) -> TempObject | None:
        store = self.store
        if not store.healthy:
            return None
        try:
            temp = store.create_temp(key)
        except OSError as exc:
            store.mark_failed(exc, "create")
            return None
        if await store.reserve(temp, size):
            return temp
        os.close(temp.fd)
        store.discard(temp)
        return None

    async def _write_header(self, temp: TempObject, meta: ObjectMeta) -> bool:
        """Start the file; on a disk error give it up (the fill then streams uncached)."""
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, _write_chunk, temp.fd, encode_header(meta), 0, None)
        except OSError as exc:
            self.store.mark_failed(exc, "write")
            self.store.finish(temp)
            os.close(temp.fd)
            with contextlib.suppress(OSError):
                self.store.discard(temp)
            return False
        return True

    async def _fill_file(self, fill: Fill, body: UpstreamBody, temp: TempObject) -> None:
        loop = asyncio.get_running_loop()
        meta = body.meta
        header_size = len(encode_header(meta))
        expected_md5 = md5_of_etag(meta.etag)
        md5 = hashlib.md5(usedforsecurity=False) if expected_md5 else None
        fill.fd = temp.fd
        fill.body_offset = header_size
        fill.meta_ready.set_result(meta)
        pos = 0
        async for chunk in body.chunks():
            try:
                await loop.run_in_executor(
                    None, _write_chunk, temp.fd, chunk, header_size + pos, md5
                )
            except OSError as exc:
                self.store.mark_failed(exc, "write")
                raise DiskFailed(fill.key, f"disk: {exc}") from exc
            pos += len(chunk)
            fill._advance(pos)
        if pos != meta.size:
            raise FillFailed(fill.key, f"upstream sent {pos} of {meta.size} bytes")
        if md5 is not None and md5.hexdigest() != expected_md5:
            raise FillFailed(fill.key, f"MD5 {md5.hexdigest()} does not match ETag {meta.etag}")
        try:
            await loop.run_in_executor(None, os.fsync, temp.fd)
            await loop.run_in_executor(None, self.store.publish, temp, meta)
        except OSError as exc:
            self.store.mark_failed(exc, "publish")
            raise DiskFailed(fill.key, f"disk: {exc}") from exc
        self.store.published(temp, meta)
