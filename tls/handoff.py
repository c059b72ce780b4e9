"""Kernel TLS on a listener: the handshake on a socket OpenSSL owns, then the kernel's records.

asyncio's TLS (memory buffers, ``ssl=`` on ``create_server``) never lets OpenSSL near
the socket, so it can never give the kernel the session keys. A hand-off listener
accepts plain TCP itself and shakes hands on a non-blocking ``ssl.SSLSocket`` whose
context asks for kernel TLS (``SSL_OP_ENABLE_KTLS``), waiting on the loop's reader
and writer, within the listener's ``header_timeout``. Then it asks the kernel what it
took (``tls.ktls.offload``) and gives the connection to the listener's own protocol
(aiohttp's, under the listener's guard) over one of ``tls.transport``'s transports:

* ``kernel``: both directions in the kernel. The socket is detached from OpenSSL and
  carried by the loop's plain TCP transport; hits go out with ``sendfile``, as nginx's
  do with ``ssl_conf_command Options KTLS``.
* ``kernel_tx``: the kernel encrypts, OpenSSL decrypts (an OpenSSL or a kernel that
  offloads one direction only). Requests are read through OpenSSL, hits ``sendfile``.
* ``userspace``: the kernel took nothing (no ``tls`` module, a cipher it lacks).
  OpenSSL encrypts and decrypts on the socket, and hits are copied through it as on
  asyncio's TLS listeners.

Every connection is counted by what it got (``Handoff.on_connection``), so a listener
whose connections fall back shows it. The context is the listener's one: a renewal
installed into it (``CertificateWatcher``) reaches the next handshake. A connection
being handshaken counts against ``max_connections``, as it holds a descriptor.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import logging
import socket
import ssl
from collections.abc import Callable
from typing import Any, Protocol, cast

from aiohttp import web
from yarl import URL

from .ktls import SSL_OP_ENABLE_KTLS, Offload, offload
from .transport import KernelTlsTransport, SocketTlsTransport

__all__ = ["PATHS", "Handoff", "HandoffSite"]

log = logging.getLogger("castedge.tls")

#: What a connection of a hand-off listener can get (``Offload.path``).
PATHS = ("kernel", "kernel_tx", "userspace")

#: Connections taken per wake of the listening socket (asyncio takes its backlog's).
ACCEPTS_PER_WAKE = 128
#: Seconds the listener stops accepting when out of descriptors or memory (asyncio's).
ACCEPT_RETRY_DELAY = 1.0
#: Bytes of a failed handshake's leftovers read and dropped before closing, so the
#: close is a FIN, not a reset that could lose what was sent (a plain-HTTP request).
_LEFTOVERS = 64 * 1024


class _Guard(Protocol):
    """The listener's connection limit (``runtime.connections.Guard``)."""

    def admit(self) -> bool: ...

    def closed(self) -> None: ...


