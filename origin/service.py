"""Running the origin: the media listener and the admin listener."""

from __future__ import annotations

from castedge.runner import Listener, serve_forever
from config import Settings

from .app import create_admin_app, create_app

__all__ = ["run_origin"]


async def run_origin(settings: Settings) -> None:
    """Serve the origin until SIGTERM/SIGINT."""
    app = create_app(settings)
    admin = create_admin_app(app)
    await serve_forever(
        [
            Listener("origin", app, settings.origin.listen, settings.origin.access_log),
            Listener("admin", admin, settings.admin.listen),
        ]
    )
