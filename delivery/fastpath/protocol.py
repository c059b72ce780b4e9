"""The fast path's connection: plain GET/HEAD hits answered below aiohttp's web layer.

A connection starts here. Each complete request head is read (``request.HeadReader``)
and shown to the role (``FastRoute.route``); a hit in the open-file cache is answered
at once, in ``data_received``, with no task, no ``Request`` and no response object: the
answer is decided by ``delivery.answer`` (the rules aiohttp's handlers use too), a
small body goes out with its headers in one write, a large one with ``os.sendfile``
on the corked socket (``sendfile.cork``) until the kernel's buffer is full, and only
then does a task take over with ``sendfile.send_range``, under the response's deadlines.

A head still arriving waits here, in the connection's buffer, under
``header_timeout`` (read as it comes by ``request.HeadProbe``), so a slowloris costs a
small buffer a connection rather than an aiohttp connection each.

Anything else, from the first request that is not a plain hit on (a miss, a refusal,
another method, a body, a head whose time ran out or that outgrew ``MAX_HEAD``, input
the parser refuses), is handed with every byte received so far to aiohttp's own
connection (``Adopter``, the listener's ``GuardedHandler``), which keeps the
connection from then on: aiohttp answers it exactly as it would have without the
fast path (the 408 of a late head included).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, cast

from config import HttpSettings

from ..accesslog import CombinedLogFormat
from ..acked import acknowledged
from ..answer import Answer, answer
from ..deadlines import LOOKS, Deadline, Progress, cut
from ..limits import MAX_URL
from ..metrics import HeldCounts
from ..sendfile import CLIENT_GONE, MAX_CHUNK, SMALL_BODY, BodyCutShort, cork, send_range
from ..sources import FileSource
from ..store import Handle
from .request import FastHit, FastRequest, FastRoute, HeadProbe, HeadReader
from .response import RecentHeads, head_bytes

__all__ = ["Adopter", "FastConnection", "FastPath"]

log = logging.getLogger("castedge.serve")

#: A head longer than this goes to aiohttp. Within it neither the request line nor a
#: header line nor all of them together can exceed ``delivery.limits``' bounds, so
#: every 414 and 431 stays aiohttp's to answer.
MAX_HEAD = MAX_URL
#: Bytes of later requests kept while a response is being sent, before reading pauses.
HOLD = 64 * 1024
_GONE = CLIENT_GONE
#: What one answer is about: the request, the role's hit, the answer, the open file.
_Exchange = tuple[FastRequest, FastHit, Answer, Handle]


class Adopter(Protocol):
    """aiohttp's connection protocol, able to take over a connection begun here."""

    def adopt(
        self,
        transport: asyncio.Transport,
        data: bytes,
        head_due: float | None,
        *,
        ended: bool = False,
        paused: bool = False,
    ) -> None: ...


@dataclass(eq=False)
class FastPath:
    """What the fast connections of one listener share."""

    route: FastRoute
    http: HttpSettings
    #: The listener's access-log writer, None when the log is off.
    access: CombinedLogFormat | None
    admit: Callable[[], bool]
    closed: Callable[[], None]
    timed_out: Callable[[str], None]
    handoff: Callable[[], Adopter]
    connections: set[FastConnection] = field(default_factory=set)
    recent: RecentHeads = field(default_factory=RecentHeads)
    #: The counters of the turn's answers, made before the answers are handed over.
    held: HeldCounts = field(default_factory=HeldCounts)
    #: Connections with answers waiting for the end of this turn of the loop.
    outbox: list[FastConnection] = field(default_factory=list)

    def post(self, conn: FastConnection, loop: asyncio.AbstractEventLoop) -> None:
        """Have ``conn``'s waiting answers written once this turn's reads are all served.

        A client is woken by each write that reaches it while it sleeps (on loopback, and
        on a virtual machine, an interrupt to another core each time): written one by
        one as the requests are read, a slow turn of answers wakes it once per answer,
        written together at the turn's end, about once per turn. Measured with wrk's
        probes (``benchmarks/README.md``): 52 to 31 µs of server CPU per probe.
        """
        if not self.outbox:
            loop.call_soon(self.flush)
        self.outbox.append(conn)

    def flush(self) -> None:
        waiting, self.outbox = self.outbox, []
        try:
            self.held.flush()
            if self.access is not None:
                self.access.flush()  # a client that has its answer finds its line
        finally:
            for conn in waiting:
                conn.send_kept()


