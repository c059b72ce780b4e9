"""Zero-copy body writing: ``os.sendfile`` straight onto the client socket.

uvloop has no zero-copy ``loop.sendfile`` (aiohttp then falls back to reading the file
into buffers), and the stock loop's version costs a thread hop per request for
``stat``/``open``. Here the caller already holds an open descriptor, so a hit is:
headers through the transport, then ``os.sendfile`` on the socket in the event-loop
thread until the kernel's send buffer is full, then one ``sendfile`` each time the
socket turns writable, made by the loop's writer callback itself (``_Pump``, as
nginx's event handler does), until the span is sent. A span that is all on disk is
sent corked (``cork``, nginx's ``tcp_nopush``), so it leaves in whole segments.

Neither asyncio nor uvloop lets ``add_writer`` watch a descriptor a transport owns,
so the writer is registered on a ``dup`` of the socket: the same open socket under a
second number, which epoll keys separately. The wait lasts at most the response's
``send_timeout`` since the client last took a byte (``delivery.deadlines``): a client
that stops reading is cut, and its connection and open file freed.

Over TLS, unless the kernel encrypts (``tls.handoff``, where the machine has kernel
TLS), the bytes must pass through OpenSSL: the range is read with ``pread`` in large
chunks and written through the TLS transport, with aiohttp's flow control between chunks. Never
``loop.sendfile`` on a TLS transport: asyncio falls back to a slow copy there, and
raises inside its ``sslproto`` when a client disconnects mid-body. The write waits in
aiohttp's drain, which the listener's protocol bounds by the same deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
from collections.abc import Awaitable, Callable

from .acked import acknowledged, stream_offset
from .deadlines import LOOKS, Deadline, Progress, cut, deadline_of

__all__ = ["CLIENT_GONE", "SMALL_BODY", "BodyCutShort", "cork", "send_range"]

#: Hit bodies up to this size are read with one ``pread`` and sent with their headers
#: in one write (``serve``): for a ``Range: bytes=0-1`` probe that beats a dup plus
#: sendfile, and nginx also copies small responses. 64 KiB fits in a fresh socket's
#: send buffer.
SMALL_BODY = 64 * 1024

#: Bytes read and handed to OpenSSL at a time over TLS, and what the TLS transport may
#: hold before the writer waits. uvloop lets it hold 512 KiB
#: (FLOW_CONTROL_HIGH_WATER_SSL_WRITE), and a client that stops reading then pins that
#: and what OpenSSL made of it until send_timeout: 2 MiB a connection with 512 KiB
#: chunks, 300 KiB with these (200 stalled readers, loopback). Hits got no slower:
#: 1.6-1.7 GB/s against 0.9-1.4 with 512 KiB chunks, one curl on loopback.
TLS_CHUNK = 64 * 1024

#: What a failed send says when the client is gone or unreachable: the client's doing,
#: answered as a reset (a disk's error, such as EIO, is ours, and warned about).
CLIENT_GONE = frozenset(
    (errno.EPIPE, errno.ECONNRESET, errno.EBADF, errno.ENOTCONN, errno.ECONNABORTED,
     errno.ETIMEDOUT, errno.EHOSTUNREACH, errno.ENETUNREACH)
)  # fmt: skip

#: Upper bound of one ``os.sendfile`` call, so one fast client cannot hold the event
#: loop for long (nginx's ``sendfile_max_chunk`` defaults to 2 MiB since 1.21.4).
MAX_CHUNK = 2 * 1024 * 1024


class BodyCutShort(Exception):
    """The file ended before the promised byte count: the response must be aborted."""

    def __init__(self, sent: int, expected: int) -> None:
        super().__init__(f"body cut short after {sent} of {expected} bytes")
        self.sent = sent
        self.expected = expected


class _Pump:
    """Sends a file's bytes on a socket from the loop's writer callback, as the socket takes them.

    nginx's way: once the kernel's send buffer is full, each time the socket turns
    writable one ``sendfile`` is made from the callback itself, with no future, task
    step or new registration per wake-up; the writer stays registered until the bytes
    allowed so far (``limit``) are sent or something ends the sending. One timer looks a
    few times a ``send_timeout`` at whether the client took bytes since the last look:
    the bytes sent count, and, when none were, what its TCP acknowledged (``Progress``).
    """

    __slots__ = (
        "_deadline", "_done", "_file_fd", "_loop", "_moved", "_offset", "_on_sent",
        "_progress", "_seen", "_sock_fd", "_timer", "_transport", "_watch", "limit", "sent",
    )  # fmt: skip

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        transport: asyncio.Transport,
        watch: socket.socket,
        sock_fd: int,
        file_fd: int,
        offset: int,
        deadline: Deadline,
        on_sent: Callable[[int], None] | None,
    ) -> None:
        self._loop = loop
        self._transport = transport
        self._watch = watch
        self._sock_fd = sock_fd
        self._file_fd = file_fd
        self._offset = offset
        self._deadline = deadline
        self._on_sent = on_sent
        self._done: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._progress: Progress | None = None
        self._moved = 0.0
        self._seen = 0
        #: Bytes sent so far, and how many may be.
        self.sent = 0
        self.limit = 0

    def push(self) -> bool:
        """One ``sendfile`` of what is allowed; whether the socket may take more now.

        Raises ConnectionResetError when the client went away and BodyCutShort (with
        ``sent`` of the whole span unknown here: the caller fills it in) when the file
        ends early.
        """
        if self._transport.is_closing():
            raise ConnectionResetError("client went away")
        chunk = min(self.limit - self.sent, MAX_CHUNK)
        try:
            n = os.sendfile(self._sock_fd, self._file_fd, self._offset + self.sent, chunk)
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno in CLIENT_GONE:
                raise ConnectionResetError(str(exc)) from exc
            raise
        if n == 0:
            raise BodyCutShort(self.sent, self.limit)
        self.sent += n
        if self._on_sent is not None:
            self._on_sent(n)
        # A short send means the kernel's buffer is full: asking again would only be
        # told so (nginx clears its ``ready`` flag the same way).
        return n == chunk

    async def drain(self, moved: float) -> None:
        """Send up to ``limit`` from the writer callback; ``moved``: the client's last progress.

        Raises what ``push`` raises, or DeadlineExpired (after cutting the connection)
        when the client takes nothing for ``send_timeout`` or the response runs past its
        ``response_timeout``.
        """
        loop = self._loop
        self._done = loop.create_future()
        self._moved = moved
        self._seen = self.sent
        self._progress = Progress(self._transport, self._watch)
        fd = self._watch.fileno()
        loop.add_writer(fd, self._writable)
        try:
            self._arm(loop.time())
            await self._done
        finally:
            loop.remove_writer(fd)
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._done = None

    def _writable(self) -> None:
        done = self._done
        if done is None or done.done():
            return
        try:
            self.push()
        except Exception as exc:  # handed to the waiting coroutine
            done.set_exception(exc)
            return
        if self.sent >= self.limit:
            done.set_result(None)

    def _arm(self, now: float) -> None:
        deadline = self._deadline
        wait, timeout = deadline.wait(now, self._moved)
        if wait <= 0:
            cut(self._transport)
            if self._done is not None and not self._done.done():
                self._done.set_exception(deadline.expire(timeout))
            return
        self._timer = self._loop.call_later(min(wait, deadline.send_timeout / LOOKS), self._look)

    def _look(self) -> None:
        self._timer = None
        if self._done is None or self._done.done():
            return
        if self._transport.is_closing():
            # Closed under us (a shutdown, a cut): the dup keeps the socket, so say so.
            self._done.set_exception(ConnectionResetError("client went away"))
            return
        now = self._loop.time()
        if self.sent != self._seen:
            self._seen = self.sent
            self._moved = now
            # Acknowledgements of what was sent until now show nothing from here on.
            self._progress = Progress(self._transport, self._watch)
        elif self._progress is not None and self._progress.moved():
            self._moved = now
        self._arm(now)


async def _flush_transport(
    transport: asyncio.Transport, deadline: Deadline, loop: asyncio.AbstractEventLoop
) -> None:
    """Wait until the transport's own buffer (the headers) has reached the kernel."""
    # Headers normally go out in the same loop iteration; this loop runs only when the
    # socket was already full, and polling beats fiddling with aiohttp's flow control.
    delay = 0.0005
    left = transport.get_write_buffer_size()
    since = loop.time()
    while left:
        if transport.is_closing():
            raise ConnectionResetError("connection closed while sending headers")
        wait, timeout = deadline.wait(loop.time(), since)
        if wait <= 0:
            cut(transport)
            raise deadline.expire(timeout)
        await asyncio.sleep(min(delay, wait))
        delay = min(delay * 2, 0.05)
        still = transport.get_write_buffer_size()
        if still < left:
            since = loop.time()
        left = still


