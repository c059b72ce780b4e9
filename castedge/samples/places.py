"""A City database of the demo's own: one sample address in each default region's city.

``castedge locate`` and the locator's redirect need a MaxMind-format City database to
place a player. The demo cannot ship GeoLite2 (its licence needs an account), and must
work offline, so it writes this one: each city of ``geo.DEFAULT_REGIONS`` gets a /48
of the IPv6 documentation block (2001:db8::/32, RFC 3849), which the locator places
like any public address (see ``geo.address.DOCUMENTATION_NETWORKS``) and which no real
database places anywhere. A /48 each, because the locator caches a choice per /48: two
cities in one /48 would share one answer. A ``geo.database`` set to a real GeoLite2 or
DB-IP file replaces this one; the demo simply does not write its own then.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from castedge.samples.mmdb import mmdb_bytes

__all__ = ["CITIES", "DATABASE_NAME", "DATABASE_TYPE", "City", "geo_database"]

DATABASE_TYPE = "castedge-Demo-City"
DATABASE_NAME = "castedge-demo-City.mmdb"
#: A fixed build time (2026-01-01T00:00:00Z): the same cities make the same bytes.
BUILD_EPOCH = 1767225600


@dataclass(frozen=True, slots=True)
class City:
    """A city beside one region, and the sample address the database places there."""

    name: str
    region: str
    address: str
    latitude: float
    longitude: float
    country: str
    continent: str
    geoname_id: int
    time_zone: str

    @property
    def network(self) -> str:
        """The /48 the database places in the city."""
        return self.address.split("::")[0] + "::/48"

    def record(self) -> dict[str, object]:
        """The record as a GeoIP2 City database stores it (the fields geoip2 reads)."""
        return {
            "city": {"geoname_id": self.geoname_id, "names": {"en": self.name}},
            "continent": {"code": self.continent},
            "country": {"iso_code": self.country},
            "location": {
                "latitude": self.latitude,
                "longitude": self.longitude,
                "accuracy_radius": 20,
                "time_zone": self.time_zone,
            },
        }


#: The cities of ``geo.DEFAULT_REGIONS``, in its order, with their GeoNames ids.
CITIES: tuple[City, ...] = (
    City("Columbus", "us-east", "2001:db8:1::10", 39.9612, -82.9988, "US", "NA", 4509177,
         "America/New_York"),
    City("Boardman", "us-west", "2001:db8:2::10", 45.8399, -119.7006, "US", "NA", 5712169,
         "America/Los_Angeles"),
    City("São Paulo", "sa-east", "2001:db8:3::10", -23.5505, -46.6333, "BR", "SA", 3448439,
         "America/Sao_Paulo"),
    City("London", "eu-west", "2001:db8:4::10", 51.5074, -0.1278, "GB", "EU", 2643743,
         "Europe/London"),
    City("Frankfurt", "eu-central", "2001:db8:5::10", 50.1109, 8.6821, "DE", "EU", 2925533,
         "Europe/Berlin"),
    City("Mumbai", "ap-south", "2001:db8:6::10", 19.0760, 72.8777, "IN", "AS", 1275339,
         "Asia/Kolkata"),
    City("Tokyo", "ap-northeast", "2001:db8:7::10", 35.6762, 139.6503, "JP", "AS", 1850147,
         "Asia/Tokyo"),
    City("Sydney", "ap-southeast", "2001:db8:8::10", -33.8688, 151.2093, "AU", "OC", 2147714,
         "Australia/Sydney"),
)  # fmt: skip


def geo_database(dest: Path) -> tuple[Path, dict[str, str]]:
    """Write the demo's City database into ``dest``; its path and each city's address.

    The file is replaced by rename, never written in place: a running locator has the
    old one memory-mapped (see ``geo.reader``), and the bytes are the same each time.
    """
    dest.mkdir(parents=True, exist_ok=True)
    body = mmdb_bytes(
        ((city.network, city.record()) for city in CITIES),
        database_type=DATABASE_TYPE,
        description="castedge demo: one documentation network in each region's city",
        build_epoch=BUILD_EPOCH,
    )
    path = dest / DATABASE_NAME
    if not (path.is_file() and path.read_bytes() == body):
        fd, partial = tempfile.mkstemp(dir=dest, prefix=f".{DATABASE_NAME}.")
        try:
            # Readable by every user, as geoipupdate leaves its files.
            os.fchmod(fd, 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(body)
            os.replace(partial, path)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
    return path, {city.name: city.address for city in CITIES}
