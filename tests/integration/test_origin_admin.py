"""The admin listener: prefetch, purge, health and metrics, and nothing without the token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.conftest import Bucket, payload
from tests.support.origin import RunningOrigin, fetch, origin_settings, start_origin


@pytest.fixture
async def origin(aiohttp_server, bucket: Bucket, tmp_path) -> RunningOrigin:
    settings = origin_settings(bucket=bucket.name, endpoint=bucket.server.url, cache_dir=tmp_path)
    return await start_origin(aiohttp_server, settings)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dGVzdA=="}],
    ids=["none", "wrong", "basic"],
)
async def test_admin_changes_need_the_token(origin, bucket, session, headers) -> None:
    bucket.put("p/a.mp3", b"a" * 1000)
    await fetch(session, origin.url("p/a.mp3"))
    await origin.wait_cached(1)

    status, h, _ = await fetch(
        session, origin.admin_url("/admin/cache/p/a.mp3"), method="DELETE", headers=headers
    )
    assert status == 401
    assert h["WWW-Authenticate"].startswith("Bearer")
    status, _, _ = await fetch(
        session, origin.admin_url("/admin/prefetch"), method="POST", json=["p/b.mp3"],
        headers=headers,
    )  # fmt: skip
    assert status == 401
    assert len(origin.cached_files()) == 1, "a refused purge must not remove anything"
    assert bucket.gets("p/b.mp3") == 0, "a refused prefetch must not fetch anything"


async def test_prefetch_fills_the_cache_before_anyone_asks(origin, bucket, session) -> None:
    for n in range(3):
        bucket.put(f"season2/ep{n}.mp3", payload(500_000, str(n)))
    status, _, body = await fetch(
        session,
        origin.admin_url("/admin/prefetch?wait=1"),
        method="POST",
        json={"keys": ["season2/ep0.mp3", "season2/ep1.mp3", "season2/ep2.mp3", "../x", "nope"]},
        headers=origin.auth,
    )
    assert status == 200
    doc = __import__("json").loads(body)
    assert sorted(doc["started"]) == [
        "nope",
        "season2/ep0.mp3",
        "season2/ep1.mp3",
        "season2/ep2.mp3",
    ]
    assert [i["key"] for i in doc["invalid"]] == ["../x"]
    assert [f["key"] for f in doc["failed"]] == ["nope"]
    assert len(origin.cached_files()) == 3
    for n in range(3):
        status, _, got = await fetch(session, origin.url(f"season2/ep{n}.mp3"))
        assert (status, got) == (200, payload(500_000, str(n)))
        assert bucket.gets(f"season2/ep{n}.mp3") == 1


async def test_purge_one_key_and_a_prefix(origin, bucket, session) -> None:
    for key in ("s1/a.mp3", "s1/b.mp3", "s2/c.mp3"):
        bucket.put(key, b"x" * 2000)
        await fetch(session, origin.url(key))
    await origin.wait_cached(3)

    status, _, body = await fetch(
        session, origin.admin_url("/admin/cache/s2/c.mp3"), method="DELETE", headers=origin.auth
    )
    assert status == 200 and b'"removed": 1' in body
    status, _, _ = await fetch(
        session, origin.admin_url("/admin/cache/s2/c.mp3"), method="DELETE", headers=origin.auth
    )
    assert status == 404
    status, _, body = await fetch(
        session, origin.admin_url("/admin/cache/s1/*"), method="DELETE", headers=origin.auth
    )
    assert status == 200 and b'"removed": 2' in body
    assert origin.cached_files() == []
    await fetch(session, origin.url("s1/a.mp3"))
    assert bucket.gets("s1/a.mp3") == 2, "after a purge the next request goes upstream again"


async def test_healthz_and_metrics(origin, bucket, session) -> None:
    bucket.put("m/a.mp3", b"y" * 4000)
    await fetch(session, origin.url("m/a.mp3"))
    await origin.wait_cached(1)
    await fetch(session, origin.url("m/a.mp3"), headers={"Range": "bytes=0-1"})
    await fetch(session, origin.url("m/missing.mp3"))

    status, _, body = await fetch(session, origin.admin_url("/healthz"))
    node = __import__("json").loads(body)
    assert status == 200 and node["status"] == "ok" and node["unhealthy"] == []
    doc = node["roles"]["origin"]
    assert doc["healthy"] is True and doc["status"] == "ok"
    assert doc["store"]["objects"] == 1 and doc["store"]["bytes"] == 4000

    status, headers, body = await fetch(session, origin.admin_url("/metrics"))
    text = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert 'castedge_requests_total{service="origin",status="206"} 1.0' in text
    assert 'castedge_requests_total{service="origin",status="404"} 1.0' in text
    assert 'castedge_cache_lookups_total{result="hit",service="origin"} 1.0' in text
    assert 'castedge_cache_lookups_total{result="miss",service="origin"} 1.0' in text
    assert 'castedge_cached_bytes{service="origin"} 4000.0' in text
    assert "castedge_upstream_fetch_seconds_bucket" in text
    # The media port keeps admin routes to itself: no metrics or purge there.
    status, _, _ = await fetch(session, origin.url("metrics"))
    assert status == 404


async def test_token_never_appears_in_health_or_metrics(origin, session) -> None:
    for path in ("/healthz", "/metrics"):
        _, _, body = await fetch(session, origin.admin_url(path))
        assert b"test-admin-token" not in body
