"""Misses: one upstream GET per object, streaming while filling, and never a partial file."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from castedge.locals3 import LocalS3
from tests.conftest import Bucket, payload
from tests.support.disks import tmpfs
from tests.support.faults import first_attempts_fail, pausing, stalling, truncating
from tests.support.origin import fetch, origin_settings, sha256, start_origin


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as s:
        yield s


@pytest.fixture
def intercept(s3: LocalS3) -> Iterator[LocalS3]:
    yield s3
    s3.intercept = None


async def test_fifty_concurrent_misses_make_one_upstream_get(
    aiohttp_server, bucket: Bucket, tmp_path, session
) -> None:
    body = payload(20_000_000, "single-flight")
    digest = bucket.put("podcast/popular.mp3", body)
    origin = await start_origin(
        aiohttp_server,
        origin_settings(bucket=bucket.name, endpoint=bucket.server.url, cache_dir=tmp_path),
    )
    url = origin.url("podcast/popular.mp3")
    results = await asyncio.gather(*(fetch(session, url) for _ in range(50)))
    assert {status for status, _, _ in results} == {200}
    assert {sha256(got) for _, _, got in results} == {digest}
    assert bucket.gets("podcast/popular.mp3") == 1


async def test_probe_on_a_missing_100mb_episode_answers_fast(
    aiohttp_server, bucket: Bucket, tmp_path, session
) -> None:
    body = payload(100_000_000, "big")
    bucket.put("podcast/big.mp3", body)
    origin = await start_origin(
        aiohttp_server,
        origin_settings(bucket=bucket.name, endpoint=bucket.server.url, cache_dir=tmp_path),
    )
    started = time.monotonic()
    status, headers, got = await fetch(
        session, origin.url("podcast/big.mp3"), headers={"Range": "bytes=0-1"}
    )
    elapsed = time.monotonic() - started
    assert (status, got) == (206, body[:2])
    assert headers["Content-Range"] == "bytes 0-1/100000000"
    # The probe must not wait for the whole 100 MB to arrive.
    assert elapsed < 1.0, f"bytes=0-1 on a miss took {elapsed:.2f} s"
    # ... and the fill it started still completes, once.
    await origin.wait_cached(1, timeout=60)
    assert bucket.gets("podcast/big.mp3") == 1


async def test_range_far_ahead_of_a_fill_is_fetched_by_itself(
    aiohttp_server, bucket: Bucket, tmp_path, session, intercept: LocalS3
) -> None:
    body = payload(12_000_000, "seek-ahead")
    bucket.put("podcast/seek.mp3", body)
    release = threading.Event()
    intercept.intercept = pausing(
        f"/{bucket.name}/podcast/seek.mp3", body, at=100_000, release=release
    )
    origin = await start_origin(
        aiohttp_server,
        origin_settings(bucket=bucket.name, endpoint=bucket.server.url, cache_dir=tmp_path),
    )
    url = origin.url("podcast/seek.mp3")
    try:
        first = asyncio.create_task(fetch(session, url))
        status, _, got = await asyncio.wait_for(
            fetch(session, url, headers={"Range": "bytes=11000000-11000999"}), 10
        )
        assert (status, got) == (206, body[11_000_000:11_001_000])
        assert not first.done(), "the full fill should still be paused"
    finally:
        release.set()
    status, _, got = await first
    assert status == 200 and got == body


async def test_truncated_upstream_is_never_cached(
    aiohttp_server, bucket: Bucket, tmp_path, session, intercept: LocalS3
) -> None:
    body = payload(2_000_000, "truncated")
    bucket.put("podcast/cut.mp3", body)
    intercept.intercept = truncating(f"/{bucket.name}/podcast/cut.mp3", body, keep=500_000)
    origin = await start_origin(
        aiohttp_server,
        origin_settings(bucket=bucket.name, endpoint=bucket.server.url, cache_dir=tmp_path),
    )
    with pytest.raises(aiohttp.ClientPayloadError):
        await fetch(session, origin.url("podcast/cut.mp3"))
    await asyncio.sleep(0.2)
    assert origin.cached_files() == []
    assert origin.temp_files() == []

    intercept.intercept = None
    status, _, got = await fetch(session, origin.url("podcast/cut.mp3"))
    assert status == 200 and got == body
    assert len(await origin.wait_cached(1)) == 1


async def test_stalled_upstream_is_cut_by_the_read_timeout(
    aiohttp_server, bucket: Bucket, tmp_path, session, intercept: LocalS3
) -> None:
    body = payload(1_000_000, "stalled")
    bucket.put("podcast/stall.mp3", body)
    intercept.intercept = stalling(f"/{bucket.name}/podcast/stall.mp3", body, at=1000, seconds=4)
    settings = origin_settings(
        bucket=bucket.name,
        endpoint=bucket.server.url,
        cache_dir=tmp_path,
        upstream={"read_timeout": "500ms", "retries": 1},
    )
    origin = await start_origin(aiohttp_server, settings)
    url = origin.url("podcast/stall.mp3")
    waiters = [fetch(session, url) for _ in range(3)]
    outcomes = await asyncio.wait_for(asyncio.gather(*waiters, return_exceptions=True), 10)
    assert all(isinstance(o, aiohttp.ClientPayloadError) for o in outcomes), outcomes
    assert origin.cached_files() == []


async def test_s3_down_hits_still_serve_and_misses_get_503(
    aiohttp_server, bucket: Bucket, tmp_path, session
) -> None:
    own_s3 = LocalS3().start()  # moto's backend is shared, so it sees the bucket too
    body = payload(1_000_000, "down")
    bucket.put("podcast/cached.mp3", body)
    bucket.put("podcast/other.mp3", body)
    origin = await start_origin(
        aiohttp_server,
        origin_settings(bucket=bucket.name, endpoint=own_s3.url, cache_dir=tmp_path),
    )
    status, _, _ = await fetch(session, origin.url("podcast/cached.mp3"))
    assert status == 200
    await origin.wait_cached(1)
    own_s3.stop()

    status, _, got = await fetch(session, origin.url("podcast/cached.mp3"))
    assert (status, got) == (200, body)
    status, headers, _ = await fetch(session, origin.url("podcast/other.mp3"))
    assert status == 503
    assert int(headers["Retry-After"]) > 0


async def test_lru_eviction_keeps_the_cache_under_its_cap(
    aiohttp_server, bucket: Bucket, tmp_path, session
) -> None:
    settings = origin_settings(
        bucket=bucket.name,
        endpoint=bucket.server.url,
        cache_dir=tmp_path,
        cache={"max_size": "10MB"},
    )
    origin = await start_origin(aiohttp_server, settings)
    for name in "abc":
        bucket.put(f"p/{name}.mp3", payload(4_000_000, name))

    async def get(name: str) -> None:
        status, _, got = await fetch(session, origin.url(f"p/{name}.mp3"))
        assert status == 200 and got == payload(4_000_000, name)

    await get("a")
    await origin.wait_cached(1)
    await get("b")
    await origin.wait_cached(2)
    await get("a")  # a hit: "a" is now the most recently used
    await get("c")  # 12 MB > 10 MB: the least recently used ("b") must go
    await asyncio.sleep(0.2)
    gets_before = bucket.gets("p/a.mp3"), bucket.gets("p/b.mp3")
    await get("a")
    await get("b")
    assert bucket.gets("p/a.mp3") == gets_before[0], "a should have stayed cached"
    assert bucket.gets("p/b.mp3") == gets_before[1] + 1, "b should have been evicted"
    total = sum(p.stat().st_size for p in origin.cached_files())
    assert total <= 10_000_000 + 3 * 4096


async def test_cache_survives_a_restart(aiohttp_server, bucket: Bucket, tmp_path, session):
    body = payload(1_500_000, "restart")
    bucket.put("podcast/kept.mp3", body)
    settings = origin_settings(bucket=bucket.name, endpoint=bucket.server.url, cache_dir=tmp_path)
    first = await start_origin(aiohttp_server, settings)
    await fetch(session, first.url("podcast/kept.mp3"))
    await first.wait_cached(1)
    await first.admin.close()
    await first.media.close()

    second = await start_origin(aiohttp_server, settings)
    status, _, got = await fetch(session, second.url("podcast/kept.mp3"))
    assert (status, got) == (200, body)
    assert bucket.gets("podcast/kept.mp3") == 1


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs as the cache directory."""
    with tmpfs(tmp_path / "disk", "16m") as mount:
        yield mount


