"""Where a client is, as precisely as the GeoIP2 City database can say.

`locate` takes a client address and answers a `Location` whose `kind` says how
precise it is: the city's coordinates when the database names a city, else a
representative point for the country, else for the continent, else DEFAULT, which
the caller maps to its configured default region. Looking a client up never raises.

Only `locate` needs geoip2 (for the errors a reader raises), and imports it when
called: the rest of this module, and the `geo` package with it, loads without it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from geo.address import is_unroutable, parse_client_address
from geo.errors import InvalidAddress, InvalidSetting
from geo.points import CONTINENT_POINTS, COUNTRY_POINTS

if TYPE_CHECKING:
    import geoip2.models


class CityReader(Protocol):
    """Anything that answers GeoIP2 City records: `geoip2.database.Reader`, `ReloadingReader`."""

    def city(self, ip_address: str, /) -> geoip2.models.City: ...


class Kind(enum.Enum):
    """How precisely a `Location` places the client."""

    CITY = "city"
    COUNTRY = "country"
    CONTINENT = "continent"
    DEFAULT = "default"


class Reason(enum.Enum):
    """Why an address could not be placed, for logs and metrics."""

    INVALID_ADDRESS = "invalid_address"
    UNROUTABLE = "unroutable"
    NOT_IN_DATABASE = "not_in_database"
    NO_PLACE = "no_place"
    DATABASE_ERROR = "database_error"


@dataclass(frozen=True, slots=True)
class Location:
    """A client's position for region choice, with what it was derived from.

    `latitude` and `longitude` are None exactly when `kind` is DEFAULT, and `reason`
    is set exactly then. `country` (ISO 3166-1 alpha-2) and `continent` (MaxMind's
    two-letter code) are what the database said, for logs.
    """

    latitude: float | None
    longitude: float | None
    kind: Kind
    country: str | None = None
    continent: str | None = None
    reason: Reason | None = None

    def __post_init__(self) -> None:
        placed = self.latitude is not None and self.longitude is not None
        if placed == (self.kind is Kind.DEFAULT) or (self.reason is None) == (
            self.kind is Kind.DEFAULT
        ):
            raise InvalidSetting(
                "location",
                self,
                "a point and no reason, or for DEFAULT a reason and no point",
            )

    @property
    def point(self) -> tuple[float, float] | None:
        """The (latitude, longitude) to rank regions from, None for DEFAULT."""
        if self.latitude is None or self.longitude is None:
            return None
        return (self.latitude, self.longitude)


def unplaced(
    reason: Reason, *, country: str | None = None, continent: str | None = None
) -> Location:
    """A DEFAULT location, saying why the address could not be placed."""
    return Location(None, None, Kind.DEFAULT, country, continent, reason)


def locate(reader: CityReader, ip: str) -> Location:
    """Place a client address, falling back from city to country to continent to DEFAULT.

    Addresses that cannot be on the public internet (see `is_unroutable`) are not
    looked up; everything else, documentation ranges included, is the database's to
    answer.
    """
    try:
        address = parse_client_address(ip)
    except InvalidAddress:
        return unplaced(Reason.INVALID_ADDRESS)
    if is_unroutable(address):
        return unplaced(Reason.UNROUTABLE)
    # Here rather than at the top, so that the pure core loads without geoip2; once
    # loaded, these are a lookup in sys.modules.
    from geoip2.errors import AddressNotFoundError
    from maxminddb import InvalidDatabaseError

    try:
        record = reader.city(str(address))
    except AddressNotFoundError:
        return unplaced(Reason.NOT_IN_DATABASE)
    except InvalidDatabaseError:
        # A corrupt record must cost one client its nearest region, not its request.
        return unplaced(Reason.DATABASE_ERROR)
    except ValueError:
        # An IPv6 address asked of an IPv4-only database.
        return unplaced(Reason.NOT_IN_DATABASE)
    return place(record)


def place(record: geoip2.models.City) -> Location:
    """The most precise location a City record supports.

    A record's own coordinates are used only when it names a city. A country-only
    record usually carries coordinates too, but they are the database's centre for
    the country; our table's point stands in instead, so that its choices (Moscow
    rather than central Siberia) hold whichever database edition is loaded. Only a
    country missing from the table falls back to the record's coordinates. The
    `registered_country` is never used: it is where the network's owner registered
    it, not where the client is.
    """
    country = record.country.iso_code
    continent = record.continent.code
    latitude = record.location.latitude
    longitude = record.location.longitude
    names_city = record.city.geoname_id is not None or bool(record.city.names)

    if names_city and latitude is not None and longitude is not None:
        return Location(latitude, longitude, Kind.CITY, country, continent)
    if country is not None:
        point = COUNTRY_POINTS.get(country)
        if point is None and latitude is not None and longitude is not None:
            point = (latitude, longitude)
        if point is not None:
            return Location(point[0], point[1], Kind.COUNTRY, country, continent)
    if continent is not None and continent in CONTINENT_POINTS:
        lat, lon = CONTINENT_POINTS[continent]
        return Location(lat, lon, Kind.CONTINENT, country, continent)
    return unplaced(Reason.NO_PLACE, country=country, continent=continent)
