"""Scanners cost no S3 money: unlisted keys are 404s without a GET, and misses are rationed.

A scanner asks for thousands of paths that do not exist, each once. With
``storage.list_keys`` the origin answers them from its listing of the bucket; without
it, ``upstream.max_miss_rate`` turns one address's excess misses into 429s. Counted
at the S3 server: the GETs it saw for object keys.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from sync.plan import Obj
from sync.state import StateFile, SyncState
from tests.conftest import Bucket, payload
from tests.support.origin import RunningOrigin, fetch, origin_settings, start_origin

EPISODES = [f"podcast/ep-{n:03}.mp3" for n in range(3)]


def object_gets(bucket: Bucket) -> int:
    """GETs of objects (not of listings: those have no key in their path)."""
    prefix = f"/{bucket.name}/"
    return sum(1 for r in bucket.server.requests if r.method == "GET" and r.path.startswith(prefix))


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(limit=32)
    async with aiohttp.ClientSession(connector=connector) as s:
        yield s


async def metric(session: aiohttp.ClientSession, origin: RunningOrigin, name: str) -> float:
    _, _, body = await fetch(session, origin.admin_url("/metrics"))
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith(name):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def scan(session: aiohttp.ClientSession, origin: RunningOrigin, count: int) -> list[int]:
    """``count`` requests for random paths that do not exist, 32 at a time."""
    statuses: list[int] = []
    paths = [f"podcast/{uuid.uuid4().hex}.mp3" for _ in range(count)]
    for start in range(0, count, 32):
        batch = paths[start : start + 32]
        results = await asyncio.gather(*(fetch(session, origin.url(p)) for p in batch))
        statuses += [status for status, _, _ in results]
    return statuses


async def listed_origin(aiohttp_server, bucket: Bucket, tmp_path: Path) -> RunningOrigin:
    for key in EPISODES:
        bucket.put(key, payload(1000, key))
    settings = origin_settings(
        bucket=bucket.name,
        endpoint=bucket.server.url,
        cache_dir=tmp_path,
        storage={"list_keys": True, "list_interval": "300ms"},
    )
    return await start_origin(aiohttp_server, settings)


async def wait_listed(session, origin: RunningOrigin, keys: int) -> None:
    deadline = asyncio.get_running_loop().time() + 10
    while await metric(session, origin, "castedge_listed_keys") != keys:
        assert asyncio.get_running_loop().time() < deadline, "the bucket was never listed"
        await asyncio.sleep(0.05)


async def test_unlisted_keys_are_404s_without_an_s3_get(
    aiohttp_server, bucket: Bucket, tmp_path: Path, session
) -> None:
    origin = await listed_origin(aiohttp_server, bucket, tmp_path)
    await wait_listed(session, origin, len(EPISODES))
    before = object_gets(bucket)
    statuses = await scan(session, origin, 2000)
    assert set(statuses) == {404}
    assert object_gets(bucket) == before, "a scanner's paths reached S3"
    assert await metric(session, origin, "castedge_misses_refused_total") == 2000
    status, _, body = await fetch(session, origin.url(EPISODES[0]))
    assert (status, body) == (200, payload(1000, EPISODES[0]))
    assert object_gets(bucket) == before + 1


async def test_a_new_upload_is_served_from_the_next_listing(
    aiohttp_server, bucket: Bucket, tmp_path: Path, session
) -> None:
    origin = await listed_origin(aiohttp_server, bucket, tmp_path)
    await wait_listed(session, origin, len(EPISODES))
    fresh = "podcast/ep-new.mp3"
    bucket.put(fresh, payload(500, fresh))
    deadline = asyncio.get_running_loop().time() + 10
    while (await fetch(session, origin.url(fresh)))[0] != 200:
        assert asyncio.get_running_loop().time() < deadline, "never listed"
        await asyncio.sleep(0.1)
    await wait_listed(session, origin, len(EPISODES) + 1)


async def test_one_address_past_its_miss_rate_gets_429s(
    aiohttp_server, bucket: Bucket, tmp_path: Path, session
) -> None:
    bucket.put(EPISODES[0], payload(1000, EPISODES[0]))
    settings = origin_settings(
        bucket=bucket.name,
        endpoint=bucket.server.url,
        cache_dir=tmp_path,
        upstream={"max_miss_rate": 5, "miss_burst": 20, "negative_ttl": "0s"},
    )
    origin = await start_origin(aiohttp_server, settings)
    status, _, _ = await fetch(session, origin.url(EPISODES[0]))
    assert status == 200
    await origin.wait_cached(1)
    loop = asyncio.get_running_loop()
    started, before = loop.time(), object_gets(bucket)
    statuses = await scan(session, origin, 500)
    elapsed = loop.time() - started
    let_through = object_gets(bucket) - before
    # The one miss above spent a token too.
    assert let_through <= 20 + 5 * elapsed + 1
    assert statuses.count(429) >= 500 - (20 + 5 * elapsed + 1)
    assert set(statuses) == {404, 429}
    assert await metric(session, origin, 'castedge_misses_refused_total{reason="rate"') == (
        statuses.count(429)
    )
    # Hits cost the upstream nothing and are never refused.
    status, headers, _ = await fetch(session, origin.url(EPISODES[0]))
    assert status == 200
    for attempt in range(40):  # the budget refills 5 a second: a 429 comes soon
        status, headers, body = await fetch(session, origin.url(f"podcast/x-{attempt}.mp3"))
        if status == 429:
            break
    assert status == 429
    assert int(headers["Retry-After"]) >= 1
    assert headers["Cache-Control"] == "no-store"
    assert b"podcast" not in body


async def test_a_release_stampede_is_never_refused(
    aiohttp_server, bucket: Bucket, tmp_path: Path, session
) -> None:
    key = EPISODES[1]
    body = payload(2_000_000, key)
    bucket.put(key, body)
    settings = origin_settings(
        bucket=bucket.name,
        endpoint=bucket.server.url,
        cache_dir=tmp_path,
        upstream={"max_miss_rate": 0.001, "miss_burst": 1},
    )
    origin = await start_origin(aiohttp_server, settings)
    results = await asyncio.gather(*(fetch(session, origin.url(key)) for _ in range(50)))
    assert [status for status, _, _ in results] == [200] * 50
    assert all(got == body for _, _, got in results)
    assert bucket.gets(key) == 1


async def test_a_sync_daemons_listing_refuses_unlisted_keys_until_it_grows_stale(
    aiohttp_server, bucket: Bucket, tmp_path: Path, session, caplog: pytest.LogCaptureFixture
) -> None:
    for key in EPISODES:
        bucket.put(key, payload(1000, key))
    state = StateFile(tmp_path / "sync-state.json")
    listing = {key: Obj("etag", 1000) for key in EPISODES}
    state.save(SyncState(listing=listing, listed_at=time.time(), prefixes=("podcast/",)))
    settings = origin_settings(
        bucket=bucket.name,
        endpoint=bucket.server.url,
        cache_dir=tmp_path / "cache",
        storage={"listing_file": str(tmp_path / "sync-state.json"), "list_interval": "100ms"},
        upstream={"max_miss_rate": 5, "miss_burst": 20},
    )
    origin = await start_origin(aiohttp_server, settings)
    await wait_listed(session, origin, len(EPISODES))
    before = object_gets(bucket)
    assert set(await scan(session, origin, 200)) == {404}
    assert object_gets(bucket) == before
    status, _, body = await fetch(session, origin.url(EPISODES[0]))
    assert (status, body) == (200, payload(1000, EPISODES[0]))
    # The daemon stopped listing an hour ago: its listing refuses nothing now, and the
    # miss rate stands in (its burst let through, the rest 429).
    state.save(SyncState(listing=listing, listed_at=time.time() - 3600, prefixes=("podcast/",)))
    deadline = asyncio.get_running_loop().time() + 10
    while "not using the sync daemon's listing" not in caplog.text:
        assert asyncio.get_running_loop().time() < deadline, "the stale listing was kept"
        await asyncio.sleep(0.05)
    before = object_gets(bucket)
    began = time.monotonic()
    statuses = await scan(session, origin, 100)
    elapsed = time.monotonic() - began
    assert set(statuses) == {404, 429}
    # The burst of 20, less the miss EPISODES[0] spent, plus what 5 a second refill
    # while the scan runs: a slow machine lets a few more through, never fewer.
    let_through = object_gets(bucket) - before
    assert let_through == statuses.count(404)
    assert 19 <= let_through <= 20 + 5 * elapsed, f"{let_through} in {elapsed:.2f} s"
    await asyncio.sleep(0.3)  # a few more reads of the same stale file
    assert caplog.text.count("not using the sync daemon's listing") == 1
