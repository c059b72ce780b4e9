"""A stand-in for the sync daemon's admin API (nudge, status, holdings) over a real bucket.

It serves the three endpoints as documented, behind the admin token, on an
``aiohttp_server`` on 127.0.0.1 port 0. A nudge lists the bucket through boto3, as
the daemon would; then each read of the holdings brings the listed objects to the
next region in ``order``, so a test knows exactly what a poll sees. Regions in
``stuck`` never receive anything.
"""

from __future__ import annotations

import asyncio
import datetime
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.conftest import Bucket


@dataclass
class Region:
    healthy: bool = True
    last_error: str | None = None


@dataclass
class FakeSyncDaemon:
    bucket: Bucket | None
    token: str
    regions: dict[str, Region]
    order: list[str] = field(default_factory=list)
    stuck: set[str] = field(default_factory=set)
    #: What the status endpoint says beyond the held counts, per region.
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)
    listed_at: str | None = None
    nudges: int = 0
    tokens_seen: list[str | None] = field(default_factory=list)
    listing: dict[str, tuple[str, int]] = field(default_factory=dict)
    held: dict[str, set[str]] = field(default_factory=dict)

    def app(self) -> web.Application:
        @web.middleware
        async def auth(request: web.Request, handler: Any) -> web.StreamResponse:
            given = request.headers.get("Authorization")
            self.tokens_seen.append(given.removeprefix("Bearer ") if given else None)
            if given != f"Bearer {self.token}":
                return web.json_response({"error": "unauthorized"}, status=401)
            response: web.StreamResponse = await handler(request)
            return response

        app = web.Application(middlewares=[auth])
        app.router.add_post("/admin/sync/nudge", self.nudge)
        app.router.add_get("/admin/sync/status", self.status)
        app.router.add_get("/admin/sync/holdings", self.holdings)
        return app

    async def nudge(self, request: web.Request) -> web.Response:
        self.nudges += 1
        if self.bucket is not None:
            self.listing = await asyncio.to_thread(self._list)
        self.listed_at = datetime.datetime.now(datetime.UTC).isoformat()
        return web.json_response({"pass": self.nudges}, status=202)

    def _list(self) -> dict[str, tuple[str, int]]:
        assert self.bucket is not None
        pages = self.bucket.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket.name
        )
        return {
            o["Key"]: (o["ETag"], o["Size"]) for page in pages for o in page.get("Contents", [])
        }

    async def status(self, request: web.Request) -> web.Response:
        regions = {}
        for name, region in self.regions.items():
            held = sum(1 for holders in self.held.values() if name in holders)
            regions[name] = {
                "healthy": region.healthy,
                "held": held,
                "objects_pending": len(self.listing) - held,
                "bytes_pending": 0,
                "oldest_pending_seconds": None,
                "last_error": region.last_error,
                "last_success": None,
            } | self.extra.get(name, {})
        body = {"listed_at": self.listed_at, "objects": len(self.listing), "regions": regions}
        return web.json_response(body)

    async def holdings(self, request: web.Request) -> web.Response:
        if self.listing:
            arriving = [r for r in self.order if r not in self.stuck]
            for region in arriving:
                if any(region not in self.held.get(key, set()) for key in self.listing):
                    for key in self.listing:
                        self.held.setdefault(key, set()).add(region)
                    break
        objects = {
            key: {"etag": etag, "size": size, "held": sorted(self.held.get(key, set()))}
            for key, (etag, size) in self.listing.items()
        }
        return web.json_response({"regions": list(self.regions), "objects": objects})
