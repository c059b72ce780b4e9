"""Countries of listeners' addresses, from a GeoIP2 (or GeoLite2) City or Country database.

Hashed addresses are located by the /24 or /48 network the row keeps beside the hash
(see ``privacy``), which is as precise as these databases mostly are.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .errors import AnalyticsError

__all__ = ["countries"]


def countries(database: Path, addresses: Iterable[str]) -> dict[str, str]:
    """Each address's ISO country code; addresses the database cannot place are left out."""
    import geoip2.database
    import geoip2.errors
    import maxminddb

    try:
        reader = geoip2.database.Reader(str(database))
    except (OSError, maxminddb.InvalidDatabaseError, ValueError) as exc:
        raise AnalyticsError(f"{database}: cannot be read as a GeoIP2 database: {exc}") from None
    found: dict[str, str] = {}
    with reader:
        kind = reader.metadata().database_type
        lookup = reader.country if "Country" in kind else reader.city
        for address in set(addresses):
            try:
                code = lookup(address).country.iso_code
            except (geoip2.errors.AddressNotFoundError, ValueError):
                continue
            if code:
                found[address] = code
    return found
