"""Running the locator: its listener and the admin listener, until told to stop."""

from __future__ import annotations

import logging

from castedge.runner import Listener, serve_forever
from config import Settings
from locator.app import create_admin_app, create_app
from locator.logs import GrantRedactor, LocatorLogFormat
from locator.settings import locator_settings

__all__ = ["run_locator"]

#: Loggers outside ours that may quote a request line (and so a grant).
_QUOTING_LOGGERS = ("aiohttp.server", "aiohttp.web", "aiohttp.access")


async def run_locator(settings: Settings) -> None:
    """Serve the locator until SIGTERM/SIGINT; ConfigError if a section it needs is missing."""
    locator, _, _ = locator_settings(settings)
    for name in _QUOTING_LOGGERS:
        logging.getLogger(name).addFilter(GrantRedactor())
    app = create_app(settings)
    admin = create_admin_app(app)
    await serve_forever(
        [
            Listener(
                "locator", app, locator.listen, locator.access_log, log_format=LocatorLogFormat
            ),
            Listener("admin", admin, settings.admin.listen),
        ]
    )
