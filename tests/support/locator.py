"""A small world for the locator's tests: regions, a City database, settings, grants, servers.

Every address the tests place is in a documentation range (RFC 5737, RFC 3849), put in
a known city by a database built here with mmdb-writer. Regions' base URLs point at a
stand-in on 127.0.0.1 (or at real edges), so no test sends a packet anywhere else.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.test_utils import TestServer

from config import Settings, settings_from_mapping
from delivery.limits import PARSER_LIMITS
from geo import DEFAULT_REGIONS
from locator.app import create_admin_app, create_app
from signer import Purpose, Signer
from tests.unit.geo import mmdb

KEY_ID = "k2025"
SECRET = "locator-test-secret-0123456789abcdef"
ADMIN_TOKEN = "locator-admin-token-0123456789"
PROXY_SECRET = "web-app-proxy-secret-0123456789"

NEW_YORK = mmdb.city("New York", 40.7143, -74.006, country="US", continent="NA", geoname_id=5128581)
SEATTLE = mmdb.city("Seattle", 47.6062, -122.3321, country="US", continent="NA", geoname_id=5809844)
PARIS = mmdb.city("Paris", 48.8534, 2.3488, country="FR", continent="EU", geoname_id=2988507)
BERLIN = mmdb.city("Berlin", 52.5244, 13.4105, country="DE", continent="EU", geoname_id=2950159)

#: Documentation addresses placed in cities near each of the eight default regions, and
#: ones only the country, only the continent, or nothing at all is known for.
WORLD: list[tuple[str, mmdb.Record]] = [
    ("192.0.2.0/25", mmdb.SAO_PAULO),
    ("192.0.2.128/25", NEW_YORK),
    ("198.51.100.0/25", mmdb.MUMBAI),
    ("198.51.100.128/25", SEATTLE),
    ("203.0.113.0/25", mmdb.SYDNEY),
    ("203.0.113.128/25", PARIS),
    ("2001:db8::/32", mmdb.TOKYO),
    ("2001:db8:1::/48", BERLIN),
    ("2001:db8:2::/48", {"country": {"iso_code": "RU"}, "continent": {"code": "EU"}}),
    ("2001:db8:3::/48", {"continent": {"code": "OC"}}),
    ("2001:db8:4::/48", {"traits": {"is_anycast": True}}),
]

#: Where each address of WORLD must be sent, with every region healthy.
NEAREST = {
    "192.0.2.10": "sa-east",  # São Paulo
    "192.0.2.200": "us-east",  # New York: 760 km to Columbus, 3,900 km to Oregon
    "198.51.100.10": "ap-south",  # Mumbai
    "198.51.100.200": "us-west",  # Seattle: 300 km to Boardman
    "203.0.113.10": "ap-southeast",  # Sydney
    "203.0.113.200": "eu-west",  # Paris: 340 km to London, 480 km to Frankfurt
    "2001:db8::10": "ap-northeast",  # Tokyo
    "2001:db8:1::10": "eu-central",  # Berlin: 420 km to Frankfurt, 930 km to London
    "2001:db8:2::10": "eu-central",  # Russia, country only: Moscow, 2,000 km to Frankfurt
    "2001:db8:3::10": "ap-southeast",  # Oceania, continent only: central Australia
}


def build_world(path: Path, networks: Iterable[tuple[str, mmdb.Record]] = WORLD) -> Path:
    mmdb.build(path, networks)
    return path


def install(path: Path, source: Path) -> None:
    """Replace the database the way geoipupdate does: write beside it, then rename."""
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(source.read_bytes())
    os.replace(partial, path)


def regions_at(base: str, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The default catalogue's regions (or some of them), each with its base URL under `base`."""
    wanted = None if names is None else set(names)
    return [
        {
            "name": r.name,
            "latitude": r.latitude,
            "longitude": r.longitude,
            "base_url": f"{base}/{r.name}",
        }
        for r in DEFAULT_REGIONS
        if wanted is None or r.name in wanted
    ]


