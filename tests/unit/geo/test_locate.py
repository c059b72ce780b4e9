"""Placing client addresses, through geoip2's real Reader over real database files."""

from __future__ import annotations

from pathlib import Path

import geoip2.database
import geoip2.errors
import geoip2.models
import maxminddb
import pytest

from geo import (
    COUNTRY_POINTS,
    DEFAULT_REGIONS,
    HealthBoard,
    InvalidSetting,
    Kind,
    Location,
    Reason,
    choose,
    locate,
    unplaced,
)
from tests.unit.geo import mmdb

ALL = frozenset(r.name for r in DEFAULT_REGIONS)


def nearest(location: Location, healthy: frozenset[str] = ALL) -> str:
    assert location.point is not None
    chosen = choose(DEFAULT_REGIONS, location.point, healthy)
    assert chosen is not None
    return chosen.name


@pytest.mark.parametrize(
    ("ip", "kind", "country", "region"),
    [
        ("81.2.69.142", Kind.CITY, "GB", "eu-west"),  # London
        ("2.125.160.216", Kind.CITY, "GB", "eu-west"),  # Boxford
        ("89.160.20.112", Kind.CITY, "SE", "eu-central"),  # Linköping
        ("216.160.83.56", Kind.CITY, "US", "us-west"),  # Milton, WA
        ("175.16.199.0", Kind.CITY, "CN", "ap-northeast"),  # Changchun
        ("175.16.199.255", Kind.CITY, "CN", "ap-northeast"),
        ("::ffff:81.2.69.142", Kind.CITY, "GB", "eu-west"),
        ("67.43.156.1", Kind.COUNTRY, "BT", "ap-south"),  # Bhutan, no city
        ("2a02:d280::1", Kind.COUNTRY, "CZ", "eu-central"),
    ],
)
def test_maxmind_test_databases(
    maxmind_reader: geoip2.database.Reader, ip: str, kind: Kind, country: str, region: str
) -> None:
    location = locate(maxmind_reader, ip)
    assert location.kind is kind
    assert location.country == country
    assert location.reason is None
    assert nearest(location) == region


def test_a_city_uses_the_records_coordinates(maxmind_reader: geoip2.database.Reader) -> None:
    location = locate(maxmind_reader, "81.2.69.142")
    assert location.point == (51.5142, -0.0931)
    assert location.continent == "EU"


def test_a_country_only_record_uses_the_countrys_point(
    maxmind_reader: geoip2.database.Reader,
) -> None:
    location = locate(maxmind_reader, "67.43.156.1")
    assert location.kind is Kind.COUNTRY
    assert location.point == COUNTRY_POINTS["BT"]
    assert location.continent == "AS"


@pytest.mark.parametrize(
    ("ip", "reason"),
    [
        ("10.1.2.3", Reason.UNROUTABLE),
        ("127.0.0.1", Reason.UNROUTABLE),
        ("::1", Reason.UNROUTABLE),
        ("fe80::1", Reason.UNROUTABLE),
        ("192.0.2.1", Reason.NOT_IN_DATABASE),  # TEST-NET-1: looked up, not found
        ("2001:db8::1", Reason.NOT_IN_DATABASE),
        ("1.1.1.1", Reason.NOT_IN_DATABASE),
        ("not-an-ip", Reason.INVALID_ADDRESS),
        ("", Reason.INVALID_ADDRESS),
        ("81.2.69.142, 10.0.0.1", Reason.INVALID_ADDRESS),
    ],
)
def test_default_for_addresses_the_database_cannot_place(
    maxmind_reader: geoip2.database.Reader, ip: str, reason: Reason
) -> None:
    location = locate(maxmind_reader, ip)
    assert location.kind is Kind.DEFAULT
    assert location.reason is reason
    assert location.point is None


@pytest.mark.parametrize(
    ("ip", "region"),
    [
        ("192.0.2.1", "sa-east"),
        ("::ffff:192.0.2.77", "sa-east"),
        ("198.51.100.23", "ap-south"),
        ("203.0.113.200", "ap-southeast"),
        ("2001:db8:ffff::1", "ap-northeast"),
    ],
)
def test_documentation_ranges_are_looked_up(
    documentation_reader: geoip2.database.Reader, ip: str, region: str
) -> None:
    location = locate(documentation_reader, ip)
    assert location.kind is Kind.CITY
    assert nearest(location) == region


