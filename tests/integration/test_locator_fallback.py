"""Every region down: players go straight to the bucket, so playback still works.

The bucket is a real S3-compatible server on loopback; the presigned URL the locator
answers is fetched as a player would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.conftest import Bucket, payload
from tests.support.locator import (
    PROXY_SECRET,
    RunningLocator,
    StandInEdges,
    build_world,
    grant,
    locator_document,
    metric,
    region_of,
    regions_at,
    settings_of,
    start_locator,
    start_stand_in_edges,
)
from tests.unit.geo import mmdb

LESSON = "courses/py/ch01/intro à la carte.mp4"
FAST = {"interval": "50ms", "timeout": "50ms", "rise": 1, "fall": 1}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def start(
    aiohttp_server, tmp_path: Path, storage: dict[str, object]
) -> tuple[RunningLocator, StandInEdges]:
    edges = await start_stand_in_edges(aiohttp_server)
    edges.down.update(region["name"] for region in regions_at(edges.base))
    database = build_world(tmp_path / "city.mmdb", [("192.0.2.0/24", mmdb.SYDNEY)])
    doc = locator_document(
        database=database, regions=regions_at(edges.base), storage=storage, workdir=tmp_path
    )
    doc["geo"]["health"] = FAST
    return await start_locator(aiohttp_server, settings_of(doc)), edges


async def all_down(session: aiohttp.ClientSession, locator: RunningLocator) -> None:
    deadline = time.monotonic() + 5
    while True:
        async with session.get(locator.url("/healthz")) as response:
            if (await response.json())["regions_healthy"] == 0:
                return
        assert time.monotonic() < deadline, "the regions never went down"
        await asyncio.sleep(0.02)


def play_url(locator: RunningLocator) -> str:
    quoted = LESSON.replace(" ", "%20").replace("à", "%C3%A0")
    return locator.url(f"/v/{quoted}?grant={grant('courses/py/')}")


async def test_every_region_down_sends_players_to_a_presigned_s3_url(
    aiohttp_server, bucket: Bucket, tmp_path: Path, session
) -> None:
    body = payload(50_000, LESSON)
    bucket.put(LESSON, body)
    storage = {"s3": {"bucket": bucket.name, "endpoint_url": bucket.server.url}}
    locator, edges = await start(aiohttp_server, tmp_path, storage)
    await all_down(session, locator)

    async with session.get(play_url(locator), allow_redirects=False) as response:
        assert response.status == 302
        location = response.headers["Location"]
        assert response.headers["Cache-Control"] == "private, no-store"
    assert location.startswith(f"{bucket.server.url}/{bucket.name}/")
    assert "X-Amz-Signature=" in location
    async with session.get(location) as response:
        assert (response.status, await response.read()) == (200, body)

    # Still only for holders of a grant.
    async with session.get(
        locator.url("/v/courses/py/ch01/a.mp4"), allow_redirects=False
    ) as response:
        assert response.status == 403

    async with session.get(
        locator.url(f"/api/v1/locate?path={LESSON}"),
        headers={"X-Castedge-Proxy-Secret": PROXY_SECRET},
    ) as response:
        answer = await response.json()
    assert (answer["region"], answer["fallback"], answer["alternates"]) == (None, "s3", [])
    assert time.time() + 3500 < answer["expires_at"] <= time.time() + 3601
    async with session.get(answer["url"]) as response:
        assert (response.status, await response.read()) == (200, body)

    async with session.get(locator.url("/healthz")) as response:
        assert (response.status, (await response.json())["status"]) == (200, "fallback")
    async with session.get(locator.admin_url("/metrics")) as response:
        assert metric(await response.text(), "castedge_locator_redirects_total", region="s3") == 2

    # A region back up takes its players back from S3.
    edges.down.discard("ap-southeast")
    deadline = time.monotonic() + 5
    while True:
        async with session.get(
            play_url(locator), headers={"X-Forwarded-For": "192.0.2.1"}, allow_redirects=False
        ) as response:
            location = response.headers["Location"]
        if location.startswith(edges.base):
            break
        assert time.monotonic() < deadline, "the region never came back"
        await asyncio.sleep(0.02)
    assert region_of(location) == "ap-southeast"


async def test_with_a_public_bucket_url_players_go_there(
    aiohttp_server, tmp_path: Path, session
) -> None:
    storage = {
        "s3": {
            "bucket": "media",
            "endpoint_url": "http://127.0.0.1:9",
            "public_url": "https://media.example.com/",
        }
    }
    locator, _ = await start(aiohttp_server, tmp_path, storage)
    await all_down(session, locator)
    async with session.get(play_url(locator), allow_redirects=False) as response:
        assert response.status == 302
        location = response.headers["Location"]
    assert location == "https://media.example.com/courses/py/ch01/intro%20%C3%A0%20la%20carte.mp4"
    assert urlsplit(location).netloc == "media.example.com"


async def test_without_a_bucket_every_region_down_is_503(
    aiohttp_server, tmp_path: Path, session
) -> None:
    locator, _ = await start(aiohttp_server, tmp_path, {"dir": str(tmp_path)})
    await all_down(session, locator)
    async with session.get(play_url(locator), allow_redirects=False) as response:
        assert response.status == 503
        assert response.headers["Retry-After"] == "1"
        assert "Location" not in response.headers
    async with session.get(locator.url("/healthz")) as response:
        assert (response.status, (await response.json())["status"]) == (503, "unavailable")
