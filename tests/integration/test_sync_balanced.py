"""The sync daemon's side of a region behind a balancer, against live edges and real S3.

``BalancedRegion`` is pointed at an edge's media listener as its ``base_url`` (a
balancer of one: what the balancer does is tests/e2e/test_scaling.py's business) and
at two edges' admin listeners as its members.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from signer import Signer
from sync import BalancedRegion, Obj, RegionClient, RegionFailed
from tests.conftest import Bucket, payload
from tests.support.edge import ADMIN_TOKEN, KEY_ID, SECRET, RunningEdge, edge_settings, start_edge

LESSON = "courses/py/ch01/intro.mp4"
SIZE = 300_000


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def two_edges(
    aiohttp_server, bucket: Bucket, tmp_path: Path, **cache: str
) -> list[RunningEdge]:
    edges = []
    for name in ("a", "b"):
        settings = edge_settings(
            bucket=bucket.name,
            endpoint=bucket.server.url,
            cache_dir=tmp_path / name,
            edge={"cache_dir": str(tmp_path / name), **cache},
        )
        edges.append(await start_edge(aiohttp_server, settings))
    return edges


def region_over(
    edges: list[RunningEdge], session: aiohttp.ClientSession, signer: Signer | None = None
) -> BalancedRegion:
    members = [
        RegionClient(
            "eu", edge.admin_url("/").rstrip("/"), ADMIN_TOKEN, session, transfer_timeout=10
        )
        for edge in edges
    ]
    return BalancedRegion(
        "eu",
        edges[0].base,
        members,
        signer or Signer({KEY_ID: SECRET}, KEY_ID),
        session,
        transfer_timeout=10,
    )


async def held(edge: RunningEdge, session: aiohttp.ClientSession, key: str) -> bool:
    async with session.get(edge.admin_url(f"/admin/cache/{key}"), headers=edge.auth) as response:
        return response.status == 200


async def test_a_prefetch_through_the_balancer_waits_until_the_edge_holds_the_object(
    aiohttp_server, bucket: Bucket, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    bucket.put(LESSON, payload(SIZE, LESSON))
    edges = await two_edges(aiohttp_server, bucket, tmp_path)
    region = region_over(edges, session)
    etag = bucket.client.head_object(Bucket=bucket.name, Key=LESSON)["ETag"]
    assert await region.prefetch(LESSON) == Obj(etag, SIZE)
    assert await held(edges[0], session, LESSON)
    assert not await held(edges[1], session, LESSON), "only the edge the request reached"
    # Asked again, it answers from disk at once: no second GET.
    assert await region.prefetch(LESSON) == Obj(etag, SIZE)
    assert bucket.gets(LESSON) == 1


async def test_a_purge_reaches_every_member(
    aiohttp_server, bucket: Bucket, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    bucket.put(LESSON, payload(SIZE, LESSON))
    edges = await two_edges(aiohttp_server, bucket, tmp_path)
    for edge in edges:
        async with session.get(edge.url(LESSON)) as response:
            assert response.status == 200
            await response.read()
    assert [await held(edge, session, LESSON) for edge in edges] == [True, True]
    await region_over(edges, session).purge(LESSON)
    assert [await held(edge, session, LESSON) for edge in edges] == [False, False]
    # Already gone is as good: a second purge succeeds too.
    await region_over(edges, session).purge(LESSON)


async def test_a_member_that_does_not_answer_fails_the_purge_by_name(
    aiohttp_server, bucket: Bucket, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    edges = await two_edges(aiohttp_server, bucket, tmp_path)
    region = region_over(edges, session)
    gone = edges[1].admin_url("/").rstrip("/")
    await edges[1].admin.close()
    with pytest.raises(RegionFailed) as caught:
        await region.purge(LESSON)
    assert caught.value.region == "eu"
    assert caught.value.message.startswith(f"{gone}: DELETE {gone}/admin/cache/{LESSON}")


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("other keys", "refused the daemon's signed request for 'courses/py/ch01/intro.mp4' (403)"),
        ("missing", "HEAD 'courses/py/ch01/intro.mp4' through http://127.0.0.1:"),
        ("too large", "'courses/py/ch01/intro.mp4' is served but not cached (too-large)"),
    ],
)
async def test_a_prefetch_that_cannot_succeed_says_why_at_once(
    aiohttp_server,
    bucket: Bucket,
    tmp_path: Path,
    session: aiohttp.ClientSession,
    case: str,
    reason: str,
) -> None:
    if case != "missing":
        bucket.put(LESSON, payload(SIZE, LESSON))
    cache = {"cache_max_size": "100KB"} if case == "too large" else {}
    edges = await two_edges(aiohttp_server, bucket, tmp_path, **cache)
    signer = Signer({"other": "another-secret-0123456789abcdef"}, "other")
    region = region_over(edges, session, signer if case == "other keys" else None)
    with pytest.raises(RegionFailed) as caught:
        await region.prefetch(LESSON)
    assert reason in caught.value.message
    if case == "missing":
        assert caught.value.message.endswith("answered 404")