class FastConnection(asyncio.Protocol):
    """One client connection while its requests are plain hits (see the module's doc)."""

    __slots__ = (
        "_admitted",
        "_blocked",
        "_buf",
        "_corker",
        "_closing",
        "_eof",
        "_fast",
        "_fd",
        "_head_due",
        "_heading",
        "_kept",
        "_loop",
        "_out",
        "_paused",
        "_probe",
        "_progress",
        "_reader",
        "_remote",
        "_sending",
        "_stalled_since",
        "_timer",
        "_transport",
        "_written",
        "deadline",
    )

    def __init__(self, fast: FastPath, loop: asyncio.AbstractEventLoop) -> None:
        self._fast = fast
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._admitted = False
        self._buf = b""
        self._reader = HeadReader()
        #: The head still arriving, read as it comes (None while there is none).
        self._probe: HeadProbe | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._head_due = 0.0
        #: Whether the timer running is the head's (``header_timeout``), not the idle one.
        self._heading = True
        self._remote: str | None = None
        self._fd = -1
        #: A socket object on the connection's descriptor for the cork, made at its first
        #: body and detached (never closed: the transport owns the descriptor) at the end.
        self._corker: socket.socket | None = None
        #: Bytes this connection has handed to the kernel or the transport.
        self._written = 0
        #: Answers written here but not yet handed to the transport (``FastPath.post``),
        #: and their bytes.
        self._out: list[bytes] = []
        self._kept = 0
        self._sending: asyncio.Task[None] | None = None
        self._paused = False
        self._closing = False
        #: The client half-closed: close once its last request is answered.
        self._eof = False
        #: The transport holds more than its high-water mark (``pause_writing``).
        self._blocked = False
        #: While blocked with no body being sent, what the client took (the timer is
        #: then ``_stalled``), and when it last took some.
        self._progress: Progress | None = None
        self._stalled_since = 0.0
        #: The deadline of the response a task is sending (``deadlines.deadline_of``).
        self.deadline = Deadline(fast.http.send_timeout)

    # -- the connection ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transports are not asyncio.Transport subclasses, only alike.
        transport = cast(asyncio.Transport, transport)
        if not self._fast.admit():
            transport.close()
            return
        self._admitted = True
        self._transport = transport
        self._fd = transport.get_extra_info("socket").fileno()
        peer = transport.get_extra_info("peername")
        self._remote = peer[0] if isinstance(peer, tuple) else None
        self._fast.connections.add(self)
        # The first head is due header_timeout after the accept, as GuardedHandler's.
        self._head_due = self._loop.time() + self._fast.http.header_timeout
        self._timer = self._loop.call_at(self._head_due, self._idle_out)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._release()
        self._transport = None
        self._out.clear()
        self._kept = 0

    def eof_received(self) -> bool:
        # A client that half-closes after its last request still gets every answer:
        # True leaves the closing to us, once they are sent (or cut, if never taken).
        self._eof = True
        if self._sending is not None or self._blocked:
            return True
        self._close()
        return True

    def _write(self, data: bytes) -> None:
        """Answer bytes, written at the end of this turn of the loop, in order."""
        if not self._out:
            self._fast.post(self, self._loop)
        self._out.append(data)
        self._kept += len(data)
        if self._kept > HOLD:
            # A pipeline of answers goes now, so the transport's flow control
            # (``pause_writing``) stops the reading before it grows any further.
            self.flush()

    def flush(self) -> None:
        """Hand the waiting answers to the transport: before anything else writes or closes.

        The turn's counts and access lines go first, so a client that has its answer
        (or sees the connection close) finds it counted and its line in the file.
        """
        if not self._out:
            return
        self._fast.held.flush()
        access = self._fast.access
        if access is not None:
            access.flush()
        self.send_kept()

    def send_kept(self) -> None:
        """Hand the waiting answers to the transport (their lines are written)."""
        out = self._out
        if not out:
            return
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        self._kept = 0
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    # -- flow control (the transport calls these) ------------------------------------

    def pause_writing(self) -> None:
        # A client that sends requests but does not read their answers: stop answering
        # (and reading) until it takes them, for send_timeout at most.
        self._blocked = True
        if self._sending is None:
            self._stall_timer()

    def resume_writing(self) -> None:
        self._blocked = False
        closing = self._transport is not None and self._transport.is_closing()
        if self._progress is not None and not closing:  # a close still waits on the client
            self._progress = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if self._sending is not None or self._transport is None:
            return  # the body's task goes on, and serves what follows
        if self._paused:
            self._paused = False
            self._transport.resume_reading()
        self._serve_buffered()

    def _stall_timer(self) -> None:
        """Serving stops until the client takes its answers: cut after send_timeout of none.

        Whatever timer ran is stopped; a head still arriving keeps its due time
        (``_head_due``) for when serving resumes.
        """
        if self._timer is not None:
            self._timer.cancel()
        assert self._transport is not None
        self._progress = Progress(self._transport)
        self._stalled_since = self._loop.time()
        self._timer = self._loop.call_later(self._fast.http.send_timeout / LOOKS, self._stalled)

    def _stalled(self) -> None:
        # A few looks a send_timeout, as a body's sender does: a client that keeps
        # reading, however slowly, is not cut.
        self._timer = None
        transport, progress = self._transport, self._progress
        if transport is None or progress is None:
            return
        if not self._blocked and not transport.is_closing():
            return
        now = self._loop.time()
        if progress.moved():
            self._stalled_since = now
        send_timeout = self._fast.http.send_timeout
        left = self._stalled_since + send_timeout - now
        if left <= 0:
            self._progress = None
            self._fast.timed_out("send_timeout")
            cut(transport)
            return
        self._timer = self._loop.call_later(min(left, send_timeout / LOOKS), self._stalled)

    def _close(self) -> None:
        """Close once what was answered has gone: for send_timeout of no progress at most.

        The transport closes when its buffer has drained, which a client that keeps its
        window shut never lets happen; the stall watcher then cuts it, as aiohttp's side
        does with a connection it has finished with (``GuardedHandler``).
        """
        transport = self._transport
        if transport is None:
            return
        self.flush()
        transport.close()
        # A body still being sent (a shutdown's) has its own deadline.
        if transport.get_write_buffer_size() and self._progress is None and self._sending is None:
            self._stall_timer()

    def _release(self) -> None:
        corker, self._corker = self._corker, None
        if corker is not None:
            corker.detach()
        self._progress = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._fast.connections.discard(self)
        if self._admitted:
            self._admitted = False
            self._fast.closed()

    def _idle_out(self) -> None:
        self._timer = None
        if self._transport is None:
            return
        if self._buf and self._heading:
            # Part of a head, and its time is up: aiohttp answers the 408 (and counts
            # it) as it does for a head it holds itself.
            self._handoff()
            return
        if self._heading:
            self._fast.timed_out("header_timeout")
        self._close()

    def data_received(self, data: bytes) -> None:
        self._buf = self._buf + data if self._buf else data
        if self._sending is not None or self._blocked:
            if len(self._buf) > HOLD and not self._paused and self._transport is not None:
                self._paused = True
                self._transport.pause_reading()
            return
        self._serve_buffered()

    # -- shutdown (aiohttp's Server calls these on every connection) -----------------

    def close(self) -> None:
        """Close once the response being sent (if any) is done."""
        self._closing = True
        if self._sending is None:
            self._close()

    # aiohttp's Server.shutdown passes the timeout to each connection's shutdown.
    async def shutdown(self, timeout: float | None = 15.0) -> None:  # noqa: ASYNC109
        """Let the response being sent finish, for ``timeout`` at most, then close."""
        self._closing = True
        if self._sending is not None:
            await asyncio.wait((self._sending,), timeout=timeout)
        self._close()

    # -- requests ------------------------------------------------------------------

    def _serve_buffered(self) -> None:
        fast = self._fast
        transport = self._transport
        while transport is not None and not transport.is_closing():
            if self._blocked:
                if not self._paused:
                    self._paused = True
                    transport.pause_reading()
                if self._progress is None:
                    self._stall_timer()
                return
            buf = self._buf
            if self._eof and len(buf) < MAX_HEAD and buf.find(b"\r\n\r\n") < 0:
                # Half-closed, and no whole head left: what is answered goes, then the close.
                self._close()
                return
            if not buf:
                if not self._closing and self._timer is None:
                    self._timer = self._loop.call_later(fast.http.keepalive_timeout, self._idle_out)
                return
            end = buf.find(b"\r\n\r\n", 0, MAX_HEAD)
            if end < 0 and len(buf) < MAX_HEAD:
                # A head still arriving waits here: a thousand slow heads then cost a
                # thousand small buffers, not a thousand aiohttp connections.
                if self._probe is None:
                    self._probe = HeadProbe()
                if not self._probe.could_be(buf):
                    self._handoff()
                    return
                if not self._heading:
                    # A later request's head is due header_timeout from its first byte.
                    if self._timer is not None:
                        self._timer.cancel()
                        self._timer = None
                    self._heading = True
                    self._head_due = self._loop.time() + fast.http.header_timeout
                if self._timer is None:
                    # Also after a stall, which does not move the head's due time.
                    self._timer = self._loop.call_at(self._head_due, self._idle_out)
                return
            self._probe = None
            request = self._reader.read(buf[: end + 4], self._remote) if end >= 0 else None
            hit = fast.route.route(request) if request is not None else None
            handle = fast.route.delivery.store.lookup(hit.key) if hit is not None else None
            if request is None or hit is None or handle is None:
                self._handoff()
                return
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._heading = False
            self._buf = buf[end + 4 :]
            try:
                if not self._respond(transport, request, hit, handle):
                    return
            except Exception:
                log.exception("fast path failed on %s %s", request.method, hit.key)
                transport.abort()
                return

    def _handoff(self) -> None:
        """Give the connection, and every byte not yet answered, to aiohttp."""
        transport = self._transport
        assert transport is not None
        self.flush()  # what was answered here goes first
        head_due = self._head_due if self._heading else None
        data, self._buf = self._buf, b""
        self._release()
        self._transport = None
        if self._paused:
            transport.resume_reading()
        # Still over the high-water mark (the flush above may have put it there): the
        # transport will not say so again, so aiohttp's protocol is told.
        self._fast.handoff().adopt(transport, data, head_due, ended=self._eof, paused=self._blocked)

    def _respond(
        self, transport: asyncio.Transport, request: FastRequest, hit: FastHit, handle: Handle
    ) -> bool:
        """Answer a hit; False when a task goes on sending its body."""
        delivery = self._fast.route.delivery
        delivery.metrics.lookup("hit", self._fast.held)
        keep_alive = request.keep_alive and not self._closing
        h = request.headers
        # The handle, not its metadata: the same open file has the same metadata, and
        # an object hashes by identity where the metadata hashes every field each time.
        question = (
            handle, request.method, h.get("Range"), h.get("If-Range"), h.get("If-Match"),
            h.get("If-None-Match"), h.get("If-Modified-Since"), h.get("If-Unmodified-Since"),
            tuple(hit.headers.items()), request.version, keep_alive,
        )  # fmt: skip
        recent = self._fast.recent.get(question)
        if recent is None:
            source = FileSource(handle.fd, handle.body_offset)
            extra = delivery.extra_headers(hit.headers)
            plan = answer(request.method, handle.meta, h, extra, source.plan)
            head = head_bytes(plan, request.version, keep_alive)
            self._fast.recent.keep(question, plan, head)
        else:
            plan, head = recent
        if not plan.body:
            self._write(head)
            self._written += len(head)
            self._finish(request, hit, plan, handle, 0, keep_alive)
            return True
        offset = handle.body_offset + plan.start
        if plan.length <= SMALL_BODY:
            # A probe: headers and body in one write (one syscall, one packet).
            try:
                data = os.pread(handle.fd, plan.length, offset)
            except OSError as exc:  # the disk (EIO): nothing of it was sent
                log.warning("closing %s %s: cannot read it: %s", request.method, hit.key, exc)
                return self._cut_short((request, hit, plan, handle), 0, str(exc))
            if len(data) == plan.length:
                self._write(head + data)
                self._written += len(head) + plan.length
                self._finish(request, hit, plan, handle, plan.length, keep_alive)
                return True
        sent = 0
        # Where the body starts in the connection's byte stream: every byte of it was
        # written here, so what the client's TCP acknowledged past it is body.
        begins = self._written + len(head)
        # The headers leave with the body's first bytes, in whole segments; uncorked
        # once the body is with the kernel (here, or at the end of ``send_range``).
        self.flush()  # earlier answers on the connection go first
        sock = self._corker
        if sock is None:
            # uvloop's own socket object makes a socket.socket (and a getsockname) on
            # every setsockopt; this one is made once per connection.
            own = transport.get_extra_info("socket")
            sock = self._corker = socket.socket(own.family, own.type, own.proto, self._fd)
        corked = cork(sock, True)
        if transport.get_write_buffer_size() == 0:
            try:
                wrote = os.write(self._fd, head)
            except BlockingIOError:
                wrote = 0
            except OSError as exc:
                why = "client left" if exc.errno in _GONE else str(exc)
                return self._cut_short((request, hit, plan, handle), 0, why)
            if wrote < len(head):
                transport.write(head[wrote:])
            self._written += len(head)
            if wrote == len(head):
                try:
                    sent = _send_now(self._fd, handle.fd, offset, plan.length)
                except BodyCutShort as exc:
                    self._written += exc.sent
                    why = f"{exc} ({exc.__cause__})" if exc.__cause__ else str(exc)
                    log.warning("closing %s %s short: %s", request.method, hit.key, why)
                    return self._cut_short((request, hit, plan, handle), exc.sent, why)
                except ConnectionResetError as exc:
                    acked = acknowledged(transport.get_extra_info("socket"))
                    gone = exc.args[0] if exc.args else 0
                    got = gone if acked is None else min(gone, max(0, acked - begins))
                    return self._cut_short((request, hit, plan, handle), got, "client left")
                self._written += sent
                if sent == plan.length:
                    if corked:
                        cork(sock, False)
                    self._finish(request, hit, plan, handle, sent, keep_alive)
                    return True
        else:
            transport.write(head)
            self._written += len(head)
        self._sending = self._loop.create_task(
            self._send_rest(transport, request, hit, plan, handle, sent, begins, keep_alive)
        )
        if self._progress is not None:
            # Blocked while this answer's head went out: the body's own deadline, which
            # also watches the client's progress, covers the connection from here.
            self._progress = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        return False

    async def _send_rest(
        self,
        transport: asyncio.Transport,
        request: FastRequest,
        hit: FastHit,
        plan: Answer,
        handle: Handle,
        sent: int,
        begins: int,
        keep_alive: bool,
    ) -> None:
        """The rest of a body the kernel could not take at once, under the deadlines.

        ``sent`` bytes of it are with the kernel already; the body starts at ``begins``
        in the connection's byte stream.
        """
        http = self._fast.http
        loop = self._loop
        deadline = Deadline(
            http.send_timeout,
            http.response_timeout,
            started=loop.time(),
            on_expired=self._fast.timed_out,
        )
        self.deadline = deadline
        capped = None
        if deadline.ends is not None:
            capped = loop.call_at(deadline.ends, self._response_timed_out, transport)
        got = [sent]

        def count(n: int) -> None:
            got[0] += n

        def credit(acknowledged: int) -> None:
            # Of the whole body, the part sent before this task included.
            got[0] = min(got[0], acknowledged)

        ok = False
        try:
            await send_range(
                transport,
                handle.fd,
                handle.body_offset + plan.start + sent,
                plan.length - sent,
                on_sent=count,
                on_reset=credit,
                begins=begins,
            )
            ok = True
        except BodyCutShort as exc:
            log.warning("closing %s %s short: %s", request.method, hit.key, exc)
        except ConnectionResetError as exc:
            log.debug("client left %s %s: %s", request.method, hit.key, exc)
        except OSError as exc:  # the disk (EIO) under sendfile: the span cannot be sent
            log.warning("closing %s %s short: %s", request.method, hit.key, exc)
        finally:
            if capped is not None:
                capped.cancel()
            self._sending = None
            self._finish(request, hit, plan, handle, got[0], keep_alive and ok)
        if not ok:
            self._close()
            return
        if self._paused:
            self._paused = False
            transport.resume_reading()
        if self._closing:
            self._close()
            return
        self._serve_buffered()

    def _response_timed_out(self, transport: asyncio.Transport) -> None:
        self.deadline.expire("response_timeout")
        cut(transport)

    def _cut_short(self, exchange: _Exchange, sent: int, why: str) -> bool:
        # Headers promised the whole span: closing short is how the client learns the
        # copy is incomplete and retries. The key, not the target (it may hold a token).
        log.debug("closing %s %s short: %s", exchange[0].method, exchange[1].key, why)
        self._finish(*exchange, sent, False)
        return True

    def _finish(
        self,
        request: FastRequest,
        hit: FastHit,
        plan: Answer,
        handle: Handle,
        sent: int,
        keep_alive: bool,
    ) -> None:
        """Account for one answer as aiohttp's path does: the role's tally, the access log."""
        fast = self._fast
        fast.route.delivery.store.release(handle)
        fast.route.done(request, hit, plan, sent, fast.held)
        access = fast.access
        if access is not None and access.logger.isEnabledFor(logging.INFO):
            headers = request.headers
            access.write(
                self._remote,
                access.request_line(request.method, request.target, request.version),
                plan.status,
                sent,
                headers.get("Referer", "-"),
                headers.get("User-Agent", "-"),
            )
        if not keep_alive:
            self._close()


def _send_now(sock_fd: int, file_fd: int, offset: int, count: int) -> int:
    """Send what the socket takes now of ``count`` bytes; the count sent.

    Raises BodyCutShort when the file ends early or cannot be read (the OSError as its
    cause), ConnectionResetError (with the bytes sent as its argument) when the client
    is gone.
    """
    sent = 0
    while sent < count:
        try:
            n = os.sendfile(sock_fd, file_fd, offset + sent, min(count - sent, MAX_CHUNK))
        except BlockingIOError:
            return sent
        except OSError as exc:
            if exc.errno in _GONE:
                raise ConnectionResetError(sent) from exc
            raise BodyCutShort(sent, count) from exc
        if n == 0:
            raise BodyCutShort(sent, count)
        sent += n
    return sent
