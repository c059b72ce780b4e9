"""A silent S3 releases a fill's waiters within ``upstream.fill_deadline``, retries or not."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from castedge.locals3 import LocalS3
from delivery.errors import UpstreamTimeout
from delivery.metrics import DeliveryMetrics
from delivery.upstream import RetryPolicy, S3Upstream
from tests.conftest import Bucket, payload
from tests.support.faults import replaced_while_resuming, silent
from tests.support.origin import RunningOrigin, fetch, origin_settings, sha256, start_origin

WAITERS = 20


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as s:
        yield s


@pytest.fixture
def hold(s3: LocalS3) -> Iterator[threading.Event]:
    """Set at the end, so the S3 server's stalled request threads finish."""
    event = threading.Event()
    yield event
    event.set()
    s3.intercept = None


async def origin_with(
    aiohttp_server, bucket: Bucket, tmp_path, **upstream: object
) -> RunningOrigin:
    settings = origin_settings(
        bucket=bucket.name,
        endpoint=bucket.server.url,
        cache_dir=tmp_path,
        upstream={"backoff": "10ms", **upstream},
    )
    return await start_origin(aiohttp_server, settings)


Outcome = tuple[int, dict[str, str]] | str


async def released(session: aiohttp.ClientSession, url: str) -> tuple[float, list[Outcome]]:
    """WAITERS GETs at once: seconds until the last is answered, and how each ended."""

    async def one() -> Outcome:
        try:
            async with session.get(url) as resp:
                await resp.read()
                return resp.status, dict(resp.headers)
        except aiohttp.ClientPayloadError:
            return "cut short"

    started = time.monotonic()
    outcomes = await asyncio.wait_for(asyncio.gather(*(one() for _ in range(WAITERS))), 30)
    return time.monotonic() - started, list(outcomes)


async def test_waiters_get_504_within_the_deadline_when_s3_never_answers(
    aiohttp_server, bucket: Bucket, tmp_path, session, hold: threading.Event
) -> None:
    key, body = "podcast/silent.mp3", payload(1_000_000, "silent")
    bucket.put(key, body)
    bucket.server.intercept = silent(f"/{bucket.name}/{key}", body, where="headers", hold=hold)
    origin = await origin_with(
        aiohttp_server, bucket, tmp_path, read_timeout="500ms", retries=4, fill_deadline="1s"
    )
    elapsed, outcomes = await released(session, origin.url(key))
    # Retries alone would have taken 5 x 500 ms; the deadline stops them at 1 s.
    assert 0.9 <= elapsed < 2.0, f"released after {elapsed:.2f} s"
    for outcome in outcomes:
        assert not isinstance(outcome, str), outcome
        status, headers = outcome
        assert status == 504
        assert int(headers["Retry-After"]) > 0
        assert headers["Cache-Control"] == "no-store"
        # Made up here, not storage's answer: no Cache-Status (RFC 9211 section 2).
        assert "Cache-Status" not in headers
    assert bucket.gets(key) == 2  # the first attempt, and the one the deadline cut


async def test_without_a_tight_deadline_the_retries_decide_when_waiters_go(
    aiohttp_server, bucket: Bucket, tmp_path, session, hold: threading.Event
) -> None:
    key, body = "podcast/silent-long.mp3", payload(1_000_000, "silent-long")
    bucket.put(key, body)
    bucket.server.intercept = silent(f"/{bucket.name}/{key}", body, where="headers", hold=hold)
    origin = await origin_with(aiohttp_server, bucket, tmp_path, read_timeout="300ms", retries=4)
    elapsed, outcomes = await released(session, origin.url(key))
    assert elapsed >= 5 * 0.3, f"released after {elapsed:.2f} s"
    assert {o[0] for o in outcomes if not isinstance(o, str)} == {503}
    assert bucket.gets(key) == 5


