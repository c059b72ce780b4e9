"""Single-flight fills: one upstream GET per missing object, streamed to every waiter.

The first request for a missing key starts a ``Fill``; every request for the same key
while it runs joins it (``FillManager.join``, which gives it a ``Seat``). The fill
writes the object into a temporary file and announces its progress; waiters send
from that file (zero-copy) up to what has been written, so the first byte does not
wait for the last. Only a fill whose byte count and MD5 (where the ETag is one) check
out, and which reached the disk (fsync), is published; otherwise the temporary file
is removed and waiters are cut short, so their clients know to retry.

A fill that cannot keep the object (too large for the cache, no room on the disk, the
disk failed before or during the fill) still makes one GET: the body it opened goes to
its waiters through a ``relay.Relay``, a bounded window in memory, checked the same
way before the last byte is let out. A fill nobody reads any more stops there. Other
worker processes read that one body from the worker holding it (``flight``), so such an
object costs one GET for the whole node, as a stored one does.

Every attempt of a fill shares one ``Patience`` (``upstream.fill_deadline``), so a
silent upstream releases its waiters within that time, whatever the retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import hashlib
import logging
import os
import socket
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

from . import flight
from .errors import (
    CorruptObject,
    DeliveryError,
    DiskFailed,
    FillFailed,
    ObjectNotFound,
    UpstreamTimeout,
)
from .metrics import DeliveryMetrics
from .objectfile import HEADER_ALIGN, ObjectMeta, decode_header, encode_header
from .patience import Patience
from .relay import LAG_GRACE, STREAM_WINDOW, Relay, Seat
from .store import DiskStore, TempObject
from .upstream import Upstream, UpstreamBody, md5_of_etag

__all__ = ["Fill", "FillManager", "MovedToMemory"]

log = logging.getLogger("castedge.fill")

#: A part of a piece to write: a chunk as the upstream sent it, or a slice of one.
Buffer = bytes | memoryview

#: Remembered upstream 404s, at most (oldest forgotten first).
NEGATIVE_ENTRIES = 10_000
#: How often a fill run by another worker process is checked for progress. 10 ms
#: keeps a follower's first byte close to the leader's at a negligible cost.
FOLLOW_POLL = 0.01
#: Past the first of its boundaries, a file is written in blocks of this size at offsets
#: that are multiples of it (``_blocks``): the page cache then holds it in folios as
#: large as its own (2 MiB where the filesystem allows), not in pieces the size of the
#: upstream's reads, and every later ``sendfile`` of it walks a few large folios
#: instead of many small ones.
WRITE_BLOCK = 2 * 1024 * 1024
#: Bytes wait no longer than this for the rest of their block: when the upstream is
#: slower, what came is written, so waiters still get each byte soon after it arrives.
WRITE_HOLD = 0.02
#: The most buffers one ``pwritev`` takes (Linux's ``IOV_MAX``).
IOV_MAX = 1024


class MovedToMemory(Exception):
    """The fill's disk failed at byte ``pos``: the rest of the body is on its relay."""

    def __init__(self, pos: int) -> None:
        super().__init__(f"the fill moved to memory at byte {pos}")
        self.pos = pos


