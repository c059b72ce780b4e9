"""What a client may hold of a listener: deadlines, a connection limit, quiet refusals.

Every listener of a node (``listeners.serve_forever``) serves through ``GuardedRunner``,
whose connections are ``GuardedHandler``: aiohttp's own protocol with the listener's
``http`` settings enforced where aiohttp has no limit of its own.

- ``header_timeout``: a request's head must be complete within it, for the first
  request from the accept, for a later one from its first byte; else a 408 and close
  (a connection that sent nothing is closed without one). aiohttp's idle timer stays
  for ``keepalive_timeout`` between requests, and steps aside while a head arrives.
- ``send_timeout`` and ``response_timeout``: each response gets a ``Deadline``
  (``delivery.deadlines``), which the zero-copy path reads from the protocol and
  aiohttp's drain obeys here; ``response_timeout`` also has a timer of its own, so a
  response waiting on anything at all is cut at its cap. A connection aiohttp has
  closed gets ``send_timeout`` more to hand over what its transport still holds.
- ``max_connections``: a connection beyond it is closed at once, before a parser or a
  task is spent on it, and the ones open carry on.
- A request the parser refuses gets the ``delivery.limits`` answer (414, 431 or 400),
  one access-log line and a count, instead of aiohttp's 400 that quotes the request
  and an ERROR with a traceback. The rest of what the client sent is read and dropped
  for a moment, so closing does not reset the connection before it reads the answer.

The hooks are aiohttp 3.14's ``web_protocol.RequestHandler``: ``data_received``,
``handle_error``, ``finish_response``, ``_handle_request`` and ``_drain_helper``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

from aiohttp import web, web_protocol
from aiohttp.http import RawRequestMessage
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.streams import EMPTY_PAYLOAD
from prometheus_client import CollectorRegistry, Counter, Gauge

from config import HttpSettings
from delivery.accesslog import CombinedLogFormat
from delivery.deadlines import Deadline, DeadlineExpired, Progress, cut, progressing
from delivery.fastpath import FAST_ROUTE, FastConnection, FastPath, FastRoute
from delivery.limits import REASONS, Refusal, refusal_for

__all__ = ["ConnectionMetrics", "Guard", "GuardedHandler", "GuardedRunner", "GuardedServer"]

log = logging.getLogger("castedge.connections")

#: How long the rest of a refused request is read and dropped before the connection
#: closes, in all and without a byte. nginx's lingering_time is 30 s and its
#: lingering_timeout 5 s, for upload bodies; what follows a refused head is at most
#: what a client writes before it reads, so less will do.
LINGER_TIME = 5.0
LINGER_IDLE = 1.0

#: Seconds between two warnings that a listener is refusing connections.
_FULL_WARNING_EVERY = 60.0


class ConnectionMetrics:
    """The counters of one worker's listeners, each app-independent: one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.bad_requests = Counter(
            "castedge_bad_requests",
            "Requests refused for their form, by reason: request_line_too_long (414), "
            "headers_too_large (431), bad_request (400), header_timeout (408).",
            ["listener", "reason"],
            registry=r,
        )
        self.refused = Counter(
            "castedge_connections_refused",
            "Connections closed on arrival because http.max_connections were open.",
            ["listener"],
            registry=r,
        )
        self.timeouts = Counter(
            "castedge_connection_timeouts",
            "Connections a deadline closed: header_timeout, send_timeout, response_timeout.",
            ["listener", "timeout"],
            registry=r,
        )
        self.open = Gauge(
            "castedge_open_connections",
            "Connections open now.",
            ["listener"],
            multiprocess_mode="livesum",
            registry=r,
        )

    def guard(self, name: str, http: HttpSettings) -> Guard:
        """The guard of listener ``name``, its series created at zero (so rate() sees the first)."""
        for reason in REASONS.values():
            self.bad_requests.labels(name, reason)
        for timeout in ("header_timeout", "send_timeout", "response_timeout"):
            self.timeouts.labels(name, timeout)
        self.refused.labels(name)
        self.open.labels(name).set(0)
        return Guard(name, http, self)


