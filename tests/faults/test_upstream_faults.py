"""The network between castedge and S3 misbehaves: nothing partial is ever served as whole.

A fault proxy (``tests.support.faultproxy``) sits between the origin and the S3
server and adds latency, limits bandwidth, stalls, cuts answers short or resets
them. After every fault the invariants hold: each client either gets the whole
object (same sha256 as the source) or a response visibly cut short (fewer bytes
than its Content-Length), one upstream fetch serves every waiter, and no cache file
holds anything but a whole, verified object.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from delivery.objectfile import HEADER_ALIGN
from tests.conftest import Bucket, payload
from tests.support.faultproxy import FaultProxy
from tests.support.origin import RunningOrigin, fetch, origin_settings, sha256, start_origin

KEY = "podcast/faulty.mp3"
SIZE = 4_000_000


@pytest.fixture
def proxy(bucket: Bucket) -> Iterator[FaultProxy]:
    with FaultProxy(("127.0.0.1", bucket.server.port)) as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as s:
        yield s


async def origin_via(
    aiohttp_server, proxy: FaultProxy, bucket: Bucket, tmp_path: Path, **upstream: object
) -> RunningOrigin:
    settings = origin_settings(
        bucket=bucket.name,
        endpoint=proxy.url,
        cache_dir=tmp_path,
        upstream={"retries": 2, "backoff": "10ms", "read_timeout": "2s", **upstream},
    )
    return await start_origin(aiohttp_server, settings)


def assert_cache_whole(origin: RunningOrigin, body: bytes) -> None:
    """Every cached file is the whole object, verified, and no fill file is left over."""
    for path in origin.cached_files():
        data = path.read_bytes()
        assert len(data) == HEADER_ALIGN + len(body) or data[HEADER_ALIGN:] == body
        assert hashlib.sha256(data[-len(body) :]).hexdigest() == sha256(body)
    assert origin.temp_files() == []


async def download(session: aiohttp.ClientSession, url: str) -> tuple[int, int | None, bytes]:
    """Status, promised length and the bytes that arrived, whether or not it was cut."""
    async with session.get(url) as resp:
        chunks = []
        try:
            async for chunk in resp.content.iter_chunked(65536):
                chunks.append(chunk)
        except aiohttp.ClientPayloadError:
            pass
        return resp.status, resp.content_length, b"".join(chunks)


async def test_latency_does_not_multiply_fetches(
    aiohttp_server, proxy: FaultProxy, bucket: Bucket, tmp_path: Path, session
) -> None:
    body = payload(SIZE, KEY)
    bucket.put(KEY, body)
    proxy.latency = 0.2
    origin = await origin_via(aiohttp_server, proxy, bucket, tmp_path)
    results = await asyncio.gather(*(fetch(session, origin.url(KEY)) for _ in range(20)))
    assert {(status, sha256(got)) for status, _, got in results} == {(200, sha256(body))}
    assert bucket.gets(KEY) == 1
    await origin.wait_cached(1)
    connections = proxy.connections
    status, _, got = await fetch(session, origin.url(KEY))
    assert (status, got == body) == (200, True)
    assert proxy.connections == connections, "a hit went upstream"
    assert_cache_whole(origin, body)


async def test_a_probe_is_answered_while_a_slow_fill_crawls(
    aiohttp_server, proxy: FaultProxy, bucket: Bucket, tmp_path: Path, session
) -> None:
    body = payload(SIZE, KEY)
    bucket.put(KEY, body)
    proxy.rate = 1_000_000  # 4 s for the whole object
    origin = await origin_via(aiohttp_server, proxy, bucket, tmp_path, read_timeout="10s")
    whole = asyncio.create_task(fetch(session, origin.url(KEY)))
    status, headers, got = await fetch(session, origin.url(KEY), headers={"Range": "bytes=0-1"})
    assert (status, got) == (206, body[:2])
    assert origin.cached_files() == [], "the probe waited for the whole fill"
    status, _, got = await whole
    assert (status, sha256(got)) == (200, sha256(body))
    await origin.wait_cached(1)
    assert bucket.gets(KEY) == 1
    assert_cache_whole(origin, body)


@pytest.mark.parametrize("fault", ["cut_after", "reset_after"])
async def test_an_answer_broken_mid_body_is_resumed(
    aiohttp_server, proxy: FaultProxy, bucket: Bucket, tmp_path: Path, session, fault: str
) -> None:
    body = payload(SIZE, KEY)
    bucket.put(KEY, body)
    setattr(proxy, fault, 1_500_000)
    proxy.faulty = 1
    origin = await origin_via(aiohttp_server, proxy, bucket, tmp_path)
    results = await asyncio.gather(*(download(session, origin.url(KEY)) for _ in range(10)))
    assert {(status, sha256(got)) for status, _, got in results} == {(200, sha256(body))}
    # The first GET broke; the second, pinned to the same ETag, fetched only the rest.
    gets = bucket.server.gets(f"/{bucket.name}/{KEY}")
    assert len(gets) == 2
    assert gets[1].range is not None and gets[1].range.startswith("bytes=")
    await origin.wait_cached(1)
    assert_cache_whole(origin, body)


async def test_a_stalled_upstream_cuts_waiters_short_and_caches_nothing(
    aiohttp_server, proxy: FaultProxy, bucket: Bucket, tmp_path: Path, session
) -> None:
    body = payload(SIZE, KEY)
    bucket.put(KEY, body)
    proxy.stall_after = 1_000_000
    origin = await origin_via(aiohttp_server, proxy, bucket, tmp_path, read_timeout="500ms")
    try:
        results = await asyncio.wait_for(
            asyncio.gather(*(download(session, origin.url(KEY)) for _ in range(10))), 30
        )
    finally:
        proxy.release()
    for status, promised, got in results:
        # Headers went out with the whole length; the body stops short, so no client
        # can take the copy for complete.
        assert status == 200 and promised == SIZE
        assert len(got) < SIZE
        assert got == body[: len(got)]
    assert origin.cached_files() == []
    assert origin.temp_files() == []
    proxy.stall_after = None
    status, _, got = await fetch(session, origin.url(KEY))
    assert (status, sha256(got)) == (200, sha256(body))
    await origin.wait_cached(1)
    assert_cache_whole(origin, body)


async def test_a_fill_that_pauses_mid_block_has_sent_what_it_had(
    aiohttp_server, proxy: FaultProxy, bucket: Bucket, tmp_path: Path, session
) -> None:
    # Past its first 2 MiB a fill writes whole 2 MiB blocks; when the upstream stops in
    # the middle of one, what came of it still reaches the client while it waits.
    body = payload(SIZE, KEY)
    bucket.put(KEY, body)
    proxy.stall_after = 3_000_000
    proxy.faulty = 1  # the resumed GET goes through
    origin = await origin_via(aiohttp_server, proxy, bucket, tmp_path, read_timeout="30s")
    got = bytearray()
    try:
        async with session.get(origin.url(KEY)) as resp:
            assert resp.status == 200

            async def until_stalled() -> None:
                # S3's answer headers are a few hundred of the proxy's 3,000,000 bytes.
                while len(got) < 2_990_000:
                    chunk = await resp.content.readany()
                    assert chunk, f"closed after {len(got)} bytes"
                    got.extend(chunk)

            await asyncio.wait_for(until_stalled(), 10)
            proxy.release()
            got.extend(await resp.content.read())
    finally:
        proxy.release()
    assert sha256(bytes(got)) == sha256(body)
    await origin.wait_cached(1)
    assert_cache_whole(origin, body)
