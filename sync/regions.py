"""Talking to a region's admin listener: prefetch, purge, and the revocation list.

The daemon never carries media itself: it asks each region's edge to fetch from S3
(``POST /admin/prefetch?wait=1``), so the sync host's bandwidth is not multiplied by
the number of regions. aiohttp's errors stop here, as RegionFailed.
"""

from __future__ import annotations

import urllib.parse
from typing import Any, Protocol

import aiohttp

from .errors import RegionFailed
from .plan import Obj

__all__ = ["Region", "RegionClient"]


class Region(Protocol):
    """What the daemon asks of a region: one edge (RegionClient) or a balanced one."""

    name: str

    async def prefetch(self, key: str) -> Obj:
        """Have the region hold ``key``; the version it then holds."""
        ...

    async def purge(self, key: str) -> None:
        """Have the region drop ``key`` (already absent is as good)."""
        ...

    async def push_revocations(self, body: bytes) -> None:
        """Give the region's nodes the fleet's revocation list."""
        ...


class RegionClient:
    """One region's admin API, with its bearer token."""

    def __init__(
        self,
        name: str,
        admin_url: str,
        token: str | None,
        session: aiohttp.ClientSession,
        *,
        transfer_timeout: float,
    ) -> None:
        self.name = name
        self.admin_url = admin_url
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._session = session
        self._transfer = aiohttp.ClientTimeout(total=transfer_timeout, sock_connect=5)
        self._short = aiohttp.ClientTimeout(total=30, sock_connect=5)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        limits: aiohttp.ClientTimeout,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> tuple[int, Any]:
        url = self.admin_url + path
        try:
            async with self._session.request(
                method, url, headers={**self._headers, **(headers or {})}, timeout=limits, **kwargs
            ) as response:
                if response.status == 401:
                    raise RegionFailed(self.name, "the admin token was refused (401)")
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
                return response.status, body
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RegionFailed(self.name, f"{method} {url}: {exc or type(exc).__name__}") from None

    async def prefetch(self, key: str) -> Obj:
        """Have the region hold ``key``; the version it then holds."""
        status, body = await self._call(
            "POST", "/admin/prefetch?wait=1", json={"keys": [key]}, limits=self._transfer
        )
        if status != 200 or not isinstance(body, dict):
            raise RegionFailed(self.name, f"prefetch of {key!r} answered {status}")
        held = (body.get("held") or {}).get(key)
        if not isinstance(held, dict):
            reasons = [f.get("error") for f in body.get("failed", []) + body.get("invalid", [])]
            raise RegionFailed(self.name, f"prefetch of {key!r} failed: {reasons or body}")
        return Obj(str(held["etag"]), int(held["size"]))

    async def purge(self, key: str) -> None:
        """Have the region drop ``key`` (already absent is as good)."""
        quoted = urllib.parse.quote(key, safe="/")
        status, _ = await self._call("DELETE", f"/admin/cache/{quoted}", limits=self._short)
        if status not in (200, 404):
            raise RegionFailed(self.name, f"purge of {key!r} answered {status}")

    async def push_revocations(self, body: bytes) -> None:
        """Give the node the fleet's revocation list; its roles re-read it by themselves."""
        status, answer = await self._call(
            "PUT",
            "/admin/revocations",
            data=body,
            headers={"Content-Type": "application/json"},
            limits=self._short,
        )
        if status != 200:
            raise RegionFailed(self.name, f"revocation list refused ({status}): {answer}")
