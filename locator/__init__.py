"""The locator: send each player to the nearest healthy region, with a signed URL there.

The redirect service around the pure `geo` core: aiohttp handlers, the GeoIP reader
kept current in the background, the health checks, and the S3 fallback.
"""

from locator.service import (
    LOCATOR,
    Catalogue,
    LocatorState,
    catalogue_from,
    create_admin_app,
    create_app,
    locator_settings,
    run_locator,
)

__all__ = [
    "LOCATOR",
    "Catalogue",
    "LocatorState",
    "catalogue_from",
    "create_admin_app",
    "create_app",
    "locator_settings",
    "run_locator",
]