class Handoff:
    """One listener's kernel TLS: the context its handshakes use, and what they got."""

    def __init__(
        self,
        name: str,
        context: ssl.SSLContext,
        *,
        on_connection: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self.context = context
        context.options |= SSL_OP_ENABLE_KTLS
        #: Connections by what the kernel took of them, in this worker.
        self.connections: collections.Counter[str] = collections.Counter(dict.fromkeys(PATHS, 0))
        self._on_connection = on_connection
        self._told = False

    def site(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        reuse_port: bool,
        backlog: int,
        header_timeout: float,
    ) -> HandoffSite:
        return HandoffSite(
            runner,
            self,
            host,
            port,
            reuse_port=reuse_port,
            backlog=backlog,
            header_timeout=header_timeout,
        )

    def counted(self, found: Offload, sock: ssl.SSLSocket) -> None:
        self.connections[found.path] += 1
        if self._on_connection is not None:
            self._on_connection(found.path)
        if found.path != "kernel" and not self._told:
            # Once per worker and listener: a per-connection line would flood the journal.
            self._told = True
            cipher = (sock.cipher() or ("?",))[0]
            log.info(
                "%s.tls: a %s %s connection: %s; counted in castedge_tls_ktls_connections_total",
                self.name,
                sock.version(),
                cipher,
                "the kernel encrypts, OpenSSL decrypts"
                if found.tx
                else "the kernel took none of its TLS, encrypted in user space",
            )


def _listening(host: str, port: int, *, reuse_port: bool, backlog: int) -> list[socket.socket]:
    """Listening sockets on ``host:port``, as ``loop.create_server`` would make them."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    seen = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                raise OSError(
                    exc.errno, f"error while attempting to bind on address {address!r}: "
                    f"{exc.strerror}",
                ) from None  # fmt: skip
            sock.listen(backlog)
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


async def _ready(loop: asyncio.AbstractEventLoop, fd: int, *, writing: bool) -> None:
    """Until ``fd`` can be read (or written)."""
    ready: asyncio.Future[None] = loop.create_future()

    def settle() -> None:
        if not ready.done():
            ready.set_result(None)

    if writing:
        loop.add_writer(fd, settle)
    else:
        loop.add_reader(fd, settle)
    try:
        await ready
    finally:
        if writing:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


async def _shake_hands(loop: asyncio.AbstractEventLoop, sock: ssl.SSLSocket) -> None:
    fd = sock.fileno()
    while True:
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            await _ready(loop, fd, writing=False)
        except ssl.SSLWantWriteError:
            await _ready(loop, fd, writing=True)
        else:
            return


def _discard(sock: socket.socket) -> None:
    """Close a connection whose handshake failed, after dropping what it still sent."""
    with contextlib.suppress(OSError):
        left = _LEFTOVERS
        while left > 0:
            # The raw socket's recv: an SSLSocket would want a handshake first.
            data = socket.socket.recv(sock, min(left, 16384))
            if not data:
                break
            left -= len(data)
    sock.close()


class _Starting(asyncio.Protocol):
    """Hands the loop's TCP transport, wrapped as HTTPS, to the listener's protocol."""

    def __init__(self, protocol: asyncio.Protocol, tls: dict[str, Any]) -> None:
        self._protocol = protocol
        self._tls = tls

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport is not an asyncio.Transport subclass, only alike.
        real = cast(asyncio.Transport, transport)
        real.set_protocol(self._protocol)
        self._protocol.connection_made(KernelTlsTransport(real, self._protocol, self._tls))


class HandoffServer(asyncio.AbstractServer):
    """The listening sockets of a hand-off listener, and the handshakes under way."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sockets: list[socket.socket],
        factory: Callable[[], asyncio.Protocol],
        handoff: Handoff,
        *,
        header_timeout: float,
        guard: _Guard | None,
    ) -> None:
        self._loop = loop
        self.sockets = sockets
        self._factory = factory
        self._handoff = handoff
        self._header_timeout = header_timeout
        self._guard = guard
        self._handshakes: set[asyncio.Task[None]] = set()
        self._serving = False

    # -- asyncio.AbstractServer ----------------------------------------------------

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        if self._serving:
            return
        self._serving = True
        for sock in self.sockets:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    async def serve_forever(self) -> None:  # pragma: no cover - aiohttp never calls it
        await self.start_serving()
        await asyncio.Future()

    def close(self) -> None:
        if self._serving:
            for sock in self.sockets:
                self._loop.remove_reader(sock.fileno())
        self._serving = False
        for sock in self.sockets:
            sock.close()
        for task in self._handshakes:
            task.cancel()

    async def wait_closed(self) -> None:
        if self._handshakes:
            await asyncio.gather(*self._handshakes, return_exceptions=True)

    # -- accepting -----------------------------------------------------------------

    def _accept(self, listening: socket.socket) -> None:
        for _ in range(ACCEPTS_PER_WAKE):
            try:
                conn, _ = listening.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    log.warning(
                        "%s: cannot accept connections (%s); trying again in %g s",
                        self._handoff.name,
                        exc.strerror,
                        ACCEPT_RETRY_DELAY,
                    )
                    self._loop.remove_reader(listening.fileno())
                    self._loop.call_later(ACCEPT_RETRY_DELAY, self._resume, listening)
                    return
                # ECONNABORTED and the like: that client is gone, the others wait.
                continue
            if self._guard is not None and not self._guard.admit():
                conn.close()
                continue
            conn.setblocking(False)
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = self._loop.create_task(self._connection(conn))
            self._handshakes.add(task)
            task.add_done_callback(self._handshakes.discard)

    def _resume(self, listening: socket.socket) -> None:
        if self._serving:
            self._loop.add_reader(listening.fileno(), self._accept, listening)

    async def _connection(self, conn: socket.socket) -> None:
        try:
            tls = self._handoff.context.wrap_socket(
                conn, server_side=True, do_handshake_on_connect=False
            )
        except OSError:
            conn.close()
            self._release()
            return
        try:
            async with asyncio.timeout(self._header_timeout):
                await _shake_hands(self._loop, tls)
        except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
            # A client's failure (a scanner, an old TLS version, plain HTTP, a reset):
            # one debug line, as asyncio's own TLS listeners say nothing of it.
            log.debug("%s: TLS handshake failed: %s", self._handoff.name, str(exc) or "timed out")
            _discard(tls)
            return
        except asyncio.CancelledError:
            tls.close()
            raise
        finally:
            self._release()
        try:
            await self._serve(tls)
        except OSError as exc:
            log.debug("%s: connection lost on hand-off: %s", self._handoff.name, exc)
            tls.close()

    def _release(self) -> None:
        # The listener's protocol counts the connection again once it has it.
        if self._guard is not None:
            self._guard.closed()

    async def _serve(self, tls: ssl.SSLSocket) -> None:
        found = offload(tls)
        self._handoff.counted(found, tls)
        protocol = self._factory()
        if found.path != "kernel" or tls.pending():
            # Plaintext OpenSSL already holds would be lost with it: it keeps reading.
            SocketTlsTransport(self._loop, tls, protocol, kernel_tx=found.tx).start()
            return
        about = {
            "sslcontext": tls.context,
            "peercert": tls.getpeercert(),
            "cipher": tls.cipher(),
            "compression": tls.compression(),
        }
        family = tls.family
        # OpenSSL lets go without a close_notify: the kernel holds the session now.
        plain = socket.socket(family, socket.SOCK_STREAM, fileno=tls.detach())
        await self._loop.connect_accepted_socket(lambda: _Starting(protocol, about), plain)


