"""Build small GeoIP2-City-shaped MaxMind databases for tests, with mmdb-writer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mmdb_writer import MMDBWriter
from netaddr import IPSet  # type: ignore[import-untyped]

Record = Mapping[str, Any]


def city(
    name: str,
    latitude: float,
    longitude: float,
    *,
    country: str,
    continent: str,
    geoname_id: int = 1,
) -> Record:
    """A record the way GeoIP2 City stores an address placed in a city."""
    return {
        "city": {"geoname_id": geoname_id, "names": {"en": name}},
        "country": {"iso_code": country},
        "continent": {"code": continent},
        "location": {"latitude": latitude, "longitude": longitude, "accuracy_radius": 20},
    }


def build(
    path: Path,
    networks: Iterable[tuple[str, Record]],
    *,
    database_type: str = "castedge-City-Test",
    ip_version: int = 6,
) -> bytes:
    """Write a database holding `networks` (supernets first) to `path`; return its bytes."""
    writer = MMDBWriter(
        ip_version=ip_version,
        ipv4_compatible=ip_version == 6,
        database_type=database_type,
        languages=["en"],
        description="castedge test database",
    )
    for network, record in networks:
        writer.insert_network(IPSet([network]), dict(record))
    writer.to_db_file(str(path))
    return path.read_bytes()


SAO_PAULO = city("São Paulo", -23.5475, -46.6361, country="BR", continent="SA", geoname_id=3448439)
MUMBAI = city("Mumbai", 19.0728, 72.8826, country="IN", continent="AS", geoname_id=1275339)
SYDNEY = city("Sydney", -33.8678, 151.2073, country="AU", continent="OC", geoname_id=2147714)
TOKYO = city("Tokyo", 35.6895, 139.6917, country="JP", continent="AS", geoname_id=1850147)
LONDON = city("London", 51.5085, -0.1257, country="GB", continent="EU", geoname_id=2643743)
