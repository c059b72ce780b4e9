"""Client IP → location → nearest healthy region, for the locator's redirects.

The pure core: `rank` and `choose` order a catalogue of `Region`s by effective
distance from a point, healthy regions first; `HealthBoard` turns probe results
into the set of healthy regions; `place` turns a GeoIP2 City record into a
`Location`. The thin I/O around it: `locate` asks a City reader, `ReloadingReader`
keeps one current as geoipupdate replaces the file, and `NetworkCache` saves
repeated lookups from one network.
"""

from geo.address import is_unroutable, parse_client_address
from geo.choice import Ranked, choose, rank
from geo.distance import EARTH_RADIUS_KM, great_circle_km
from geo.errors import (
    DatabaseUnreadable,
    GeoError,
    InvalidAddress,
    InvalidSetting,
    UnknownRegion,
)
from geo.health import HealthBoard, HealthState
from geo.ipcache import NetworkCache, network_key
from geo.locate import CityReader, Kind, Location, Reason, locate, place, unplaced
from geo.points import CONTINENT_POINTS, COUNTRY_POINTS
from geo.reader import ReloadingReader
from geo.region import DEFAULT_REGIONS, Region, check_catalogue

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
    "Ranked",
    "Reason",
    "Region",
    "ReloadingReader",
    "UnknownRegion",
    "check_catalogue",
    "choose",
    "great_circle_km",
    "is_unroutable",
    "locate",
    "network_key",
    "parse_client_address",
    "place",
    "rank",
    "unplaced",
]