class HandoffSite(web.BaseSite):
    """An aiohttp site whose connections are handshaken by ``HandoffServer``."""

    __slots__ = ("_handoff", "_header_timeout", "_host", "_port", "_reuse_port")

    def __init__(
        self,
        runner: web.BaseRunner,
        handoff: Handoff,
        host: str,
        port: int,
        *,
        reuse_port: bool,
        backlog: int,
        header_timeout: float,
    ) -> None:
        super().__init__(runner, ssl_context=handoff.context, backlog=backlog)
        self._handoff = handoff
        self._host = host
        self._port = port
        self._reuse_port = reuse_port
        self._header_timeout = header_timeout

    @property
    def name(self) -> str:
        return str(URL.build(scheme="https", host=self._host or "0.0.0.0", port=self._port))

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        if server is None:  # pragma: no cover - aiohttp made it in setup()
            raise RuntimeError("Call runner.setup() before making a site")
        sockets = _listening(
            self._host, self._port, reuse_port=self._reuse_port, backlog=self._backlog
        )
        handoff = HandoffServer(
            asyncio.get_running_loop(),
            sockets,
            server,
            self._handoff,
            header_timeout=self._header_timeout,
            guard=getattr(server, "guard", None),
        )
        self._server = handoff
        await handoff.start_serving()
