"""Client IP → location → nearest healthy region, for the locator's redirects.

The pure core: `rank` and `choose` order a catalogue of `Region`s by effective
distance from a point, healthy regions first; `HealthBoard` turns probe results
into the set of healthy regions; `place` turns a GeoIP2 City record into a
`Location`; `client_address` finds the client behind trusted proxies; `authorise`
checks a grant; `place_client` and `edge_url` decide and build the redirect. The thin
I/O around it: `locate` asks a City reader and `NetworkCache` saves repeated lookups
from one network.

Importing this package needs neither geoip2 nor aiohttp. `geo.reader.ReloadingReader`,
which keeps a City reader current as geoipupdate replaces the file, wraps geoip2 and is
imported from `geo.reader` by whoever opens a database. The locator service itself
(aiohttp, health checks) is the `locator` package.
"""

from geo.address import is_unroutable, parse_client_address
from geo.choice import Ranked, choose, rank
from geo.distance import EARTH_RADIUS_KM, great_circle_km
from geo.errors import (
    DatabaseUnreadable,
    GeoError,
    InvalidAddress,
    InvalidSetting,
    Refused,
    UnknownRegion,
    UnsafePath,
)
from geo.explain import describe_location, ranking_table
from geo.forwarded import client_address, forwarded_for, x_forwarded_for
from geo.grant import Permit, Via, authorise, proxy_scope
from geo.health import HealthBoard, HealthState
from geo.ipcache import NetworkCache, network_key
from geo.locate import CityReader, Kind, Location, Reason, locate, place, unplaced
from geo.points import CONTINENT_POINTS, COUNTRY_POINTS
from geo.region import DEFAULT_REGIONS, Region, check_catalogue
from geo.target import Placement, edge_url, place_client

__all__ = [
    "CONTINENT_POINTS",
    "COUNTRY_POINTS",
    "DEFAULT_REGIONS",
    "EARTH_RADIUS_KM",
    "CityReader",
    "DatabaseUnreadable",
    "GeoError",
    "HealthBoard",
    "HealthState",
    "InvalidAddress",
    "InvalidSetting",
    "Kind",
    "Location",
    "NetworkCache",
    "Permit",
    "Placement",
    "Ranked",
    "Reason",
    "Refused",
    "Region",
    "UnknownRegion",
    "UnsafePath",
    "Via",
    "authorise",
    "check_catalogue",
    "choose",
    "client_address",
    "describe_location",
    "edge_url",
    "forwarded_for",
    "great_circle_km",
    "is_unroutable",
    "locate",
    "network_key",
    "parse_client_address",
    "place",
    "place_client",
    "proxy_scope",
    "rank",
    "ranking_table",
    "unplaced",
    "x_forwarded_for",
]
