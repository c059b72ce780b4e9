"""The demo's own City database, read back by geoip2 (both of its readers) and the locator's."""

from __future__ import annotations

import geoip2.database
import geoip2.errors
import maxminddb
import pytest

from castedge.samples import CITIES, geo_database
from castedge.samples.mmdb import Unsigned, mmdb_bytes
from geo import DEFAULT_REGIONS
from geo.choice import choose
from geo.locate import Kind, locate
from geo.reader import ReloadingReader

MODES = [
    pytest.param(maxminddb.MODE_MMAP_EXT, id="libmaxminddb"),
    pytest.param(maxminddb.MODE_FILE, id="pure-python"),
]


@pytest.mark.parametrize("mode", MODES)
def test_each_city_reads_back_with_what_the_locator_uses(tmp_path, mode) -> None:
    path, addresses = geo_database(tmp_path)
    assert addresses == {city.name: city.address for city in CITIES}
    assert len(set(addresses.values())) == len(DEFAULT_REGIONS)
    with geoip2.database.Reader(str(path), mode=mode) as reader:
        assert "City" in reader.metadata().database_type
        for city in CITIES:
            record = reader.city(addresses[city.name])
            assert record.city.name == city.name
            assert (record.location.latitude, record.location.longitude) == (
                city.latitude,
                city.longitude,
            )
            assert record.country.iso_code == city.country
            assert record.continent.code == city.continent
        # Nothing else is placed: public resolvers and the rest of 2001:db8::/32.
        for other in ("1.1.1.1", "2606:4700:4700::1111", "2001:db8:9::10"):
            with pytest.raises(geoip2.errors.AddressNotFoundError):
                reader.city(other)


def test_each_sample_address_goes_to_its_region(tmp_path) -> None:
    path, addresses = geo_database(tmp_path)
    healthy = {region.name for region in DEFAULT_REGIONS}
    with ReloadingReader(path) as reader:
        for city in CITIES:
            location = locate(reader, addresses[city.name])
            assert location.kind is Kind.CITY, location
            assert location.point is not None
            chosen = choose(DEFAULT_REGIONS, location.point, healthy)
            assert chosen is not None and chosen.name == city.region


def test_writing_again_leaves_an_identical_file_alone(tmp_path) -> None:
    path, _ = geo_database(tmp_path)
    before = path.stat()
    again, _ = geo_database(tmp_path)
    assert again == path
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_a_changed_file_is_replaced_by_rename(tmp_path) -> None:
    path, _ = geo_database(tmp_path)
    path.write_bytes(b"not a database")
    inode = path.stat().st_ino
    geo_database(tmp_path)
    assert path.stat().st_ino != inode
    with geoip2.database.Reader(str(path)) as reader:
        assert reader.city(CITIES[0].address).city.name == CITIES[0].name


@pytest.mark.parametrize("mode", MODES)
def test_the_writer_round_trips_every_type_and_size(tmp_path, mode) -> None:
    record = {
        "flags": [True, False],
        "small": 7,
        "zero": 0,
        "wide": 2**40,
        "widest": 2**100,
        "uint32": Unsigned(32, 5),
        "float": -33.8688,
        # Lengths at each size encoding: < 29, < 285, < 65821, and beyond.
        "strings": ["é" * 14, "a" * 200, "b" * 60_000, "c" * 70_000],
        "many": {f"k{n}": n for n in range(300)},
    }
    path = tmp_path / "types.mmdb"
    path.write_bytes(
        mmdb_bytes(
            [("192.0.2.0/24", record), ("2001:db8::/32", {"v": 6})],
            database_type="castedge-Test-City",
            description="types",
            build_epoch=1,
        )
    )
    with maxminddb.open_database(str(path), mode) as reader:
        assert reader.get("192.0.2.77") == {**record, "uint32": 5}
        assert reader.get("2001:db8:ffff::1") == {"v": 6}
        assert reader.get("192.0.3.1") is None
        assert reader.metadata().build_epoch == 1


def test_the_writer_refuses_overlapping_networks() -> None:
    with pytest.raises(ValueError, match="overlaps"):
        mmdb_bytes(
            [("192.0.2.0/24", {"a": 1}), ("192.0.2.128/25", {"b": 2})],
            database_type="x-City",
            description="overlap",
            build_epoch=1,
        )
