"""``GET /admin/stats``: the node's download counts, as ``castedge stats --json`` prints them.

For a dashboard: the admin listener reads what is new in ``analytics.log`` (and its
rotated copies) into its store (``analytics.db``) and counts the period asked for::

    GET /admin/stats?since=2026-11-01[&until=2026-11-30][&episode=podcast/ep215.mp3][&by=app]

Reading and counting block, so they run in a thread, one request at a time.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from analytics import AnalyticsError, BadPeriod, Group, Period, to_json
from analytics.stats import Query, Stats, default_db, default_logs
from config import Settings

__all__ = ["STATS", "StatsService", "add_stats_routes"]


class StatsService:
    """Counts for the admin listener, from the node's own download log."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.settings.analytics.log is not None

    def answer(self, query: Query) -> dict[str, Any]:
        """Read what is new, then count (blocking)."""
        with self._lock, Stats(self.settings, default_db(self.settings)) as stats:
            stats.ingest(default_logs(self.settings))
            return to_json(stats.report(query))


STATS = web.AppKey("stats", StatsService)


async def get_stats(request: web.Request) -> web.Response:
    service = request.app[STATS]
    if not service.enabled:
        return _error(404, "this node records no downloads: set analytics.log")
    given = request.query
    since = given.get("since")
    if not since:
        return _error(400, "since is required: a UTC day such as 2026-11-01")
    try:
        period = Period.parse(since, given.get("until"), now=service.clock())
        by = given.get("by")
        group = Group(by) if by else None
    except BadPeriod as exc:
        return _error(400, str(exc))
    except ValueError:
        return _error(400, "by: expected one of app, country, day")
    query = Query(period, given.get("episode") or None, group)
    loop = asyncio.get_running_loop()
    try:
        body = await loop.run_in_executor(None, service.answer, query)
    except AnalyticsError as exc:
        return _error(409, str(exc))
    return web.json_response(body, headers={"Cache-Control": "no-store"})


def _error(status: int, message: str) -> web.Response:
    return web.json_response(
        {"error": message}, status=status, headers={"Cache-Control": "no-store"}
    )


def add_stats_routes(admin: web.Application) -> None:
    admin.router.add_get("/admin/stats", get_stats)
