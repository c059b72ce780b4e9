"""The replication daemon: list the bucket, plan, and get every region to hold it.

Each pass lists the main bucket, works out the plan (``sync.plan``) and starts a
task for every (region, key) that is not already being worked on: purge the copy a
region holds of a deleted or replaced key, then ask it to prefetch the listed
version. Passes do not wait for transfers, so a nudge (``castedge publish``) starts
a new object's replication at once even while a large one is still travelling.

Bounds: ``sync.concurrency`` tasks in all and ``sync.per_region`` per region. A
region whose request fails backs off (exponentially, with full jitter, up to a
minute) and is planned again once that has passed: a region that was down is caught
up when it returns, and a delete is never skipped because something else failed.
The state is saved shortly after every change (``sync.state``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from config import SyncSettings
from edge.errors import RevocationFileError
from edge.revocations import RevocationFile
from signer import RevocationList, RevocationListError

from .bucket import Bucket
from .errors import ListingFailed, RegionFailed, StateFileError
from .metrics import SyncMetrics
from .plan import Obj, Plan, plan
from .regions import Region
from .state import StateFile, SyncState

__all__ = ["Daemon", "RegionStatus"]

log = logging.getLogger("castedge.sync")

#: Longest pause before a failing region is tried again.
MAX_BACKOFF = 60.0
#: A change is written to the state file at most this long after it happened.
SAVE_DELAY = 0.5
#: The lag and pending gauges are brought up to date at most this often.
GAUGE_SECONDS = 1.0


@dataclass
class RegionStatus:
    """How the daemon's requests to one region have gone lately."""

    failures: int = 0
    retry_at: float = 0.0
    last_error: str | None = None
    last_success: float | None = None


