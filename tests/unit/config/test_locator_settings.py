"""The locator's settings: geo, regions and locator sections, as an operator writes them."""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest

from config import (
    ConfigError,
    GeoSettings,
    HealthCheckSettings,
    Listen,
    LocatorSettings,
    Secret,
    load_settings,
    settings_from_mapping,
)
from geo import DEFAULT_REGIONS, great_circle_km

EXAMPLE = Path(__file__).resolve().parents[3] / "config" / "example.yaml"

#: The cities the issue names, each region's point within 200 km of it.
CITIES = {
    "us-east": (39.9612, -82.9988),  # Columbus, Ohio
    "us-west": (45.5152, -122.6784),  # Oregon: Portland (see below)
    "sa-east": (-23.5505, -46.6333),  # São Paulo
    "eu-west": (51.5074, -0.1278),  # London
    "eu-central": (50.1109, 8.6821),  # Frankfurt
    "ap-south": (19.0760, 72.8777),  # Mumbai
    "ap-northeast": (35.6762, 139.6503),  # Tokyo
    "ap-southeast": (-33.8688, 151.2093),  # Sydney
}


def document(**sections: Any) -> dict[str, Any]:
    """A locator's file: no storage and no cache, which only the caching roles need."""
    doc: dict[str, Any] = {"signing": {"keys": {"k1": "k" * 32}, "active": "k1"}}
    doc.update(sections)
    return doc


def region(name: str = "eu-central", **changes: Any) -> dict[str, Any]:
    entry = {"name": name, "latitude": 50.1, "longitude": 8.7, "base_url": "https://fra.example"}
    entry.update(changes)
    return entry