async def send_range(
    transport: asyncio.Transport,
    file_fd: int,
    offset: int,
    count: int,
    *,
    available: Callable[[int], Awaitable[int]] | None = None,
    on_sent: Callable[[int], None] | None = None,
    on_reset: Callable[[int], None] | None = None,
    write: Callable[[bytes], Awaitable[None]] | None = None,
    begins: int | None = None,
) -> int:
    """Send ``count`` bytes of ``file_fd`` from ``offset`` on the transport's socket.

    ``available``, when given, is awaited with the bytes sent so far whenever they have
    caught up with what may be read, and returns how many bytes from ``offset`` are
    readable now (a file still being filled); it raises to abort.
    ``on_sent`` is called with each count of bytes the kernel took, as it takes them,
    so what reached the client is known however the sending ends (a reset, a cancel).
    ``on_reset``, when the client goes away (or the handler is cancelled because it
    did), is given how many of this range's bytes its TCP acknowledged, where the
    kernel says (``delivery.acked``): fewer than were handed to the kernel.
    ``write`` is the response's own writer (``StreamResponse.write``), which a TLS
    transport needs: its bytes are encrypted on the way, so they are copied.
    Returns the bytes sent; raises ``BodyCutShort`` when the file ends early and
    ``ConnectionResetError`` when the client goes away, or ``DeadlineExpired`` (one
    too) when it stopped reading and the connection was cut.
    """
    if count <= 0:
        return 0
    # A TLS connection whose records the kernel writes (``tls.handoff``) takes sendfile.
    if transport.get_extra_info("sslcontext") is not None and not transport.get_extra_info(
        "kernel_tls_tx"
    ):
        if write is None:  # pragma: no cover - every caller passes it
            raise TypeError("a TLS transport needs the response's write")
        return await _send_copied(
            transport, write, file_fd, offset, count, available=available, on_sent=on_sent,
            on_reset=on_reset,
        )  # fmt: skip
    loop = asyncio.get_running_loop()
    sock = transport.get_extra_info("socket")
    if sock is None:  # pragma: no cover - every TCP transport has one
        raise ConnectionResetError("transport has no socket")
    deadline = deadline_of(transport)
    await _flush_transport(transport, deadline, loop)
    sock_fd = sock.fileno()
    # A second descriptor on the socket: it keeps the socket readable (TCP_INFO) even
    # after the transport closed its own, as it does when the client resets.
    watch = socket.socket(fileno=os.dup(sock_fd))
    if begins is None and on_reset is not None:
        begins = stream_offset(watch)
    pump = _Pump(loop, transport, watch, sock_fd, file_fd, offset, deadline, on_sent)
    # A span that is all on disk goes out in whole segments; one still being filled is
    # not held back, since its next bytes may be a while coming.
    corked = available is None and cork(watch, True)
    # When the client last made progress (or the response last waited for a fill,
    # which is the upstream's slowness, not the client's).
    moved = loop.time()
    try:
        pump.limit = count if available is None else 0
        while pump.sent < count:
            if available is not None and pump.sent >= pump.limit:
                try:
                    pump.limit = min(count, await available(pump.sent))
                except Exception as exc:
                    raise BodyCutShort(pump.sent, count) from exc
                if pump.sent >= pump.limit:
                    raise BodyCutShort(pump.sent, count)
                moved = loop.time()
            try:
                # Straight away while the kernel takes it all (a hit that fits in the
                # send buffer never waits), then from the writer callback.
                before = pump.sent
                while pump.sent < pump.limit and pump.push():
                    pass
                if pump.sent != before:
                    moved = loop.time()
                if pump.sent < pump.limit:
                    await pump.drain(moved)
            except BodyCutShort:
                raise BodyCutShort(pump.sent, count) from None
    except (ConnectionResetError, asyncio.CancelledError):
        acked = acknowledged(watch)
        if on_reset is not None and begins is not None and acked is not None:
            on_reset(max(0, acked - begins))
        raise
    finally:
        if corked:
            cork(watch, False)
        with contextlib.suppress(OSError):
            watch.close()
    return pump.sent


