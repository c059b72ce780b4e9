"""Fixtures for the geo tests: MaxMind's published test databases, and our own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import geoip2.database
import pytest

from tests.unit.geo import mmdb

MAXMIND_DATA = Path(__file__).resolve().parents[2] / "data" / "maxmind"


@pytest.fixture(params=["GeoIP2-City-Test.mmdb", "GeoLite2-City-Test.mmdb"])
def maxmind_reader(request: pytest.FixtureRequest) -> Iterator[geoip2.database.Reader]:
    """A geoip2 Reader over each of MaxMind's City test databases in turn."""
    with geoip2.database.Reader(str(MAXMIND_DATA / request.param)) as reader:
        yield reader


# Documentation ranges placed in known cities, plus sub-networks that exercise each
# fallback of `locate`, and a private range the pre-check must never look up.
DOCUMENTATION_NETWORKS: list[tuple[str, mmdb.Record]] = [
    ("192.0.2.0/24", mmdb.SAO_PAULO),
    ("198.51.100.0/24", mmdb.MUMBAI),
    ("203.0.113.0/24", mmdb.SYDNEY),
    ("2001:db8::/32", mmdb.TOKYO),
    # Country only, in countries whose table point is a city, not the centroid.
    ("2001:db8:1::/48", {"country": {"iso_code": "RU"}, "continent": {"code": "EU"}}),
    ("2001:db8:2::/48", {"country": {"iso_code": "CA"}, "continent": {"code": "NA"}}),
    # Country only, with the database's coordinates, in a country our table lacks.
    (
        "2001:db8:3::/48",
        {
            "country": {"iso_code": "CW"},
            "continent": {"code": "NA"},
            "location": {"latitude": 12.1696, "longitude": -68.99},
        },
    ),
    # Continent only.
    ("2001:db8:4::/48", {"continent": {"code": "OC"}}),
    # A record that places the address nowhere.
    ("2001:db8:5::/48", {"traits": {"is_anycast": True}}),
    # A city name without coordinates: the country's point must stand in.
    (
        "2001:db8:6::/48",
        {
            "city": {"geoname_id": 3451190, "names": {"en": "Rio de Janeiro"}},
            "country": {"iso_code": "BR"},
            "continent": {"code": "SA"},
        },
    ),
    ("10.0.0.0/8", mmdb.LONDON),
    ("fd00::/8", mmdb.LONDON),
]


@pytest.fixture(scope="session")
def documentation_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database placing the documentation ranges (see DOCUMENTATION_NETWORKS)."""
    path = tmp_path_factory.mktemp("mmdb") / "documentation.mmdb"
    mmdb.build(path, DOCUMENTATION_NETWORKS)
    return path


@pytest.fixture
def documentation_reader(documentation_db: Path) -> Iterator[geoip2.database.Reader]:
    with geoip2.database.Reader(str(documentation_db)) as reader:
        yield reader
