"""How long sending one response may stall, and last in all, and how a late one is cut.

A listener's connections (``runtime.connections``) give each response a ``Deadline``
and keep it on the protocol, where every body writer finds it from its transport
(``deadline_of``): the zero-copy path, the TLS copy and aiohttp's own writes all obey
the same limits, whoever built the response. A connection of a plain aiohttp server
gets nginx's default ``send_timeout`` and no cap.

"Progress" is the client taking bytes: nginx's ``send_timeout`` is a timer between two
successive writes, not one for the whole response
(https://nginx.org/en/docs/http/ngx_http_core_module.html#send_timeout), and here a
write also counts as progress what the client's TCP acknowledged meanwhile
(``delivery.acked``), so a reader slow enough that the kernel never wakes the writer
within ``send_timeout`` is still not cut while it reads. A reader at 0 B/s is.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .acked import acknowledged

__all__ = [
    "SEND_TIMEOUT",
    "Deadline",
    "DeadlineExpired",
    "cut",
    "deadline_of",
    "progress_of",
    "progressing",
]

T = TypeVar("T")

#: nginx's default send_timeout, for connections no listener gave a deadline.
SEND_TIMEOUT = 60.0

#: How often a wait for a buffer to drain looks at it, as a share of ``send_timeout``:
#: a stall is noticed between 1 and 1.25 times ``send_timeout`` after the last progress.
_LOOKS = 4


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
    if transport.is_closing():
        # Cut already, or closing: nothing of its socket is left to reach.
        transport.abort()
        return
    with contextlib.suppress(OSError, ValueError):
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
    transport.abort()


def progress_of(transport: asyncio.Transport) -> Callable[[], int]:
    """A count that grows while the client takes bytes from ``transport``.

    What its TCP acknowledged, where the kernel says; elsewhere, less what our own
    buffer still holds.
    """
    sock: Any = transport.get_extra_info("socket")
    if sock is not None and acknowledged(sock) is not None:
        return lambda: acknowledged(sock) or 0
    return lambda: -transport.get_write_buffer_size()


async def progressing(
    deadline: Deadline,
    waiting: Awaitable[T],
    moved: Callable[[], int],
    loop: asyncio.AbstractEventLoop,
) -> T:
    """Await ``waiting`` while ``moved()`` (see ``progress_of``) keeps growing.

    Raises DeadlineExpired when it stays put for the deadline's ``send_timeout``, or
    when its response must have ended; ``waiting`` is then cancelled.
    """
    task = asyncio.ensure_future(waiting)
    try:
        mark = moved()
        since = loop.time()
        while True:
            now = loop.time()
            wait, timeout = deadline.wait(now, since)
            if wait <= 0:
                raise deadline.expire(timeout)
            done, _ = await asyncio.wait((task,), timeout=min(wait, deadline.send_timeout / _LOOKS))
            if done:
                return task.result()
            now_moved = moved()
            if now_moved > mark:
                mark, since = now_moved, loop.time()
    finally:
        if not task.done():
            task.cancel()
