"""Running apps as real servers in one process: listeners, readiness, signals, graceful stop."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from config import HttpSettings, Listen
from delivery.accesslog import CombinedLogFormat, access_logger
from delivery.limits import PARSER_LIMITS
from tls import CertificateWatcher
from tls.handoff import Handoff

from .connections import ConnectionMetrics, GuardedRunner

__all__ = ["Listener", "notify_systemd", "serve_forever"]

log = logging.getLogger("castedge")

#: Seconds between closing the listeners and closing idle connections at shutdown, at
#: most: an Internet round trip for a request line, with room for a busy machine.
ACCEPT_GRACE = 1.5

#: Connections the kernel queues for a media listener until the worker accepts them.
#: aiohttp's 128 overflowed when 200 slow heads cut at once all reconnected: a
#: well-behaved client's SYN was dropped and its connect took a SYN retry, a second.
#: nginx listens with 511; the kernel caps it at net.core.somaxconn (4096 since 5.4).
BACKLOG = 1024


@dataclass(frozen=True)
class Listener:
    """One app on one address; ``access_log`` as in the settings ("-", a path, None).

    ``log_format`` writes the access lines (the edge's hides tokens). ``listen`` None is
    an app started without a listener (the sync daemon), whose state another app reads.
    """

    name: str
    app: web.Application
    listen: Listen | None
    access_log: str | None = None
    log_format: type[CombinedLogFormat] = CombinedLogFormat
    reuse_port: bool = False
    #: A listening socket handed down by the supervisor (the admin listener), used
    #: instead of binding ``listen``.
    sock: socket.socket | None = None
    #: HTTPS: the context new connections start from (a renewal is installed into it).
    ssl_context: ssl.SSLContext | None = None
    #: Its deadlines and connection limit (``config.role_http``).
    http: HttpSettings = HttpSettings()
    #: Kernel TLS: handshakes on the socket, then the kernel's (``tls.handoff``).
    handoff: Handoff | None = None


def notify_systemd(state: str) -> None:
    """Tell systemd (Type=notify) about our state; a no-op outside systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(state.encode())


def _bound(site: web.BaseSite) -> str:
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    for sock in sockets:
        host, port = sock.getsockname()[:2]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return site.name


def _site(runner: web.AppRunner, listener: Listener) -> web.BaseSite:
    if listener.sock is not None:
        return web.SockSite(runner, listener.sock, ssl_context=listener.ssl_context)
    assert listener.listen is not None, "an app without a listener gets no site"
    if listener.handoff is not None:
        return listener.handoff.site(
            runner,
            listener.listen.host,
            listener.listen.port,
            reuse_port=listener.reuse_port,
            backlog=BACKLOG,
            header_timeout=listener.http.header_timeout,
        )
    return web.TCPSite(
        runner,
        listener.listen.host,
        listener.listen.port,
        reuse_port=listener.reuse_port or None,
        ssl_context=listener.ssl_context,
        backlog=BACKLOG,
    )


async def serve_forever(
    listeners: Sequence[Listener],
    *,
    shutdown_timeout: float = 30.0,
    watchers: Sequence[CertificateWatcher] = (),
    connections: ConnectionMetrics | None = None,
    bound: dict[str, str] | None = None,
) -> None:
    """Start every listener in order, report readiness, and run until SIGTERM/SIGINT.

    Each listener's connections keep its ``http`` deadlines and limit
    (``runtime.connections``), counted in ``connections``. ``watchers`` renew the TLS
    listeners' certificates while they run. ``bound`` gets each listener's URL as it
    starts, by listener name (the port the kernel gave, where the settings say 0). On
    the signal: stop accepting, give
    running requests ``shutdown_timeout`` seconds, then clean up the apps (in reverse
    order).
    """
    metrics = connections if connections is not None else ConnectionMetrics()
    runners: list[web.AppRunner] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # One process cannot replace itself without refusing connections, so the supervisor
    # reloads by replacing its workers; a SIGHUP sent to the whole group must not kill one.
    loop.add_signal_handler(
        signal.SIGHUP,
        lambda: log.warning("SIGHUP ignored: the supervisor (castedge serve) reloads workers"),
    )
    try:
        for listener in listeners:
            logger = access_logger(listener.access_log) if listener.access_log else None
            runner: web.AppRunner = GuardedRunner(
                listener.app,
                guard=metrics.guard(listener.name, listener.http),
                # TLS connections stay aiohttp's: the fast path writes to the socket.
                fast_path=listener.http.fast_path and listener.ssl_context is None,
                access_log=logger,
                access_log_class=listener.log_format,
                shutdown_timeout=shutdown_timeout,
                max_line_size=PARSER_LIMITS["max_line_size"],
                max_field_size=PARSER_LIMITS["max_field_size"],
            )
            runners.append(runner)
            await runner.setup()
            if listener.listen is None and listener.sock is None:
                continue
            site = _site(runner, listener)
            await site.start()
            # Tests and scripts wait for this line (port 0 means "any free port").
            scheme = "https" if listener.ssl_context is not None else "http"
            url = f"{scheme}://{_bound(site)}"
            if bound is not None:
                bound[listener.name] = url
            print(f"{listener.name} listening on {url}", flush=True)
        renewals = [asyncio.create_task(watcher.run()) for watcher in watchers]
        notify_systemd("READY=1")
        await stop.wait()
        for task in renewals:
            task.cancel()
        notify_systemd("STOPPING=1")
        log.info("stopping: finishing requests in flight")
        for runner in runners:
            for listening in list(runner.sites):
                await listening.stop()
        # aiohttp closes connections that have no request in progress yet; one
        # accepted just before the listener closed gets a moment to send its request
        # line (an Internet round trip) so it is served rather than reset.
        deadline = loop.time() + ACCEPT_GRACE
        # No event says "this connection has sent its request": poll, bounded in time.
        while loop.time() < deadline and any(  # noqa: ASYNC110
            runner.server is not None and runner.server.connections for runner in runners
        ):
            await asyncio.sleep(0.05)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        for runner in reversed(runners):
            await runner.cleanup()