@pytest.mark.parametrize("ip", ["10.1.2.3", "fd00::1"])
def test_private_addresses_are_not_looked_up_even_when_the_database_has_them(
    documentation_reader: geoip2.database.Reader, ip: str
) -> None:
    # The database places 10.0.0.0/8 and fd00::/8 in London.
    assert documentation_reader.city(ip).city.name == "London"
    location = locate(documentation_reader, ip)
    assert location.kind is Kind.DEFAULT
    assert location.reason is Reason.UNROUTABLE


@pytest.mark.parametrize(
    ("ip", "kind", "point", "region"),
    [
        # Country only: the table's city for countries whose centre misleads.
        ("2001:db8:1::1", Kind.COUNTRY, COUNTRY_POINTS["RU"], "eu-central"),
        ("2001:db8:2::1", Kind.COUNTRY, COUNTRY_POINTS["CA"], "us-east"),
        # A country missing from the table: the database's own coordinates.
        ("2001:db8:3::1", Kind.COUNTRY, (12.1696, -68.99), "us-east"),
        # A named city without coordinates is placed at its country's point.
        ("2001:db8:6::1", Kind.COUNTRY, COUNTRY_POINTS["BR"], "sa-east"),
        ("2001:db8:4::1", Kind.CONTINENT, None, "ap-southeast"),
    ],
)
def test_fallbacks_from_city_to_country_to_continent(
    documentation_reader: geoip2.database.Reader,
    ip: str,
    kind: Kind,
    point: tuple[float, float] | None,
    region: str,
) -> None:
    location = locate(documentation_reader, ip)
    assert location.kind is kind
    if point is not None:
        assert location.point == point
    assert nearest(location) == region


def test_a_record_that_places_nothing_is_default(
    documentation_reader: geoip2.database.Reader,
) -> None:
    location = locate(documentation_reader, "2001:db8:5::1")
    assert location.kind is Kind.DEFAULT
    assert location.reason is Reason.NO_PLACE


def test_ipv6_asked_of_an_ipv4_only_database(tmp_path: Path) -> None:
    path = tmp_path / "v4.mmdb"
    mmdb.build(path, [("192.0.2.0/24", mmdb.SYDNEY)], ip_version=4)
    with geoip2.database.Reader(str(path)) as reader:
        assert locate(reader, "192.0.2.9").kind is Kind.CITY
        location = locate(reader, "2a02:d280::1")
    assert location.kind is Kind.DEFAULT
    assert location.reason is Reason.NOT_IN_DATABASE


class SpyReader:
    """A reader that records what it was asked and fails as told."""

    def __init__(self, error: Exception) -> None:
        self.asked: list[str] = []
        self.error = error

    def city(self, ip_address: str, /) -> geoip2.models.City:
        self.asked.append(ip_address)
        raise self.error


def test_only_routable_valid_addresses_reach_the_reader() -> None:
    spy = SpyReader(geoip2.errors.AddressNotFoundError("not found"))
    for ip in ["10.1.2.3", "127.0.0.1", "::1", "not-an-ip", "192.0.2.1", "::ffff:81.2.69.142"]:
        locate(spy, ip)
    assert spy.asked == ["192.0.2.1", "81.2.69.142"]


def test_a_corrupt_record_costs_the_location_not_the_request() -> None:
    spy = SpyReader(maxminddb.InvalidDatabaseError("bad pointer"))
    location = locate(spy, "81.2.69.142")
    assert location.kind is Kind.DEFAULT
    assert location.reason is Reason.DATABASE_ERROR


def test_an_unhealthy_nearest_region_passes_players_to_the_next(
    maxmind_reader: geoip2.database.Reader,
) -> None:
    board = HealthBoard([r.name for r in DEFAULT_REGIONS], rise=1, fall=1)
    board.mark_failed("eu-west")
    location = locate(maxmind_reader, "81.2.69.142")
    assert nearest(location, board.healthy_names()) == "eu-central"


def test_a_location_has_a_point_or_a_reason_never_both() -> None:
    assert unplaced(Reason.UNROUTABLE).point is None
    assert Location(1.0, 2.0, Kind.CITY).point == (1.0, 2.0)
    with pytest.raises(InvalidSetting):
        Location(None, None, Kind.CITY)
    with pytest.raises(InvalidSetting):
        Location(1.0, 2.0, Kind.DEFAULT, reason=Reason.NO_PLACE)
    with pytest.raises(InvalidSetting):
        Location(None, None, Kind.DEFAULT)
    with pytest.raises(InvalidSetting):
        Location(1.0, 2.0, Kind.COUNTRY, reason=Reason.NO_PLACE)
