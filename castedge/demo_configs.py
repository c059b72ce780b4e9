"""The settings documents of the demo's fleet: one per service, as an operator would write them.

Pure: plain dicts from paths, URLs and secrets, with no I/O. Every listener asks the
kernel for a port (``127.0.0.1:0``) and says which it got on its "listening on" line,
so nothing can take a port between choosing it and binding it; the documents that
need another service's URL are built once that service has said it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geo import DEFAULT_REGIONS

__all__ = [
    "EDGE_PREFIX",
    "HEALTH",
    "LOOPBACK_PROXIES",
    "PODCAST_PREFIX",
    "Layout",
    "Secrets",
    "edge_document",
    "locator_document",
    "operator_document",
    "origin_document",
    "region_entries",
    "sync_document",
]

#: The podcast is the origin's; the course video is the edges'.
PODCAST_PREFIX = "podcast/"
EDGE_PREFIX = "courses/"
#: curl on this machine plays the web app's proxy: its X-Forwarded-For is believed.
LOOPBACK_PROXIES = ["127.0.0.1/32", "::1/128"]
#: Quick enough that a frozen region is seen within about five seconds, patient enough
#: that a laptop busy starting eleven interpreters does not see regions come and go.
HEALTH = {"interval": "2s", "timeout": "1500ms", "rise": 2, "fall": 2}


@dataclass(frozen=True)
class Secrets:
    """What the fleet shares: the admin token and the key URLs and grants are signed with."""

    admin_token: str
    key_id: str
    signing_key: str


@dataclass(frozen=True)
class Layout:
    """Where the demo keeps each service's files under its data directory."""

    root: Path
    bucket: str
    s3_url: str
    geo_database: Path
    #: (CA bundle, certificate, key) when every listener speaks HTTPS.
    tls: tuple[Path, Path, Path] | None = None

    def config(self, name: str) -> Path:
        return self.root / "configs" / f"{name}.yaml"

    def cache(self, name: str) -> Path:
        return self.root / "cache" / name

    def log(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"


def _common(layout: Layout, secrets: Secrets, admin_port: int = 0) -> dict[str, Any]:
    s3: dict[str, Any] = {"bucket": layout.bucket, "endpoint_url": layout.s3_url}
    admin: dict[str, Any] = {"listen": f"127.0.0.1:{admin_port}", "token": secrets.admin_token}
    doc: dict[str, Any] = {
        "storage": {"s3": s3},
        "upstream": {"retries": 1, "backoff": "50ms"},
        "admin": admin,
        "signing": {
            "keys": {secrets.key_id: secrets.signing_key},
            "active": secrets.key_id,
            "revocation_file": str(layout.root / "revoked.json"),
            "revocation_interval": "1s",
        },
    }
    if layout.tls is not None:
        ca, cert, key = layout.tls
        s3["ca_bundle"] = str(ca)
        doc["ca_bundle"] = str(ca)
        admin["tls"] = {"cert": str(cert), "key": str(key)}
    return doc


def _listener(layout: Layout, name: str, **extra: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "listen": "127.0.0.1:0",
        "access_log": str(layout.log(f"{name}.access")),
        "workers": 1,
        # Ctrl-C should not wait half a minute for a download left running.
        "drain_timeout": "2s",
    } | extra
    if layout.tls is not None:
        _, cert, key = layout.tls
        section["tls"] = {"cert": str(cert), "key": str(key)}
    return section


def origin_document(layout: Layout, secrets: Secrets) -> dict[str, Any]:
    """The podcast's origin: a pull-through cache of ``podcast/``, counting downloads."""
    return _common(layout, secrets) | {
        "cache": {"dir": str(layout.cache("origin")), "max_size": "2GB"},
        "origin": _listener(layout, "origin", prefixes=[PODCAST_PREFIX]),
        "analytics": {"log": str(layout.log("downloads"))},
    }


def edge_document(layout: Layout, secrets: Secrets, region: str) -> dict[str, Any]:
    """One region's video edge, with a cache directory of its own.

    Any web origin's player may read its answers (CORS "*"): the demo's player page
    is one, on a port chosen after the edges start, and the token guards the media.
    """
    name = f"edge-{region}"
    return _common(layout, secrets) | {
        "cache": {"dir": str(layout.cache(name)), "max_size": "1GB"},
        "edge": _listener(layout, name, region=region, prefixes=[EDGE_PREFIX], cors_origins=["*"]),
    }


def region_entries(edges: Mapping[str, tuple[str, str]], secrets: Secrets) -> list[dict[str, Any]]:
    """The default catalogue's regions, each at its edge (``{region: (url, admin_url)}``)."""
    return [
        {
            "name": region.name,
            "latitude": region.latitude,
            "longitude": region.longitude,
            "base_url": edges[region.name][0],
            "admin_url": edges[region.name][1],
            "admin_token": secrets.admin_token,
        }
        for region in DEFAULT_REGIONS
        if region.name in edges
    ]


def _geo(layout: Layout) -> dict[str, Any]:
    return {
        "database": str(layout.geo_database),
        "trusted_proxies": LOOPBACK_PROXIES,
        "health": HEALTH,
    }


def sync_document(
    layout: Layout, secrets: Secrets, regions: list[dict[str, Any]], admin_port: int = 0
) -> dict[str, Any]:
    """The replication daemon: every region's edge comes to hold ``courses/``."""
    return _common(layout, secrets, admin_port) | {
        "regions": regions,
        "sync": {
            "prefixes": [EDGE_PREFIX],
            "interval": "2s",
            "state_file": str(layout.root / "sync-state.json"),
            "retry_backoff": "200ms",
        },
    }


def locator_document(
    layout: Layout, secrets: Secrets, regions: list[dict[str, Any]], holdings_url: str
) -> dict[str, Any]:
    """The locator: each player to the nearest healthy region holding the file."""
    return _common(layout, secrets) | {
        "geo": _geo(layout),
        "regions": regions,
        "locator": _listener(layout, "locator", holdings_url=holdings_url, holdings_interval="1s"),
    }


def operator_document(
    layout: Layout,
    secrets: Secrets,
    regions: list[dict[str, Any]],
    sync_admin_port: int,
    holdings_url: str,
) -> dict[str, Any]:
    """The file ``$CASTEDGE_CONFIG`` names for the commands the demo prints.

    It is the sync daemon's file with its real admin port, so ``castedge publish`` and
    ``castedge sync status`` find the daemon by themselves, plus the geo and locator
    sections ``castedge locate`` reads and the origin's download log, so ``castedge
    stats`` counts into the origin's own store (the one /admin/stats answers from).
    Nothing runs from it.
    """
    doc = sync_document(layout, secrets, regions, sync_admin_port)
    doc["analytics"] = {"log": str(layout.log("downloads"))}
    doc["geo"] = _geo(layout)
    doc["locator"] = {"listen": "127.0.0.1:0", "holdings_url": holdings_url}
    return doc