def cork(sock: socket.socket, on: bool) -> bool:
    """Hold a body's partial segments back (``TCP_CORK``), or send what is held; whether it took.

    nginx's ``tcp_nopush``: while a body goes out with ``sendfile`` the socket is
    corked, so the headers leave with its first bytes and each call's tail waits for the
    next instead of going out alone (the transport sets ``TCP_NODELAY``); uncorking at
    the end of the body sends what is left at once, so the last bytes and the next
    answer on the connection are not held back. The client gets fewer, fuller segments,
    and acknowledges fewer: on loopback with 50 MB files (``benchmarks/README.md``) the
    receiver's CPU per GB fell by a quarter and the rate rose by a third. A socket
    already gone is left alone (False).
    """
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1 if on else 0)
    except OSError:
        return False
    return True


async def _send_copied(
    transport: asyncio.Transport,
    write: Callable[[bytes], Awaitable[None]],
    file_fd: int,
    offset: int,
    count: int,
    *,
    available: Callable[[int], Awaitable[int]] | None,
    on_sent: Callable[[int], None] | None,
    on_reset: Callable[[int], None] | None,
) -> int:
    """``send_range`` through a transport that encrypts: pread, write, let it drain."""
    transport.set_write_buffer_limits(high=TLS_CHUNK)
    sent = 0
    limit = count if available is None else 0
    try:
        while sent < count:
            if available is not None and sent >= limit:
                try:
                    limit = min(count, await available(sent))
                except Exception as exc:
                    raise BodyCutShort(sent, count) from exc
                if sent >= limit:
                    raise BodyCutShort(sent, count)
            if transport.is_closing():
                raise ConnectionResetError("client went away")
            data = os.pread(file_fd, min(limit - sent, TLS_CHUNK), offset + sent)
            if not data:
                raise BodyCutShort(sent, count)
            # aiohttp's write hands the bytes to the transport, then waits while the
            # transport's buffer is above its high-water mark.
            try:
                await write(data)
            except ConnectionError as exc:  # aiohttp's "Connection lost", a broken pipe
                raise ConnectionResetError(str(exc)) from exc
            sent += len(data)
            if on_sent is not None:
                on_sent(len(data))
    except (ConnectionResetError, asyncio.CancelledError):
        if on_reset is not None:
            # What the TLS transport still holds never left; what the kernel holds may
            # not have either, but TCP's count is of encrypted bytes, not of ours.
            on_reset(max(0, sent - transport.get_write_buffer_size()))
        raise
    return sent