async def test_waiters_are_cut_short_within_the_deadline_when_s3_stalls_mid_body(
    aiohttp_server, bucket: Bucket, tmp_path, session, hold: threading.Event
) -> None:
    key, body = "podcast/stalls.mp3", payload(2_000_000, "stalls")
    bucket.put(key, body)
    bucket.server.intercept = silent(f"/{bucket.name}/{key}", body, where="body", hold=hold)
    origin = await origin_with(
        aiohttp_server, bucket, tmp_path, read_timeout="500ms", retries=4, fill_deadline="1s"
    )
    elapsed, outcomes = await released(session, origin.url(key))
    assert 0.9 <= elapsed < 2.0, f"released after {elapsed:.2f} s"
    # Their 200 headers had gone out: the connection closes short of Content-Length.
    assert outcomes == ["cut short"] * WAITERS
    # The first GET stalled 500 ms, the resume the 500 ms left: then no more attempts.
    assert [r.range for r in bucket.server.gets(f"/{bucket.name}/{key}")] == [
        None,
        "bytes=65536-1999999",
    ]
    assert origin.cached_files() == []
    assert origin.temp_files() == []


async def test_a_slow_reader_of_a_stalled_body_is_charged_the_whole_silence(
    bucket: Bucket, hold: threading.Event
) -> None:
    """aiohttp's read timeout counts from the last byte in, not from the read after it.

    A fill that takes 100 ms over each chunk (a disk write, a slow client's pace) starts
    its next read 100 ms into S3's silence; charging only the read's own wait would
    leave the fetch 200 ms it never had, and a third GET would go out with it.
    """
    key, body = "podcast/slow-reader.mp3", payload(2_000_000, "slow-reader")
    bucket.put(key, body)
    bucket.server.intercept = silent(f"/{bucket.name}/{key}", body, where="body", hold=hold)
    upstream = S3Upstream(
        bucket=bucket.name,
        region="us-east-1",
        endpoint_url=bucket.server.url,
        policy=RetryPolicy(retries=4, backoff=0.01, read_timeout=0.5, fill_deadline=1.0),
        metrics=DeliveryMetrics(service="origin"),
    )
    await upstream.start()
    got = 0
    try:
        opened = await upstream.open(key)
        with pytest.raises(UpstreamTimeout):
            async for chunk in opened.chunks():
                got += len(chunk)
                await asyncio.sleep(0.1)
    finally:
        await upstream.close()
    assert got == 2 * 65536  # the first GET's bytes, then the resume's
    assert [r.range for r in bucket.server.gets(f"/{bucket.name}/{key}")] == [
        None,
        "bytes=65536-1999999",
    ]


async def test_an_object_replaced_while_a_fill_resumes_fails_that_fill_cleanly(
    aiohttp_server, bucket: Bucket, tmp_path, session, s3: LocalS3
) -> None:
    key = "podcast/replaced.mp3"
    old, new = payload(2_000_000, "old"), payload(2_000_000, "new")
    bucket.put(key, old)
    s3.intercept = replaced_while_resuming(
        f"/{bucket.name}/{key}", old, keep=500_000, replace=lambda: bucket.put(key, new)
    )
    try:
        origin = await origin_with(aiohttp_server, bucket, tmp_path)
        # The resume asks for the old ETag (If-Match); S3 answers 412, the fill fails,
        # and the client is cut short rather than handed half of each version.
        with pytest.raises(aiohttp.ClientPayloadError):
            await fetch(session, origin.url(key))
        seen = bucket.server.gets(f"/{bucket.name}/{key}")
        assert [r.range for r in seen] == [None, "bytes=500000-1999999"]
        assert origin.cached_files() == []
    finally:
        s3.intercept = None
    status, headers, got = await fetch(session, origin.url(key))
    assert (status, sha256(got)) == (200, sha256(new))
    assert headers["ETag"] == f'"{hashlib.md5(new, usedforsecurity=False).hexdigest()}"'
    assert len(await origin.wait_cached(1)) == 1
