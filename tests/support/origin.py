"""Starting origins in-process (real aiohttp servers on loopback) for integration tests."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

from config import Settings, role_cache, settings_from_mapping
from delivery.limits import PARSER_LIMITS
from origin.app import create_admin_app, create_app

ADMIN_TOKEN = "test-admin-token-0123456789"


def origin_settings(
    *, bucket: str, endpoint: str, cache_dir: Path, **sections: dict[str, Any]
) -> Settings:
    """Settings for an origin on loopback ports chosen by the OS, caching in ``cache_dir``."""
    doc: dict[str, Any] = {
        "storage": {"s3": {"bucket": bucket, "endpoint_url": endpoint}},
        "cache": {"dir": str(cache_dir), "max_size": "1GB"},
        # The directory itself, not <dir>/origin: the full-disk tests mount it.
        "origin": {"listen": "127.0.0.1:0", "access_log": None, "cache_dir": str(cache_dir)},
        "admin": {"listen": "127.0.0.1:0", "token": ADMIN_TOKEN},
        "upstream": {"retries": 2, "backoff": "10ms", "read_timeout": "5s"},
    }
    for name, values in sections.items():
        doc.setdefault(name, {}).update(values)
    return settings_from_mapping(doc, source="test.yaml")


@dataclass
class RunningOrigin:
    """An origin's media and admin servers, and the settings they run with."""

    media: TestServer
    admin: TestServer
    settings: Settings

    def url(self, key: str) -> str:
        return str(self.media.make_url("/" + key))

    def admin_url(self, path: str) -> str:
        return str(self.admin.make_url(path))

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def cached_files(self) -> list[Path]:
        objects = role_cache(self.settings, "origin").dir / "objects"
        return sorted(p for p in objects.rglob("*") if p.is_file())

    async def wait_cached(self, count: int = 1, timeout: float = 10.0) -> list[Path]:
        """Poll until ``count`` objects are published (a fill ends just after its last byte)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(files := self.cached_files()) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{len(files)} cached objects after {timeout} s, not {count}")
            await asyncio.sleep(0.02)
        return files

    def temp_files(self) -> list[Path]:
        return sorted((role_cache(self.settings, "origin").dir / "tmp").iterdir())


async def start_origin(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    settings: Settings,
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> RunningOrigin:
    """The origin's media listener (HTTPS with ``ssl_context``) and its admin listener."""
    app = create_app(settings)
    media = await aiohttp_server(app, ssl=ssl_context, **PARSER_LIMITS)
    admin = await aiohttp_server(create_admin_app(app), **PARSER_LIMITS)
    return RunningOrigin(media, admin, settings)


async def fetch(
    session: aiohttp.ClientSession, url: str, **kwargs: Any
) -> tuple[int, CIMultiDict[str], bytes]:
    """GET (or ``method=``) a URL; return status, headers and the whole body."""
    method = kwargs.pop("method", "GET")
    async with session.request(method, url, **kwargs) as resp:
        return resp.status, CIMultiDict(resp.headers), await resp.read()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
