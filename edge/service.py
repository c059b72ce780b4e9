"""Running the edge: the media listener and the admin listener."""

from __future__ import annotations

import logging

from castedge.runner import Listener, serve_forever
from config import Settings

from .accesslog import EdgeLogFormat, TokenRedactor
from .app import create_admin_app, create_app, edge_settings

__all__ = ["run_edge"]

#: Loggers outside ours that may quote a request line (and so a token).
_QUOTING_LOGGERS = ("aiohttp.server", "aiohttp.web", "aiohttp.access")


async def run_edge(settings: Settings) -> None:
    """Serve the edge until SIGTERM/SIGINT; ConfigError without ``edge`` or ``signing``."""
    edge, _ = edge_settings(settings)
    for name in _QUOTING_LOGGERS:
        logging.getLogger(name).addFilter(TokenRedactor())
    app = create_app(settings)
    admin = create_admin_app(app)
    await serve_forever(
        [
            Listener("edge", app, edge.listen, edge.access_log, log_format=EdgeLogFormat),
            Listener("admin", admin, settings.admin.listen),
        ]
    )