class Daemon:
    """One node's replication daemon (a single process: worker 0 of the node)."""

    def __init__(
        self,
        settings: SyncSettings,
        *,
        bucket: Bucket,
        regions: Mapping[str, Region],
        nodes: tuple[Region, ...] = (),
        state_file: StateFile,
        metrics: SyncMetrics,
        revocation_file: RevocationFile | None = None,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.bucket = bucket
        self.regions = dict(regions)
        self.nodes = nodes
        self.state_file = state_file
        self.metrics = metrics
        self.revocation_file = revocation_file
        self.clock = clock
        self.jitter = jitter
        self.state = SyncState()
        self.status = {name: RegionStatus() for name in self.regions}
        self.passes = 0
        self.listing_error: str | None = None
        self.deletes_held = False
        self._waiting_logged = False
        self._gauges_at = -GAUGE_SECONDS
        self._gauges_stale = False
        self._nudged = asyncio.Event()
        self._dirty = asyncio.Event()
        self._inflight: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._all = asyncio.Semaphore(settings.concurrency)
        self._each = {name: asyncio.Semaphore(settings.per_region) for name in self.regions}

    # -- running ----------------------------------------------------------------------

    async def start(self) -> None:
        """Check that the saved state is usable (raises StateFileError when it is not)."""
        await asyncio.to_thread(self.state_file.load)

    def nudge(self) -> int:
        """Start a pass now (or right after the one running); the number it will have."""
        self._nudged.set()
        return self.passes + 1

    async def run(self) -> None:
        """Pass after pass until cancelled; a pass every ``sync.interval`` or on a nudge.

        First it takes the state file's lock, so one daemon at a time works from it: on
        a reload the new worker's daemon waits for the old one's last save.
        """
        while (lock := self.state_file.lock()) is None:
            if not self._waiting_logged:
                log.info("waiting for %s: another daemon still uses it", self.state_file.path)
                self._waiting_logged = True
            await asyncio.sleep(0.2)
        try:
            self.state = await asyncio.to_thread(self.state_file.load)
            for name in self.regions:
                self.state.holdings.setdefault(name, {})
            await self._passes()
        finally:
            lock.close()

    async def _passes(self) -> None:
        saver = asyncio.create_task(self._save_forever(), name="sync state saver")
        try:
            while True:
                self._nudged.clear()
                try:
                    await self.pass_once()
                except Exception:
                    # One bad pass must not end replication; the next one starts afresh.
                    log.exception("replication pass %d failed", self.passes)
                    self.listing_error = f"pass {self.passes} failed; see the log"
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._nudged.wait(), self.settings.interval)
        finally:
            for task in [saver, *self._inflight.values()]:
                task.cancel()
            for task in [saver, *self._inflight.values()]:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._save()

    async def pass_once(self) -> None:
        """List the bucket, carry the revocation list, start what the plan asks."""
        self.passes += 1
        try:
            listing = await asyncio.to_thread(self.bucket.list)
        except ListingFailed as exc:
            if self.listing_error != str(exc):
                log.error("%s; regions keep what they hold", exc)
            self.listing_error = str(exc)
            self.metrics.passes.labels("failed").inc()
            return
        self.listing_error = None
        self._take_listing(listing, self.clock())
        await self._carry_revocations()
        work = self.plan()
        self.deletes_held = work.deletes_held
        if work.deletes_held:
            log.warning(
                "this pass would purge %d objects, over sync.max_deletes (%d): purging none; "
                "check the bucket and sync.prefixes, then raise the limit if it is meant",
                work.deletes,
                self.settings.max_deletes,
            )
            self.metrics.passes.labels("deletes_held").inc()
        else:
            self.metrics.passes.labels("ok").inc()
        now = self.clock()
        for region, todo in work.regions.items():
            if now < self.status[region].retry_at:
                continue
            for key in dict.fromkeys([*todo.purge, *(key for key, _ in todo.fetch)]):
                self._schedule(region, key, self.state.listing.get(key))
        self._dirty.set()

    def plan(self) -> Plan:
        """What is left to do, from the last listing and the holdings as they are now."""
        return plan(
            self.state.listing,
            self.state.holdings,
            tuple(self.regions),
            max_deletes=self.settings.max_deletes,
        )

    def _take_listing(self, listing: dict[str, Obj], now: float) -> None:
        state = self.state
        for key, obj in listing.items():
            if state.listing.get(key) != obj:
                state.changed_at[key] = now
        for key in state.listing.keys() - listing.keys():
            state.changed_at[key] = now
        held_anywhere = set().union(*(h.keys() for h in state.holdings.values()))
        for key in list(state.changed_at):
            if key not in listing and key not in held_anywhere:
                del state.changed_at[key]
        state.listing = listing
        state.listed_at = now
        state.prefixes = self.bucket.prefixes
        self.metrics.listed_objects.set(len(listing))

    def _schedule(self, region: str, key: str, wanted: Obj | None) -> None:
        if (region, key) in self._inflight:
            return
        task = asyncio.create_task(self._sync_one(region, key, wanted), name=f"sync {region}")
        self._inflight[(region, key)] = task

    async def _sync_one(self, region: str, key: str, wanted: Obj | None) -> None:
        client = self.regions[region]
        held = self.state.holdings[region]
        try:
            # The region's own slot first: a region with a backlog must not hold the
            # fleet's slots while it waits for its own.
            async with self._each[region], self._all:
                if key in held and (wanted is None or held[key] != wanted.etag):
                    try:
                        await client.purge(key)
                    except RegionFailed:
                        self.metrics.purges.labels(region, "failed").inc()
                        raise
                    held.pop(key, None)
                    self.metrics.purges.labels(region, "ok").inc()
                if wanted is not None:
                    try:
                        got = await client.prefetch(key)
                    except RegionFailed:
                        self.metrics.prefetches.labels(region, "failed").inc()
                        raise
                    held[key] = got.etag
                    self.metrics.prefetches.labels(region, "ok").inc()
                    if got.etag != wanted.etag:
                        # Replaced again while travelling: the next listing decides.
                        log.info("%s holds %s at %s, not %s", region, key, got.etag, wanted.etag)
            self._succeeded(region)
        except RegionFailed as exc:
            self._failed(region, exc)
        finally:
            self._inflight.pop((region, key), None)
            self._dirty.set()

    def _succeeded(self, region: str) -> None:
        status = self.status[region]
        if status.failures:
            log.info("%s answers again after %d failures", region, status.failures)
        status.failures = 0
        status.retry_at = 0.0
        status.last_success = self.clock()

    def _failed(self, region: str, exc: RegionFailed) -> None:
        status = self.status[region]
        status.failures += 1
        pause = min(MAX_BACKOFF, self.settings.retry_backoff * 2 ** (status.failures - 1))
        status.retry_at = self.clock() + pause * self.jitter()
        if status.last_error != exc.message:
            log.warning("%s; trying again within %.1f s", exc, pause)
        status.last_error = exc.message

    async def _carry_revocations(self) -> None:
        """Push the fleet's revocation list to every node when it changed in the bucket."""
        try:
            found = await asyncio.to_thread(self.bucket.revocations)
        except ListingFailed as exc:
            log.error("%s", exc)
            return
        if found is None or found[0] == self.state.revocations_etag:
            return
        etag, body = found
        try:
            incoming = RevocationList.from_json(body)
        except RevocationListError as exc:
            log.error("the revocation list in the bucket does not parse, not carried: %s", exc)
            return
        targets = [*self.regions.values(), *self.nodes]
        results = await asyncio.gather(
            *(target.push_revocations(body) for target in targets), return_exceptions=True
        )
        failed = [str(r) for r in results if isinstance(r, BaseException)]
        if self.revocation_file is not None:
            try:
                await asyncio.to_thread(self.revocation_file.merge, incoming, now=self.clock())
            except RevocationFileError as exc:
                failed.append(str(exc))
        if failed:
            log.warning("revocation list not delivered everywhere yet: %s", "; ".join(failed))
            return
        log.info("revocation list (%d entries) delivered to %d nodes", len(incoming), len(targets))
        self.state.revocations_etag = etag

    async def _save_forever(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._dirty.wait(), GAUGE_SECONDS)
            except TimeoutError:
                if self._gauges_stale:
                    self._update_gauges()
                continue
            await asyncio.sleep(SAVE_DELAY)
            self._dirty.clear()
            await self._save()

    async def _save(self) -> None:
        # Serialised here, where the state changes; written in a thread.
        text = self.state.to_json()
        try:
            await asyncio.to_thread(self.state_file.write, text)
        except StateFileError as exc:
            log.error("%s", exc)
        # Planning a large bucket for every region is not free: the gauges follow the
        # saves at most every GAUGE_SECONDS.
        if time.monotonic() - self._gauges_at >= GAUGE_SECONDS:
            self._update_gauges()
        else:
            self._gauges_stale = True

    # -- what it tells -------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """``/admin/sync/status``: each region's backlog and health."""
        now = self.clock()
        work = self.plan()
        regions = {}
        for name, todo in work.regions.items():
            status = self.status[name]
            held = self.state.holdings.get(name, {})
            keys = set(todo.purge) | {key for key, _ in todo.fetch}
            oldest = min((self.state.changed_at.get(k, now) for k in keys), default=None)
            regions[name] = {
                "healthy": status.failures == 0,
                "held": sum(
                    1
                    for key, etag in held.items()
                    if (obj := self.state.listing.get(key)) is not None and obj.etag == etag
                ),
                "objects_pending": len(keys),
                "bytes_pending": todo.bytes,
                "oldest_pending_seconds": None if oldest is None else round(now - oldest, 3),
                "last_error": status.last_error,
                "last_success": _iso(status.last_success),
            }
        return {
            "listed_at": _iso(self.state.listed_at),
            "objects": len(self.state.listing),
            "passes": self.passes,
            "listing_error": self.listing_error,
            "deletes_held": self.deletes_held,
            "regions": regions,
        }

    def holdings(self) -> dict[str, Any]:
        """``/admin/sync/holdings``: for each listed key, the regions holding that version."""
        names = list(self.regions)
        objects = {}
        for key, obj in self.state.listing.items():
            held = [
                name for name in names if self.state.holdings.get(name, {}).get(key) == obj.etag
            ]
            objects[key] = {"etag": obj.etag, "size": obj.size, "held": held}
        return {"regions": names, "objects": objects}

    def _update_gauges(self) -> None:
        self._gauges_at = time.monotonic()
        self._gauges_stale = False
        for name, region in self.describe()["regions"].items():
            self.metrics.lag.labels(name).set(region["oldest_pending_seconds"] or 0)
            self.metrics.pending_objects.labels(name).set(region["objects_pending"])
            self.metrics.pending_bytes.labels(name).set(region["bytes_pending"])


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