def error(doc: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(doc, source="castedge.yaml", environ={})
    return str(caught.value)


def test_the_example_holds_the_eight_regions_in_their_cities() -> None:
    environ = {
        "CASTEDGE_ADMIN_TOKEN": "t",
        "CASTEDGE_SIGNING_KEY_2025A": "a" * 32,
        "CASTEDGE_SIGNING_KEY_2025B": "b" * 32,
    }
    settings = load_settings(EXAMPLE, environ=environ)
    assert settings.regions is not None
    assert [r.name for r in settings.regions] == list(CITIES)
    for entry in settings.regions:
        city = CITIES[entry.name]
        # Oregon's datacentres are on the Columbia at Boardman, not in Portland.
        limit = 300 if entry.name == "us-west" else 1
        assert great_circle_km(city, (entry.latitude, entry.longitude)) < limit, entry.name
        assert entry.base_url.startswith("https://") and entry.weight == 1
    # The same points as the geo package's built-in catalogue.
    assert [(r.name, r.latitude, r.longitude) for r in settings.regions] == [
        (r.name, r.latitude, r.longitude) for r in DEFAULT_REGIONS
    ]
    assert settings.geo is not None and settings.geo.default_region == "eu-central"
    assert settings.locator is not None and settings.locator.proxy_secret is None
    edge = settings.edge
    assert edge is not None
    # The example's edge is one of the example's regions.
    assert {r.name: r.base_url for r in settings.regions}[edge.region] == edge.public_url


def test_the_defaults() -> None:
    settings = settings_from_mapping(
        document(
            geo={"database": "/var/lib/GeoIP/GeoLite2-City.mmdb"}, locator={}, regions=[region()]
        ),
        source="castedge.yaml",
        environ={},
    )
    assert settings.geo == GeoSettings(
        database=Path("/var/lib/GeoIP/GeoLite2-City.mmdb"),
        default_region=None,
        trusted_proxies=(),
        client_ip_header="x-forwarded-for",
        cache_size=16384,
        reload_interval=60.0,
        health=HealthCheckSettings(interval=5.0, timeout=2.0, rise=2, fall=3),
    )
    assert settings.locator == LocatorSettings(
        listen=Listen("0.0.0.0", 8082),
        access_log="-",
        grant_header="X-Castedge-Grant",
        proxy_secret_header="X-Castedge-Proxy-Secret",
        proxy_secret=None,
    )
    assert settings.regions is not None
    assert (settings.regions[0].weight, settings.regions[0].health_url) == (1.0, None)


def test_every_key_given() -> None:
    settings = settings_from_mapping(
        document(
            geo={
                "database": "/db.mmdb",
                "default_region": "b",
                "trusted_proxies": ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"],
                "client_ip_header": "Forwarded",
                "cache_size": 10,
                "reload_interval": "5m",
                "health": {"interval": "1s", "timeout": "1s", "rise": 1, "fall": 5},
            },
            locator={
                "listen": "127.0.0.1:9000",
                "access_log": None,
                "grant_header": "X-Grant",
                "proxy_secret_header": "X-Proxy",
                "proxy_secret": "${PROXY_SECRET}",
            },
            regions=[
                region("a", base_url="https://a.example/video/", weight=2.5),
                region("b", health_url="http://10.0.0.5:8081/healthz"),
            ],
        ),
        source="castedge.yaml",
        environ={"PROXY_SECRET": "p" * 20},
    )
    geo, locator, regions = settings.geo, settings.locator, settings.regions
    assert geo is not None and locator is not None and regions is not None
    assert geo.trusted_proxies == (
        ip_network("10.0.0.0/8"),
        ip_network("2001:db8::/32"),
        ip_network("192.0.2.7/32"),
    )
    assert (geo.client_ip_header, geo.cache_size, geo.reload_interval) == ("forwarded", 10, 300.0)
    assert locator.proxy_secret == Secret("p" * 20)
    assert "p" * 20 not in repr(settings)
    assert regions[0].base_url == "https://a.example/video"
    assert regions[0].weight == 2.5
    assert regions[1].health_url == "http://10.0.0.5:8081/healthz"


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        (
            {"regions": []},
            "castedge.yaml: regions: expected a list of 1 to 64 regions, got 0",
        ),
        (
            {"regions": [region(f"r{i}") for i in range(65)]},
            "castedge.yaml: regions: expected a list of 1 to 64 regions, got 65",
        ),
        (
            {"regions": {"eu-central": {}}},
            "castedge.yaml: regions: expected a list of regions, each a mapping with name and "
            "base_url, got a mapping",
        ),
        (
            {"regions": [region(), region()]},
            "castedge.yaml: regions[1].name: expected each region name once, "
            "got 'eu-central' again",
        ),
        (
            {"regions": [region(latitude=91)]},
            "castedge.yaml: regions[0].latitude: expected a number from -90 to 90, got 91",
        ),
        (
            {"regions": [region(longitude="8.7")]},
            "castedge.yaml: regions[0].longitude: expected a number from -180 to 180, got '8.7'",
        ),
        (
            {"regions": [region(weight=0)]},
            "castedge.yaml: regions[0].weight: expected a number above 0 and at most 1000, got 0",
        ),
        (
            {"regions": [region(name="eu central")]},
            "castedge.yaml: regions[0].name: expected a region name of up to 64 letters, "
            "digits, '.', '_' or '-', got 'eu central'",
        ),
        (
            {"regions": [region(base_url="https://fra.example/?a=b")]},
            "castedge.yaml: regions[0].base_url: expected a URL without a query or fragment, "
            "got 'https://fra.example/?a=b'",
        ),
        (
            {"regions": [region(base_url="ftp://fra.example")]},
            "castedge.yaml: regions[0].base_url: expected an http(s) URL such as "
            "'http://127.0.0.1:9000', got 'ftp://fra.example'",
        ),
        (
            {"regions": [region(basе_url="https://x")]},  # a Cyrillic "е"
            "castedge.yaml: regions[0].basе_url: unknown key; did you mean 'base_url'?",
        ),
        (
            {"geo": {"database": "/x", "default_region": "mars"}, "regions": [region()]},
            "castedge.yaml: geo.default_region: expected a region listed under regions "
            "('eu-central'), got 'mars'",
        ),
        (
            {"geo": {"database": "/x", "trusted_proxies": ["10.0.0.1/8"]}},
            "castedge.yaml: geo.trusted_proxies[0]: expected an address or network such as "
            "'10.0.0.0/8' or '2001:db8::/32', got '10.0.0.1/8' (host bits are set)",
        ),
        (
            {"geo": {"database": "/x", "client_ip_header": "x-real-ip"}},
            "castedge.yaml: geo.client_ip_header: expected one of x-forwarded-for, forwarded, "
            "got 'x-real-ip'",
        ),
        (
            {"geo": {"database": "/x", "health": {"interval": "1s", "timeout": "2s"}}},
            "castedge.yaml: geo.health.timeout: expected at most interval (1 s), got 2 s",
        ),
        (
            {"geo": {"database": "/x", "health": {"fall": 0}}},
            "castedge.yaml: geo.health.fall: expected an integer from 1 to 100, got 0",
        ),
        (
            {"geo": {}},
            "castedge.yaml: geo.database: missing; "
            "expected the path of a MaxMind-format City database",
        ),
        (
            {"locator": {"grant_header": "X Grant"}},
            "castedge.yaml: locator.grant_header: expected an HTTP header name such as "
            "'X-Castedge-Grant', got 'X Grant'",
        ),
        (
            {"locator": {"proxy_secret_header": "x-castedge-grant"}},
            "castedge.yaml: locator.proxy_secret_header: expected a header other than "
            "grant_header, got 'x-castedge-grant'",
        ),
        (
            {"locator": {"proxy_secret": "short secret"}},
            "castedge.yaml: locator.proxy_secret: expected a secret of at least 16 characters "
            "without spaces, got 12 characters",
        ),
    ],
)
def test_mistakes_are_named(sections: dict[str, Any], message: str) -> None:
    assert error(document(**sections)) == message
