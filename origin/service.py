"""Running the origin: the media listener and the admin listener."""

from __future__ import annotations

import dataclasses
import os

from castedge.runner import Listener, serve_forever
from castedge.supervisor import PORTS_ENV
from config import Listen, Settings

from .app import create_admin_app, create_app

__all__ = ["run_origin"]


async def run_origin(settings: Settings, *, worker: bool = False) -> None:
    """Serve the origin until SIGTERM/SIGINT.

    As one of several workers, listen on the ports the supervisor reserved, sharing
    them with the other workers (SO_REUSEPORT).
    """
    media, admin = settings.origin.listen, settings.admin.listen
    if worker:
        media_port, admin_port = (int(p) for p in os.environ[PORTS_ENV].split(","))
        media, admin = Listen(media.host, media_port), Listen(admin.host, admin_port)
        settings = dataclasses.replace(
            settings, origin=dataclasses.replace(settings.origin, listen=media)
        )
    app = create_app(settings)
    admin_app = create_admin_app(app)
    await serve_forever(
        [
            Listener("origin", app, media, settings.origin.access_log, reuse_port=worker),
            Listener("admin", admin_app, admin, reuse_port=worker),
        ],
        shutdown_timeout=settings.origin.drain_timeout,
    )