def locator_document(
    *,
    database: Path,
    regions: list[dict[str, Any]],
    storage: dict[str, Any] | None = None,
    workdir: Path | None = None,
    **sections: dict[str, Any],
) -> dict[str, Any]:
    """A settings document for a locator on loopback ports chosen by the OS."""
    doc: dict[str, Any] = {
        "storage": storage or {"dir": str(workdir or database.parent)},
        "cache": {"dir": str((workdir or database.parent) / "cache"), "max_size": "1GB"},
        "geo": {
            "database": str(database),
            "default_region": "eu-central"
            if any(r["name"] == "eu-central" for r in regions)
            else regions[0]["name"],
            "trusted_proxies": ["127.0.0.1/32"],
            "health": {"interval": "200ms", "timeout": "200ms", "rise": 2, "fall": 3},
        },
        "regions": regions,
        "locator": {"listen": "127.0.0.1:0", "access_log": None, "proxy_secret": PROXY_SECRET},
        "admin": {"listen": "127.0.0.1:0", "token": ADMIN_TOKEN},
        "signing": {"keys": {KEY_ID: SECRET}, "active": KEY_ID, "default_ttl": "2h"},
    }
    for name, values in sections.items():
        if isinstance(values, dict) and isinstance(doc.get(name), dict):
            doc[name] = {**doc[name], **values}
        else:
            doc[name] = values
    return doc


def settings_of(doc: dict[str, Any]) -> Settings:
    return settings_from_mapping(doc, source="locator-test.yaml", environ={})


GRANTS = Signer({KEY_ID: SECRET}, KEY_ID, purpose=Purpose.GRANT)
URL_TOKENS = Signer({KEY_ID: SECRET}, KEY_ID)


def grant(scope: str, *, ttl: float = 120, now: float | None = None, **claims: Any) -> str:
    """A grant as the web app mints it."""
    return GRANTS.mint(scope, now=time.time() if now is None else now, ttl=ttl, **claims)


def token_of(location: str) -> tuple[str, str, str]:
    """(base URL, token, raw path) of an edge URL ``<base>/s/<token>/<path>``."""
    head, marker, rest = location.partition("/s/")
    assert marker, location
    token, _, path = rest.partition("/")
    return head, token, path


def region_of(location: str) -> str:
    """The region of a stand-in edge URL ``http://127.0.0.1:PORT/<region>/s/...``."""
    return urlsplit(token_of(location)[0]).path.strip("/")


@dataclass
class StandInEdges:
    """One aiohttp server answering every region's ``/<region>/healthz``; 503 while down."""

    server: TestServer
    down: set[str] = field(default_factory=set)
    checks: dict[str, int] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return str(self.server.make_url("")).rstrip("/")


async def start_stand_in_edges(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> StandInEdges:
    app = web.Application()
    edges: StandInEdges | None = None

    async def healthz(request: web.Request) -> web.Response:
        assert edges is not None
        region = request.match_info["region"]
        edges.checks[region] = edges.checks.get(region, 0) + 1
        status = 503 if region in edges.down else 200
        return web.json_response({"region": region}, status=status)

    app.router.add_get("/{region}/healthz", healthz)
    edges = StandInEdges(await aiohttp_server(app))
    return edges


@dataclass
class RunningLocator:
    """A locator's listener and admin listener, on loopback."""

    media: TestServer
    admin: TestServer
    settings: Settings
    app: web.Application

    def url(self, target: str) -> str:
        return str(self.media.make_url("")).rstrip("/") + target

    def admin_url(self, path: str) -> str:
        return str(self.admin.make_url(path))

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    @property
    def port(self) -> int:
        port = self.media.port
        assert port is not None
        return port


async def start_locator(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    settings: Settings,
    **kwargs: Any,
) -> RunningLocator:
    app = create_app(settings, **kwargs)
    media = await aiohttp_server(app, **PARSER_LIMITS)
    admin = await aiohttp_server(create_admin_app(app), **PARSER_LIMITS)
    return RunningLocator(media, admin, settings, app)


async def raw_request(port: int, target: bytes, headers: Mapping[str, str] | None = None) -> bytes:
    """Send one request line exactly as given (no client normalises it) and read the head."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        lines = [b"GET " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
        lines += [f"{name}: {value}".encode() for name, value in (headers or {}).items()]
        writer.write(b"\r\n".join(lines) + b"\r\n\r\n")
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), 10)
    finally:
        writer.close()


def status_and_location(head: bytes) -> tuple[int, str | None]:
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"location":
            return status, value.strip().decode("latin-1")
    return status, None


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text output (0 when the series is absent)."""
    wanted = sorted(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        series, _, value = line.rpartition(" ")
        metric_name, _, rest = series.partition("{")
        if metric_name != name:
            continue
        got = sorted(rest.rstrip("}").split(",")) if rest else []
        if got == wanted:
            return float(value)
    return 0.0
