"""One worker process of a node: the roles it serves, and, for the first, the admin listener.

The supervisor starts worker 0 to 𝑊-1, 𝑊 being the most ``workers`` any role asks
for. Worker 𝑖 serves every role whose ``workers`` is above 𝑖, so worker 0 serves all
of them; it also serves the node's admin listener, over the engines it runs itself.
Media ports are shared with the other workers through SO_REUSEPORT; the admin socket
is one listening socket the supervisor opened and handed down.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from config import Listen, Settings, role_http
from tls.redirect import redirect_app

from .admin import create_node_admin
from .connections import ConnectionMetrics
from .https import Secured
from .listeners import Listener, serve_forever
from .roles import build_role, role_workers

__all__ = [
    "ADMIN_FD_ENV",
    "PORTS_ENV",
    "SUPERVISOR_ENV",
    "redirect_name",
    "roles_of_worker",
    "run_worker",
]

#: The ports the supervisor reserved, by role: "origin=8080,edge=8081".
PORTS_ENV = "CASTEDGE_WORKER_PORTS"
#: The descriptor of the admin listening socket, in worker 0.
ADMIN_FD_ENV = "CASTEDGE_ADMIN_FD"
#: The supervisor's process id: a worker whose parent is gone stops.
SUPERVISOR_ENV = "CASTEDGE_SUPERVISOR_PID"


def roles_of_worker(
    settings: Settings, roles: tuple[str, ...], index: int, cpus: int
) -> tuple[str, ...]:
    """The roles worker ``index`` serves: those with more than ``index`` workers."""
    return tuple(role for role in roles if role_workers(settings, role, cpus) > index)


def _ports(environ: Mapping[str, str]) -> dict[str, int]:
    pairs = (item.split("=", 1) for item in environ.get(PORTS_ENV, "").split(",") if item)
    return {role: int(port) for role, port in pairs}


async def run_worker(
    settings: Settings,
    roles: tuple[str, ...],
    *,
    admin: bool,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Serve ``roles`` (and the admin listener when ``admin``) until SIGTERM/SIGINT."""
    env = os.environ if environ is None else environ
    ports = _ports(env)
    # Under the supervisor the ports are shared with the other workers; alone (the
    # demo, a test), a port in use must be an error, not a silent share.
    supervised = PORTS_ENV in env
    built = [build_role(settings, role) for role in roles]
    secured = Secured()
    connections = ConnectionMetrics()
    listeners = []
    # Each listener's URL once it is up, for the admin listener's /healthz.
    bound: dict[str, str] = {}
    for role in built:
        listen = role.listen
        if listen is None:
            listeners.append(Listener(role.role, role.app, None))
            continue
        listen = Listen(listen.host, ports.get(role.role, listen.port))
        http = role_http(settings, role.role)
        tls = getattr(settings, role.role).tls
        context = secured.context(settings, role.role, tls) if tls is not None else None
        listeners.append(
            Listener(
                role.role,
                role.app,
                listen,
                role.access_log,
                log_format=role.log_format,
                reuse_port=supervised,
                ssl_context=context,
                http=http,
                handoff=secured.handoff(role.role) if tls is not None else None,
            )
        )
        if tls is not None and tls.redirect_http is not None:
            name = redirect_name(role.role)
            plain = tls.redirect_http
            listeners.append(
                Listener(
                    name,
                    redirect_app(listen.port, tls.acme_webroot),
                    Listen(plain.host, ports.get(name, plain.port)),
                    role.access_log,
                    reuse_port=supervised,
                    http=http,
                )
            )
    if admin:
        fd = env.get(ADMIN_FD_ENV)
        sock = socket.socket(fileno=int(fd)) if fd else None
        revocations = settings.signing.revocation_file if settings.signing else None
        admin_tls = settings.admin.tls
        context = secured.context(settings, "admin", admin_tls) if admin_tls is not None else None
        app = create_node_admin(
            [role.admin for role in built],
            settings.admin.token,
            revocation_file=revocations,
            tls=secured if secured.watchers else None,
            registries=[connections.registry],
            listening=bound,
        )
        listeners.append(
            Listener(
                "admin",
                app,
                settings.admin.listen,
                sock=sock,
                ssl_context=context,
                http=role_http(settings, "admin"),
            )
        )
    drain = max((role.drain_timeout for role in built), default=30.0)
    await serve_forever(
        listeners,
        shutdown_timeout=drain,
        watchers=list(secured.watchers.values()),
        connections=connections,
        bound=bound,
    )


def redirect_name(role: str) -> str:
    """The name of a role's plain-HTTP redirect listener, in logs and the ports list."""
    return f"{role}_redirect"
