"""One upstream GET per object on every path a miss can take, counted at the S3 server.

Fifty clients ask for one object at once: stored on disk, too large for the cache, on
a full disk, on a failed disk (an edge, whose misses have nowhere else to go) and an
origin with ``origin.fallback: stream``. S3 holds the body after its first 64 KiB
until all fifty have joined the fill, so each run is the same stampede; every client
must get the right bytes, and S3 must see one GET.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from castedge.locals3 import LocalS3
from delivery.admin import DELIVERY
from tests.conftest import Bucket, payload
from tests.support.cachestatus import member
from tests.support.disks import remount, tmpfs
from tests.support.edge import edge_settings, metric, start_edge
from tests.support.faults import pausing
from tests.support.origin import fetch, origin_settings, start_origin

CLIENTS = 50


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(limit=CLIENTS + 10)
    async with aiohttp.ClientSession(auto_decompress=False, connector=connector) as s:
        yield s


@pytest.fixture
def intercept(s3: LocalS3) -> Iterator[LocalS3]:
    yield s3
    s3.intercept = None


async def digest_of(
    session: aiohttp.ClientSession, url: str, **kwargs: Any
) -> tuple[int, str, int, str]:
    """GET ``url`` keeping only a running sha256: status, digest, length, Cache-Status."""
    sha = hashlib.sha256()
    length = 0
    async with session.get(url, **kwargs) as resp:
        async for chunk in resp.content.iter_chunked(1 << 20):
            sha.update(chunk)
            length += len(chunk)
        return resp.status, sha.hexdigest(), length, resp.headers.get("Cache-Status", "")


async def until(check: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def stampede(
    session: aiohttp.ClientSession,
    app: web.Application,
    url: str,
    key: str,
    release: threading.Event,
) -> list[tuple[int, str, int, str]]:
    """CLIENTS GETs of ``url``, S3 let go once every one of them waits on the fill."""
    fills = app[DELIVERY].fills
    tasks = [asyncio.create_task(digest_of(session, url)) for _ in range(CLIENTS)]
    try:
        await until(lambda: fills.waiters(key) == CLIENTS, f"{CLIENTS} waiters on {key}")
    finally:
        release.set()
    return await asyncio.gather(*tasks)


def check(results: list[tuple[int, str, int, str]], body: bytes, leader: dict[str, Any]) -> None:
    """Everyone got the whole body; one request led the fetch, the rest joined it."""
    digest = hashlib.sha256(body).hexdigest()
    assert [(s, d, n) for s, d, n, _ in results] == [(200, digest, len(body))] * CLIENTS
    statuses = [member(cs) for *_, cs in results]
    assert statuses.count(leader) == 1, statuses
    assert statuses.count({**leader, "collapsed": True}) == CLIENTS - 1, statuses


async def solo_gets(admin_url: str, session: aiohttp.ClientSession, service: str) -> float:
    _, _, text = await fetch(session, admin_url)
    return sum(
        metric(text.decode(), "castedge_solo_gets_total", service=service, reason=reason)
        for reason in ("ahead", "behind", "slow", "disk")
    )


async def test_a_stampede_on_an_object_being_stored_makes_one_get(
    aiohttp_server, bucket: Bucket, tmp_path, session, intercept: LocalS3
) -> None:
    key, body = "podcast/stored.mp3", payload(12_000_000, "stored")
    bucket.put(key, body)
    release = threading.Event()
    intercept.intercept = pausing(f"/{bucket.name}/{key}", body, at=65536, release=release)
    origin = await start_origin(
        aiohttp_server,
        origin_settings(bucket=bucket.name, endpoint=bucket.server.url, cache_dir=tmp_path),
    )
    results = await stampede(session, origin.media.app, origin.url(key), key, release)
    check(results, body, {"fwd": "miss", "stored": True})
    assert bucket.gets(key) == 1
    await origin.wait_cached(1)
    status, _, _, cache_status = await digest_of(session, origin.url(key))
    assert (status, member(cache_status)) == (200, {"hit": True})
    assert bucket.gets(key) == 1


async def test_a_stampede_on_an_object_too_large_for_the_cache_makes_one_get(
    aiohttp_server, bucket: Bucket, tmp_path, session, intercept: LocalS3
) -> None:
    key, body = "podcast/too-large.mp3", payload(12_000_000, "too-large")
    bucket.put(key, body)
    release = threading.Event()
    intercept.intercept = pausing(f"/{bucket.name}/{key}", body, at=65536, release=release)
    settings = origin_settings(
        bucket=bucket.name,
        endpoint=bucket.server.url,
        cache_dir=tmp_path,
        cache={"max_size": "10MB"},
    )
    origin = await start_origin(aiohttp_server, settings)
    results = await stampede(session, origin.media.app, origin.url(key), key, release)
    check(results, body, {"fwd": "miss", "detail": "too-large"})
    assert bucket.gets(key) == 1
    assert await solo_gets(origin.admin_url("/metrics"), session, "origin") == 0
    assert origin.cached_files() == []


async def test_a_stampede_on_a_full_disk_makes_one_get(
    aiohttp_server, bucket: Bucket, tmp_path, session, intercept: LocalS3
) -> None:
    key, body = "podcast/no-room.mp3", payload(12_000_000, "no-room")
    bucket.put(key, body)
    release = threading.Event()
    intercept.intercept = pausing(f"/{bucket.name}/{key}", body, at=65536, release=release)
    with tmpfs(tmp_path / "disk", "8m") as disk:
        settings = origin_settings(bucket=bucket.name, endpoint=bucket.server.url, cache_dir=disk)
        origin = await start_origin(aiohttp_server, settings)
        results = await stampede(session, origin.media.app, origin.url(key), key, release)
        check(results, body, {"fwd": "miss", "detail": "no-space"})
        assert bucket.gets(key) == 1
        assert await solo_gets(origin.admin_url("/metrics"), session, "origin") == 0
        assert origin.cached_files() == []


async def test_a_stampede_on_an_edge_whose_disk_failed_makes_one_get(
    aiohttp_server, bucket: Bucket, tmp_path, session, intercept: LocalS3
) -> None:
    key, body = "marketing/trailer.mp4", payload(12_000_000, "trailer")
    bucket.put(key, body)
    release = threading.Event()
    intercept.intercept = pausing(f"/{bucket.name}/{key}", body, at=65536, release=release)
    with tmpfs(tmp_path / "disk", "64m") as disk:
        settings = edge_settings(bucket=bucket.name, endpoint=bucket.server.url, cache_dir=disk)
        edge = await start_edge(aiohttp_server, settings)
        remount(disk, "ro")
        try:
            results = await stampede(session, edge.media.app, edge.public(key), key, release)
            check(results, body, {"fwd": "miss", "detail": "disk-failed"})
            assert bucket.gets(key) == 1
            assert await solo_gets(edge.admin_url("/metrics"), session, "edge") == 0
        finally:
            remount(disk, "rw")


async def test_a_stampede_on_an_origin_that_streams_while_its_disk_fails_makes_one_get(
    aiohttp_server, bucket: Bucket, tmp_path, session, intercept: LocalS3
) -> None:
    key, body = "podcast/streamed.mp3", payload(12_000_000, "streamed")
    bucket.put(key, body)
    release = threading.Event()
    intercept.intercept = pausing(f"/{bucket.name}/{key}", body, at=65536, release=release)
    with tmpfs(tmp_path / "disk", "64m") as disk:
        settings = origin_settings(
            bucket=bucket.name,
            endpoint=bucket.server.url,
            cache_dir=disk,
            origin={"fallback": "stream"},
        )
        origin = await start_origin(aiohttp_server, settings)
        remount(disk, "ro")
        try:
            results = await stampede(session, origin.media.app, origin.url(key), key, release)
            check(results, body, {"fwd": "miss", "detail": "disk-failed"})
            assert bucket.gets(key) == 1
            assert await solo_gets(origin.admin_url("/metrics"), session, "origin") == 0
        finally:
            remount(disk, "rw")


async def test_a_disk_that_fills_up_mid_fill_moves_every_waiter_to_memory_with_one_get(
    aiohttp_server, bucket: Bucket, tmp_path, session, intercept: LocalS3
) -> None:
    key, body = "podcast/ep.mp3", payload(8_000_000, "mid-fill")
    bucket.put(key, body)
    release = threading.Event()
    intercept.intercept = pausing(f"/{bucket.name}/{key}", body, at=1_000_000, release=release)
    with tmpfs(tmp_path / "disk", "16m") as disk:
        settings = origin_settings(bucket=bucket.name, endpoint=bucket.server.url, cache_dir=disk)
        origin = await start_origin(aiohttp_server, settings)
        fills = origin.media.app[DELIVERY].fills
        tasks = [asyncio.create_task(digest_of(session, origin.url(key))) for _ in range(10)]
        await until(lambda: fills.waiters(key) == 10, "10 waiters")
        await until(
            lambda: bool(parts := origin.temp_files()) and parts[0].stat().st_size >= 1_000_000,
            "the first megabyte on disk",
        )
        # Something else takes the rest of the disk while the episode is on its way in.
        with open(disk / "other-tenant.bin", "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 1_000_000)
            except OSError:
                pass
        release.set()
        results = await asyncio.wait_for(asyncio.gather(*tasks), 30)
        digest = hashlib.sha256(body).hexdigest()
        assert [(s, d) for s, d, _, _ in results] == [(200, digest)] * 10
        # Their headers went out while the fill still meant to store it.
        assert {member(cs).get("stored") for *_, cs in results} == {True}
        assert bucket.gets(key) == 1
        assert await solo_gets(origin.admin_url("/metrics"), session, "origin") == 0
        assert origin.cached_files() == []
        (disk / "other-tenant.bin").unlink()


async def test_a_late_reader_and_a_far_range_fetch_by_themselves_and_are_counted(
    aiohttp_server, bucket: Bucket, tmp_path, session, intercept: LocalS3
) -> None:
    key, body = "podcast/late.mp3", payload(24_000_000, "late")
    bucket.put(key, body)
    release = threading.Event()
    intercept.intercept = pausing(f"/{bucket.name}/{key}", body, at=12_000_000, release=release)
    settings = origin_settings(
        bucket=bucket.name,
        endpoint=bucket.server.url,
        cache_dir=tmp_path,
        cache={"max_size": "10MB"},
    )
    origin = await start_origin(aiohttp_server, settings)
    url = origin.url(key)
    async with session.get(url) as first:
        head = await first.content.readexactly(11_000_000)
        # 11 MB in, an 8 MiB window no longer holds the start: a newcomer fetches alone.
        status, got, _, late = await digest_of(session, url)
        assert (status, got) == (200, hashlib.sha256(body).hexdigest())
        assert member(late) == {"fwd": "miss", "collapsed": False, "detail": "too-large"}
        # A range 4 MiB past what arrived does not wait for the stream either.
        status, _, far = await fetch(session, url, headers={"Range": "bytes=20000000-20000999"})
        assert (status, far) == (206, body[20_000_000:20_001_000])
        release.set()
        rest = await first.read()
    assert head + rest == body
    assert bucket.gets(key) == 3
    _, _, text = await fetch(session, origin.admin_url("/metrics"))
    solo = {
        reason: metric(text.decode(), "castedge_solo_gets_total", service="origin", reason=reason)
        for reason in ("behind", "ahead")
    }
    assert solo == {"behind": 1.0, "ahead": 1.0}


async def test_a_prefetch_of_an_object_the_store_cannot_keep_reads_no_body(
    aiohttp_server, bucket: Bucket, tmp_path, session
) -> None:
    key, body = "podcast/prefetched.mp3", payload(12_000_000, "prefetched")
    bucket.put(key, body)
    settings = origin_settings(
        bucket=bucket.name,
        endpoint=bucket.server.url,
        cache_dir=tmp_path,
        cache={"max_size": "10MB"},
    )
    origin = await start_origin(aiohttp_server, settings)
    async with session.post(
        origin.admin_url("/admin/prefetch?wait=1"), json={"keys": [key]}, headers=origin.auth
    ) as resp:
        doc = await resp.json()
    assert doc["failed"] == [{"key": key, "error": "filled but not cached"}]
    assert bucket.gets(key) == 1
    # Nothing is left running: the next request starts its own fetch and gets it all.
    assert origin.media.app[DELIVERY].fills.waiters(key) == 0
    status, got, _, cache_status = await digest_of(session, origin.url(key))
    assert (status, got) == (200, hashlib.sha256(body).hexdigest())
    assert member(cache_status) == {"fwd": "miss", "detail": "too-large"}
