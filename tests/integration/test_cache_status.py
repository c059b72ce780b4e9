"""``Cache-Status`` (RFC 9211) on the origin's and the edge's media answers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Mapping

import aiohttp
import pytest
from yarl import URL

from castedge.locals3 import LocalS3
from delivery.admin import DELIVERY
from delivery.cachestatus import parse_cache_status
from tests.conftest import Bucket, payload
from tests.support.edge import edge_settings, start_edge
from tests.support.faults import pausing
from tests.support.origin import fetch, origin_settings, start_origin

KEY = "podcast/ep-1.mp3"
BODY = payload(300_000, KEY)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as s:
        yield s


def status_of(headers: Mapping[str, str]) -> dict[str, object]:
    [(cache, params)] = parse_cache_status(headers["Cache-Status"])
    assert cache == "castedge"
    return dict(params)


async def test_a_miss_is_stored_then_hits_say_so_whatever_the_method_or_condition(
    aiohttp_server, bucket: Bucket, tmp_path, session
) -> None:
    bucket.put(KEY, BODY)
    origin = await start_origin(
        aiohttp_server,
        origin_settings(bucket=bucket.name, endpoint=bucket.server.url, cache_dir=tmp_path),
    )
    url = origin.url(KEY)
    status, headers, got = await fetch(session, url)
    assert (status, got) == (200, BODY)
    assert headers["Cache-Status"] == "castedge; fwd=miss; stored"
    await origin.wait_cached(1)
    for method, extra, code in [
        ("GET", {}, 200),
        ("HEAD", {}, 200),
        ("GET", {"Range": "bytes=0-1"}, 206),
        ("GET", {"Range": "bytes=0-99999"}, 206),
        ("GET", {"If-None-Match": headers["ETag"]}, 304),
        ("GET", {"Range": "bytes=999999-"}, 416),
    ]:
        status, hit, _ = await fetch(session, url, method=method, headers=extra)
        assert (status, hit["Cache-Status"]) == (code, "castedge; hit"), (method, extra)


async def test_a_404_from_storage_then_the_remembered_one(
    aiohttp_server, bucket: Bucket, tmp_path, session
) -> None:
    origin = await start_origin(
        aiohttp_server,
        origin_settings(bucket=bucket.name, endpoint=bucket.server.url, cache_dir=tmp_path),
    )
    url = origin.url("podcast/never-uploaded.mp3")
    status, headers, _ = await fetch(session, url)
    assert (status, status_of(headers)) == (404, {"fwd": "miss", "fwd-status": 404})
    status, headers, _ = await fetch(session, url)
    assert (status, status_of(headers)) == (404, {"hit": True, "detail": "negative"})
    assert bucket.gets("podcast/never-uploaded.mp3") == 1


async def test_requests_that_join_a_fill_say_collapsed(
    aiohttp_server, bucket: Bucket, tmp_path, session, s3: LocalS3
) -> None:
    bucket.put(KEY, BODY)
    release = threading.Event()
    s3.intercept = pausing(f"/{bucket.name}/{KEY}", BODY, at=1000, release=release)
    try:
        origin = await start_origin(
            aiohttp_server,
            origin_settings(bucket=bucket.name, endpoint=bucket.server.url, cache_dir=tmp_path),
        )
        fills = origin.media.app[DELIVERY].fills
        tasks = [asyncio.create_task(fetch(session, origin.url(KEY))) for _ in range(3)]
        while fills.waiters(KEY) < 3:
            await asyncio.sleep(0.01)
        release.set()
        results = await asyncio.gather(*tasks)
    finally:
        s3.intercept = None
    assert sorted(headers["Cache-Status"] for _, headers, _ in results) == [
        "castedge; fwd=miss; stored",
        "castedge; fwd=miss; stored; collapsed",
        "castedge; fwd=miss; stored; collapsed",
    ]


async def test_a_request_that_joins_a_prefetch_says_collapsed(
    aiohttp_server, bucket: Bucket, tmp_path, session, s3: LocalS3
) -> None:
    bucket.put(KEY, BODY)
    release = threading.Event()
    s3.intercept = pausing(f"/{bucket.name}/{KEY}", BODY, at=1000, release=release)
    try:
        origin = await start_origin(
            aiohttp_server,
            origin_settings(bucket=bucket.name, endpoint=bucket.server.url, cache_dir=tmp_path),
        )
        async with session.post(
            origin.admin_url("/admin/prefetch"), json={"keys": [KEY]}, headers=origin.auth
        ) as resp:
            assert (await resp.json())["started"] == [KEY]
        async with session.get(origin.url(KEY)) as resp:
            release.set()
            assert resp.headers["Cache-Status"] == "castedge; fwd=miss; stored; collapsed"
            assert await resp.read() == BODY
    finally:
        release.set()
        s3.intercept = None
    assert bucket.gets(KEY) == 1


async def test_an_object_the_store_cannot_keep_says_why(
    aiohttp_server, bucket: Bucket, tmp_path, session
) -> None:
    big = payload(2_000_000, "big")
    bucket.put("podcast/big.mp3", big)
    settings = origin_settings(
        bucket=bucket.name,
        endpoint=bucket.server.url,
        cache_dir=tmp_path,
        cache={"max_size": "1MB"},
    )
    origin = await start_origin(aiohttp_server, settings)
    status, headers, got = await fetch(session, origin.url("podcast/big.mp3"))
    assert (status, got) == (200, big)
    assert headers["Cache-Status"] == "castedge; fwd=miss; detail=too-large"
    status, headers, got = await fetch(
        session, origin.url("podcast/big.mp3"), headers={"Range": "bytes=10-19"}
    )
    assert (status, got) == (206, big[10:20])
    assert headers["Cache-Status"] == "castedge; fwd=miss; detail=too-large"


async def test_answers_the_origin_makes_up_itself_carry_none(
    aiohttp_server, bucket: Bucket, tmp_path, session
) -> None:
    bucket.put(KEY, BODY)
    origin = await start_origin(
        aiohttp_server,
        origin_settings(bucket=bucket.name, endpoint=bucket.server.url, cache_dir=tmp_path),
    )
    # https://www.rfc-editor.org/rfc/rfc9211#section-2: a redirect, a 400 and a 405 are
    # the cache's own answers, not storage's.
    async with session.put(
        origin.admin_url("/admin/fallback"), json={"mode": "on"}, headers=origin.auth
    ) as resp:
        assert resp.status == 200
    status, headers, _ = await fetch(session, origin.url(KEY), allow_redirects=False)
    assert status == 302 and "Cache-Status" not in headers
    raw = URL(origin.url("podcast/a%2Fb.mp3"), encoded=True)
    status, headers, _ = await fetch(session, raw)
    assert status == 400 and "Cache-Status" not in headers


async def test_the_edge_says_the_same(aiohttp_server, bucket: Bucket, tmp_path, session) -> None:
    lesson = "courses/py/ch01/intro.mp4"
    bucket.put(lesson, BODY)
    edge = await start_edge(
        aiohttp_server,
        edge_settings(bucket=bucket.name, endpoint=bucket.server.url, cache_dir=tmp_path),
    )
    status, headers, got = await fetch(session, edge.url(lesson))
    assert (status, got, headers["Cache-Status"]) == (200, BODY, "castedge; fwd=miss; stored")
    for _ in range(50):
        status, headers, _ = await fetch(session, edge.url(lesson))
        if headers["Cache-Status"] == "castedge; hit":
            break
        await asyncio.sleep(0.02)
    assert (status, headers["Cache-Status"]) == (200, "castedge; hit")
    status, headers, _ = await fetch(session, edge.url("courses/py/ch01/missing.mp4"))
    assert (status, headers["Cache-Status"]) == (404, "castedge; fwd=miss; fwd-status=404")
    status, headers, _ = await fetch(session, edge.base + "/courses/py/ch01/intro.mp4")
    assert status == 403 and "Cache-Status" not in headers