class Fill:
    """One object on its way from the upstream into the store (or, failing that, memory)."""

    def __init__(
        self,
        key: str,
        patience: Patience,
        *,
        window: int = STREAM_WINDOW,
        grace: float = LAG_GRACE,
    ) -> None:
        loop = asyncio.get_running_loop()
        self.key = key
        self.patience = patience
        self.meta_ready: asyncio.Future[ObjectMeta] = loop.create_future()
        self.completed: asyncio.Future[None] = loop.create_future()
        self.cacheable = True
        #: Why the object is not kept (``too-large``, ``no-space``, ``disk-failed``).
        self.uncached: str | None = None
        #: Another worker process fills it; this one streams from that fill's file.
        self.followed = False
        self.fd = -1
        self.body_offset = 0
        self.size = 0
        self.written = 0
        #: Where the file stops when the disk failed midway; the rest is on the relay.
        self.disk_end: int | None = None
        self.error: BaseException | None = None
        #: Every waiter's seat; the body goes through it when there is no file to share.
        self.relay = Relay(window=window, grace=grace, clock=loop.time)
        self._first: Seat | None = None
        self._progress = asyncio.Event()
        # Nobody may be waiting on these; retrieving the exception keeps asyncio from
        # logging "exception was never retrieved" for them.
        self.meta_ready.add_done_callback(_consume)
        self.completed.add_done_callback(_consume)

    @property
    def done(self) -> bool:
        """True once the fill has published its object or failed."""
        return self.completed.done()

    @property
    def streaming(self) -> bool:
        """True when the body goes to the waiters from memory only, from its first byte."""
        return self.relay.started and self.disk_end is None

    def seat(self, *, started_it: bool = False) -> Seat:
        """A place for one more waiter (``FillManager.join``); close it when done.

        ``started_it``: this waiter's request is the one that started the fill.
        """
        seat = self.relay.seat()
        if started_it:
            self._first = seat
        return seat

    def collapsed(self, seat: Seat) -> bool:
        """Whether the waiter on ``seat`` shares a fetch someone else started."""
        return self.followed or seat is not self._first

    async def meta(self) -> ObjectMeta:
        """The object's metadata, as soon as the upstream's headers arrive."""
        return await asyncio.shield(self.meta_ready)

    def open_reader(self) -> int | None:
        """A descriptor of its own on the growing file for one waiter, or None once over."""
        return os.dup(self.fd) if self.fd >= 0 else None

    async def readable(self, pos: int) -> int:
        """Wait until byte ``pos`` of the body may be sent; return how many bytes may.

        The last byte is held back until the fill is verified and published: a body
        whose MD5 turns out wrong, or whose filling process dies, never reaches a
        client complete. Raises the fill's error when it failed before ``pos``.
        """
        while True:
            if self.disk_end is not None:
                # The disk failed: the file holds what it held; the rest is on the relay.
                if pos >= self.disk_end:
                    raise MovedToMemory(self.disk_end)
                return self.disk_end
            ok = self.done and self.error is None
            visible = self.written if ok else min(self.written, self.size - 1)
            if visible > pos or self.done:
                break
            event = self._progress
            await event.wait()
        if visible <= pos and self.error is not None:
            raise self.error
        return visible

    def _move_to_memory(self, pos: int) -> None:
        """The disk failed after ``pos`` bytes: the relay takes the body from there."""
        self.cacheable = False
        self.uncached = "disk-failed"
        self.relay.begin(pos, self.size)
        self.disk_end = pos
        self._advance(self.written)

    def _advance(self, written: int) -> None:
        self.written = written
        event, self._progress = self._progress, asyncio.Event()
        event.set()

    def _finish(self, error: BaseException | None) -> None:
        self.error = error
        if not self.meta_ready.done():
            self.meta_ready.set_exception(error or FillFailed(self.key, "no metadata"))
        if self.relay.started and not self.relay.done:
            self.relay.finish(error)
        if error is None:
            self.completed.set_result(None)
        else:
            self.completed.set_exception(error)
        self._advance(self.written)


