"""Shared streams: one upstream body, read once, sent to every waiter of a fill from memory.

A fill that cannot write its object to disk (too large for the cache, no room on the
filesystem, the disk failed) has no file for its waiters to follow. It reads the body
into a ``Relay`` instead: a window of the most recent bytes, at most ``window`` of
them (kept even once read, so a waiter that comes late still finds them), that every
waiter (a ``Seat``) reads from at its own position. A fill whose disk fails midway
moves to a relay from the byte where the file stops.

The stream moves at the pace of its slowest reader, who holds back the bytes the
others have already sent: memory stays within one window (and a chunk) per object,
and a client is never outrun by the stream it shares. A reader may hold it back for
``grace`` seconds in all; a reader slower than that is *detached* (``Detached``, reason
``slow``) and fetches the rest on its own, so one stalled client cannot stall the rest.
A waiter that comes when the bytes it needs have left the window is told so too
(reason ``behind``). Those are the only ways one object costs more than one upstream
GET; the caller counts them.

The last byte of the object is held back until the producer says the whole body
arrived and checked out (``finish``), as a fill holds back the last byte of its file: a
body cut short or with a wrong MD5 never reaches a client complete.

Readers and the producer run on one event loop; nothing here does I/O.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable

__all__ = ["LAG_GRACE", "STREAM_WINDOW", "Detached", "Relay", "Seat"]

#: Bytes of a shared stream held in memory at most (plus one chunk): a few seconds of a
#: fast client, and the same span a ranged request may start ahead of a fill and still
#: wait for it (``serve.FOLLOW_WINDOW``).
STREAM_WINDOW = 8 * 1024 * 1024
#: Seconds one reader may hold a shared stream back, in all, before it is detached. A
#: client keeping up with a quarter of the others' pace stays on for many windows;
#: one that stops reading costs the others at most this.
LAG_GRACE = 2.0


class Detached(Exception):
    """This reader left the shared stream at ``pos``: it fetches the rest by itself."""

    def __init__(self, pos: int, reason: str) -> None:
        super().__init__(f"left the shared stream at byte {pos}: {reason}")
        self.pos = pos
        #: ``behind`` (the bytes it needs were gone) or ``slow`` (it held the stream back).
        self.reason = reason


class Seat:
    """One waiter's place on a relay: where it reads, and how long it held the others."""

    __slots__ = ("_relay", "closed", "detached", "lag", "pos")

    def __init__(self, relay: Relay) -> None:
        self._relay = relay
        #: The next byte this reader wants; None until it starts reading, and until
        #: then it keeps every byte the relay holds.
        self.pos: int | None = None
        #: Seconds this reader kept the producer waiting for room.
        self.lag = 0.0
        self.detached: str | None = None
        self.closed = False

    def position(self, pos: int) -> None:
        """Start reading at byte ``pos``; raises Detached when those bytes are gone."""
        relay = self._relay
        if self.detached is None and not relay.holds(pos):
            self.detached = "behind"
        if self.detached is not None:
            self.close()
            raise Detached(pos, self.detached)
        self.pos = pos

    async def read(self, limit: int) -> memoryview:
        """Up to ``limit`` bytes from ``pos`` on, as soon as there are some; advances ``pos``.

        Raises Detached when this reader was let go, or the producer's error once the
        stream ended before ``pos``.
        """
        relay = self._relay
        if self.pos is None:
            raise RuntimeError("position() first")
        while True:
            if self.detached is not None:
                self.close()
                raise Detached(self.pos, self.detached)
            visible = relay.visible
            if visible > self.pos:
                data = relay._slice(self.pos, min(limit, visible - self.pos))
                self.pos += len(data)
                relay._moved()
                return data
            if relay.done:
                raise relay.error or EOFError("the stream ended before the byte wanted")
            await relay._wait_data()

    def close(self) -> None:
        """This reader needs nothing more: stop keeping bytes for it."""
        if not self.closed:
            self.closed = True
            self._relay._leave(self)


