"""Active health checks: GET each region's `/healthz` on a fixed beat, report to the board.

An edge answers its `/healthz` 200 while it can serve and 503 while its disk store is
degraded; anything but a 200 within the timeout (a refused connection, a reset, a
stall, a 5xx, a redirect) counts as a failed check. `HealthBoard` applies rise and
fall. Checks run on a fixed beat, not "sleep after each", so `fall × interval`
bounds how long a dead region keeps receiving players (plus one timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

import aiohttp

from geo.health import HealthBoard
from locator.metrics import LocatorMetrics
from tls.context import client_context

__all__ = ["Prober", "probe"]

log = logging.getLogger("castedge.locator")

USER_AGENT = "castedge-locator"


async def probe(session: aiohttp.ClientSession, url: str, within: float) -> str:
    """Check one URL once, waiting at most `within` seconds for the whole answer.

    Answers a result word from `locator.metrics.PROBE_RESULTS`.
    """
    try:
        async with session.get(
            url,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=within),
            headers={"User-Agent": USER_AGENT},
        ) as response:
            # The body is a few hundred bytes of JSON; reading it keeps the connection
            # reusable for the next check.
            await response.read()
            return "ok" if response.status == 200 else "bad_status"
    except TimeoutError:
        return "timeout"
    except aiohttp.ClientConnectionError:
        return "connect_error"
    except aiohttp.ClientError:
        return "error"


class Prober:
    """Checks every region's health URL every `interval` seconds while `run` runs.

    `on_change(name, healthy)` is called when a region is marked up or down.
    """

    def __init__(
        self,
        urls: Mapping[str, str],
        board: HealthBoard,
        *,
        interval: float,
        timeout: float,
        metrics: LocatorMetrics,
        on_change: Callable[[str, bool], None],
        ca_bundle: Path | None = None,
    ) -> None:
        self.urls = dict(urls)
        #: An https edge's certificate is verified: the system's CAs and these.
        self.ca_bundle = ca_bundle
        self.board = board
        self.interval = interval
        self.timeout = timeout
        self.metrics = metrics
        self.on_change = on_change

    def report(self, name: str, result: str) -> None:
        """Take one check's result for a region: count it, and flip the region if due."""
        self.metrics.probes.labels(name, result).inc()
        if self.board.record(name, result == "ok"):
            self._changed(name, f"last check: {result}")

    def mark_failed(self, name: str) -> None:
        """Count a failure seen outside the checks (reported by the sync daemon, say)."""
        self.metrics.passive_failures.labels(name).inc()
        if self.board.mark_failed(name):
            self._changed(name, "reported failure")

    def _changed(self, name: str, why: str) -> None:
        state = self.board.state(name)
        healthy = state.healthy
        self.metrics.region_healthy.labels(name).set(int(healthy))
        self.metrics.transitions.labels(name, "up" if healthy else "down").inc()
        if healthy:
            log.warning("region %s UP after %d good checks", name, state.successes)
        else:
            log.error(
                "region %s DOWN after %d failures (%s); players go to the next nearest",
                name,
                state.failures,
                why,
            )
        self.on_change(name, healthy)

    async def run(self) -> None:
        """Check every region until cancelled."""
        connector = aiohttp.TCPConnector(
            limit_per_host=2, ttl_dns_cache=60, ssl=client_context(self.ca_bundle)
        )
        async with aiohttp.ClientSession(connector=connector) as session:
            tasks = [
                asyncio.create_task(self._watch(session, name, url), name=f"probe {name}")
                for name, url in self.urls.items()
            ]
            try:
                await asyncio.gather(*tasks)
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    async def _watch(self, session: aiohttp.ClientSession, name: str, url: str) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            try:
                result = await probe(session, url, self.timeout)
            except Exception:
                # Whatever went wrong, the other regions' checks and the next one go on.
                log.exception("checking region %s at %s failed", name, url)
                result = "error"
            self.report(name, result)
            due += self.interval
            now = loop.time()
            # Behind the beat (the loop was busy): start afresh rather than burst.
            due = max(due, now)
            await asyncio.sleep(due - now)