async def test_object_larger_than_the_free_disk_is_streamed_uncached(
    aiohttp_server, bucket: Bucket, small_disk: Path, session
) -> None:
    body = payload(24_000_000, "too-big")
    bucket.put("podcast/huge.mp3", body)
    settings = origin_settings(bucket=bucket.name, endpoint=bucket.server.url, cache_dir=small_disk)
    origin = await start_origin(aiohttp_server, settings)
    status, _, got = await fetch(session, origin.url("podcast/huge.mp3"))
    assert status == 200 and sha256(got) == sha256(body)
    status, _, got = await fetch(
        session, origin.url("podcast/huge.mp3"), headers={"Range": "bytes=100-199"}
    )
    assert (status, got) == (206, body[100:200])
    assert origin.cached_files() == []


async def test_disk_filling_up_mid_fill_still_delivers_the_whole_file(
    aiohttp_server, bucket: Bucket, small_disk: Path, session, intercept: LocalS3
) -> None:
    body = payload(8_000_000, "disk-full")
    bucket.put("podcast/ep.mp3", body)
    release = threading.Event()
    intercept.intercept = pausing(
        f"/{bucket.name}/podcast/ep.mp3", body, at=1_000_000, release=release
    )
    origin = await start_origin(
        aiohttp_server,
        origin_settings(bucket=bucket.name, endpoint=bucket.server.url, cache_dir=small_disk),
    )
    download = asyncio.create_task(fetch(session, origin.url("podcast/ep.mp3")))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        parts = origin.temp_files()
        if parts and parts[0].stat().st_size >= 1_000_000:
            break
        await asyncio.sleep(0.01)
    # Something else fills the disk while the episode is on its way in.
    filler = small_disk / "other-tenant.bin"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 1_000_000)
        except OSError:
            pass
    release.set()
    status, _, got = await asyncio.wait_for(download, 20)
    assert status == 200 and sha256(got) == sha256(body)
    assert origin.cached_files() == []
    filler.unlink()
    health = await fetch(session, origin.admin_url("/healthz"))
    assert b'"degraded"' in health[2]


async def test_slow_down_and_a_broken_body_are_retried_and_resumed(
    aiohttp_server, bucket: Bucket, tmp_path, session, intercept: LocalS3
) -> None:
    body = payload(3_000_000, "flaky")
    bucket.put("podcast/flaky.mp3", body)
    intercept.intercept = first_attempts_fail(
        f"/{bucket.name}/podcast/flaky.mp3", body, slow_down=1, truncate=1
    )
    origin = await start_origin(
        aiohttp_server,
        origin_settings(bucket=bucket.name, endpoint=bucket.server.url, cache_dir=tmp_path),
    )
    status, _, got = await fetch(session, origin.url("podcast/flaky.mp3"))
    assert (status, sha256(got)) == (200, sha256(body))
    seen = bucket.server.gets(f"/{bucket.name}/podcast/flaky.mp3")
    # SlowDown, then the body broken at a third, then a ranged resume from there.
    assert [r.range for r in seen] == [None, None, "bytes=1000000-2999999"]
    assert len(await origin.wait_cached(1)) == 1
