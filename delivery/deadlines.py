"""How long sending one response may stall, and last in all, and how a late one is cut.

A listener's connections (``runtime.connections``) give each response a ``Deadline``
and keep it on the protocol, where every body writer finds it from its transport
(``deadline_of``): the zero-copy path, the TLS copy and aiohttp's own writes all obey
the same limits, whoever built the response. A connection of a plain aiohttp server
gets nginx's default ``send_timeout`` and no cap.

"Progress" is the client taking bytes. nginx's ``send_timeout`` is a timer between two
successive writes, not one for the whole response
(https://nginx.org/en/docs/http/ngx_http_core_module.html#send_timeout); here, beside
each write, what the client's TCP acknowledged (``delivery.acked``) counts too, looked
at a few times a ``send_timeout``, so a reader too slow for the kernel to wake the
writer within ``send_timeout`` is not cut while it reads. A reader at 0 B/s is, between
1 and 1.25 ``send_timeout`` after the last byte it took.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .acked import acknowledged, on_the_wire

__all__ = [
    "LOOKS",
    "SEND_TIMEOUT",
    "Deadline",
    "DeadlineExpired",
    "cut",
    "Progress",
    "deadline_of",
    "progressing",
]

T = TypeVar("T")

#: nginx's default send_timeout, for connections no listener gave a deadline.
SEND_TIMEOUT = 60.0

#: How many times a send_timeout a wait looks at what the client took: a stall is
#: noticed between 1 and 1.25 times ``send_timeout`` after the client's last byte.
LOOKS = 4


class DeadlineExpired(ConnectionResetError):
    """A response was cut: no progress for ``send_timeout``, or past ``response_timeout``.

    A ConnectionResetError, so every writer that already handles a client going away
    (closing the response short, crediting the bytes the client acknowledged) handles
    this the same way.
    """

    def __init__(self, timeout: str, seconds: float) -> None:
        what = "no progress for" if timeout == "send_timeout" else "still sending after"
        super().__init__(f"{timeout}: {what} {seconds:g} s")
        #: "send_timeout" or "response_timeout", as the settings name them.
        self.timeout = timeout
        self.seconds = seconds


class Deadline:
    """One response's limits: seconds without progress, and seconds in all from ``started``.

    ``started`` is a loop time (when the request arrived); ``on_expired`` hears, once,
    which limit ran out (the listener counts it).
    """

    __slots__ = ("_on_expired", "ends", "expired", "response_timeout", "send_timeout")

    def __init__(
        self,
        send_timeout: float,
        response_timeout: float | None = None,
        *,
        started: float = 0.0,
        on_expired: Callable[[str], None] | None = None,
    ) -> None:
        self.send_timeout = send_timeout
        self.response_timeout = response_timeout
        #: The loop time by which the response must have ended, if any.
        self.ends = None if response_timeout is None else started + response_timeout
        self._on_expired = on_expired
        #: The limit that ran out, once one has.
        self.expired: str | None = None

    def wait(self, now: float, since: float) -> tuple[float, str]:
        """How long a wait for progress begun at ``now`` may last, and which limit ends it.

        ``since`` is when the response last made progress. A result of 0 or less means
        that limit has already run out.
        """
        stalled = since + self.send_timeout - now
        if self.ends is not None and self.ends - now < stalled:
            return self.ends - now, "response_timeout"
        return stalled, "send_timeout"

    def expire(self, timeout: str) -> DeadlineExpired:
        """Record that ``timeout`` ran out (told to the listener once); the error to raise."""
        if self.expired is None:
            self.expired = timeout
            if self._on_expired is not None:
                self._on_expired(timeout)
        if timeout == "response_timeout" and self.response_timeout is not None:
            return DeadlineExpired(timeout, self.response_timeout)
        return DeadlineExpired(timeout, self.send_timeout)


def deadline_of(transport: asyncio.BaseTransport) -> Deadline:
    """The deadline of the response being sent on ``transport`` (see the module's doc)."""
    found = getattr(transport.get_protocol(), "deadline", None)
    return found if isinstance(found, Deadline) else Deadline(SEND_TIMEOUT)


# struct linger {int l_onoff; int l_linger;}: on, zero seconds.
_RESET = struct.pack("ii", 1, 0)


def cut(transport: asyncio.Transport) -> None:
    """Close a connection with a reset, so what it still holds is dropped at once.

    A plain close would wait for a client that reads nothing to take the bytes queued
    for it, in our buffers and the kernel's, for as long as it keeps its window shut
    (nginx's ``reset_timedout_connection`` does the same).
    """
    # A transport cut already has no socket left to reach (uvloop raises ValueError).
    with contextlib.suppress(OSError, ValueError):
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
    transport.abort()


class Progress:
    """Tells, look after look, whether the client has taken bytes since the last look.

    It has when its TCP acknowledged more than was on the wire at the last look
    (``delivery.acked``): bytes in flight when a reader stopped are acknowledged after
    it stopped, and show nothing. Where the kernel cannot say, when our transport's
    own buffer shrank instead.
    """

    __slots__ = ("_mark", "_sock", "_transport")

    def __init__(self, transport: asyncio.Transport, sock: Any = None) -> None:
        self._transport = transport
        if sock is None:
            with contextlib.suppress(OSError, ValueError):
                sock = transport.get_extra_info("socket")
        wire = on_the_wire(sock) if sock is not None else None
        self._sock = sock if wire is not None else None
        self._mark = wire if wire is not None else transport.get_write_buffer_size()

    def moved(self) -> bool:
        """Whether the client took bytes since the last look (or since this was made)."""
        if self._sock is None:
            left = self._transport.get_write_buffer_size()
            moved, self._mark = left < self._mark, left
            return moved
        acked = acknowledged(self._sock)
        if acked is None or acked <= self._mark:
            return False
        self._mark = on_the_wire(self._sock) or acked
        return True


async def progressing(
    deadline: Deadline,
    waiting: Awaitable[T],
    progress: Progress,
    loop: asyncio.AbstractEventLoop,
) -> T:
    """Await ``waiting`` while the client keeps taking bytes (see ``Progress``).

    Raises DeadlineExpired when it takes none for the deadline's ``send_timeout``, or
    when its response must have ended; ``waiting`` is then cancelled.
    """
    task = asyncio.ensure_future(waiting)
    try:
        since = loop.time()
        while True:
            wait, timeout = deadline.wait(loop.time(), since)
            if wait <= 0:
                raise deadline.expire(timeout)
            done, _ = await asyncio.wait((task,), timeout=min(wait, deadline.send_timeout / LOOKS))
            if done:
                return task.result()
            if progress.moved():
                since = loop.time()
    finally:
        if not task.done():
            task.cancel()