class Relay:
    """The window of a body on its way through: what it holds, who reads it, how it ended."""

    def __init__(
        self,
        *,
        window: int = STREAM_WINDOW,
        grace: float = LAG_GRACE,
        clock: Callable[[], float],
    ) -> None:
        #: The whole object's size (known at ``begin``).
        self.size = 0
        self.window = window
        self.grace = grace
        self._clock = clock
        #: The first byte still held, and the end of what arrived.
        self.base = 0
        self.head = 0
        self.started = False
        self.done = False
        self.verified = False
        self.error: BaseException | None = None
        #: Readers let go for holding the stream back.
        self.detached = 0
        self._chunks: collections.deque[tuple[int, bytes]] = collections.deque()
        self._seats: set[Seat] = set()
        self._data = asyncio.Event()
        self._room = asyncio.Event()
        self._wants_room = False

    def __len__(self) -> int:
        """Readers still on the stream (or waiting to start reading)."""
        return len(self._seats)

    @property
    def held(self) -> int:
        """Bytes in memory now."""
        return self.head - self.base

    @property
    def visible(self) -> int:
        """The end of what readers may send: the last byte waits for ``finish``."""
        if self.verified:
            return self.head
        return min(self.head, self.size - 1)

    def holds(self, pos: int) -> bool:
        """Whether a reader starting at byte ``pos`` now would find it (or it is to come)."""
        self._trim()
        return pos >= self.base

    def seat(self) -> Seat:
        """A place for a new waiter; it keeps the window where it is until it reads."""
        if self.started:
            self._trim()
        seat = Seat(self)
        self._seats.add(seat)
        return seat

    # -- the producer ----------------------------------------------------------------

    def begin(self, start: int, size: int) -> None:
        """The stream starts at byte ``start`` of an object of ``size`` bytes.

        ``start`` is 0, or where the file of a fill whose disk failed stops.
        """
        self.size = size
        self.base = self.head = start
        self.started = True

    async def put(self, chunk: bytes) -> bool:
        """Hand the next bytes to the readers; False once nobody is left to read them.

        Waits while the window is full for the slowest readers, and detaches any that
        held it back for ``grace`` in all.
        """
        if chunk:
            self._chunks.append((self.head, chunk))
            self.head += len(chunk)
            self._wake_readers()
        self._trim()
        while self._seats and self.held > self.window:
            await self._wait_room()
            self._trim()
        return bool(self._seats)

    def finish(self, error: BaseException | None) -> None:
        """The body is over: whole and checked (None), or failed with ``error``."""
        self.done = True
        self.error = error
        self.verified = error is None and self.head == self.size
        self._wake_readers()

    def abandon(self, reason: str) -> None:
        """Let every reader go (``Detached`` with ``reason``): the stream goes no further.

        A follower worker does this when the worker it relays from lets it go: each of
        its clients then fetches the rest by itself, rather than being cut short.
        """
        for seat in self._seats:
            if seat.detached is None:
                seat.detached = reason
                self.detached += 1
        self._seats.clear()
        self._wake_readers()

    # -- inside ----------------------------------------------------------------------

    def _slice(self, pos: int, length: int) -> memoryview:
        for start, data in self._chunks:
            end = start + len(data)
            if start <= pos < end:
                offset = pos - start
                return memoryview(data)[offset : offset + min(length, end - pos)]
        raise LookupError(f"byte {pos} is not held (window {self.base}-{self.head})")

    def _trim(self) -> None:
        """Drop the chunks every reader has passed, once the window needs their room.

        What nobody needs any more is kept while it fits in the window, so a waiter that
        comes a moment late (another worker's, most often) still starts at byte 0.
        """
        keep = min((self.base if s.pos is None else s.pos for s in self._seats), default=self.head)
        chunks = self._chunks
        while (
            chunks
            and chunks[0][0] + len(chunks[0][1]) <= keep
            and self.head - chunks[0][0] > self.window
        ):
            chunks.popleft()
        self.base = chunks[0][0] if chunks else self.head

    def _at_the_back(self) -> list[Seat]:
        first_end = self._chunks[0][0] + len(self._chunks[0][1]) if self._chunks else self.head
        return [s for s in self._seats if s.pos is None or s.pos < first_end]

    async def _wait_room(self) -> None:
        laggards = self._at_the_back()
        if not laggards:
            return
        patience = self.grace - max(s.lag for s in laggards)
        began = self._clock()
        if patience > 0:
            self._room.clear()
            self._wants_room = True
            try:
                async with asyncio.timeout(patience):
                    await self._room.wait()
            except TimeoutError:
                pass
            finally:
                self._wants_room = False
        waited = self._clock() - began
        for seat in self._at_the_back():
            if seat in laggards:
                seat.lag += waited
            if seat.lag >= self.grace and seat.detached is None:
                # It keeps its seat's position for the Detached it is about to get.
                seat.detached = "slow"
                self.detached += 1
                self._seats.discard(seat)
                self._wake_readers()

    def _moved(self) -> None:
        if self._wants_room:
            self._room.set()

    def _leave(self, seat: Seat) -> None:
        self._seats.discard(seat)
        self._moved()

    async def _wait_data(self) -> None:
        await self._data.wait()

    def _wake_readers(self) -> None:
        event, self._data = self._data, asyncio.Event()
        event.set()
