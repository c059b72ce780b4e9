"""Starting edges in-process (real aiohttp servers on loopback) for integration tests."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from config import Settings, settings_from_mapping
from delivery.limits import PARSER_LIMITS
from edge.app import create_admin_app, create_app
from signer import Signer

ADMIN_TOKEN = "edge-admin-token-0123456789"
KEY_ID = "k2025"
SECRET = "edge-test-secret-0123456789abcdef"
OLD_KEY_ID = "k2024"
OLD_SECRET = "edge-old-secret-0123456789abcdef"
REGION = "eu-test"
PAGE_ORIGIN = "https://learn.example.com"


class Clock:
    """A clock the test moves by hand, so expiry needs no sleeping."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now


def edge_settings(
    *, bucket: str, endpoint: str, cache_dir: Path, **sections: dict[str, Any]
) -> Settings:
    """Settings for an edge on loopback ports chosen by the OS, signing with two keys."""
    doc: dict[str, Any] = {
        "storage": {"s3": {"bucket": bucket, "endpoint_url": endpoint}},
        "cache": {"dir": str(cache_dir), "max_size": "1GB"},
        "edge": {
            "listen": "127.0.0.1:0",
            "region": REGION,
            "public_url": "http://edge.invalid",
            "public_prefixes": ["marketing/"],
            "cors_origins": [PAGE_ORIGIN],
            "access_log": None,
            "cache_dir": str(cache_dir),
        },
        "admin": {"listen": "127.0.0.1:0", "token": ADMIN_TOKEN},
        "upstream": {"retries": 2, "backoff": "10ms", "read_timeout": "5s"},
        "signing": {"keys": {KEY_ID: SECRET, OLD_KEY_ID: OLD_SECRET}, "active": KEY_ID},
    }
    for name, values in sections.items():
        doc.setdefault(name, {}).update(values)
    return settings_from_mapping(doc, source="test.yaml")


@dataclass
class RunningEdge:
    """An edge's media and admin servers, the settings they run with, and its clock."""

    media: TestServer
    admin: TestServer
    settings: Settings
    clock: Clock

    @property
    def signer(self) -> Signer:
        return Signer.from_settings(self.settings)

    @property
    def base(self) -> str:
        return str(self.media.make_url("/")).rstrip("/")

    def url(self, path: str, **claims: Any) -> str:
        """A signed URL on this edge for ``path`` (minted now, by the edge's clock)."""
        return self.signer.url(path, now=self.clock(), base=self.base, **claims)

    def public(self, path: str) -> str:
        return f"{self.base}/{path}"

    def admin_url(self, path: str) -> str:
        return str(self.admin.make_url(path))

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def start_edge(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    settings: Settings,
    clock: Clock | None = None,
) -> RunningEdge:
    clock = clock or Clock()
    app = create_app(settings, clock=clock)
    media = await aiohttp_server(app, **PARSER_LIMITS)
    admin = await aiohttp_server(create_admin_app(app), **PARSER_LIMITS)
    return RunningEdge(media, admin, settings, clock)


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text output (0 when the series is absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if match is None or match[1] != name:
            continue
        got = ",".join(sorted((match[2] or "").split(","))) if match[2] else ""
        if got == wanted:
            return float(match[3])
    return 0.0