def _locked(fd: int) -> bool:
    """True while some process holds the exclusive claim on the file behind ``fd``."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def _consume(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


def _write_piece(fd: int, parts: list[Buffer], offset: int, md5: Any) -> int:
    """Write ``parts`` one after another at ``offset``, in one ``pwritev`` as a rule; their size."""
    total = sum(len(part) for part in parts)
    done = os.pwritev(fd, parts, offset) if len(parts) <= IOV_MAX else 0
    if done < total:
        view = memoryview(b"".join(parts))[done:]
        offset += done
        while view:
            n = os.pwrite(fd, view, offset)
            view = view[n:]
            offset += n
    if md5 is not None:
        # Here, in the executor, rather than on the event loop: hashlib lets go of the
        # GIL for large buffers. Only once the piece is on disk, so a write that fails
        # leaves the digest at the bytes the file holds.
        for part in parts:
            md5.update(part)
    return total


async def _blocks(
    chunks: AsyncIterator[bytes], offset: int, hold: float = WRITE_HOLD
) -> AsyncGenerator[list[Buffer], None]:
    """The upstream's ``chunks`` regrouped into the pieces to write from file ``offset`` on.

    Up to the first ``WRITE_BLOCK`` boundary each chunk is a piece of its own, so the
    first bytes wait for nothing; after it a piece ends on a boundary, unless the next
    chunk is more than ``hold`` seconds away, and then what was held goes out at once.
    A piece is a list of buffers (parts of chunks, not copies), written by one call.
    """
    loop = asyncio.get_running_loop()
    first_boundary = offset - offset % WRITE_BLOCK + WRITE_BLOCK
    parts: list[Buffer] = []
    held = 0  # bytes in parts
    since = 0.0  # when the oldest of them came
    reading: asyncio.Future[bytes | None] | None = None
    try:
        while True:
            if parts:
                if reading is None:
                    reading = asyncio.ensure_future(anext(chunks, None))
                left = since + hold - loop.time()
                if left > 0:
                    await asyncio.wait((reading,), timeout=left)
                if not reading.done():
                    yield parts  # the upstream is slow: no waiting for the rest
                    offset += held
                    parts, held = [], 0
                    continue
                try:
                    chunk = reading.result()
                except Exception:
                    reading = None
                    if parts:
                        yield parts  # what came before the failure reaches the waiters
                    raise
                reading = None
            elif reading is not None:
                chunk = await reading
                reading = None
            else:
                chunk = await anext(chunks, None)
            if chunk is None:
                break
            if not parts:
                since = loop.time()
            end = offset + held + len(chunk)
            if end < first_boundary:
                yield [chunk]
                offset = end
                continue
            boundary = end - end % WRITE_BLOCK
            if boundary <= offset:
                parts.append(chunk)
                held += len(chunk)
                continue
            take = boundary - offset - held  # 0 < take <= len(chunk)
            rest = memoryview(chunk)[take:] if take < len(chunk) else None
            parts.append(chunk if rest is None else memoryview(chunk)[:take])
            yield parts
            offset = boundary
            parts = [rest] if rest is not None else []
            held = len(rest) if rest is not None else 0
            since = loop.time()
        if parts:
            yield parts
    finally:
        if reading is not None:
            if not reading.done():
                reading.cancel()
                await asyncio.wait((reading,))
            _consume(reading)


async def _flattened(
    first: list[Buffer], pieces: AsyncIterator[list[Buffer]]
) -> AsyncIterator[bytes]:
    """``first`` and the ``pieces`` after it, one buffer at a time, as bytes."""
    for part in first:
        yield bytes(part)
    async for piece in pieces:
        for part in piece:
            yield bytes(part)


def _md5_for(meta: ObjectMeta) -> Any:
    """A running MD5 when the ETag is one to check the body against, else None."""
    return hashlib.md5(usedforsecurity=False) if md5_of_etag(meta.etag) else None


def _check_body(key: str, meta: ObjectMeta, received: int, md5: Any) -> None:
    """Raise FillFailed unless the body was whole and its MD5 matches the ETag."""
    if received != meta.size:
        raise FillFailed(key, f"upstream sent {received} of {meta.size} bytes")
    expected = md5_of_etag(meta.etag)
    if md5 is not None and md5.hexdigest() != expected:
        raise FillFailed(key, f"MD5 {md5.hexdigest()} does not match ETag {meta.etag}")


class FillManager:
    """Runs fills, at most one per key, and remembers upstream 404s for a while."""

    def __init__(
        self,
        store: DiskStore,
        upstream: Upstream,
        metrics: DeliveryMetrics,
        *,
        negative_ttl: float = 10.0,
        fill_deadline: float = 60.0,
        stream_window: int = STREAM_WINDOW,
        lag_grace: float = LAG_GRACE,
        share_streams: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.upstream = upstream
        self._metrics = metrics
        self._negative_ttl = negative_ttl
        self._fill_deadline = fill_deadline
        # The worker it follows gives up within its own fill deadline; waiting a little
        # longer than that for it never cuts a fill that is still allowed to go on.
        self._stall_timeout = fill_deadline + 1.0
        self._stream_window = stream_window
        self._lag_grace = lag_grace
        self._monotonic = monotonic
        #: Where the node's flights are named from (``flight``); None: never shared.
        self._flight_root = store.root if share_streams else None
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

    def running(self, key: str) -> bool:
        """Whether a fill of ``key`` runs in this process (a request would join it)."""
        return key in self._fills

    def start(self, key: str) -> Fill:
        """The fill of ``key``, started if none runs (a prefetch: nobody waits on its body)."""
        fill = self._fills.get(key)
        if fill is None:
            patience = Patience(self._fill_deadline)
            fill = self._fills[key] = Fill(
                key, patience, window=self._stream_window, grace=self._lag_grace
            )
            task = asyncio.create_task(self._run(fill), name=f"fill {key}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return fill

    def join(self, key: str) -> tuple[Fill, Seat]:
        """Join the fill of ``key`` (starting one if none runs) as a waiter for its body.

        Close the seat when the answer is written: a fill that streams from memory
        keeps its window for open seats, and stops once none is left.
        """
        started_it = key not in self._fills
        fill = self.start(key)
        return fill, fill.seat(started_it=started_it)

    def waiters(self, key: str) -> int:
        """How many requests wait on the fill of ``key`` now (0 when none runs)."""
        fill = self._fills.get(key)
        return len(fill.relay) if fill is not None else 0

    def _retire(self, fill: Fill) -> None:
        """Take ``fill`` off the table: the next request for its key starts another."""
        if self._fills.get(fill.key) is fill:
            del self._fills[fill.key]

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
        except Exception as exc:
            # A bug or an unexpected OS error must still release every waiter.
            log.exception("fill of %r failed unexpectedly", fill.key)
            fill._finish(FillFailed(fill.key, f"internal error: {type(exc).__name__}"))
        finally:
            gauge.dec()
            self._metrics.fills.labels(service, outcome).inc()
            self._metrics.upstream_fetch_seconds.labels(service, outcome).observe(
                self._monotonic() - started
            )
            self._retire(fill)

    async def _fetch(self, fill: Fill) -> str:
        loop = asyncio.get_running_loop()
        store = self.store
        # Told by the worker leading the flight to fetch by ourselves.
        alone = False
        for _ in range(3):
            temp: TempObject | None = None
            if store.healthy:
                try:
                    temp = await loop.run_in_executor(None, store.claim, fill.key)
                except OSError as exc:
                    store.mark_failed(exc, "claim")
                else:
                    if temp is None:
                        # Another worker process fills it: stream from its file.
                        began = self._monotonic()
                        outcome = await self._follow(fill)
                        if outcome is not None:
                            return outcome
                        # It gave up before the first byte: try ourselves, with the
                        # patience that waiting for it left.
                        fill.patience.lose(self._monotonic() - began)
                        continue
                    if self._adopt_published(fill):
                        await loop.run_in_executor(None, self._give_up, temp)
                        return "cached"
            lead = None
            if self._flight_root is not None and not alone:
                claimed = flight.claim(flight.flight_name(self._flight_root, fill.key))
                if isinstance(claimed, flight.Peer):
                    # Another worker streams it from memory: read it from that worker.
                    if temp is not None:
                        await loop.run_in_executor(None, self._give_up, temp)
                    began = self._monotonic()
                    try:
                        outcome = await self._follow_peer(fill, claimed)
                    finally:
                        claimed.close()
                    if outcome in ("followed", "uncacheable"):
                        return outcome
                    if outcome == "behind":
                        self._metrics.solo("behind")
                        alone = True
                    elif outcome == "file" and not store.healthy:
                        # It stores the object; our own disk cannot follow its file.
                        alone = True
                    fill.patience.lose(self._monotonic() - began)
                    continue
                lead = claimed
            return await self._lead(fill, temp, lead)
        raise FillFailed(fill.key, "the fill kept changing hands")

    async def _follow_peer(self, fill: Fill, peer: flight.Peer) -> str | None:
        """Stream the body another worker reads from the upstream into this fill's relay.

        ``followed`` once it arrived whole; ``file`` (it is stored: follow the file),
        ``behind`` (its window has moved on: fetch by ourselves) or None (it went away
        before it began) when there is nothing to follow.
        """
        first = await peer.first(fill.key, self._stall_timeout)
        if first is None or isinstance(first, str):
            return first
        meta, uncached = first
        relay = fill.relay
        fill.size = meta.size
        fill.cacheable = False
        fill.uncached = uncached
        fill.followed = True
        relay.begin(0, meta.size)
        fill.meta_ready.set_result(meta)
        pos = 0
        try:
            async for chunk in peer.chunks(fill.key, self._stall_timeout):
                pos += len(chunk)
                if not await relay.put(chunk):
                    self._retire(fill)
                    relay.finish(FillFailed(fill.key, "nobody left to read it"))
                    return "uncacheable"
        except flight.LetGo as exc:
            # Our clients held the leader back (or came too late): each fetches the
            # rest by itself, counted, instead of being cut short.
            relay.abandon(exc.reason)
            raise FillFailed(fill.key, str(exc)) from exc
        if pos != meta.size:
            raise FillFailed(fill.key, f"the worker streaming it sent {pos} of {meta.size} bytes")
        return "followed"

    def _serve_peer(self, fill: Fill, conn: socket.socket) -> None:
        """Give another worker that follows this fill's flight a seat on its relay."""
        seat = fill.seat()

        def uncached() -> str | None:
            return fill.uncached if fill.streaming else None

        task = asyncio.create_task(
            flight.serve_peer(conn, seat, fill.meta_ready, uncached), name=f"flight {fill.key}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _adopt_published(self, fill: Fill) -> bool:
        """True (with the metadata set) if another process published the object meanwhile."""
        handle = self.store.lookup(fill.key)
        if handle is None:
            return False
        fill.size = handle.meta.size
        fill.meta_ready.set_result(handle.meta)
        self.store.release(handle)
        return True

    def _give_up(self, temp: TempObject) -> None:
        """Drop a claimed temporary file: unlink while still holding its lock, then close."""
        with contextlib.suppress(OSError):
            self.store.discard(temp)
        os.close(temp.fd)

    async def _lead(self, fill: Fill, temp: TempObject | None, lead: flight.Lead | None) -> str:
        """Fetch the object ourselves; other workers that follow ``lead`` share its body."""
        if lead is not None:
            lead.start(functools.partial(self._serve_peer, fill))
        try:
            return await self._lead_body(fill, temp)
        finally:
            if lead is not None:
                await lead.close()

    async def _lead_body(self, fill: Fill, temp: TempObject | None) -> str:
        loop = asyncio.get_running_loop()
        try:
            if fill.patience.exhausted:
                raise UpstreamTimeout(f"fetching {fill.key!r}", seconds=fill.patience.limit)
            body = await self.upstream.open(fill.key, patience=fill.patience)
        except BaseException:
            if temp is not None:
                await loop.run_in_executor(None, self._give_up, temp)
            raise
        try:
            meta = body.meta
            if temp is not None and not await self._start_file(temp, meta):
                temp = None
                fill.uncached = self._why_not(meta)
            if temp is None:
                fill.cacheable = False
                fill.uncached = fill.uncached or "disk-failed"
                fill.size = meta.size
                fill.relay.begin(0, meta.size)
                fill.meta_ready.set_result(meta)
                await self._relay(fill, meta, body.chunks(), 0, _md5_for(meta))
                return "uncacheable"
            try:
                return await self._fill_file(fill, body, temp)
            except BaseException:
                if fill.disk_end is None:  # else dropped when the disk failed
                    self._drop_file(temp)
                raise
            finally:
                # Waiters check ``fd`` before dup'ing it; after this they find the
                # published object in the store (or the fill's error) instead.
                fill.fd = -1
                os.close(temp.fd)
        finally:
            await body.close()

    def _why_not(self, meta: ObjectMeta) -> str:
        """Why the store would not take an object: its size, the disk's room, or the disk."""
        if not self.store.healthy:
            return "disk-failed"
        return "too-large" if meta.size > self.store.max_size else "no-space"

    def _drop_file(self, temp: TempObject) -> None:
        """Release an unpublished fill's reservation and remove its file (cheap)."""
        self.store.finish(temp)
        with contextlib.suppress(OSError):
            self.store.discard(temp)

    async def _start_file(self, temp: TempObject, meta: ObjectMeta) -> bool:
        """Reserve room and write the header; False gives the file up (stream uncached)."""
        loop = asyncio.get_running_loop()
        if await self.store.reserve(temp, meta.size):
            try:
                header: list[Buffer] = [encode_header(meta)]
                await loop.run_in_executor(None, _write_piece, temp.fd, header, 0, None)
                return True
            except OSError as exc:
                self.store.mark_failed(exc, "write")
            self.store.finish(temp)
        await loop.run_in_executor(None, self._give_up, temp)
        return False

    async def _follow(self, fill: Fill) -> str | None:
        """Serve waiters from another process's fill; None if it gave up before starting."""
        store = self.store
        part = store.part_path(fill.key)
        deadline = self._monotonic() + self._stall_timeout
        while True:
            if self._adopt_published(fill):
                return "cached"
            try:
                fd = os.open(part, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                return None
            try:
                meta, body_offset = decode_header(os.pread(fd, HEADER_ALIGN, 0))
                break
            except CorruptObject:
                abandoned = not _locked(fd)
                os.close(fd)
                if abandoned:
                    return None
            if self._monotonic() > deadline:
                raise FillFailed(fill.key, "the worker filling it wrote nothing")
            await asyncio.sleep(FOLLOW_POLL)
        fill.fd, fill.body_offset, fill.size = fd, body_offset, meta.size
        fill.followed = True
        fill.meta_ready.set_result(meta)
        final = store.path_for(fill.key)
        last_change = self._monotonic()
        try:
            while True:
                st = os.fstat(fd)
                written = max(0, min(st.st_size - body_offset, meta.size))
                if written != fill.written:
                    fill._advance(written)
                    last_change = self._monotonic()
                if not _locked(fd):
                    try:
                        published = os.stat(final).st_ino == st.st_ino
                    except FileNotFoundError:
                        published = False
                    if published and written == meta.size:
                        return "followed"
                    raise FillFailed(fill.key, "the worker filling it stopped")
                if self._monotonic() - last_change > self._stall_timeout:
                    raise FillFailed(fill.key, "the worker filling it stalled")
                await asyncio.sleep(FOLLOW_POLL)
        finally:
            fill.fd = -1
            os.close(fd)

    async def _fill_file(self, fill: Fill, body: UpstreamBody, temp: TempObject) -> str:
        loop = asyncio.get_running_loop()
        meta = body.meta
        header_size = len(encode_header(meta))
        md5 = _md5_for(meta)
        fill.fd = temp.fd
        fill.body_offset = header_size
        fill.size = meta.size
        fill.meta_ready.set_result(meta)
        pos = 0
        async with contextlib.aclosing(_blocks(body.chunks(), header_size)) as pieces:
            async for piece in pieces:
                try:
                    pos += await loop.run_in_executor(
                        None, _write_piece, temp.fd, piece, header_size + pos, md5
                    )
                except OSError as exc:
                    self.store.mark_failed(exc, "write")
                    # The disk gave up, the upstream did not: the waiters get the rest of
                    # this same body from memory instead of a GET each.
                    log.warning(
                        "disk failed filling %r at byte %d (%s); streaming the rest",
                        fill.key,
                        pos,
                        exc,
                    )
                    # Unlocked and unlinked now, so a worker following this file stops
                    # at once.
                    self._drop_file(temp)
                    with contextlib.suppress(OSError):
                        fcntl.flock(temp.fd, fcntl.LOCK_UN)
                    fill._move_to_memory(pos)
                    await self._relay(fill, meta, _flattened(piece, pieces), pos, md5)
                    return "uncacheable"
                fill._advance(pos)
        _check_body(fill.key, meta, pos, md5)
        try:
            await loop.run_in_executor(None, os.fsync, temp.fd)
            await self.store.publish(temp, meta)
        except OSError as exc:
            self.store.mark_failed(exc, "publish")
            raise DiskFailed(fill.key, f"disk: {exc}") from exc
        self.store.published(temp, meta)
        return "cached"

    async def _relay(
        self,
        fill: Fill,
        meta: ObjectMeta,
        chunks: AsyncIterator[bytes],
        pos: int,
        md5: Any,
    ) -> None:
        """Pass the body from ``pos`` on through the fill's relay to whoever reads it."""
        relay = fill.relay
        if not len(relay):
            # Nobody waits for the body (a prefetch, or HEADs): no reason to read it.
            self._retire(fill)
            relay.finish(FillFailed(fill.key, "nobody left to read it"))
            return
        async for chunk in chunks:
            if md5 is not None:
                md5.update(chunk)
            pos += len(chunk)
            if not await relay.put(chunk):
                # Every reader left: stop reading. Off the table at once, so a request
                # that comes now starts a fill of its own instead of joining this one.
                self._retire(fill)
                relay.finish(FillFailed(fill.key, "nobody left to read it"))
                return
        _check_body(fill.key, meta, pos, md5)