class Guard:
    """What the connections of one listener share: its settings, its counts, how many are open."""

    def __init__(
        self,
        name: str,
        http: HttpSettings,
        metrics: ConnectionMetrics,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.http = http
        self.metrics = metrics
        self.open = 0
        self._clock = clock
        self._warned = -_FULL_WARNING_EVERY
        self._open_gauge = metrics.open.labels(name)
        self._refused = metrics.refused.labels(name)

    def admit(self) -> bool:
        """Count a new connection in, or refuse it (False) when the listener is full."""
        if self.open >= self.http.max_connections:
            self._refused.inc()
            now = self._clock()
            if now - self._warned >= _FULL_WARNING_EVERY:
                self._warned = now
                log.warning(
                    "%s: refusing connections: %d open, the most http.max_connections allows",
                    self.name,
                    self.open,
                )
            return False
        self.open += 1
        self._open_gauge.inc()
        return True

    def closed(self) -> None:
        """Count an admitted connection out."""
        self.open -= 1
        self._open_gauge.dec()

    def bad_request(self, reason: str) -> None:
        self.metrics.bad_requests.labels(self.name, reason).inc()

    def timed_out(self, timeout: str) -> None:
        self.metrics.timeouts.labels(self.name, timeout).inc()


class HeaderTimeout(Exception):
    """A request's head was still incomplete when ``header_timeout`` ran out."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"request head incomplete after {seconds:g} s")


class GuardedHandler(web_protocol.RequestHandler):
    """aiohttp's connection protocol under a listener's ``Guard`` (see the module's doc)."""

    __slots__ = (
        "_admitted",
        "_answered",
        "_bodies",
        "_closing_timer",
        "_connection",
        "_ended",
        "_guard",
        "_head_timer",
        "_heard",
        "_lingering",
        "_refusing",
        "_response_timer",
        "deadline",
    )

    def __init__(self, manager: web.Server, *, guard: Guard, **kwargs: Any) -> None:
        super().__init__(manager, keepalive_timeout=guard.http.keepalive_timeout, **kwargs)
        self._guard = guard
        self._admitted = False
        self._head_timer: asyncio.TimerHandle | None = None
        #: Whether a byte of the awaited request head has arrived.
        self._heard = False
        #: Refused or out of time: whatever else arrives is dropped unread.
        self._refusing = False
        self._lingering: asyncio.Future[bool] | None = None
        self._response_timer: asyncio.TimerHandle | None = None
        #: The transport from connection_made to connection_lost (aiohttp lets go of
        #: its own when it closes it, before the close is done).
        self._connection: asyncio.Transport | None = None
        self._closing_timer: asyncio.TimerHandle | None = None
        #: The client shut its sending side: answer what it asked, then close.
        self._ended = False
        #: Requests answered on this connection (aiohttp counts those it read).
        self._answered = 0
        #: Bodies of requests read that had not all arrived when last looked at.
        self._bodies: list[Any] = []
        #: The deadline of the response being sent (``delivery.deadlines.deadline_of``).
        self.deadline = Deadline(guard.http.send_timeout)

    # -- the connection ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._guard.admit():
            # Never started: no task, no timers, and connection_lost has nothing to undo.
            self._manager = None
            transport.close()
            return
        self._admitted = True
        super().connection_made(transport)
        self._connection = cast(asyncio.Transport, transport)
        # The first head is due header_timeout after the accept; aiohttp's idle timer,
        # armed for it too, would cut it first were keepalive_timeout the shorter.
        if self._keepalive_handle is not None:
            self._keepalive_handle.cancel()
            self._keepalive_handle = None
        self._arm_head_timer()
        if self._task_handler is not None:
            self._task_handler.add_done_callback(self._served)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._admitted:
            self._admitted = False
            self._guard.closed()
        self._connection = None
        for timer in (self._head_timer, self._response_timer, self._closing_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._response_timer = self._closing_timer = None
        self._stop_lingering()
        super().connection_lost(exc)

    def _served(self, _: asyncio.Task[None]) -> None:
        # aiohttp is done with the connection and has closed it; a close waits for the
        # last of a response to leave our buffer, for as long as the client takes to
        # read it, and a client that reads nothing more would hold it for ever.
        if self._connection is not None:
            self._closing_timer = self._loop.call_later(
                self._guard.http.send_timeout, self._closing_timed_out
            )

    def _closing_timed_out(self) -> None:
        self._closing_timer = None
        if self._connection is not None:
            self._guard.timed_out("send_timeout")
            cut(self._connection)

    def data_received(self, data: bytes) -> None:
        if self._refusing:
            if data and self._lingering is not None and not self._lingering.done():
                self._lingering.set_result(True)
            return
        if data:
            if self._head_timer is None and self._awaiting_request():
                # The first byte of a later request: its head is due from now, and the
                # idle timer must not cut it meanwhile (aiohttp re-arms it after the
                # response).
                if self._keepalive_handle is not None:
                    self._keepalive_handle.cancel()
                    self._keepalive_handle = None
                self._arm_head_timer()
            self._heard = True
        queued = len(self._messages)
        super().data_received(data)
        if len(self._messages) > queued:
            # Those whose whole body came are forgotten, so a long connection keeps few.
            self._bodies = [body for body in self._bodies if not body.is_eof()]
            for _, body in itertools.islice(self._messages, queued, None):
                if not body.is_eof():
                    self._bodies.append(body)
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            if not isinstance(self._messages[-1][0], RawRequestMessage):
                # The parser refused it; start() answers it, and nothing after it is
                # a request of its own.
                self._refusing = True

    def eof_received(self) -> bool:  # type: ignore[override]  # asyncio's: bool | None
        # A client may shut its sending side once its requests are sent. aiohttp would
        # close at once and drop the answers still to come; they are sent first, unless
        # a request body was cut short, which nothing can complete, or the connection
        # is TLS, whose transport closes on the end of the stream whatever is returned.
        if self._refusing or self._force_close or self.transport is None:
            return False
        if self._answered >= self._request_count:
            return False  # nothing asked that is not answered
        self._bodies = [body for body in self._bodies if not body.is_eof()]
        if self._bodies or self.transport.get_extra_info("sslcontext") is not None:
            return False
        self._ended = True
        return True

    def _awaiting_request(self) -> bool:
        # start() waits on _waiter only while no request is being handled or queued.
        # A head that begins while one is still being answered gets keepalive_timeout
        # from that answer's end instead: aiohttp cannot say where its parser stands.
        waiter = self._waiter
        return waiter is not None and not waiter.done() and not self._messages

    def _arm_head_timer(self) -> None:
        self._heard = False
        self._head_timer = self._loop.call_later(
            self._guard.http.header_timeout, self._head_timed_out
        )

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport is None or self._force_close:
            return
        self._guard.timed_out("header_timeout")
        if not self._heard:
            # Nothing to answer: close as aiohttp's idle timer would.
            self.force_close()
            return
        self._refusing = True
        # Answered as aiohttp answers what its parser refuses: start() takes it from
        # the queue like a request and calls handle_error.
        timeout = HeaderTimeout(self._guard.http.header_timeout)
        error = web_protocol._ErrInfo(status=408, exc=timeout, message="")
        self._messages.append((error, EMPTY_PAYLOAD))
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def adopt(
        self,
        transport: asyncio.Transport,
        data: bytes,
        head_due: float | None,
        *,
        ended: bool = False,
        paused: bool = False,
    ) -> None:
        """Take over a connection the fast path began, with the bytes it has not answered.

        ``head_due`` is when the first request's head is due, if none was answered yet;
        ``ended``, whether the client has shut its sending side; ``paused``, whether the
        transport holds more than its high-water mark (it told the fast path, and will
        not tell this protocol again until ``resume_writing``).
        """
        transport.set_protocol(self)
        self.connection_made(transport)
        if paused:
            # Without it a client that reads nothing could have answers piled up here
            # without bound, and aiohttp's resume_writing would find nothing paused.
            self.pause_writing()
        if head_due is not None and self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = self._loop.call_at(head_due, self._head_timed_out)
        if data:
            self.data_received(data)
        if ended and not self.eof_received():
            transport.close()

    # -- refusals ------------------------------------------------------------------

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if isinstance(exc, HeaderTimeout):
            refusal = Refusal(408, parsed=False)
        elif isinstance(exc, HttpProcessingError) and status == 400:
            refusal = refusal_for(exc)
        else:
            # The app's own failures keep aiohttp's answer and its traceback.
            return super().handle_error(request, status, exc, message)
        # A refusal is the client's doing: counted and logged once as an access line,
        # no traceback (what it says may quote the request; keep it short).
        log.debug("%s %d from %s: %.200s", self._guard.name, refusal.status, request.remote, exc)
        return refusal

    async def finish_response(
        self, request: web.BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        finished = await super().finish_response(request, resp, start_time)
        self._answered += 1
        if self._ended and self._answered >= self._request_count:
            self.close()  # the last answer the client asked for: start() closes after it
        if isinstance(resp, Refusal):
            self._guard.bad_request(resp.why)
            if not resp.parsed and resp.status != 408:
                await self._linger()
        return finished

    async def _linger(self) -> None:
        """Read and drop what the client still sends, so its answer is not lost in a reset.

        Closing a socket with unread bytes in it sends a reset, and a client still
        writing its request may then lose the answer before it reads it.
        """
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if transport.can_write_eof():
            transport.write_eof()
        with contextlib.suppress(RuntimeError, NotImplementedError):
            transport.resume_reading()
        end = self._loop.time() + LINGER_TIME
        while not transport.is_closing():
            left = end - self._loop.time()
            if left <= 0:
                return
            self._lingering = self._loop.create_future()
            try:
                async with asyncio.timeout(min(LINGER_IDLE, left)):
                    if not await self._lingering:
                        return
            except TimeoutError:
                return
            finally:
                self._lingering = None

    def _stop_lingering(self) -> None:
        if self._lingering is not None and not self._lingering.done():
            self._lingering.set_result(False)

    # -- deadlines -----------------------------------------------------------------

    async def _handle_request(
        self,
        request: web.BaseRequest,
        start_time: float | None,
        request_handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]],
    ) -> tuple[web.StreamResponse, bool]:
        http = self._guard.http
        deadline = Deadline(
            http.send_timeout,
            http.response_timeout,
            started=self._loop.time(),
            on_expired=self._guard.timed_out,
        )
        self.deadline = deadline
        if deadline.ends is not None:
            self._response_timer = self._loop.call_at(deadline.ends, self._response_timed_out)
        try:
            return await super()._handle_request(request, start_time, request_handler)
        finally:
            if self._response_timer is not None:
                self._response_timer.cancel()
                self._response_timer = None

    def _response_timed_out(self) -> None:
        self._response_timer = None
        transport = self.transport
        if transport is not None:
            self.deadline.expire("response_timeout")
            cut(transport)

    async def _drain_helper(self) -> None:
        transport = self.transport
        if transport is None or not self._paused:
            await super()._drain_helper()
            return
        try:
            await progressing(
                self.deadline, super()._drain_helper(), Progress(transport), self._loop
            )
        except DeadlineExpired:
            cut(transport)
            raise


class GuardedServer(web.Server):
    """aiohttp's low-level server, making ``GuardedHandler`` connections.

    With a ``fast`` route, connections start on the fast path (``delivery.fastpath``)
    and become ``GuardedHandler`` when they ask for anything but a plain hit.
    """

    def __init__(
        self,
        handler: Callable[..., Awaitable[web.StreamResponse]],
        *,
        guard: Guard,
        fast: FastRoute | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(handler, **kwargs)
        self.guard = guard
        self.fast: FastPath | None = None
        if fast is not None:
            logger = kwargs.get("access_log")
            access = None
            if logger is not None:
                log_class = kwargs.get("access_log_class", CombinedLogFormat)
                access = log_class(logger, "")
            self.fast = FastPath(
                fast,
                guard.http,
                access if isinstance(access, CombinedLogFormat) else None,
                admit=guard.admit,
                closed=guard.closed,
                timed_out=guard.timed_out,
                handoff=self.handler,
            )

    def handler(self) -> GuardedHandler:
        """aiohttp's connection protocol under the guard."""
        return GuardedHandler(self, loop=self._loop, guard=self.guard, **self._kwargs)

    def __call__(self) -> GuardedHandler | FastConnection:  # type: ignore[override]
        if self.fast is not None:
            return FastConnection(self.fast, self._loop)
        return self.handler()

    @property
    def connections(self) -> list[Any]:
        fast = list(self.fast.connections) if self.fast is not None else []
        return super().connections + fast

    def pre_shutdown(self) -> None:
        super().pre_shutdown()
        if self.fast is not None:
            for conn in list(self.fast.connections):
                conn.close()

    async def shutdown(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        fast = list(self.fast.connections) if self.fast is not None else []
        await asyncio.gather(super().shutdown(timeout), *(c.shutdown(timeout) for c in fast))


class GuardedRunner(web.AppRunner):
    """``web.AppRunner`` whose server is a ``GuardedServer`` under ``guard``."""

    def __init__(
        self, app: web.Application, *, guard: Guard, fast_path: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(app, **kwargs)
        self._guard = guard
        #: Whether connections start on the fast path, where the app offers one.
        self._fast_path = fast_path

    async def _make_server(self) -> web.Server:
        # aiohttp's own server first: it runs the app's startup and gathers the
        # handler's settings (the app's handler_args among them).
        plain = await super()._make_server()
        factory = self.app.get(FAST_ROUTE) if self._fast_path else None
        return GuardedServer(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            guard=self._guard,
            fast=factory(self.app) if factory is not None else None,
            **plain._kwargs,
        )
